// Message decoders: EIP-191 personal messages and Solana off-chain / text messages. Digests and signed bytes are checked
// against independent implementations (viem, noble), and every refusal names its reason.
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { getCompiledTransactionMessageDecoder } from '@solana/kit';
import { bytesToHex, hashMessage, recoverMessageAddress, verifyMessage, type Hex } from 'viem';
import { describe, expect, test } from 'vitest';
import { decodeEvmPersonalMessage, EVM_MESSAGE_MAX_BYTES } from '../../server/chains/evm/message.ts';
import { decodeSolanaMessage } from '../../server/chains/solana/message.ts';
import { decodeSolanaTransaction } from '../../server/chains/solana/transaction.ts';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import { newEvmKey } from '../support/evm.ts';
import { newSolanaKey, unsignedSolTransfer } from '../support/litesvm.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The refusal reason (and metadata) of `fn`, failing the test when it succeeds or throws a non-Waiaas error. */
function refusal(fn: () => unknown): { reason: Reason; metadata: Record<string, string> } {
  try {
    fn();
  } catch (e) {
    if (isWaiaasError(e)) return { reason: e.reason, metadata: e.metadata };
    throw e;
  }
  throw new Error('expected a refusal');
}

/** An Ethereum signature (r ‖ s ‖ v) over a 32-byte digest, made with noble directly (no viem signing). */
function signDigest(secretKey: Uint8Array, digest: Uint8Array): Hex {
  const sig = secp256k1.sign(digest, secretKey, { prehash: false, format: 'recovered' });
  // noble's 'recovered' format is recovery ‖ r ‖ s.
  return bytesToHex(new Uint8Array([...sig.subarray(1), 27 + (sig[0] as number)]));
}

