/**
 * Solana message signing: which byte strings the server signs with a wallet's Ed25519 key as a *message*, and the
 * message effect the policy engine judges.
 *
 * Two forms are accepted:
 * - An off-chain message in the original version-0 format of the Solana CLI (`solana sign-offchain-message`,
 *   solana-sdk `offchain_message.rs`): "\xffsolana offchain" ‖ version 0 ‖ format u8 ‖ length u16 LE ‖ message.
 *   The leading 0xff can never start a transaction message, so such a signature can never authorize a transaction.
 * - Plain UTF-8 text, as Sign-In-With-Solana and wallets' `signMessage` sign raw bytes. Raw bytes have no domain
 *   separation from transactions, so text is accepted only when it cannot be read as a transaction or transaction
 *   message.
 * Ed25519 signs the message itself (no pre-hash), so what is returned is the exact bytes to sign.
 */
import { getCompiledTransactionMessageDecoder } from '@solana/kit';
import { WaiaasError } from '../../errors/error.ts';
import type { Reason } from '../../errors/reasons.ts';
import { emptyEffects, type Effects } from '../../policy/effects.ts';
import { decodeSolanaTransaction } from './transaction.ts';

/** Largest plain-text message accepted, in bytes. */
export const SOLANA_TEXT_MESSAGE_MAX_BYTES = 4096;

/** Largest off-chain message body of formats 0 and 1 (what a Ledger can display): 1232 − 17 − 3. */
export const SOLANA_OFFCHAIN_MAX_LEDGER_BYTES = 1212;

/** Largest off-chain message body of format 2: 65535 − 17 − 3. */
export const SOLANA_OFFCHAIN_MAX_BYTES = 65_515;

/** A Solana message decoded for signing. */
export interface DecodedSolanaMessage {
  /** Exactly the bytes the HSM signs: the whole serialized off-chain message, or the text bytes. */
  messageBytes: Uint8Array;
  /** chain 'solana', message { kind 'solana_offchain', text }. */
  effects: Effects;
}

// The signing domain: 0xff then "solana offchain" (16 bytes). Built from bytes: TextEncoder would write "\xff" as the
// two UTF-8 bytes of U+00FF.
const DOMAIN = Uint8Array.of(0xff, ...new TextEncoder().encode('solana offchain'));
/** Signing domain (16) + header version (1) + format (1) + length (2). */
const OFFCHAIN_HEADER_BYTES = DOMAIN.length + 4;

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// C0 controls other than \t \n \r, DEL and C1 controls: they can hide or rewrite what a reader sees.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/u;
const MESSAGE_DECODER = getCompiledTransactionMessageDecoder();

function fail(reason: Reason, message: string, metadata: Record<string, string> = {}): never {
  throw new WaiaasError(reason, message, { metadata: { field: 'message', ...metadata } });
}

/** The bytes as text when they are valid UTF-8 without control characters other than tab and line breaks. */
function readableText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return undefined;
  }
  return CONTROL.test(text) ? undefined : text;
}

function startsWithDomain(bytes: Uint8Array): boolean {
  if (bytes.length < DOMAIN.length) return false;
  for (let i = 0; i < DOMAIN.length; i++) if (bytes[i] !== DOMAIN[i]) return false;
  return true;
}

/**
 * True when the bytes can be read as a wire transaction or as a (legacy or versioned) transaction message, even one
 * followed by extra bytes: a signature over them might then authorize a transaction. Deliberately broad: a long text
 * refused by mistake can still be signed in the off-chain format, a transaction signed by mistake cannot be undone.
 */
