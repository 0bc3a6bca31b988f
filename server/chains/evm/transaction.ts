/**
 * EVM transactions: strict decoding of the exact unsigned bytes a wallet is asked to sign (legacy EIP-155 and the
 * EIP-2718 envelopes 0x01, 0x02, 0x04), the digest the HSM signs, and the signed serialization.
 *
 * The RLP is decoded and every field checked here (shape, size, minimal integers); viem then parses the same bytes and
 * must re-serialize them byte for byte, so what the policy sees is exactly what gets signed. A signed input, a
 * non-canonical encoding and a foreign or missing chain id are refused.
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import {
  bytesToHex,
  fromRlp,
  hexToBytes,
  parseTransaction,
  RlpNonCanonicalError,
  serializeTransaction,
  toRlp,
  type Hex,
  type TransactionSerializable,
} from 'viem';
import { WaiaasError } from '../../errors/error.ts';
import type { Reason } from '../../errors/reasons.ts';

/** Largest unsigned transaction accepted (geth's txpool limit is 128 KiB too). */
export const EVM_MAX_TRANSACTION_BYTES = 128 * 1024;

/** Transaction types this decoder accepts. Blob (0x03) transactions are refused: they cannot be signed blind. */
export type EvmTransactionType = 'legacy' | 'eip2930' | 'eip1559' | 'eip7702';

/** A decoded RLP item: a byte string or a list. */
export type RlpItem = Uint8Array | readonly RlpItem[];

/** An unsigned EVM transaction decoded from bytes that passed every check. */
export interface DecodedEvmTransaction {
  readonly type: EvmTransactionType;
  /** A private copy of the unsigned bytes as given. */
  readonly bytes: Uint8Array;
  readonly chainId: bigint;
  readonly nonce: bigint;
  /** Gas limit. */
  readonly gas: bigint;
  /** Legacy and EIP-2930 only. */
  readonly gasPrice?: bigint;
  /** EIP-1559 and EIP-7702 only. */
  readonly maxFeePerGas?: bigint;
  /** EIP-1559 and EIP-7702 only. */
  readonly maxPriorityFeePerGas?: bigint;
  /** Lower-case 0x address, or null for contract creation. */
  readonly to: string | null;
  readonly value: bigint;
  /** Calldata (or init code) as lower-case hex, '0x' when empty. */
  readonly data: Hex;
  /** Number of EIP-7702 authorization tuples (0 for other types). */
  readonly authorizationCount: number;
  /** The transaction as parsed by viem. */
  readonly parsed: TransactionSerializable;
  /** The unsigned RLP list exactly as decoded; the signed form appends the signature to it. */
  readonly rlpFields: readonly RlpItem[];
  /** keccak256 of exactly the input bytes: the 32-byte digest the HSM signs. */
  readonly signingHash: Uint8Array;
}

/** An ECDSA signature over `signingHash`, with the recovery bit. */
export interface EvmSignature {
  r: Uint8Array;
  s: Uint8Array;
  yParity: 0 | 1;
}

const TYPED: Record<number, { type: EvmTransactionType; fields: number }> = {
  0x01: { type: 'eip2930', fields: 8 },
  0x02: { type: 'eip1559', fields: 9 },
  0x04: { type: 'eip7702', fields: 10 },
};

/** What viem's toRlp takes; our RlpItem is the same shape, read-only. */
type RlpList = Parameters<typeof toRlp>[0];

