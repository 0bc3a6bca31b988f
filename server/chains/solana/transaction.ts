/**
 * Solana wire transactions: strict decoding of the exact bytes a wallet is asked to sign, and re-assembly once signed.
 *
 * Only legacy and v0 messages in the signatures-first envelope are accepted. Anything the runtime would reject as
 * unsanitary, and anything that does not re-encode to the very same bytes, is refused here, so that the effects the
 * policy sees are derived from exactly the bytes the HSM signs. @solana/kit's codecs do the parsing; this module adds
 * the checks they leave out (trailing bytes, signature-slot count, index bounds, canonical lengths).
 */
import {
  getCompiledTransactionMessageDecoder,
  getCompiledTransactionMessageEncoder,
  getShortU16Decoder,
  getShortU16Encoder,
  getTransactionDecoder,
  type CompiledTransactionMessageWithLifetime,
  type LegacyCompiledTransactionMessage,
  type V0CompiledTransactionMessage,
} from '@solana/kit';
import { WaiaasError } from '../../errors/error.ts';
import type { Reason } from '../../errors/reasons.ts';

/** Largest wire transaction the network accepts (IPv6 MTU minus headers). */
export const SOLANA_MAX_TRANSACTION_BYTES = 1232;

/** Length of one Ed25519 signature slot. */
export const SOLANA_SIGNATURE_BYTES = 64;

/** Accounts are referenced by u8 indexes, so a message can never load more than this many. */
const MAX_ACCOUNTS = 256;

/** A decoded legacy or v0 message (v1 is refused before this type is ever produced). */
export type SolanaCompiledMessage = (LegacyCompiledTransactionMessage | V0CompiledTransactionMessage) &
  CompiledTransactionMessageWithLifetime;

/** A Solana transaction decoded from wire bytes that passed every structural and canonical check. */
export interface DecodedSolanaTransaction {
  /** A private copy of the wire bytes as given (signature slots followed by the message). */
  readonly bytes: Uint8Array;
  /** The serialized message: exactly the bytes every signer signs. */
  readonly messageBytes: Uint8Array;
  /** One 64-byte slot per required signer, in signer order; all zeroes means not signed yet. */
  readonly signatures: readonly Uint8Array[];
  /** Base58 addresses that must sign: the first header.numSignerAccounts static accounts. */
  readonly signers: readonly string[];
  /** Message version. */
  readonly version: 'legacy' | 0;
  /** The compiled message as decoded by @solana/kit. */
  readonly message: SolanaCompiledMessage;
  /** The account that pays the fee (the first signer). */
  readonly feePayer: string;
  /**
   * Every account an instruction index can refer to, in runtime order: static accounts, then the writable and then
   * the read-only lookup-table entries. A lookup entry is `lookup:<table>:<index>`, never an address, because its
   * real address depends on on-chain table contents the server cannot vouch for.
   */
  readonly accountKeys: readonly string[];
}

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

/** Placeholder for an account loaded from a lookup table; it can never equal a base58 address. */
export function lookupPlaceholder(table: string, index: number): string {
  return `lookup:${table}:${index}`;
}

// Codecs are built once: building them costs more than a short transaction's decoding.
const SHORT_U16_DECODER = getShortU16Decoder();
const SHORT_U16_ENCODER = getShortU16Encoder();
const MESSAGE_DECODER = getCompiledTransactionMessageDecoder();
const MESSAGE_ENCODER = getCompiledTransactionMessageEncoder();
const TRANSACTION_DECODER = getTransactionDecoder();

/**
 * Decodes a wire transaction (compact-u16 count of signature slots, then a legacy or v0 message) and checks that it is
 * well formed, sanitary and canonical. Every failure is a WaiaasError: WAIAAS_TX_TOO_LARGE, WAIAAS_TX_MALFORMED or
 * WAIAAS_TX_NOT_CANONICAL.
 */
