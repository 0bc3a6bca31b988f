/**
 * What the `agents` commands share: principal URIs (in full, or the short form `agent/NAME`, `owner/NAME`), the
 * operations an agent can be granted, credential validity, and the files of an issued credential (the private key
 * mode 0600, never overwritten, never printed).
 */
import { closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CtlError, EXIT, UsageError } from './errors.ts';

/** Operations an agent can be granted (the appliance's list). */
export const OPERATIONS = ['create_wallet', 'sign_transaction', 'sign_message', 'read', 'cancel_request'] as const;

/** Chain families a principal can be scoped to. */
export const CHAINS = ['solana', 'evm'] as const;

/** The name part of a principal URI, as the appliance accepts it. */
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** A principal's identity URI and its parts. */
export interface PrincipalUri {
  uri: string;
  role: 'agent' | 'owner';
  name: string;
}

/** Parses `spiffe://waiaas/agent/NAME`, `spiffe://waiaas/owner/NAME`, or the short forms `agent/NAME`, `owner/NAME`. */
export function principalUri(value: string, what: string): PrincipalUri {
  const m = /^(?:spiffe:\/\/waiaas\/)?(agent|owner)\/(.*)$/.exec(value);
  if (!m) throw new UsageError(`${what} must be spiffe://waiaas/agent/NAME or spiffe://waiaas/owner/NAME (or agent/NAME, owner/NAME) (got "${value}")`);
  const role = m[1] as 'agent' | 'owner';
  const name = m[2]!;
  if (!NAME.test(name)) throw new UsageError(`${what}: the name must be 1-64 characters of A-Z a-z 0-9 . _ - (got "${name}")`);
  return { uri: `spiffe://waiaas/${role}/${name}`, role, name };
}

/** A URI without the `spiffe://waiaas/` prefix, for tables. */
export function shortUri(uri: string): string {
  return uri.startsWith('spiffe://waiaas/') ? uri.slice('spiffe://waiaas/'.length) : uri;
}

const MIN_VALIDITY = 60;
const MAX_VALIDITY = 30 * 86_400;

/** `--valid`: "24h", "90m", "7d", "3600s" or a number of seconds → seconds, between 1 minute and 30 days. */
export function validSeconds(value: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(value);
  if (!m) throw new UsageError(`--valid must be a duration such as 24h, 90m or 7d (got "${value}")`);
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3_600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  if (seconds < MIN_VALIDITY || seconds > MAX_VALIDITY) throw new UsageError(`--valid must be between 1m and 30d (got ${value})`);
  return seconds;
}

/** A certificate serial number as hex (colons and 0x allowed) → lower-case hex without separators. */
export function serialArg(value: string): string {
  const hex = value.replace(/^0x/i, '').replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(hex)) throw new UsageError(`--serial must be the certificate's serial number in hex (got "${value}")`);
  return hex;
}

/** Where an issued credential goes: DIR/<name>.pem, DIR/<name>.key, DIR/ca.pem. */
export interface CredentialFiles {
  dir: string;
  cert: string;
  key: string;
  ca: string;
}

/**
 * Checks, before anything is issued, that the credential can be written: DIR is a folder (or does not exist yet)
 * and neither DIR/<name>.pem nor DIR/<name>.key exists (they are never overwritten).
 */
export function credentialFiles(dir: string, name: string): CredentialFiles {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--out ${dir} is not a folder`);
  const files = { dir, cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`), ca: join(dir, 'ca.pem') };
  for (const f of [files.cert, files.key]) {
    if (existsSync(f)) throw new UsageError(`${f} already exists; refusing to overwrite a credential (choose another --out, or move it away)`);
  }
  return files;
}

/** Makes the --out folder (mode 0700) if it does not exist. */
export function makeCredentialDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new UsageError(`cannot create --out ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Creates a file that must not exist yet, with this mode, and writes text to it. */
function createFile(path: string, text: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

const samePem = (a: string, b: string): boolean => a.trim() === b.trim();

/**
 * Writes an issued credential: the key (mode 0600) and the certificate, which must not exist, and the CA
 * certificate as DIR/ca.pem — kept when it is already there with the same content; when DIR/ca.pem holds another CA
 * it is left alone and this one is written as DIR/<name>-ca.pem. Returns the CA file used. When writing fails the
 * error names the serial, so that the credential (whose key the appliance does not keep) can be revoked.
 */
export function writeCredential(files: CredentialFiles, name: string, cred: { certPem: string; keyPem: string; caPem: string; serial: string }): string {
  try {
    createFile(files.key, cred.keyPem, 0o600);
    createFile(files.cert, cred.certPem, 0o644);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'EEXIST' ? `${(e as NodeJS.ErrnoException).path ?? 'a file'} appeared meanwhile` : (e as Error).message;
    throw new CtlError(`the credential was issued (serial ${cred.serial}) but could not be written: ${why}`, EXIT.USAGE, `revoke it: waiaas-ctl agents revoke --serial ${cred.serial}`);
  }
  const candidates = [files.ca, join(files.dir, `${name}-ca.pem`)];
  try {
    for (const ca of candidates) {
      if (!existsSync(ca)) {
        createFile(ca, cred.caPem, 0o644);
        return ca;
      }
      if (samePem(readFileSync(ca, 'utf8'), cred.caPem)) return ca;
    }
  } catch (e) {
    throw new CtlError(`the credential (serial ${cred.serial}) is in ${files.cert} and ${files.key}, but its CA certificate could not be written: ${(e as Error).message}`, EXIT.USAGE);
  }
  throw new CtlError(
    `the credential (serial ${cred.serial}) is in ${files.cert} and ${files.key}, but its CA certificate was not written: ${candidates.join(' and ')} hold another CA certificate`,
    EXIT.USAGE,
    'move them away; the CA certificate to trust is the one you connect to the appliance with (--ca)',
  );
}