/** secp256k1 group order. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function fail(reason: Reason, message: string, metadata: Record<string, string> = {}, cause?: unknown): never {
  throw new WaiaasError(reason, message, { metadata, cause });
}

function malformed(message: string, metadata: Record<string, string> = {}, cause?: unknown): never {
  return fail('WAIAAS_TX_MALFORMED', message, metadata, cause);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function bytesOf(item: RlpItem | undefined, field: string): Uint8Array {
  if (!(item instanceof Uint8Array)) malformed(`${field} is not a byte string`, { field });
  return item;
}

function listOf(item: RlpItem | undefined, field: string): readonly RlpItem[] {
  if (item === undefined || item instanceof Uint8Array) malformed(`${field} is not a list`, { field });
  return item;
}

/** An RLP integer: at most `maxBytes`, and minimal (no leading zero byte; zero is the empty string). */
function scalar(item: RlpItem | undefined, field: string, maxBytes: number): bigint {
  const b = bytesOf(item, field);
  if (b.length > maxBytes) malformed(`${field} is too large`, { field });
  if (b.length > 0 && b[0] === 0) fail('WAIAAS_TX_NOT_CANONICAL', `${field} has a leading zero byte`, { field });
  return b.length === 0 ? 0n : BigInt(bytesToHex(b));
}

function address(item: RlpItem | undefined, field: string): string {
  const b = bytesOf(item, field);
  if (b.length !== 20) malformed(`${field} is not a 20-byte address`, { field });
  return bytesToHex(b);
}

function destination(item: RlpItem | undefined): string | null {
  const b = bytesOf(item, 'to');
  return b.length === 0 ? null : address(b, 'to');
}

function checkAccessList(item: RlpItem | undefined): void {
  for (const entry of listOf(item, 'accessList')) {
    const pair = listOf(entry, 'accessList entry');
    if (pair.length !== 2) malformed('access list entry is not [address, storageKeys]', { field: 'accessList' });
    address(pair[0], 'accessList address');
    for (const key of listOf(pair[1], 'accessList storageKeys')) {
      if (bytesOf(key, 'accessList storage key').length !== 32) {
        malformed('access list storage key is not 32 bytes', { field: 'accessList' });
      }
    }
  }
}

function checkAuthorizationList(item: RlpItem | undefined): number {
  const list = listOf(item, 'authorizationList');
  for (const entry of list) {
    const tuple = listOf(entry, 'authorization');
    if (tuple.length !== 6) malformed('authorization is not [chainId, address, nonce, yParity, r, s]', { field: 'authorizationList' });
    scalar(tuple[0], 'authorization chainId', 32);
    address(tuple[1], 'authorization address');
    scalar(tuple[2], 'authorization nonce', 8);
    scalar(tuple[3], 'authorization yParity', 1);
    scalar(tuple[4], 'authorization r', 32);
    scalar(tuple[5], 'authorization s', 32);
  }
  return list.length;
}

/**
 * Decodes unsigned transaction bytes for chain `expectedChainId`. Every failure is a WaiaasError:
 * WAIAAS_TX_TOO_LARGE, WAIAAS_TX_MALFORMED, WAIAAS_TX_NOT_CANONICAL, WAIAAS_TX_ALREADY_SIGNED or
 * WAIAAS_CHAIN_ID_MISMATCH (also when a legacy transaction has no EIP-155 chain id: metadata.actual = 'missing').
 */