export function decodeSolanaTransaction(input: Uint8Array): DecodedSolanaTransaction {
  if (!(input instanceof Uint8Array)) malformed('transaction must be bytes');
  if (input.length > SOLANA_MAX_TRANSACTION_BYTES) {
    fail('WAIAAS_TX_TOO_LARGE', 'transaction exceeds the Solana size limit', {
      size: String(input.length),
      limit: String(SOLANA_MAX_TRANSACTION_BYTES),
    });
  }
  if (input.length === 0) malformed('transaction is empty');
  // Copy first: the caller's buffer may change after we decoded it, the signed bytes must not.
  const bytes = new Uint8Array(input); // a copy, also for a Buffer (whose slice() is a view)

  // Signature slots. A count >= 128 would need > 8 KiB of slots, so it can only be garbage (or a v1 message-first
  // envelope, which kit would otherwise silently accept).
  let count: number;
  let slotsOffset: number;
  try {
    [count, slotsOffset] = SHORT_U16_DECODER.read(bytes, 0);
  } catch (cause) {
    malformed('signature count does not decode', {}, cause);
  }
  if (count === 0) malformed('transaction has no signature slots');
  const messageOffset = slotsOffset + count * SOLANA_SIGNATURE_BYTES;
  if (messageOffset >= bytes.length) {
    malformed('transaction ends inside its signature slots', { signatureSlots: String(count) });
  }
  const signatures: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const start = slotsOffset + i * SOLANA_SIGNATURE_BYTES;
    signatures.push(bytes.slice(start, start + SOLANA_SIGNATURE_BYTES));
  }
  const messageBytes = bytes.slice(messageOffset);

  // Message. kit's decoders throw on truncation but ignore trailing bytes and accept v1, hence the checks after.
  let message: SolanaCompiledMessage;
  let consumed: number;
  try {
    const [decoded, end] = MESSAGE_DECODER.read(messageBytes, 0);
    if (decoded.version !== 'legacy' && decoded.version !== 0) {
      malformed('unsupported message version', { version: String(decoded.version) });
    }
    message = decoded as SolanaCompiledMessage;
    consumed = end;
  } catch (cause) {
    if (cause instanceof WaiaasError) throw cause;
    malformed('message does not decode', {}, cause);
  }
  if (consumed !== messageBytes.length) {
    malformed('trailing bytes after the message', { trailing: String(messageBytes.length - consumed) });
  }

  const accountKeys = validateMessage(message, count);

  // Canonical: kit's shortU16 decoder accepts over-long encodings (0x80 0x00 is 0), so re-encode and compare.
  let reencoded: Uint8Array;
  try {
    reencoded = new Uint8Array(MESSAGE_ENCODER.encode(message));
  } catch (cause) {
    malformed('message does not re-encode', {}, cause);
  }
  // kit's array decoder reads a length prefix missing at the very end of the input as an empty array, so a message cut
  // right before its instruction or lookup count decodes; it re-encodes longer than its input, and that is truncation.
  if (reencoded.length > messageBytes.length) malformed('message is truncated');
  if (!bytesEqual(reencoded, messageBytes)) fail('WAIAAS_TX_NOT_CANONICAL', 'message does not re-encode to the same bytes');
  if (!bytesEqual(new Uint8Array(SHORT_U16_ENCODER.encode(count)), bytes.subarray(0, slotsOffset))) {
    fail('WAIAAS_TX_NOT_CANONICAL', 'signature count is not minimally encoded');
  }

  // Cross-check with kit's own envelope decoder: it is what clients and litesvm use to read the same bytes.
  try {
    const kitTx = TRANSACTION_DECODER.decode(bytes);
    if (!bytesEqual(new Uint8Array(kitTx.messageBytes), messageBytes) || Object.keys(kitTx.signatures).length !== count) {
      malformed('transaction envelope is ambiguous');
    }
  } catch (cause) {
    if (cause instanceof WaiaasError) throw cause;
    malformed('transaction envelope does not decode', {}, cause);
  }

  const signers = message.staticAccounts.slice(0, message.header.numSignerAccounts) as string[];
  return {
    bytes,
    messageBytes,
    signatures,
    signers,
    version: message.version,
    message,
    feePayer: signers[0] as string,
    accountKeys,
  };
}

/**
 * The sanitize rules of the Solana runtime that matter for what we derive from a message, plus the ones kit's
 * decoder skips. Returns the resolved account list (lookups as placeholders).
 */
