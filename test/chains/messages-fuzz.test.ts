// Message decoder robustness: random byte strings, random text, mutated off-chain messages and mutated transactions
// never escape as anything but a WaiaasError with a message reason, and whatever is accepted is consistent (EVM: the
// digest is viem's; Solana: the signed bytes are the input, carry text, and never decode as a transaction). Seeded, so
// a failure reproduces.
import { getCompiledTransactionMessageDecoder } from '@solana/kit';
import { bytesToHex, hashMessage } from 'viem';
import { describe, expect, test } from 'vitest';
import { decodeEvmPersonalMessage } from '../../server/chains/evm/message.ts';
import { decodeSolanaMessage } from '../../server/chains/solana/message.ts';
import { decodeSolanaTransaction } from '../../server/chains/solana/transaction.ts';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import { newSolanaKey, unsignedSolTransfer } from '../support/litesvm.ts';

const MESSAGE_REASONS: Reason[] = ['WAIAAS_MESSAGE_MALFORMED', 'WAIAAS_RAW_HASH_REFUSED'];

/** mulberry32: a tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rand: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(rand() * 256));
}

const READABLE = ['a', 'Z', ' ', '.', '0', ':', '\n', '\t', '\r', 'é', '€', '👋'];
const CONTROLS = ['\x00', '\x1b', '\x7f', '\u0085'];

/** Readable text with line breaks, tabs and multi-byte characters; a third of them with a control character. */
function randomText(rand: () => number, length: number): Uint8Array {
  let s = '';
  while (s.length < length) s += READABLE[Math.floor(rand() * READABLE.length)];
  if (rand() < 0.33) {
    const at = Math.floor(rand() * s.length);
    s = s.slice(0, at) + CONTROLS[Math.floor(rand() * CONTROLS.length)] + s.slice(at);
  }
  return new TextEncoder().encode(s);
}

const LENGTHS = [0, 1, 2, 16, 17, 20, 21, 31, 32, 33, 64, 100, 1232, 4096, 4097, 16_384, 16_385];

function randomLength(rand: () => number): number {
  return rand() < 0.3 ? (LENGTHS[Math.floor(rand() * LENGTHS.length)] as number) : Math.floor(rand() * 2000);
}

function offchain(rand: () => number): Uint8Array {
  const body = rand() < 0.5 ? randomText(rand, Math.floor(rand() * 300)) : randomBytes(rand, Math.floor(rand() * 300));
  const length = rand() < 0.8 ? body.length : Math.floor(rand() * 65_536);
  const bytes = new Uint8Array([0xff, ...new TextEncoder().encode('solana offchain'), rand() < 0.9 ? 0 : 1, Math.floor(rand() * 4), length & 0xff, length >> 8, ...body]);
  // Sometimes flip a byte, sometimes truncate.
  if (rand() < 0.3) {
    const at = Math.floor(rand() * bytes.length);
    bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(rand() * 8));
  }
  return rand() < 0.2 ? bytes.subarray(0, Math.floor(rand() * bytes.length)) : bytes;
}

/** Runs `decode`, returning the refusal reason, or undefined when it accepted; anything else fails the test. */
function attempt(decode: () => void, input: Uint8Array): Reason | undefined {
  try {
    decode();
    return undefined;
  } catch (e) {
    if (isWaiaasError(e) && MESSAGE_REASONS.includes(e.reason)) return e.reason;
    throw new Error(`unexpected error for ${bytesToHex(input)}: ${String(e)}`, { cause: e });
  }
}

describe('EIP-191 decoder', () => {
  test('2000 random byte strings and texts: only message refusals; accepted digests are viem hashMessage', () => {
    const rand = prng(191);
    for (let i = 0; i < 2000; i++) {
      const length = randomLength(rand);
      const input = rand() < 0.5 ? randomBytes(rand, length) : randomText(rand, length);
      let digest: Uint8Array | undefined;
      attempt(() => {
        digest = decodeEvmPersonalMessage(input).digest;
      }, input);
      if (digest !== undefined) expect(bytesToHex(digest)).toBe(hashMessage({ raw: input }));
    }
  });
});

describe('Solana message decoder', () => {
  const to = newSolanaKey().address;
  const from = newSolanaKey().address;
  const wire = unsignedSolTransfer({ from, to, lamports: 5n, blockhash: newSolanaKey().address });
  const message = decodeSolanaTransaction(wire).messageBytes;
  const messageDecoder = getCompiledTransactionMessageDecoder();

  test('2000 random, textual, off-chain and mutated-transaction inputs: only message refusals, consistent acceptances', () => {
    const rand = prng(0x501);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      let input: Uint8Array;
      const kind = rand();
      if (kind < 0.25) input = randomBytes(rand, randomLength(rand));
      else if (kind < 0.5) input = randomText(rand, randomLength(rand));
      else if (kind < 0.8) input = offchain(rand);
      else {
        input = new Uint8Array(rand() < 0.5 ? wire : message);
        input[Math.floor(rand() * input.length)] = Math.floor(rand() * 256);
      }
      let result: ReturnType<typeof decodeSolanaMessage> | undefined;
      attempt(() => {
        result = decodeSolanaMessage(input);
      }, input);
      if (result === undefined) continue;
      accepted++;
      expect(result.messageBytes).toEqual(input);
      expect(typeof result.effects.message?.text).toBe('string');
      if (input[0] !== 0xff) {
        expect(() => decodeSolanaTransaction(input)).toThrow();
        expect(() => messageDecoder.decode(input)).toThrow();
      }
    }
    expect(accepted).toBeGreaterThan(100);
  });
});