export function decodeEvmTransaction(input: Uint8Array, expectedChainId: bigint): DecodedEvmTransaction {
  if (!(input instanceof Uint8Array)) malformed('transaction must be bytes');
  if (input.length > EVM_MAX_TRANSACTION_BYTES) {
    fail('WAIAAS_TX_TOO_LARGE', 'transaction exceeds the size limit', {
      size: String(input.length),
      limit: String(EVM_MAX_TRANSACTION_BYTES),
    });
  }
  if (input.length === 0) malformed('transaction is empty');
  // Copy first: the caller's buffer may change after we decoded it, the signed bytes must not.
  const bytes = new Uint8Array(input); // a copy, also for a Buffer (whose slice() is a view)
  const first = bytes[0] as number;

  let type: EvmTransactionType;
  let expectedFields: number;
  let payload: Uint8Array;
  const typed = TYPED[first];
  if (typed) {
    ({ type, fields: expectedFields } = typed);
    payload = bytes.subarray(1);
  } else if (first >= 0xc0) {
    type = 'legacy';
    expectedFields = 9;
    payload = bytes;
  } else {
    malformed('unsupported transaction type', { type: `0x${first.toString(16).padStart(2, '0')}` });
  }

  let decoded: RlpItem;
  try {
    decoded = fromRlp(payload, 'bytes') as RlpItem;
  } catch (cause) {
    if (cause instanceof RlpNonCanonicalError) fail('WAIAAS_TX_NOT_CANONICAL', 'RLP is not canonical', {}, cause);
    malformed('RLP does not decode', {}, cause);
  }
  const items = listOf(decoded, 'transaction');

  // A signed transaction has three more fields (v/yParity, r, s); legacy unsigned is EIP-155's 9 or pre-155's 6.
  if (type !== 'legacy' && items.length === expectedFields + 3) {
    fail('WAIAAS_TX_ALREADY_SIGNED', 'transaction already carries a signature');
  }
  if (!(items.length === expectedFields || (type === 'legacy' && items.length === 6))) {
    malformed('transaction has the wrong number of fields', { fields: String(items.length), type });
  }

  let chainId: bigint | undefined;
  let nonce: bigint;
  let gas: bigint;
  let gasPrice: bigint | undefined;
  let maxFeePerGas: bigint | undefined;
  let maxPriorityFeePerGas: bigint | undefined;
  let to: string | null;
  let value: bigint;
  let data: Uint8Array;
  let authorizationCount = 0;

  if (type === 'legacy') {
    nonce = scalar(items[0], 'nonce', 8);
    gasPrice = scalar(items[1], 'gasPrice', 32);
    gas = scalar(items[2], 'gas', 8);
    to = destination(items[3]);
    value = scalar(items[4], 'value', 32);
    data = bytesOf(items[5], 'data');
    if (items.length === 9) {
      // EIP-155 unsigned form is [..., chainId, 0, 0]; anything in r or s is a signature (viem would call v a chain id
      // only when both are empty, so a half-signed list must be caught here).
      const v = scalar(items[6], 'chainId', 32);
      const r = bytesOf(items[7], 'r');
      const s = bytesOf(items[8], 's');
      if (r.length !== 0 || s.length !== 0) fail('WAIAAS_TX_ALREADY_SIGNED', 'transaction already carries a signature');
      chainId = v === 0n ? undefined : v;
    }
  } else {
    chainId = scalar(items[0], 'chainId', 32);
    nonce = scalar(items[1], 'nonce', 8);
    if (type === 'eip2930') {
      gasPrice = scalar(items[2], 'gasPrice', 32);
      gas = scalar(items[3], 'gas', 8);
      to = destination(items[4]);
      value = scalar(items[5], 'value', 32);
      data = bytesOf(items[6], 'data');
      checkAccessList(items[7]);
    } else {
      maxPriorityFeePerGas = scalar(items[2], 'maxPriorityFeePerGas', 32);
      maxFeePerGas = scalar(items[3], 'maxFeePerGas', 32);
      gas = scalar(items[4], 'gas', 8);
      to = destination(items[5]);
      value = scalar(items[6], 'value', 32);
      data = bytesOf(items[7], 'data');
      checkAccessList(items[8]);
      if (type === 'eip7702') {
        authorizationCount = checkAuthorizationList(items[9]);
        // EIP-7702: a set-code transaction must have a destination and at least one authorization.
        if (to === null) malformed('EIP-7702 transaction has no destination', { field: 'to' });
        if (authorizationCount === 0) malformed('EIP-7702 transaction has no authorization', { field: 'authorizationList' });
      }
    }
  }

  if (chainId === undefined) {
    fail('WAIAAS_CHAIN_ID_MISMATCH', 'legacy transaction has no EIP-155 chain id', {
      expected: String(expectedChainId),
      actual: 'missing',
    });
  }
  if (chainId !== expectedChainId) {
    fail('WAIAAS_CHAIN_ID_MISMATCH', 'transaction chain id differs from the request', {
      expected: String(expectedChainId),
      actual: String(chainId),
    });
  }

  // Second opinion: viem must read the same transaction and write back the very same bytes.
  const hex = bytesToHex(bytes);
  let parsed: TransactionSerializable;
  let reserialized: Uint8Array;
  try {
    parsed = parseTransaction(hex) as TransactionSerializable;
    reserialized = hexToBytes(serializeTransaction(parsed));
  } catch (cause) {
    malformed('transaction does not parse', { type }, cause);
  }
  if (parsed.type !== type || !bytesEqual(reserialized, bytes)) {
    fail('WAIAAS_TX_NOT_CANONICAL', 'transaction does not re-serialize to the same bytes', { type });
  }

  const result: DecodedEvmTransaction = {
    type,
    bytes,
    chainId,
    nonce,
    gas,
    to,
    value,
    data: bytesToHex(data),
    authorizationCount,
    parsed,
    rlpFields: items,
    signingHash: keccak_256(bytes),
    ...(gasPrice !== undefined ? { gasPrice } : {}),
    ...(maxFeePerGas !== undefined ? { maxFeePerGas } : {}),
    ...(maxPriorityFeePerGas !== undefined ? { maxPriorityFeePerGas } : {}),
  };
  return result;
}

