/** The spend ledger on a real SQLite file: window totals from buckets, releases, and no scan of history. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BUCKET_MS, windowCover } from '../../server/store/ledger.ts';
import { Store } from '../../server/store/store.ts';

let dir: string;
let store: Store;
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const W = 'w1';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'waiaas-ledger-'));
  store = Store.open(join(dir, 'db.sqlite'));
  store.insertWallet({ walletId: W, chain: 'solana', address: 'a', keyId: new Uint8Array([1]), algorithm: 'ed25519', publicKey: new Uint8Array(32), tokenLabel: 't', labels: {}, creator: 'c', requestId: null, createTime: 'x' });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function reserve(amount: bigint, timeMs: number, asset = 'native'): string {
  const id = `r${n++}`;
  store.insertSignRequest({ id, caller: 'c', requestId: null, walletId: W, kind: 'k', payloadHash: 'h', effects: null, verdict: 'INSTANT', rule: null, policyVersion: null, policyHash: null, state: 'SIGNING', time: new Date(timeMs).toISOString() });
  store.ledger.reserve(W, id, new Map([[asset, amount]]), timeMs);
  return id;
}

describe('windowCover', () => {
  test('tiles the window exactly with aligned buckets, largest first, in few ranges', () => {
    const from = Date.UTC(2026, 0, 1, 10, 17, 30);
    const to = Date.UTC(2026, 0, 31, 10, 17, 29);
    const ranges = windowCover(from, to);
    expect(ranges.length).toBeLessThanOrEqual(5);
    let cursor = Math.floor(from / 60_000) * 60_000;
    for (const r of ranges) {
      expect(r.from).toBe(cursor);
      expect(r.from % BUCKET_MS[r.level]!).toBe(0);
      expect((r.to - r.from) % BUCKET_MS[r.level]!).toBe(0);
      cursor = r.to;
    }
    expect(cursor).toBe(Math.floor(to / 60_000) * 60_000 + 60_000);
    const rows = ranges.reduce((s, r) => s + (r.to - r.from) / BUCKET_MS[r.level]!, 0);
    expect(rows).toBeLessThan(200);
  });
});

describe('ledger', () => {
  test('a window total counts exactly the reservations inside it (never fewer), per asset', () => {
    reserve(100n, T0 - 25 * 3_600_000); // outside 24h
    reserve(10n, T0 - 23 * 3_600_000);
    reserve(1n, T0 - 60_000);
    reserve(5n, T0, 'spl:x');
    expect(store.ledger.total(W, 'native', 86_400, T0)).toBe(11n);
    expect(store.ledger.total(W, 'native', 3600, T0)).toBe(1n);
    expect(store.ledger.total(W, 'native', 30 * 86_400, T0)).toBe(111n);
    expect(store.ledger.total(W, 'spl:x', 60, T0)).toBe(5n);
    expect(store.ledger.total(W, '#count', 86_400, T0)).toBe(3n);
  });

  test('a spend just before the window start counts while its minute overlaps the window (conservative)', () => {
    reserve(7n, T0 - 3_600_000 - 30_000 + 59_000); // same minute as the window start
    expect(store.ledger.total(W, 'native', 3600, T0 - 30_000)).toBe(7n);
  });

  test('release takes a reservation out of every window and is idempotent', () => {
    const id = reserve(50n, T0 - 3_600_000);
    reserve(5n, T0);
    store.ledger.release(id);
    store.ledger.release(id);
    expect(store.ledger.total(W, 'native', 86_400, T0)).toBe(5n);
    expect(store.ledger.total(W, '#count', 86_400, T0)).toBe(1n);
  });

  test('amounts beyond 64 bits add up exactly', () => {
    reserve((1n << 200n) + 1n, T0);
    reserve(1n << 200n, T0);
    expect(store.ledger.total(W, 'native', 60, T0)).toBe((1n << 201n) + 1n);
  });

  test('a window total reads buckets, not reservations: 20000 past spends leave the read count bounded', () => {
    store.db.transaction(() => {
      for (let i = 0; i < 20_000; i++) reserve(1n, T0 - i * 120_000); // one every 2 minutes over ~28 days
    })();
    const rows = store.db.prepare('SELECT COUNT(*) AS n FROM spend_buckets WHERE level = 0 AND asset = \'native\'').get() as { n: number };
    expect(rows.n).toBe(20_000);
    expect(store.ledger.total(W, 'native', 86_400, T0)).toBe(721n); // 24 h / 2 min, both ends inclusive
    expect(store.ledger.total(W, 'native', 30 * 86_400, T0)).toBe(20_000n);
  });

  test('prune drops buckets older than the longest window', () => {
    reserve(1n, T0 - 40 * 86_400_000);
    reserve(1n, T0);
    expect(store.ledger.prune(T0)).toBe(6); // three bucket sizes, for the amount and for the count
    expect(store.ledger.total(W, 'native', 30 * 86_400, T0)).toBe(1n);
  });

  test('last signed time only moves forward', () => {
    expect(store.ledger.lastSigned(W)).toBeNull();
    store.ledger.signed(W, T0);
    store.ledger.signed(W, T0 - 1000);
    expect(store.ledger.lastSigned(W)?.getTime()).toBe(T0);
  });
});
