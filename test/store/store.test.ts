/** The store on a real SQLite file: migrations, wallets, policy versions, sign request records. */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { migrations } from '../../server/store/db.ts';
import { Store } from '../../server/store/store.ts';

let dir: string;
let store: Store;
const T = '2026-01-01T00:00:00.000Z';

function wallet(id: string, extra: Partial<Parameters<Store['insertWallet']>[0]> = {}) {
  return store.insertWallet({
    walletId: id, chain: 'solana', address: `addr-${id}`, keyId: new TextEncoder().encode(`key-${id}`), algorithm: 'ed25519',
    publicKey: new Uint8Array(32).fill(7), tokenLabel: 't', labels: { a: 'b' }, creator: 'spiffe://waiaas/agent/x', requestId: null, createTime: T, ...extra,
  });
}

function request(id: string, extra: Partial<Parameters<Store['insertSignRequest']>[0]> = {}) {
  store.insertSignRequest({
    id, caller: 'spiffe://waiaas/agent/x', requestId: null, walletId: 'w1', kind: 'solana_transaction', payloadHash: 'h', effects: '{}',
    verdict: 'INSTANT', rule: 'r', policyVersion: 1, policyHash: 'p', state: 'SIGNING', time: T, ...extra,
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'waiaas-store-'));
  store = Store.open(join(dir, 'db.sqlite'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('store', () => {
  test('opens in WAL mode at the latest schema version, and reopening does not migrate again', () => {
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('user_version', { simple: true })).toBe(migrations().length);
    wallet('w1');
    store.close();
    store = Store.open(join(dir, 'db.sqlite'));
    expect(store.getWallet('w1')?.labels).toEqual({ a: 'b' });
  });

  test('refuses a database written by a newer program', () => {
    store.db.pragma('user_version = 99');
    store.close();
    expect(() => Store.open(join(dir, 'db.sqlite'))).toThrow(/newer than this program/);
    store = Store.open(join(dir, 'other.sqlite'));
  });

  test('keeps wallets with their key bytes and lists them in creation order by page', () => {
    const w = wallet('w1');
    expect(Buffer.from(w.keyId).toString()).toBe('key-w1');
    wallet('w2', { chain: 'evm', algorithm: 'secp256k1' });
    wallet('w3');
    expect(store.listWallets({ afterSeq: 0, limit: 2 }).map((x) => x.walletId)).toEqual(['w1', 'w2']);
    expect(store.listWallets({ afterSeq: 2, limit: 2 }).map((x) => x.walletId)).toEqual(['w3']);
    expect(store.listWallets({ afterSeq: 0, limit: 10, chain: 'evm' }).map((x) => x.walletId)).toEqual(['w2']);
  });

  test('a wallet address or key id cannot be stored twice', () => {
    wallet('w1');
    expect(() => wallet('w2', { address: 'addr-w1' })).toThrow(/UNIQUE/);
  });

  test('policy versions count up per wallet and the latest is current', () => {
    wallet('w1');
    expect(store.getPolicy('w1')).toBeUndefined();
    expect(store.putPolicy({ walletId: 'w1', document: '{"a":1}', policyHash: 'h1', setBy: 'o', time: T }).version).toBe(1);
    expect(store.putPolicy({ walletId: 'w1', document: '{"a":2}', policyHash: 'h2', setBy: 'o', time: T }).version).toBe(2);
    expect(store.getPolicy('w1')).toMatchObject({ version: 2, policyHash: 'h2' });
  });

  test('a policy for a wallet that does not exist is refused by the foreign key', () => {
    expect(() => store.putPolicy({ walletId: 'nope', document: '{}', policyHash: 'h', setBy: 'o', time: T })).toThrow(/FOREIGN KEY/);
  });

  test('a sign request goes SIGNING → SIGNED once, and its response is kept for retries', () => {
    wallet('w1');
    request('r1', { requestId: 'k1' });
    store.completeSignRequest('r1', new Uint8Array([9, 9]), T);
    expect(() => store.completeSignRequest('r1', new Uint8Array([8]), T)).toThrow(/not in state SIGNING/);
    const rec = store.getSignRequestByRequestId('spiffe://waiaas/agent/x', 'k1');
    expect(rec?.state).toBe('SIGNED');
    expect(Buffer.from(rec!.response!)).toEqual(Buffer.from([9, 9]));
  });

  test('a request_id is unique per caller, not across callers', () => {
    wallet('w1');
    request('r1', { requestId: 'k1' });
    expect(() => request('r2', { requestId: 'k1' })).toThrow(/UNIQUE/);
    request('r3', { requestId: 'k1', caller: 'spiffe://waiaas/agent/y' });
    request('r4');
    request('r5');
    expect(store.countSignRequests().SIGNING).toBe(4);
  });

  test('requests left SIGNING by a stopped process become FAILED with WAIAAS_REQUEST_INTERRUPTED', () => {
    wallet('w1');
    request('r1', { requestId: 'k1' });
    request('r2');
    store.completeSignRequest('r2', new Uint8Array([1]), T);
    expect(store.failInterruptedSignRequests(T)).toBe(1);
    expect(store.getSignRequest('r1')).toMatchObject({ state: 'FAILED', errorReason: 'WAIAAS_REQUEST_INTERRUPTED' });
    expect(store.getSignRequest('r2')?.state).toBe('SIGNED');
  });

  test('a read-only database fails writes loudly instead of pretending', () => {
    wallet('w1');
    store.close();
    const ro = new Database(join(dir, 'db.sqlite'), { readonly: true });
    expect(() => ro.prepare(`INSERT INTO policies VALUES ('w1', 1, '{}', 'h', 'o', 't')`).run()).toThrow(/readonly/);
    ro.close();
    store = Store.open(join(dir, 'db.sqlite'));
  });
});

test('the database file is created readable by its owner only', async () => {
  const { statSync } = await import('node:fs');
  expect(statSync(join(dir, 'db.sqlite')).mode & 0o777).toBe(0o600);
});

describe('group commit', () => {
  test('writes queued together commit together; one failing write rejects alone and leaves no trace', async () => {
    wallet('w1');
    const ids = Array.from({ length: 50 }, (_, i) => `g${i}`);
    const results = await Promise.allSettled([
      ...ids.map((id) => store.write(() => request(id, { requestId: id }))),
      store.write(() => request('dup', { requestId: 'g7' })), // same caller + request_id as g7
      store.write(() => {
        request('partial');
        throw new Error('fails after its first statement');
      }),
    ]);
    expect(results.slice(0, 50).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(results[50]).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ code: 'SQLITE_CONSTRAINT_UNIQUE' }) });
    expect(results[51]).toMatchObject({ status: 'rejected' });
    expect(store.getSignRequest('dup')).toBeUndefined();
    expect(store.getSignRequest('partial')).toBeUndefined();
    expect(store.countSignRequests().SIGNING).toBe(50);
  });

  test('a write resolves only after its commit is visible to another connection', async () => {
    wallet('w1');
    await store.write(() => request('visible'));
    const other = new Database(join(dir, 'db.sqlite'), { readonly: true });
    try {
      expect(other.prepare(`SELECT state FROM sign_requests WHERE id = 'visible'`).get()).toEqual({ state: 'SIGNING' });
    } finally {
      other.close();
    }
  });

  test('when the commit itself cannot happen, every write of the batch rejects', async () => {
    wallet('w1');
    store.db.pragma('query_only = ON');
    const results = await Promise.allSettled([store.write(() => request('a')), store.write(() => request('b'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    store.db.pragma('query_only = OFF');
    expect(store.countSignRequests().SIGNING).toBe(0);
  });
});