describe('EIP-191 personal messages', () => {
  test('the digest is viem hashMessage of the raw bytes, and the text is the message', () => {
    const message = utf8('Sign in to example.com\nNonce: 42');
    const { digest, effects } = decodeEvmPersonalMessage(message);
    expect(bytesToHex(digest)).toBe(hashMessage({ raw: message }));
    expect(effects).toEqual({
      chain: 'evm',
      outflows: [],
      grants: [],
      calls: [],
      flags: [],
      maxFee: 0n,
      message: { kind: 'eip191', text: 'Sign in to example.com\nNonce: 42' },
    });
    expect(effects.chainId).toBeUndefined();
  });

  test('a signature over the digest verifies with viem verifyMessage and recovers the signer', async () => {
    const key = newEvmKey();
    const message = utf8('I agree to the terms of service.');
    const signature = signDigest(key.secretKey, decodeEvmPersonalMessage(message).digest);
    expect(await verifyMessage({ address: key.address as Hex, message: { raw: message }, signature })).toBe(true);
    expect(await recoverMessageAddress({ message: 'I agree to the terms of service.', signature })).toBe(key.address);
  });

  test('a 32-byte binary message (a bare hash) is refused', () => {
    const hash = secp256k1.utils.randomSecretKey(); // 32 random bytes
    expect(refusal(() => decodeEvmPersonalMessage(hash)).reason).toBe('WAIAAS_RAW_HASH_REFUSED');
    // 32 bytes of valid UTF-8 that contain a control character are not readable text either.
    expect(refusal(() => decodeEvmPersonalMessage(utf8('\x00'.repeat(32)))).reason).toBe('WAIAAS_RAW_HASH_REFUSED');
  });

  test('a 32-byte ASCII text is signed as text', () => {
    const message = utf8('Approve login for session 123456'); // exactly 32 bytes
    expect(message.length).toBe(32);
    const { digest, effects } = decodeEvmPersonalMessage(message);
    expect(bytesToHex(digest)).toBe(hashMessage({ raw: message }));
    expect(effects.message).toEqual({ kind: 'eip191', text: 'Approve login for session 123456' });
  });

  test('binary messages of other lengths are signed without text', () => {
    const binary = new Uint8Array(33).fill(0xff);
    const { digest, effects } = decodeEvmPersonalMessage(binary);
    expect(bytesToHex(digest)).toBe(hashMessage({ raw: binary }));
    expect(effects.message).toEqual({ kind: 'eip191' });
  });

  test('UTF-8 with control characters has no text; a byte-order mark stays in the text', () => {
    expect(decodeEvmPersonalMessage(utf8('hello\x1b[2Kworld')).effects.message).toEqual({ kind: 'eip191' });
    expect(decodeEvmPersonalMessage(utf8('\uFEFFhi')).effects.message?.text).toBe('\uFEFFhi');
    expect(decodeEvmPersonalMessage(utf8('Grüße 👋\r\n\tok')).effects.message?.text).toBe('Grüße 👋\r\n\tok');
  });

  test('length limits: 1 to 16384 bytes', () => {
    expect(refusal(() => decodeEvmPersonalMessage(new Uint8Array(0))).reason).toBe('WAIAAS_MESSAGE_MALFORMED');
    const max = utf8('a'.repeat(EVM_MESSAGE_MAX_BYTES));
    expect(bytesToHex(decodeEvmPersonalMessage(max).digest)).toBe(hashMessage({ raw: max }));
    const tooLong = refusal(() => decodeEvmPersonalMessage(utf8('a'.repeat(EVM_MESSAGE_MAX_BYTES + 1))));
    expect(tooLong).toEqual({ reason: 'WAIAAS_MESSAGE_MALFORMED', metadata: { field: 'message', size: '16385', limit: '16384' } });
    expect(bytesToHex(decodeEvmPersonalMessage(utf8('x')).digest)).toBe(hashMessage('x'));
  });

  test('the digest is computed from a private copy of the input', () => {
    const message = utf8('original text');
    const decoded = decodeEvmPersonalMessage(message);
    message.fill(0x41);
    expect(bytesToHex(decoded.digest)).toBe(hashMessage('original text'));
  });

  test('a non-Uint8Array input is refused as malformed', () => {
    expect(refusal(() => decodeEvmPersonalMessage('text' as unknown as Uint8Array)).reason).toBe('WAIAAS_MESSAGE_MALFORMED');
  });
});

/** A version-0 off-chain message as the Solana CLI serializes it (built here from the spec, independently). */
function offchain(body: Uint8Array, format: number, opts: { version?: number; length?: number } = {}): Uint8Array {
  const length = opts.length ?? body.length;
  return new Uint8Array([
    0xff,
    ...utf8('solana offchain'),
    opts.version ?? 0,
    format,
    length & 0xff,
    length >> 8,
    ...body,
  ]);
}

