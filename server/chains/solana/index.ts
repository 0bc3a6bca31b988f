/**
 * The Solana chain decoder: addresses of wallet keys, strict decoding of wire transactions, their effects for the
 * policy engine, and re-assembly of the signed transaction.
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
export * from './programs.ts';
