/** The canonical encoding and the entry hash, pinned by a vector (docs/audit.md shows the same one). */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { canonicalJson, entryBody, entryHash, GENESIS_HASH } from '../../server/audit/audit.ts';

describe('canonical JSON', () => {
  test('sorted keys at every level, no whitespace, undefined properties left out', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}');
    expect(canonicalJson({ B: 1, a: 2, _: 3, é: 4, '10': 5, '9': 6 })).toBe('{"10":5,"9":6,"B":1,"_":3,"a":2,"é":4}');
  });

  test('bigints as decimal strings, bytes as hex, dates as ISO, maps as objects', () => {
    expect(canonicalJson({ amount: 2n ** 70n, neg: -5n })).toBe('{"amount":"1180591620717411303424","neg":"-5"}');
    expect(canonicalJson({ sig: new Uint8Array([0, 15, 255]), buf: Buffer.from('hi') })).toBe('{"buf":"6869","sig":"000fff"}');
    expect(canonicalJson({ t: new Date(Date.UTC(2026, 0, 2)) })).toBe('{"t":"2026-01-02T00:00:00.000Z"}');
    expect(canonicalJson({ m: new Map([['z', 1n], ['a', 2n]]) })).toBe('{"m":{"a":"2","z":"1"}}');
    expect(canonicalJson({ n: -0, big: Number.MAX_SAFE_INTEGER })).toBe('{"big":9007199254740991,"n":0}');
  });

  test('strings escaped as JSON.stringify does, non-ASCII kept', () => {
    const s = 'a"b\\c\n\t\u0001 ✓ 😀 \ud800';
    expect(canonicalJson({ s })).toBe(`{"s":${JSON.stringify(s)}}`);
    expect(canonicalJson({ s: '✓' })).toBe('{"s":"✓"}');
  });

  test('refuses what has no single canonical text', () => {
    expect(() => canonicalJson({ x: 0.1 })).toThrow(/\$\.x: 0\.1 is not a safe integer/);
    expect(() => canonicalJson({ x: 2 ** 53 })).toThrow(/safe integer/);
    expect(() => canonicalJson({ x: [1, undefined] })).toThrow(/\$\.x\[1\]: undefined in an array/);
    expect(() => canonicalJson({ x: () => 1 })).toThrow(/function/);
    expect(() => canonicalJson({ x: new Set([1]) })).toThrow(/Set object/);
    expect(() => canonicalJson({ x: new Map([[1, 1]]) })).toThrow(/Map key/);
    expect(() => canonicalJson({ x: new Date(NaN) })).toThrow(/invalid Date/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/deeper than 64/);
  });
});

describe('entry hash', () => {
  const entry = {
    seq: 1, time: '2026-01-15T12:00:00.000Z', actor: 'spiffe://waiaas/agent/trader', action: 'sign_request.signed',
    wallet_id: 'wal_01', sign_request_id: 'req_01', data: canonicalJson({ response_sha256: 'ab'.repeat(32), verdict: 'INSTANT' }),
  };

  test('body is the canonical JSON of the entry with data inline, hash = sha256(prev_hash ‖ body)', () => {
    const body = entryBody(entry);
    expect(body).toBe(canonicalJson({ ...entry, data: JSON.parse(entry.data) as unknown, v: 1 }));
    expect(body).toBe('{"action":"sign_request.signed","actor":"spiffe://waiaas/agent/trader","data":{"response_sha256":"'
      + 'ab'.repeat(32) + '","verdict":"INSTANT"},"seq":1,"sign_request_id":"req_01","time":"2026-01-15T12:00:00.000Z","v":1,"wallet_id":"wal_01"}');
    const expected = createHash('sha256').update(GENESIS_HASH + body, 'utf8').digest('hex');
    expect(entryHash(GENESIS_HASH, body)).toBe(expected);
    expect(expected).toBe(VECTOR_HASH);
  });

  test('null wallet and request are written as null', () => {
    expect(entryBody({ ...entry, wallet_id: null, sign_request_id: null })).toContain('"sign_request_id":null,');
    expect(entryBody({ ...entry, wallet_id: null, sign_request_id: null })).toMatch(/"wallet_id":null}$/);
  });
});

/** The hash of the vector above (also in docs/audit.md). */
const VECTOR_HASH = 'c9d966ac45ca0e2cfc82b2369bffa74ddaf2a46939c08c2acf92f30dfc69f0ef';
