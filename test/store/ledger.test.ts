/** The spend ledger on a real SQLite file: window totals from running totals, releases, and no scan of history. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
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

/** The same total computed the slow way, from the reservations themselves. */
function scan(asset: string, windowSeconds: number, nowMs: number): bigint {
  const from = Math.floor((nowMs - windowSeconds * 1000) / 60_000) * 60_000;
  const rows = store.db.prepare('SELECT amount FROM spend_reservations WHERE wallet_id = ? AND asset = ? AND released = 0 AND time_ms >= ? AND time_ms <= ?').all(W, asset, from, nowMs) as { amount: string }[];
  return rows.reduce((s, r) => s + BigInt(r.amount), 0n);
}

describe('ledger', () => {
  test('a window total counts exactly the reservations inside it, per asset', () => {
    reserve(100n, T0 - 25 * 3_600_000); // outside 24h
    reserve(10n, T0 - 23 * 3_600_000);
    reserve(1n, T0 - 60_000);
    reserve(5n, T0, 'spl:x');
    expect(store.ledger.total(W, 'native', 86_400, T0)).toBe(11n);
    expect(store.ledger.total(W, 'native', 3600, T0)).toBe(1n);
    expect(store.ledger.total(W, 'native', 30 * 86_400, T0)).toBe(111n);
    expect(store.ledger.total(W, 'spl:x', 60, T0)).toBe(5n);
    expect(store.ledger.total(W, '#count', 86_400, T0)).toBe(3n);
    expect(store.ledger.total(W, 'native', 60, T0 - 26 * 3_600_000)).toBe(0n);
  });

  test('a spend earlier in the minute the window starts in is counted (never under-counted)', () => {
    reserve(7n, T0 - 3_600_000 - 50_000);
    expect(store.ledger.total(W, 'native', 3600, T0 - 30_000)).toBe(7n);
  });

  test('release takes a reservation out of every window, even one with later activity, and is idempotent', () => {
    const id = reserve(50n, T0 - 3_600_000);
    reserve(5n, T0 - 60_000);
    reserve(6n, T0);
    store.ledger.release(id);
    store.ledger.release(id);
    expect(store.ledger.total(W, 'native', 86_400, T0)).toBe(11n);
    expect(store.ledger.total(W, 'native', 120, T0)).toBe(11n);
    expect(store.ledger.total(W, '#count', 86_400, T0)).toBe(2n);
  });

  test('a reservation stamped earlier than existing ones (a clock step back) still sums right', () => {
    reserve(1n, T0);
    reserve(2n, T0 - 10 * 60_000);
    expect(store.ledger.total(W, 'native', 300, T0)).toBe(1n);
    expect(store.ledger.total(W, 'native', 3600, T0)).toBe(3n);
  });

  test('amounts beyond 64 bits add up exactly', () => {
    reserve((1n << 200n) + 1n, T0);
    reserve(1n << 200n, T0);
    expect(store.ledger.total(W, 'native', 60, T0)).toBe((1n << 201n) + 1n);
  });

  test('random reservations and releases always agree with a full scan', () => {
    let seed = 7;
    const rnd = (m: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % m;
    const ids: string[] = [];
    store.db.transaction(() => {
      for (let i = 0; i < 400; i++) {
        ids.push(reserve(BigInt(rnd(1000)), T0 - rnd(40 * 86_400) * 1000));
        if (rnd(5) === 0) store.ledger.release(ids[rnd(ids.length)]!);
      }
    })();
    for (const w of [60, 3600, 86_400, 7 * 86_400, 30 * 86_400]) {
      for (const now of [T0, T0 - 86_400_000, T0 - 10 * 86_400_000]) expect(store.ledger.total(W, 'native', w, now), `${w}@${now}`).toBe(scan('native', w, now));
    }
  });

  test('reads do not scan history: 20000 past spends take two index seeks per window', () => {
    store.db.transaction(() => {
      for (let i = 0; i < 20_000; i++) reserve(1n, T0 - (20_000 - i) * 120_000); // in time order, every 2 minutes
    })();
    const plan = store.db.prepare(`EXPLAIN QUERY PLAN SELECT cum FROM spend_buckets WHERE wallet_id = ? AND asset = ? AND start_ms < ? ORDER BY start_ms DESC LIMIT 1`).all('w', 'a', 1) as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/SEARCH spend_buckets USING PRIMARY KEY/);
    expect(store.ledger.total(W, 'native', 86_400, T0)).toBe(720n);
    expect(store.ledger.total(W, 'native', 30 * 86_400, T0)).toBe(20_000n);
  });

  test('prune drops old buckets but keeps the baseline, so totals do not change', () => {
    reserve(1n, T0 - 40 * 86_400_000);
    reserve(2n, T0 - 35 * 86_400_000);
    reserve(4n, T0);
    const before = store.ledger.total(W, 'native', 30 * 86_400, T0);
    expect(store.ledger.prune(T0)).toBe(2); // the 40-day-old row of native and of #count; the 35-day ones stay as anchors
    expect(store.ledger.total(W, 'native', 30 * 86_400, T0)).toBe(before);
    expect(before).toBe(4n);
  });

  test('last signed time only moves forward', () => {
    expect(store.ledger.lastSigned(W)).toBeNull();
    store.ledger.signed(W, T0);
    store.ledger.signed(W, T0 - 1000);
    expect(store.ledger.lastSigned(W)?.getTime()).toBe(T0);
  });
});
