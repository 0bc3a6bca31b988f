/** The audit log on a real SQLite file: written in the transaction of the change, append-only, verified. */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AUDIT_ACTIONS, AuditLog, GENESIS_HASH, entryBody, entryHash, type AuditDataMap } from '../../server/audit/audit.ts';
import { Store } from '../../server/store/store.ts';
import { appendMany, openFixture, sampleEntry, timeOf, type Fixture } from './helpers.ts';

let f: Fixture;
beforeEach(() => {
  f = openFixture();
});
afterEach(() => f.close());

function newWallet(id: string) {
  return f.store.insertWallet({
    walletId: id, chain: 'solana', address: `addr-${id}`, keyId: new TextEncoder().encode(id), algorithm: 'ed25519', publicKey: new Uint8Array(32),
    tokenLabel: 't', labels: {}, creator: 'spiffe://waiaas/admin/ops', requestId: null, createTime: timeOf(0),
  });
}

const created = (id: string): AuditDataMap['wallet.created'] => ({
  chain: 'solana', address: `addr-${id}`, algorithm: 'ed25519', key_id: new TextEncoder().encode(id), public_key: new Uint8Array(32), token_label: 't', labels: {}, request_id: null,
});

describe('append', () => {
  test('the first entry links to 64 zeros and each next one to the previous hash', async () => {
    expect(f.audit.head()).toEqual({ seq: 0, hash: GENESIS_HASH });
    const a = await f.store.write(() => f.audit.append(sampleEntry(0), timeOf(0)));
    const b = await f.store.write(() => f.audit.append(sampleEntry(1), timeOf(1)));
    expect(a.seq).toBe(1);
    expect(b.seq).toBe(2);
    const rows = f.store.db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as { seq: number; prev_hash: string; hash: string; data: string; time: string; actor: string; action: string; wallet_id: string | null; sign_request_id: string | null }[];
    expect(rows[0]!.prev_hash).toBe(GENESIS_HASH);
    expect(rows[1]!.prev_hash).toBe(a.hash);
    expect(rows[1]!.hash).toBe(b.hash);
    expect(entryHash(rows[1]!.prev_hash, entryBody(rows[1]!))).toBe(b.hash);
    expect(f.audit.head()).toEqual(b);
  });

  test('commits in the same transaction as the change it records', async () => {
    const w = await f.store.write(() => {
      const rec = newWallet('w1');
      f.audit.append({ actor: 'spiffe://waiaas/admin/ops', action: 'wallet.created', walletId: 'w1', data: created('w1') }, timeOf(1));
      return rec;
    });
    expect(w.walletId).toBe('w1');
    const [e] = f.audit.tail(1);
    expect(e).toMatchObject({ seq: 1, action: 'wallet.created', walletId: 'w1', actor: 'spiffe://waiaas/admin/ops' });
    expect(e!.data).toMatchObject({ key_id: Buffer.from('w1').toString('hex'), public_key: '00'.repeat(32) });
    // Seen by a fresh connection: it was committed.
    f.store.close();
    f.store = Store.open(f.path);
    f.audit = new AuditLog(f.store.db);
    expect(f.audit.head().seq).toBe(1);
    expect(f.store.getWallet('w1')).toBeDefined();
  });

  test('an op that throws after appending leaves neither its change nor its entry, and the chain stays intact', async () => {
    await f.store.write(() => f.audit.append(sampleEntry(0), timeOf(0)));
    await expect(f.store.write(() => {
      newWallet('w1');
      f.audit.append({ actor: 'spiffe://waiaas/admin/ops', action: 'wallet.created', walletId: 'w1', data: created('w1') }, timeOf(1));
      throw new Error('HSM said no');
    })).rejects.toThrow('HSM said no');
    expect(f.store.getWallet('w1')).toBeUndefined();
    expect(f.audit.head().seq).toBe(1);
    // The next entry takes the number the rolled-back one had, linked to the last committed entry.
    const next = await f.store.write(() => f.audit.append(sampleEntry(2), timeOf(2)));
    expect(next.seq).toBe(2);
    expect(f.audit.verify()).toMatchObject({ ok: true, entries: 2, headSeq: 2, head: next.hash });
  });

  test('a change whose entry cannot be written is not made (unknown action, data without a canonical form)', async () => {
    await expect(f.store.write(() => {
      newWallet('w1');
      f.audit.append({ actor: 'a', action: 'wallet.deleted' as never, data: {} as never }, timeOf(0));
    })).rejects.toThrow(/unknown audit action/);
    await expect(f.store.write(() => {
      newWallet('w2');
      f.audit.append({ actor: 'a', action: 'policy.set', walletId: 'w2', data: { version: 1.5, policy_hash: 'x', document: '{}' } }, timeOf(0));
    })).rejects.toThrow(/\$\.version: 1.5 is not a safe integer/);
    expect(f.store.getWallet('w1')).toBeUndefined();
    expect(f.store.getWallet('w2')).toBeUndefined();
    expect(f.audit.head().seq).toBe(0);
  });

  test('refuses to run outside a write transaction, and bad actors, times and data', async () => {
    expect(() => f.audit.append(sampleEntry(0), timeOf(0))).toThrow(/inside store\.write/);
    const inTx = (fn: () => unknown) => f.store.write(fn);
    await expect(inTx(() => f.audit.append({ ...sampleEntry(0), actor: '' }, timeOf(0)))).rejects.toThrow(/actor/);
    await expect(inTx(() => f.audit.append(sampleEntry(0), 'yesterday'))).rejects.toThrow(/RFC 3339/);
    await expect(inTx(() => f.audit.append({ ...sampleEntry(0), data: [] as never }, timeOf(0)))).rejects.toThrow(/must be an object/);
    await expect(inTx(() => f.audit.append({ actor: 'a', action: 'wallet.unfrozen', data: { signed_by: [], when: new (class X {})() } as never }, timeOf(0)))).rejects.toThrow(/X object/);
    expect(f.audit.head().seq).toBe(0);
  });

  test('200 concurrent store.write appends (some rolled back) yield one valid chain without gaps', async () => {
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => f.store.write(() => {
      const h = f.audit.append(sampleEntry(i), timeOf(i));
      if (i % 7 === 3) throw new Error(`op ${i} fails after appending`);
      return h;
    })));
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ seq: number; hash: string }>).value);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(29); // i % 7 === 3 for i in 0..199
    expect(ok).toHaveLength(171);
    expect(ok.map((h) => h.seq)).toEqual(Array.from({ length: ok.length }, (_, k) => k + 1));
    const v = f.audit.verify();
    expect(v).toEqual({ ok: true, entries: ok.length, headSeq: ok.length, head: ok.at(-1)!.hash });
    // Each op's entry is the one it appended: the reported hashes are the stored ones.
    expect(f.audit.tail(ok.length).map((e) => e.hash)).toEqual(ok.map((h) => h.hash));
  });

  test('verifies 10 000 entries (sync and async, from the start and from a seq)', async () => {
    await appendMany(f, 10_000);
    const head = f.audit.head();
    expect(head.seq).toBe(10_000);
    expect(f.audit.verify()).toEqual({ ok: true, entries: 10_000, head: head.hash, headSeq: 10_000 });
    expect(await f.audit.verifyAsync({ pageSize: 777 })).toEqual({ ok: true, entries: 10_000, head: head.hash, headSeq: 10_000 });
    expect(f.audit.verify({ fromSeq: 9_001, expectHead: head })).toEqual({ ok: true, entries: 1000, head: head.hash, headSeq: 10_000 });
  });

  test('verifyAsync lets writes go on and checks up to the head it started from', async () => {
    await appendMany(f, 3000);
    const started = f.audit.head();
    const [v] = await Promise.all([f.audit.verifyAsync({ pageSize: 100 }), appendMany(f, 50, 3000)]);
    expect(v).toEqual({ ok: true, entries: 3000, head: started.hash, headSeq: 3000 });
    expect(f.audit.verify()).toMatchObject({ ok: true, entries: 3050 });
  });

  test('tail: the last entries oldest first, by wallet or by sign request', async () => {
    await appendMany(f, 40);
    expect(f.audit.tail(3).map((e) => e.seq)).toEqual([38, 39, 40]);
    expect(f.audit.tail(1000)).toHaveLength(40);
    expect(f.audit.tail(100, { walletId: 'wal_3' }).map((e) => e.seq)).toEqual([4, 11, 18, 25, 32, 39]);
    expect(f.audit.tail(100, { signRequestId: 'req_4' }).map((e) => [e.seq, e.action])).toEqual([[5, 'sign_request.decided'], [6, 'sign_request.signed']]);
    expect(() => f.audit.tail(0)).toThrow(RangeError);
  });

  test('every action in the closed set is accepted', async () => {
    await f.store.write(() => {
      for (const action of AUDIT_ACTIONS) f.audit.append({ actor: 'system', action, data: {} as never }, timeOf(0));
    });
    expect(f.audit.verify()).toMatchObject({ ok: true, entries: AUDIT_ACTIONS.length });
  });
});

