/**
 * The Solana chain decoder: addresses of wallet keys, strict decoding of wire transactions, their effects for the
 * policy engine (System, SPL Token / Token-2022, Compute Budget; calls for the rest), the associated-token-address
 * derivation the engine checks SPL destinations with, and re-assembly of the signed transaction.
 */
export { solanaAddress, SOLANA_PUBLIC_KEY_BYTES } from './address.ts';
export {
  assembleSolanaTransaction,
  decodeSolanaTransaction,
  lookupPlaceholder,
  signerIndex,
  SOLANA_MAX_TRANSACTION_BYTES,
  SOLANA_SIGNATURE_BYTES,
  type DecodedSolanaTransaction,
  type SolanaCompiledMessage,
} from './transaction.ts';
export {
  DEFAULT_UNITS_PER_INSTRUCTION,
  instructionDiscriminator,
  LAMPORTS_PER_SIGNATURE,
  MAX_COMPUTE_UNIT_LIMIT,
  solanaEffects,
} from './effects.ts';
export { associatedTokenAddress, SPL_UNLIMITED_AMOUNT, splAsset } from './token.ts';
export * from './programs.ts';
export {
  decodeSolanaMessage,
  SOLANA_OFFCHAIN_MAX_BYTES,
  SOLANA_OFFCHAIN_MAX_LEDGER_BYTES,
  SOLANA_TEXT_MESSAGE_MAX_BYTES,
  type DecodedSolanaMessage,
} from './message.ts';