describe('Solana off-chain messages', () => {
  test('round trip: the whole serialized message is signed, and an Ed25519 signature over it verifies', () => {
    const key = newSolanaKey();
    const bytes = offchain(utf8('Hello, Solana!'), 0);
    const { messageBytes, effects } = decodeSolanaMessage(bytes);
    expect(messageBytes).toEqual(bytes);
    expect(effects).toEqual({
      chain: 'solana',
      outflows: [],
      grants: [],
      calls: [],
      flags: [],
      maxFee: 0n,
      message: { kind: 'solana_offchain', text: 'Hello, Solana!' },
    });
    const signature = ed25519.sign(messageBytes, key.secretKey);
    expect(ed25519.verify(signature, bytes, key.publicKey)).toBe(true);
  });

  test('formats: 0 printable ASCII, 1 UTF-8 up to 1212 bytes, 2 UTF-8 up to 65515 bytes', () => {
    expect(decodeSolanaMessage(offchain(utf8('Grüße\nzeile 2'), 1)).effects.message?.text).toBe('Grüße\nzeile 2');
    expect(decodeSolanaMessage(offchain(utf8('a'.repeat(1212)), 0)).effects.message?.text).toHaveLength(1212);
    expect(decodeSolanaMessage(offchain(utf8('é'.repeat(600)), 1)).messageBytes).toHaveLength(20 + 1200);
    const long = utf8('ü'.repeat(32_757)); // 65514 bytes
    expect(decodeSolanaMessage(offchain(long, 2)).effects.message?.text).toBe('ü'.repeat(32_757));
    // A short message in the extended format is what the CLI's deserializer accepts too.
    expect(decodeSolanaMessage(offchain(utf8('short'), 2)).effects.message?.text).toBe('short');
  });

  test.each([
    ['format 0 with a line break', offchain(utf8('line\nbreak'), 0)],
    ['format 0 with non-ASCII', offchain(utf8('café'), 0)],
    ['format 0 over 1212 bytes', offchain(utf8('a'.repeat(1213)), 0)],
    ['format 1 over 1212 bytes', offchain(utf8('a'.repeat(1213)), 1)],
    ['format 1 with invalid UTF-8', offchain(new Uint8Array([0x61, 0xc3, 0x28]), 1)],
    ['format 1 with a control character', offchain(utf8('bell\x07'), 1)],
    ['format 2 with an escape sequence', offchain(utf8('\x1b[31mred'), 2)],
    ['unknown format 3', offchain(utf8('text'), 3)],
    ['version 1', offchain(utf8('text'), 0, { version: 1 })],
    ['declared length longer than the body', offchain(utf8('text'), 0, { length: 5 })],
    ['declared length shorter than the body', offchain(utf8('text'), 0, { length: 3 })],
    ['zero length', offchain(new Uint8Array(0), 0)],
    ['only the signing domain', offchain(new Uint8Array(0), 0).subarray(0, 16)],
    ['a truncated header', offchain(new Uint8Array(0), 0).subarray(0, 18)],
  ])('refused: %s', (_name, bytes) => {
    expect(refusal(() => decodeSolanaMessage(bytes)).reason).toBe('WAIAAS_MESSAGE_MALFORMED');
  });

  test('a message in the newer layout (application domain and signers in the header) is refused, never misread', () => {
    // SRFC-3 v0: domain, version 0, 32-byte application domain, format, signer count, signers, length, message.
    const signer = newSolanaKey().publicKey;
    const body = utf8('Sign in');
    const newer = new Uint8Array([
      ...offchain(new Uint8Array(0), 0).subarray(0, 17),
      ...new Uint8Array(32).fill(7),
      0,
      1,
      ...signer,
      body.length,
      0,
      ...body,
    ]);
    expect(refusal(() => decodeSolanaMessage(newer)).reason).toBe('WAIAAS_MESSAGE_MALFORMED');
  });
});

