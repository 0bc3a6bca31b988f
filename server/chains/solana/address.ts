/**
 * Solana addresses of wallet keys: the base58 form of a 32-byte Ed25519 public key as it appears in transactions.
 */
import { getAddressDecoder } from '@solana/kit';
import { WaiaasError } from '../../errors/error.ts';

/** Length of an Ed25519 public key, which is also a Solana address in bytes. */
export const SOLANA_PUBLIC_KEY_BYTES = 32;

const ADDRESS_DECODER = getAddressDecoder();

/**
 * The base58 address of an Ed25519 public key. The key comes from the HSM, so a wrong length is a server fault
 * (WAIAAS_INTERNAL), not a caller mistake.
 */
export function solanaAddress(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== SOLANA_PUBLIC_KEY_BYTES) {
    throw new WaiaasError('WAIAAS_INTERNAL', 'Ed25519 public key has the wrong length', {
      metadata: { length: String(publicKey?.length ?? 0) },
    });
  }
  return ADDRESS_DECODER.decode(publicKey);
}