function decodesAsTransaction(bytes: Uint8Array): boolean {
  try {
    decodeSolanaTransaction(bytes);
    return true;
  } catch {
    // not a transaction; try a bare message
  }
  try {
    MESSAGE_DECODER.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function decodeOffchain(bytes: Uint8Array): DecodedSolanaMessage {
  if (bytes.length < OFFCHAIN_HEADER_BYTES + 1) fail('WAIAAS_MESSAGE_MALFORMED', 'off-chain message is truncated');
  const version = bytes[DOMAIN.length] as number;
  // Version 0 of the Solana CLI. Later layouts (application domain and signers in the header) are not accepted.
  if (version !== 0) fail('WAIAAS_MESSAGE_MALFORMED', 'unsupported off-chain message version', { version: String(version) });
  const format = bytes[DOMAIN.length + 1] as number;
  const length = (bytes[DOMAIN.length + 2] as number) | ((bytes[DOMAIN.length + 3] as number) << 8);
  if (length === 0 || OFFCHAIN_HEADER_BYTES + length !== bytes.length) {
    fail('WAIAAS_MESSAGE_MALFORMED', 'off-chain message length does not match its header', {
      declared: String(length),
      actual: String(bytes.length - OFFCHAIN_HEADER_BYTES),
    });
  }
  const body = bytes.subarray(OFFCHAIN_HEADER_BYTES);
  let text: string | undefined;
  if (format === 0) {
    // Restricted ASCII: printable characters only (0x20..0x7e), no line breaks.
    if (body.length <= SOLANA_OFFCHAIN_MAX_LEDGER_BYTES && body.every((b) => b >= 0x20 && b <= 0x7e)) text = readableText(body);
  } else if (format === 1 || format === 2) {
    const limit = format === 1 ? SOLANA_OFFCHAIN_MAX_LEDGER_BYTES : SOLANA_OFFCHAIN_MAX_BYTES;
    // Stricter than the CLI, which accepts any UTF-8: control characters are refused as in plain text.
    if (body.length <= limit) text = readableText(body);
  } else {
    fail('WAIAAS_MESSAGE_MALFORMED', 'unknown off-chain message format', { format: String(format) });
  }
  if (text === undefined) {
    fail('WAIAAS_MESSAGE_MALFORMED', 'off-chain message content does not match its format', { format: String(format) });
  }
  const effects = emptyEffects('solana');
  effects.message = { kind: 'solana_offchain', text };
  return { messageBytes: bytes, effects };
}

/**
 * Decodes a message to sign with a Solana wallet: a version-0 off-chain message (signing domain "\xffsolana
 * offchain"; format 0 printable ASCII or 1 UTF-8 up to 1212 bytes, 2 UTF-8 up to 65515 bytes), or plain text of
 * 1..4096 bytes (valid UTF-8, no control characters but tab and line breaks).
 *
 * Refusals: WAIAAS_RAW_HASH_REFUSED for bytes that decode as a transaction or transaction message, and for a 32-byte
 * payload that is not text (a bare hash); WAIAAS_MESSAGE_MALFORMED for everything else that is neither form.
 * Throws only WaiaasError.
 */
export function decodeSolanaMessage(bytes: Uint8Array): DecodedSolanaMessage {
  if (!(bytes instanceof Uint8Array)) fail('WAIAAS_MESSAGE_MALFORMED', 'message must be bytes');
  if (bytes.length === 0) fail('WAIAAS_MESSAGE_MALFORMED', 'message is empty');
  // A private copy: the caller's buffer may change after decoding, the signed bytes must be the judged ones.
  const copy = new Uint8Array(bytes);
  if (startsWithDomain(copy)) {
    if (copy.length > OFFCHAIN_HEADER_BYTES + SOLANA_OFFCHAIN_MAX_BYTES) fail('WAIAAS_MESSAGE_MALFORMED', 'off-chain message is too large');
    return decodeOffchain(copy);
  }
  if (copy.length > SOLANA_TEXT_MESSAGE_MAX_BYTES) {
    fail('WAIAAS_MESSAGE_MALFORMED', 'text message is larger than 4096 bytes', { size: String(copy.length) });
  }
  if (decodesAsTransaction(copy)) {
    fail('WAIAAS_RAW_HASH_REFUSED', 'message decodes as a Solana transaction and is not signed');
  }
  const text = readableText(copy);
  if (text === undefined) {
    if (copy.length === 32) fail('WAIAAS_RAW_HASH_REFUSED', 'a 32-byte binary message is a bare hash and is not signed');
    fail('WAIAAS_MESSAGE_MALFORMED', 'message is neither an off-chain message nor readable UTF-8 text');
  }
  const effects = emptyEffects('solana');
  effects.message = { kind: 'solana_offchain', text };
  return { messageBytes: copy, effects };
}
