/**
 * The policy document: validation (errors name the field path), canonical form and hash. Pure: no I/O, no clock.
 *
 * This first document allows native transfers to listed recipients up to a per-transaction amount. It is the seam
 * the full rule engine replaces; its canonical JSON carries a `schema` number so later documents never hash alike.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { ChainFamily } from './effects.ts';

/** A validated policy document. */
export interface PolicyDocument {
  /** Recipients native transfers may go to, normalised (EVM lower-case; Solana as given), sorted, unique. */
  allowedRecipients: string[];
  /** Largest total native amount per transaction in base units; null means nothing may move. */
  maxNativePerTransaction: bigint | null;
}

/** A policy as the engine uses it: the document plus its version and hash. */
export interface Policy {
  version: number;
  hash: string;
  document: PolicyDocument;
}

/** Raw input as it arrives from the API. */
export interface PolicyInput {
  allowedRecipients: string[];
  maxNativePerTransaction: string;
}

/** A validation failure: `field` is the path of the offending field in the API's snake_case, e.g. `allowed_recipients[2]`. */
export interface PolicyValidationError {
  field: string;
  message: string;
}

const MAX_RECIPIENTS = 1000;
const BASE58 = /^[1-9A-HJ-NP-Za-km-z]{32,44}$/;
const EVM_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;
const U256_MAX = (1n << 256n) - 1n;

/** Validates raw input for a wallet of `chain`; returns the document or the first error with its field path. */
export function validatePolicy(input: PolicyInput, chain: ChainFamily): { ok: true; document: PolicyDocument } | { ok: false; error: PolicyValidationError } {
  if (input.allowedRecipients.length > MAX_RECIPIENTS) {
    return { ok: false, error: { field: 'allowed_recipients', message: `at most ${MAX_RECIPIENTS} recipients` } };
  }
  const recipients = new Set<string>();
  for (const [i, r] of input.allowedRecipients.entries()) {
    const field = `allowed_recipients[${i}]`;
    if (chain === 'evm') {
      if (!EVM_ADDRESS.test(r)) return { ok: false, error: { field, message: 'not an EVM address (0x followed by 40 hex digits)' } };
      recipients.add(r.toLowerCase());
    } else {
      if (!BASE58.test(r) || base58Length(r) !== 32) return { ok: false, error: { field, message: 'not a Solana address (base58 of 32 bytes)' } };
      recipients.add(r);
    }
  }
  let max: bigint | null = null;
  if (input.maxNativePerTransaction !== '') {
    if (!DECIMAL.test(input.maxNativePerTransaction)) {
      return { ok: false, error: { field: 'max_native_per_transaction', message: 'a non-negative decimal integer in base units' } };
    }
    max = BigInt(input.maxNativePerTransaction);
    if (max > U256_MAX) return { ok: false, error: { field: 'max_native_per_transaction', message: 'larger than 2^256-1' } };
  }
  return { ok: true, document: { allowedRecipients: [...recipients].sort(), maxNativePerTransaction: max } };
}

/** The canonical JSON of a document: fixed key order, amounts as decimal strings. Its SHA-256 is the policy hash. */
export function canonicalPolicy(doc: PolicyDocument): string {
  return JSON.stringify({
    schema: 1,
    allowed_recipients: doc.allowedRecipients,
    max_native_per_transaction: doc.maxNativePerTransaction === null ? null : doc.maxNativePerTransaction.toString(),
  });
}

/** Parses a canonical JSON document as stored. */
export function parseCanonicalPolicy(json: string): PolicyDocument {
  const o = JSON.parse(json) as { schema: number; allowed_recipients: string[]; max_native_per_transaction: string | null };
  if (o.schema !== 1) throw new Error(`unknown policy schema ${String(o.schema)}`);
  return {
    allowedRecipients: o.allowed_recipients,
    maxNativePerTransaction: o.max_native_per_transaction === null ? null : BigInt(o.max_native_per_transaction),
  };
}

/** Hex SHA-256 of the canonical JSON. */
export function policyHash(doc: PolicyDocument): string {
  return bytesToHex(sha256(utf8ToBytes(canonicalPolicy(doc))));
}

/** Number of bytes a base58 string decodes to (for address validation without a chain library). */
function base58Length(s: string): number {
  const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  let n = 0n;
  for (const c of s) n = n * 58n + BigInt(ALPHABET.indexOf(c));
  let bytes = 0;
  while (n > 0n) {
    bytes++;
    n >>= 8n;
  }
  let zeros = 0;
  while (s[zeros] === '1') zeros++;
  return bytes + zeros;
}
