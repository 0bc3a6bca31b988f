// EVM decoder robustness: truncations, random bytes and single-byte mutations never escape as anything but a
// WaiaasError, and whatever does decode re-serializes to exactly its input. Seeded, so a failure reproduces.
import { bytesToHex, hexToBytes, serializeTransaction } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { beforeAll, describe, expect, test } from 'vitest';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import { decodeEvmTransaction, evmEffects, type DecodedEvmTransaction } from '../../server/chains/evm/index.ts';
import { newEvmKey, unsignedEip1559, unsignedEip2930, unsignedEip7702, unsignedLegacy } from '../support/evm.ts';

const CHAIN = 31337n;
const RECIPIENT = '0x1111111111111111111111111111111111111111';
const TOKEN = '0x2222222222222222222222222222222222222222';

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

const DECODER_REASONS: Reason[] = [
  'WAIAAS_TX_MALFORMED',
  'WAIAAS_TX_NOT_CANONICAL',
  'WAIAAS_TX_TOO_LARGE',
  'WAIAAS_TX_ALREADY_SIGNED',
  'WAIAAS_CHAIN_ID_MISMATCH',
];

/** Decodes, and on success computes effects; returns the refusal reason or the decoded transaction. */
function attempt(bytes: Uint8Array): Reason | DecodedEvmTransaction {
  try {
    const tx = decodeEvmTransaction(bytes, CHAIN);
    evmEffects(tx);
    return tx;
  } catch (e) {
    if (isWaiaasError(e)) return e.reason;
    throw new Error(`non-Waiaas error for ${bytesToHex(bytes)}: ${String(e)}`, { cause: e });
  }
}

const samples: Record<string, Uint8Array> = {};
beforeAll(async () => {
  const authority = privateKeyToAccount(bytesToHex(newEvmKey().secretKey));
  const authorization = await authority.signAuthorization({ address: TOKEN, chainId: Number(CHAIN), nonce: 0 });
  Object.assign(samples, {
    eip1559: unsignedEip1559({ chainId: CHAIN, to: RECIPIENT, value: 10n ** 17n, nonce: 5, data: '0xa9059cbb00000000' }),
    legacy: unsignedLegacy({ chainId: CHAIN, to: RECIPIENT, value: 123n, nonce: 1 }),
    eip2930: unsignedEip2930({ chainId: CHAIN, to: RECIPIENT, value: 1n, accessList: [{ address: TOKEN, storageKeys: [`0x${'ab'.repeat(32)}`] }] }),
    eip7702: unsignedEip7702({ chainId: CHAIN, to: RECIPIENT, value: 1n, authorizationList: [authorization] }),
    creation: unsignedEip1559({ chainId: CHAIN, to: null, value: 0n, data: '0x600060005560016000f3' }),
  });
});

describe('truncation', () => {
  test('every truncation of every valid transaction type is WAIAAS_TX_MALFORMED', () => {
    expect(Object.keys(samples)).toHaveLength(5);
    for (const [name, bytes] of Object.entries(samples)) {
      expect(attempt(bytes), name).not.toBeTypeOf('string');
      for (let length = 0; length < bytes.length; length++) {
        expect(attempt(bytes.slice(0, length)), `${name} length ${length}`).toBe('WAIAAS_TX_MALFORMED');
      }
    }
  });
});

describe('random input', () => {
  test('2000 random byte strings only ever produce decoder refusals', () => {
    const random = prng(0xe7e7);
    const prefixes = [0x01, 0x02, 0x04, 0xc0, 0xf8, 0xf9];
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 400);
      const bytes = new Uint8Array(length);
      for (let j = 0; j < length; j++) bytes[j] = Math.floor(random() * 256);
      // Most start like a real envelope so the RLP and field checks are reached.
      if (length > 0 && i % 4 !== 0) bytes[0] = prefixes[i % prefixes.length]!;
      if (length > 1 && i % 4 === 1 && bytes[0]! < 0xc0) bytes[1] = 0xc0 + Math.min(55, length - 2);
      const result = attempt(bytes);
      if (typeof result === 'string') {
        expect(DECODER_REASONS).toContain(result);
        seen.add(result);
      } else {
        expect(hexToBytes(serializeTransaction(result.parsed))).toEqual(bytes);
      }
    }
    expect(seen.has('WAIAAS_TX_MALFORMED')).toBe(true);
  });
});

describe('single-byte mutations', () => {
  test('a mutated transaction is refused, or decodes to something that re-serializes to exactly itself', () => {
    for (const [name, original] of Object.entries(samples)) {
      const random = prng(original.length);
      let decoded = 0;
      for (let i = 0; i < 1500; i++) {
        const bytes = original.slice();
        const at = Math.floor(random() * bytes.length);
        const kind = random();
        if (kind < 0.4) bytes[at] = Math.floor(random() * 256);
        else if (kind < 0.7) bytes[at]! ^= 1 << Math.floor(random() * 8);
        else if (kind < 0.85) bytes[at] = (bytes[at]! + 1) & 0xff;
        else bytes[at] = (bytes[at]! - 1) & 0xff;
        const result = attempt(bytes);
        if (typeof result === 'string') {
          expect(DECODER_REASONS, name).toContain(result);
        } else {
          decoded++;
          expect(hexToBytes(serializeTransaction(result.parsed)), name).toEqual(bytes);
          expect(result.bytes).toEqual(bytes);
        }
      }
      // Mutations of addresses, amounts and calldata still decode.
      expect(decoded, name).toBeGreaterThan(0);
    }
  });
});
