/**
 * Owner key files and signing with them.
 *
 * A key file is JSON `{"type":"ed25519","secret":"<64 hex>"}` or `{"type":"evm","secret":"<64 hex>"}`, mode 0600 or
 * 0400 (anything else is refused, naming the file). Ed25519 secrets are the 32-byte seed; the public key is given as
 * its base58 Solana address, and messages are signed as their UTF-8 bytes (as a Solana wallet's signMessage). EVM
 * secrets are the 32-byte secp256k1 private key; the public key is given as its EIP-55 address, and messages are
 * signed with EIP-191 personal_sign (65 bytes r || s || v).
 *
 * Secrets stay in memory: never on argv, in the environment, in output, or in an error message (a malformed key file
 * is reported by its name and what is wrong, never by its contents).
 */
import { closeSync, fchmodSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { UsageError } from './errors.ts';

/** The owner key types, named as in key files and on the command line. */
export const KEY_TYPES = ['ed25519', 'evm'] as const;
/** An owner key type. */
export type KeyType = (typeof KEY_TYPES)[number];

/** A loaded key file. */
export interface OwnerKey {
  /** The file it came from. */
  file: string;
  type: KeyType;
  /** 32 bytes. */
  secret: Uint8Array;
}

/** Loads and checks a key file: mode 0600/0400, JSON of the right shape. Throws UsageError naming the file. */
export function readKeyFile(file: string): OwnerKey {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new UsageError(`key file ${file} does not exist or cannot be read`);
  }
  if (!st.isFile()) throw new UsageError(`key file ${file} is not a file`);
  const mode = st.mode & 0o777;
  if (mode !== 0o600 && mode !== 0o400) {
    throw new UsageError(`key file ${file} has mode ${mode.toString(8).padStart(4, '0')}; it must be 0600 or 0400 (chmod 600 ${file})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // The parser's message may quote the file's contents: say only what is wrong.
    throw new UsageError(`key file ${file} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`key file ${file} must hold a JSON object {"type", "secret"}`);
  const { type, secret, ...rest } = parsed as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw new UsageError(`key file ${file} has unknown field "${Object.keys(rest)[0]}"`);
  if (type !== 'ed25519' && type !== 'evm') throw new UsageError(`key file ${file}: "type" must be "ed25519" or "evm"`);
  if (typeof secret !== 'string' || !/^[0-9a-fA-F]{64}$/.test(secret)) throw new UsageError(`key file ${file}: "secret" must be 64 hex digits`);
  return { file, type, secret: Uint8Array.from(Buffer.from(secret, 'hex')) };
}

/** The public key of an owner key as the appliance names it: a base58 Solana address or an EIP-55 EVM address. */
export async function ownerAddress(key: Pick<OwnerKey, 'type' | 'secret'>): Promise<string> {
  if (key.type === 'ed25519') {
    const [{ ed25519 }, { getAddressDecoder }] = await Promise.all([import('@noble/curves/ed25519.js'), import('@solana/kit')]);
    return getAddressDecoder().decode(ed25519.getPublicKey(key.secret));
  }
  const { privateKeyToAddress } = await import('viem/accounts');
  return privateKeyToAddress(`0x${Buffer.from(key.secret).toString('hex')}`);
}

/** Signs a server-issued message (UTF-8 text) with an owner key. */
export async function signOwnerMessage(key: OwnerKey, message: string): Promise<Uint8Array> {
  if (key.type === 'ed25519') {
    const { ed25519 } = await import('@noble/curves/ed25519.js');
    return ed25519.sign(new TextEncoder().encode(message), key.secret);
  }
  const { privateKeyToAccount } = await import('viem/accounts');
  const account = privateKeyToAccount(`0x${Buffer.from(key.secret).toString('hex')}`);
  const sig = await account.signMessage({ message });
  return Uint8Array.from(Buffer.from(sig.slice(2), 'hex'));
}

/** A new random secret for a key type. */
export async function newSecret(type: KeyType): Promise<Uint8Array> {
  if (type === 'ed25519') {
    const { ed25519 } = await import('@noble/curves/ed25519.js');
    return ed25519.utils.randomSecretKey();
  }
  const { secp256k1 } = await import('@noble/curves/secp256k1.js');
  return secp256k1.utils.randomSecretKey();
}

/**
 * Writes a new key file with mode 0600. Refuses to overwrite (the file is opened with O_EXCL), so an existing key is
 * never lost.
 */
export function writeKeyFile(file: string, type: KeyType, secret: Uint8Array): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${file} already exists; refusing to overwrite a key file (choose another --out)`);
    throw new UsageError(`cannot create ${file}: ${code ?? (e as Error).message}`);
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, `${JSON.stringify({ type, secret: Buffer.from(secret).toString('hex') })}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Guesses an owner key's type from its form: 0x + 40 hex is EVM, base58 of 32–44 characters is Ed25519. */
export function keyTypeOf(key: string): KeyType | undefined {
  if (/^0x[0-9a-fA-F]{40}$/.test(key)) return 'evm';
  if (/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(key)) return 'ed25519';
  return undefined;
}

/** Two owner keys are the same key: EVM addresses compare case-insensitively, base58 exactly. */
export function sameKey(a: string, b: string): boolean {
  return a.startsWith('0x') && b.startsWith('0x') ? a.toLowerCase() === b.toLowerCase() : a === b;
}