describe('Solana plain-text messages', () => {
  const siws = [
    'example.com wants you to sign in with your Solana account:',
    'FnQjZ9Hh1cE6m5V7XmZ9m6hRvYyG5E3kq1sdbWj8rKqG',
    '',
    'Sign in to Example',
    '',
    'URI: https://example.com/login',
    'Version: 1',
    'Chain ID: mainnet',
    'Nonce: 32891756',
    'Issued At: 2025-01-01T00:00:00.000Z',
  ].join('\n');

  test('a Sign-In-With-Solana text is signed as its raw bytes, and the signature verifies', () => {
    const key = newSolanaKey();
    const bytes = utf8(siws);
    const { messageBytes, effects } = decodeSolanaMessage(bytes);
    expect(messageBytes).toEqual(bytes);
    expect(effects.message).toEqual({ kind: 'solana_offchain', text: siws });
    expect(ed25519.verify(ed25519.sign(messageBytes, key.secretKey), bytes, key.publicKey)).toBe(true);
  });

  test('the signed bytes are a private copy of the input', () => {
    const bytes = utf8('hello');
    const { messageBytes } = decodeSolanaMessage(bytes);
    bytes.fill(0x41);
    expect(new TextDecoder().decode(messageBytes)).toBe('hello');
  });

  test('a serialized transaction and a bare compiled message are refused', () => {
    const from = newSolanaKey().address;
    const wire = unsignedSolTransfer({ from, to: newSolanaKey().address, lamports: 1n, blockhash: newSolanaKey().address });
    expect(refusal(() => decodeSolanaMessage(wire)).reason).toBe('WAIAAS_RAW_HASH_REFUSED');
    const { messageBytes } = decodeSolanaTransaction(wire);
    expect(refusal(() => decodeSolanaMessage(messageBytes)).reason).toBe('WAIAAS_RAW_HASH_REFUSED');
    const legacy = unsignedSolTransfer({ from, to: newSolanaKey().address, lamports: 1n, blockhash: newSolanaKey().address, version: 'legacy' });
    expect(refusal(() => decodeSolanaMessage(decodeSolanaTransaction(legacy).messageBytes)).reason).toBe('WAIAAS_RAW_HASH_REFUSED');
  });

  test('printable text crafted to decode as a transaction message is refused', () => {
    // Legacy message: 13 signers (\r), 10 read-only signers (\n), 9 read-only others (\t), 32 accounts (' '), each
    // 32 letters, a blockhash of letters, 9 instructions (\t) each calling account 9 with 9 accounts and 9 data bytes.
    const account = (i: number): string => String.fromCharCode(0x41 + (i % 26)).repeat(31) + String.fromCharCode(0x61 + Math.floor(i / 26));
    const instruction = '\t' + '\t' + '\t'.repeat(9) + '\t' + 'memo text'.slice(0, 9);
    const text = '\r\n\t ' + Array.from({ length: 32 }, (_, i) => account(i)).join('') + 'B'.repeat(32) + '\t' + instruction.repeat(9);
    const bytes = utf8(text);
    expect(getCompiledTransactionMessageDecoder().read(bytes, 0)[1]).toBe(bytes.length); // it really is a message
    expect(refusal(() => decodeSolanaMessage(bytes)).reason).toBe('WAIAAS_RAW_HASH_REFUSED');
  });

  test('control characters other than tab and line breaks are refused', () => {
    for (const c of ['\x00', '\x07', '\x1b', '\x7f', '\u0085']) {
      expect(refusal(() => decodeSolanaMessage(utf8(`hello${c}world`))).reason).toBe('WAIAAS_MESSAGE_MALFORMED');
    }
    expect(decodeSolanaMessage(utf8('tab\there\r\nnext')).effects.message?.text).toBe('tab\there\r\nnext');
  });

  test('a 32-byte binary payload is a bare hash; other binary is malformed; 32 bytes of text are fine', () => {
    const hash = new Uint8Array(32).map((_, i) => 0x80 + i);
    expect(refusal(() => decodeSolanaMessage(hash)).reason).toBe('WAIAAS_RAW_HASH_REFUSED');
    expect(refusal(() => decodeSolanaMessage(new Uint8Array(33).fill(0xfe))).reason).toBe('WAIAAS_MESSAGE_MALFORMED');
    const text = utf8('Approve login for session 123456');
    expect(decodeSolanaMessage(text).effects.message?.text).toBe('Approve login for session 123456');
  });

  test('length limits: 1 to 4096 bytes of text', () => {
    expect(refusal(() => decodeSolanaMessage(new Uint8Array(0))).reason).toBe('WAIAAS_MESSAGE_MALFORMED');
    expect(decodeSolanaMessage(utf8('x'.repeat(4096))).messageBytes).toHaveLength(4096);
    expect(refusal(() => decodeSolanaMessage(utf8('x'.repeat(4097))))).toEqual({
      reason: 'WAIAAS_MESSAGE_MALFORMED',
      metadata: { field: 'message', size: '4097' },
    });
  });
});
