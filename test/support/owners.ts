/**
 * Owner keys for tests: an owner holds its key outside the appliance (here, in the test) and signs the messages the
 * appliance issues, as a hardware wallet would: Ed25519 over the UTF-8 bytes, EVM with EIP-191 personal_sign.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { getAddressDecoder } from '@solana/kit';
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { hexToBytes } from 'viem';
import { OwnerKeyType } from '../../clients/ts/src/index.ts';

/** A test owner. */
export interface TestOwner {
  keyType: OwnerKeyType;
  /** The registered key: base58 address (Ed25519) or EVM address. */
  key: string;
  sign(message: string): Promise<Uint8Array>;
}

/** A new Ed25519 (Solana-style) owner. */
export function ed25519Owner(): TestOwner {
  const secret = ed25519.utils.randomSecretKey();
  return {
    keyType: OwnerKeyType.ED25519,
    key: getAddressDecoder().decode(ed25519.getPublicKey(secret)),
    sign: async (message) => ed25519.sign(new TextEncoder().encode(message), secret),
  };
}

/** A new EVM owner. */
export function evmOwner(): TestOwner {
  const account = privateKeyToAccount(generatePrivateKey());
  return {
    keyType: OwnerKeyType.EVM,
    key: account.address,
    sign: async (message) => hexToBytes(await account.signMessage({ message })),
  };
}