describe('the table is append-only through SQL', () => {
  beforeEach(async () => {
    await appendMany(f, 5);
  });

  test('UPDATE and DELETE are refused by triggers', () => {
    const db = f.store.db;
    expect(() => db.prepare(`UPDATE audit_log SET data = '{}' WHERE seq = 2`).run()).toThrow('audit_log is append-only');
    expect(() => db.prepare('DELETE FROM audit_log WHERE seq = 5').run()).toThrow('audit_log is append-only');
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow('audit_log is append-only');
    expect(f.audit.verify()).toMatchObject({ ok: true, entries: 5 });
  });

  test('an INSERT must extend the chain at its head (no overwrite, no out-of-place entry)', () => {
    const db = f.store.db;
    const head = f.audit.head();
    const ins = (seq: number | null, prev: string, or = '') =>
      db.prepare(`INSERT ${or} INTO audit_log (seq, time, actor, action, data, prev_hash, hash) VALUES (?, 't', 'a', 'wallet.frozen', '{}', ?, ?)`).run(seq, prev, 'f'.repeat(64));
    expect(() => ins(3, head.hash, 'OR REPLACE')).toThrow(/extend the chain at its head/);
    expect(() => ins(7, head.hash)).toThrow(/extend the chain at its head/);
    expect(() => ins(6, 'a'.repeat(64))).toThrow(/extend the chain at its head/);
    expect(() => ins(null, head.hash)).toThrow(/extend the chain at its head/);
    expect(f.audit.verify()).toMatchObject({ ok: true, entries: 5 });
  });
});
