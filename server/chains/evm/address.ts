/**
 * EVM addresses of wallet keys: the EIP-55 checksummed address of an uncompressed secp256k1 public key.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, getAddress } from 'viem';
import { WaiaasError } from '../../errors/error.ts';

/** Length of an uncompressed SEC1 secp256k1 public key (0x04 ‖ X ‖ Y). */
export const EVM_PUBLIC_KEY_BYTES = 65;

/**
 * keccak256(X ‖ Y)[12:], EIP-55 checksummed. The key comes from the HSM, so a key that is not an uncompressed point on
 * the curve is a server fault (WAIAAS_INTERNAL): an address derived from it would belong to nobody.
 */
export function evmAddress(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== EVM_PUBLIC_KEY_BYTES || publicKey[0] !== 0x04) {
    throw new WaiaasError('WAIAAS_INTERNAL', 'secp256k1 public key is not an uncompressed point', {
      metadata: { length: String(publicKey?.length ?? 0) },
    });
  }
  try {
    secp256k1.Point.fromBytes(publicKey).assertValidity();
  } catch (cause) {
    throw new WaiaasError('WAIAAS_INTERNAL', 'secp256k1 public key is not on the curve', { cause });
  }
  return getAddress(bytesToHex(keccak_256(publicKey.subarray(1)).subarray(12)));
}