/** The 32-byte digest the HSM signs (CKM_ECDSA over a precomputed hash): keccak256 of the unsigned bytes. */
export function evmSigningDigest(tx: DecodedEvmTransaction): Uint8Array {
  return tx.signingHash;
}

/** Big-endian bytes without leading zeroes (RLP integer form). */
function minimal(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array(0);
  const hex = value.toString(16);
  return hexToBytes(`0x${hex.length % 2 ? '0' : ''}${hex}`);
}

function signatureScalar(b: Uint8Array, name: string): bigint {
  if (!(b instanceof Uint8Array) || b.length === 0 || b.length > 32) {
    throw new WaiaasError('WAIAAS_INTERNAL', `signature ${name} has the wrong length`);
  }
  const v = BigInt(bytesToHex(b));
  if (v === 0n || v >= N) throw new WaiaasError('WAIAAS_INTERNAL', `signature ${name} is out of range`);
  return v;
}

/**
 * The signed serialization (the unsigned fields exactly as decoded, plus yParity/v, r, s) and its keccak256, the
 * transaction hash. Legacy uses EIP-155 v = yParity + 35 + 2·chainId. A high-s signature is refused (nodes reject it
 * since EIP-2); normalizing here would make the returned transaction disagree with the signature the caller reports.
 */
export function assembleEvmTransaction(tx: DecodedEvmTransaction, sig: EvmSignature): { signed: Uint8Array; hash: Uint8Array } {
  const r = signatureScalar(sig.r, 'r');
  const s = signatureScalar(sig.s, 's');
  if (s > N / 2n) throw new WaiaasError('WAIAAS_INTERNAL', 'signature s is not in the lower half of the curve order');
  if (sig.yParity !== 0 && sig.yParity !== 1) throw new WaiaasError('WAIAAS_INTERNAL', 'signature yParity is not 0 or 1');

  let signed: Uint8Array;
  if (tx.type === 'legacy') {
    const v = BigInt(sig.yParity) + 35n + 2n * tx.chainId;
    signed = toRlp([...tx.rlpFields.slice(0, 6), minimal(v), minimal(r), minimal(s)] as RlpList, 'bytes');
  } else {
    const typeByte = tx.bytes[0] as number;
    const list = toRlp([...tx.rlpFields, minimal(BigInt(sig.yParity)), minimal(r), minimal(s)] as RlpList, 'bytes');
    signed = new Uint8Array(1 + list.length);
    signed[0] = typeByte;
    signed.set(list, 1);
  }
  return { signed, hash: keccak_256(signed) };
}
