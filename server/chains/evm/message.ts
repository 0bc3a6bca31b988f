/**
 * EVM personal messages (EIP-191 version 0x45, what wallets sign for `personal_sign`): the digest the HSM
 * signs and the message effect the policy engine judges.
 *
 * The server computes the digest itself from the message bytes; a caller never supplies a hash. A bare 32-byte binary
 * payload is refused, because contracts verify `toEthSignedMessageHash(bytes32)` signatures: signing such a payload
 * approves whatever those 32 bytes hash, which nobody can read.
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { WaiaasError } from '../../errors/error.ts';
import { emptyEffects, type Effects } from '../../policy/effects.ts';

/** Largest personal message accepted, in bytes. Login and consent texts are far shorter; this bounds the work. */
export const EVM_MESSAGE_MAX_BYTES = 16_384;

/** A personal message decoded for signing. */
export interface DecodedEvmMessage {
  /** keccak256("\x19Ethereum Signed Message:\n" ‖ decimal length ‖ message): the 32 bytes the HSM signs. */
  digest: Uint8Array;
  /** chain 'evm' without chainId (EIP-191 messages name no chain), message { kind 'eip191', text }. */
  effects: Effects;
}

const PREFIX = new TextEncoder().encode('\x19Ethereum Signed Message:\n');

// fatal: invalid UTF-8 (overlong forms, surrogates, truncated sequences) throws instead of becoming U+FFFD.
// ignoreBOM: a leading U+FEFF stays in the text, so the text shown is the whole message that is signed.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// C0 controls other than \t \n \r, DEL and the C1 controls: invisible characters that can hide or reorder what a
// reader sees (a terminal honours \x1b sequences, \x08 erases), so text containing them is not "readable".
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/u;

/** The message as text when it is valid UTF-8 without control characters (other than tab and line breaks). */
function readableText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return undefined;
  }
  return CONTROL.test(text) ? undefined : text;
}

/**
 * Decodes an EIP-191 personal message (the raw message bytes, without the prefix) for signing.
 *
 * - 1..EVM_MESSAGE_MAX_BYTES bytes, else WAIAAS_MESSAGE_MALFORMED.
 * - Exactly 32 bytes that are not readable text: WAIAAS_RAW_HASH_REFUSED (a bare hash).
 * - Other binary messages are accepted with `text` undefined: EIP-191 allows any bytes, and some dapps sign binary
 *   payloads of other lengths. The prefix binds the length, so such a payload cannot stand in for a 32-byte hash,
 *   and no text rule of a policy can match a message without text, so only a rule that explicitly allows any
 *   EIP-191 message lets it through. Text containing control characters counts as binary for the same reason.
 *
 * Throws only WaiaasError.
 */
export function decodeEvmPersonalMessage(message: Uint8Array): DecodedEvmMessage {
  if (!(message instanceof Uint8Array)) {
    throw new WaiaasError('WAIAAS_MESSAGE_MALFORMED', 'message must be bytes', { metadata: { field: 'message' } });
  }
  if (message.length === 0 || message.length > EVM_MESSAGE_MAX_BYTES) {
    throw new WaiaasError('WAIAAS_MESSAGE_MALFORMED', 'message must be 1 to 16384 bytes', {
      metadata: { field: 'message', size: String(message.length), limit: String(EVM_MESSAGE_MAX_BYTES) },
    });
  }
  // A private copy: the caller's buffer may change after decoding, the digest and the effects must agree.
  const bytes = new Uint8Array(message);
  const text = readableText(bytes);
  if (bytes.length === 32 && text === undefined) {
    throw new WaiaasError('WAIAAS_RAW_HASH_REFUSED', 'a 32-byte binary message is a bare hash and is not signed', {
      metadata: { field: 'message', size: '32' },
    });
  }

  const length = new TextEncoder().encode(String(bytes.length));
  const prefixed = new Uint8Array(PREFIX.length + length.length + bytes.length);
  prefixed.set(PREFIX, 0);
  prefixed.set(length, PREFIX.length);
  prefixed.set(bytes, PREFIX.length + length.length);

  const effects = emptyEffects('evm');
  effects.message = text === undefined ? { kind: 'eip191' } : { kind: 'eip191', text };
  return { digest: keccak_256(prefixed), effects };
}