function validateMessage(message: SolanaCompiledMessage, signatureSlots: number): string[] {
  const { header, staticAccounts, instructions } = message;
  const lookups = message.version === 0 ? (message.addressTableLookups ?? []) : [];
  const signerCount = header.numSignerAccounts;

  if (signerCount === 0) malformed('message requires no signer');
  if (header.numReadonlySignerAccounts >= signerCount) malformed('fee payer must be a writable signer');
  if (signerCount + header.numReadonlyNonSignerAccounts > staticAccounts.length) {
    malformed('message header counts exceed its accounts', {
      accounts: String(staticAccounts.length),
      signers: String(signerCount),
      readonlyNonSigners: String(header.numReadonlyNonSignerAccounts),
    });
  }
  if (signatureSlots !== signerCount) {
    malformed('signature slots differ from required signers', {
      signatureSlots: String(signatureSlots),
      requiredSigners: String(signerCount),
    });
  }
  // A duplicate would make signer slots ambiguous and is rejected by the runtime (AccountLoadedTwice).
  if (new Set(staticAccounts).size !== staticAccounts.length) malformed('message lists an account twice');

  const writable: string[] = [];
  const readonly: string[] = [];
  const seenLookups = new Set<string>();
  for (const lookup of lookups) {
    if (lookup.writableIndexes.length === 0 && lookup.readonlyIndexes.length === 0) {
      malformed('address table lookup loads no account', { table: lookup.lookupTableAddress });
    }
    for (const [list, indexes] of [
      [writable, lookup.writableIndexes],
      [readonly, lookup.readonlyIndexes],
    ] as const) {
      for (const index of indexes) {
        const key = lookupPlaceholder(lookup.lookupTableAddress, index);
        if (seenLookups.has(key)) malformed('address table lookup loads an entry twice', { table: lookup.lookupTableAddress });
        seenLookups.add(key);
        list.push(key);
      }
    }
  }
  const accountKeys = [...(staticAccounts as string[]), ...writable, ...readonly];
  if (accountKeys.length > MAX_ACCOUNTS) malformed('message loads too many accounts', { accounts: String(accountKeys.length) });

  instructions.forEach((instruction, i) => {
    // Programs must be static (never from a lookup table) and cannot be the fee payer.
    if (instruction.programAddressIndex === 0 || instruction.programAddressIndex >= staticAccounts.length) {
      malformed('instruction program index out of range', {
        instruction: String(i),
        index: String(instruction.programAddressIndex),
      });
    }
    for (const index of instruction.accountIndices ?? []) {
      if (index >= accountKeys.length) {
        malformed('instruction account index out of range', { instruction: String(i), index: String(index) });
      }
    }
  });
  return accountKeys;
}

/**
 * The wallet's slot among the required signers. Throws WAIAAS_WALLET_NOT_A_SIGNER when the wallet is not one: the
 * server would otherwise sign bytes whose signature nobody asked for.
 */
export function signerIndex(tx: DecodedSolanaTransaction, wallet: string): number {
  const index = tx.signers.indexOf(wallet);
  if (index < 0) {
    throw new WaiaasError('WAIAAS_WALLET_NOT_A_SIGNER', 'wallet is not a required signer of this transaction', {
      metadata: { wallet },
    });
  }
  return index;
}

/**
 * The wire transaction with `signature` in slot `index` and every other slot as given. The message is taken from the
 * decoded transaction, never re-built, so the result carries exactly the bytes that were signed.
 */
export function assembleSolanaTransaction(tx: DecodedSolanaTransaction, index: number, signature: Uint8Array): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index >= tx.signatures.length) {
    throw new WaiaasError('WAIAAS_INTERNAL', 'signature slot out of range', { metadata: { index: String(index) } });
  }
  if (!(signature instanceof Uint8Array) || signature.length !== SOLANA_SIGNATURE_BYTES) {
    throw new WaiaasError('WAIAAS_INTERNAL', 'Ed25519 signature has the wrong length', {
      metadata: { length: String(signature?.length ?? 0) },
    });
  }
  const prefix = new Uint8Array(getShortU16Encoder().encode(tx.signatures.length));
  const out = new Uint8Array(prefix.length + tx.signatures.length * SOLANA_SIGNATURE_BYTES + tx.messageBytes.length);
  out.set(prefix, 0);
  tx.signatures.forEach((slot, i) => {
    out.set(i === index ? signature : slot, prefix.length + i * SOLANA_SIGNATURE_BYTES);
  });
  out.set(tx.messageBytes, prefix.length + tx.signatures.length * SOLANA_SIGNATURE_BYTES);
  return out;
}
