/**
 * The EVM chain decoder: addresses of wallet keys, strict decoding of unsigned transactions, their effects for the
 * policy engine (including decoded token calls and unwrapped multicalls), the digest to sign and the signed
 * serialization.
 */
export { evmAddress, EVM_PUBLIC_KEY_BYTES } from './address.ts';
export {
  assembleEvmTransaction,
  decodeEvmTransaction,
  evmSigningDigest,
  EVM_MAX_TRANSACTION_BYTES,
  type DecodedEvmTransaction,
  type EvmSignature,
  type EvmTransactionType,
  type RlpItem,
} from './transaction.ts';
export { evmEffects } from './effects.ts';
export {
  decodeCallEffects,
  DECODED_TOKEN_SELECTORS,
  ERC20_SELECTORS,
  ERC721_SELECTORS,
  ERC1155_SELECTORS,
  UNLIMITED_AMOUNT_THRESHOLD,
  type CallEffects,
  type DecodeCallOptions,
} from './calls.ts';
export {
  MAX_MULTICALL_DEPTH,
  MULTICALL3_ADDRESS,
  MULTICALL3_SELECTORS,
  SELF_MULTICALL_SELECTORS,
  unwrapMulticall,
  type InnerCall,
  type UnwrappedMulticall,
} from './multicall.ts';
export { decodeEvmPersonalMessage, EVM_MESSAGE_MAX_BYTES, type DecodedEvmMessage } from './message.ts';
export {
  decodeEip712,
  EIP712_MAX_JSON_BYTES,
  PERMIT2_ADDRESS,
  type DecodedEip712,
  type Eip712Field,
  type Eip712TypedData,
  type Eip712Value,
} from './typed-data.ts';
