/**
 * The EVM chain decoder: addresses of wallet keys, strict decoding of unsigned transactions, their effects for the
 * policy engine, the digest to sign and the signed serialization.
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
