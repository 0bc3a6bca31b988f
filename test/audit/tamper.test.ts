/**
 * Tampering with the file behind the appliance's back: a second connection drops the triggers and edits the table.
 * Each edit is detected, naming the first bad seq and what was done.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { entryBody, entryHash, type AuditRow } from '../../server/audit/audit.ts';
import { appendMany, openFixture, row, shiftSeqs, tamper, timeOf, type Fixture } from './helpers.ts';

let f: Fixture;
const N = 100;
beforeEach(async () => {
  f = openFixture();
  await appendMany(f, N);
  expect(f.audit.verify()).toMatchObject({ ok: true, entries: N });
});
afterEach(() => f.close());

function rehash(r: Omit<AuditRow, 'hash'>): AuditRow {
  return { ...r, hash: entryHash(r.prev_hash, entryBody(r)) };
}

const INSERT = 'INSERT INTO audit_log (seq, time, actor, action, wallet_id, sign_request_id, data, prev_hash, hash) VALUES (@seq, @time, @actor, @action, @wallet_id, @sign_request_id, @data, @prev_hash, @hash)';

describe('(a) a changed entry', () => {
  test('data changed', () => {
    tamper(f, (db) => db.prepare(`UPDATE audit_log SET data = replace(data, '"INSTANT"', '"DENY"') WHERE seq = 41`).run());
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 41, problem: 'changed' });
  });

  test('actor, time or wallet changed', () => {
    tamper(f, (db) => db.prepare(`UPDATE audit_log SET actor = 'spiffe://waiaas/agent/someone-else' WHERE seq = 7`).run());
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 7, problem: 'changed' });
  });

  test('data changed and the entry re-hashed: caught at the next link, named at the changed entry', () => {
    tamper(f, (db) => {
      const r = row(db, 60);
      const forged = rehash({ ...r, data: '{"decision":"REJECT"}' });
      db.prepare('UPDATE audit_log SET data = ?, hash = ? WHERE seq = 60').run(forged.data, forged.hash);
    });
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 60, problem: 'changed' });
  });

  test('the first entry changed', () => {
    tamper(f, (db) => db.prepare(`UPDATE audit_log SET time = ? WHERE seq = 1`).run(timeOf(99)));
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 1, problem: 'changed' });
  });
});

describe('(b) a removed entry', () => {
  test('deleted', () => {
    tamper(f, (db) => db.prepare('DELETE FROM audit_log WHERE seq = 50').run());
    const v = f.audit.verify();
    expect(v).toMatchObject({ ok: false, seq: 50, problem: 'removed' });
    expect(v.ok === false && v.detail).toMatch(/entry 50 is missing/);
  });

  test('several deleted', () => {
    tamper(f, (db) => db.prepare('DELETE FROM audit_log WHERE seq BETWEEN 10 AND 12').run());
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 10, problem: 'removed', detail: expect.stringMatching(/10\.\.12/) });
  });

  test('the first entry deleted', () => {
    tamper(f, (db) => db.prepare('DELETE FROM audit_log WHERE seq = 1').run());
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 1, problem: 'removed' });
  });

  test('deleted and the later entries renumbered to close the gap', () => {
    tamper(f, (db) => {
      db.prepare('DELETE FROM audit_log WHERE seq = 30').run();
      shiftSeqs(db, 30, -1);
    });
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 30, problem: 'removed' });
  });
});

describe('(c) reordered entries', () => {
  function swap(a: number, b: number): void {
    tamper(f, (db) => {
      db.prepare('UPDATE audit_log SET seq = 999999 WHERE seq = ?').run(a);
      db.prepare('UPDATE audit_log SET seq = ? WHERE seq = ?').run(a, b);
      db.prepare('UPDATE audit_log SET seq = ? WHERE seq = 999999').run(b);
    });
  }

  test('two adjacent entries swap their seq', () => {
    swap(20, 21);
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 20, problem: 'reordered' });
  });

  test('two distant entries swap their seq', () => {
    swap(15, 70);
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 15, problem: 'reordered' });
  });

  test('the first two entries swap', () => {
    swap(1, 2);
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 1, problem: 'reordered' });
  });
});

describe('(d) an inserted entry', () => {
  function forgedAt(db: Parameters<Parameters<typeof tamper>[1]>[0], seq: number, prevHash: string): AuditRow {
    return rehash({
      seq, time: timeOf(seq), actor: 'spiffe://waiaas/owner/mallory', action: 'approval.recorded', wallet_id: 'wal_1', sign_request_id: 'req_forged',
      data: '{"decision":"APPROVE","message":"m","owner_key":"mallory","signature":"00"}', prev_hash: prevHash,
    });
  }

  test('a well-formed forged entry linked to the one before it, the later entries renumbered', () => {
    tamper(f, (db) => {
      shiftSeqs(db, 40, 1);
      db.prepare(INSERT).run(forgedAt(db, 41, row(db, 40).hash));
    });
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 41, problem: 'inserted' });
  });

  test('a forged entry with a made-up hash', () => {
    tamper(f, (db) => {
      shiftSeqs(db, 40, 1);
      db.prepare(INSERT).run({ ...forgedAt(db, 41, row(db, 40).hash), hash: 'f'.repeat(64) });
    });
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 41, problem: 'inserted' });
  });

  test('a forged entry that links to nothing', () => {
    tamper(f, (db) => {
      shiftSeqs(db, 40, 1);
      db.prepare(INSERT).run(forgedAt(db, 41, '1'.repeat(64)));
    });
    expect(f.audit.verify()).toMatchObject({ ok: false, seq: 41, problem: 'inserted' });
  });
});

describe('the end of the log, and anchoring its head', () => {
  let anchoredAt40 = '';
  beforeEach(() => {
    anchoredAt40 = f.audit.tail(N).find((e) => e.seq === 40)!.hash;
  });

  test('cutting entries off the end leaves a valid shorter chain; the recorded head detects it', () => {
    const anchored = f.audit.head();
    tamper(f, (db) => db.prepare('DELETE FROM audit_log WHERE seq > 97').run());
    expect(f.audit.verify()).toMatchObject({ ok: true, entries: 97 });
    const v = f.audit.verify({ expectHead: anchored });
    expect(v).toMatchObject({ ok: false, seq: 98, problem: 'removed' });
    expect(v.ok === false && v.detail).toMatch(/cut off the end/);
  });

  test('a head recorded earlier still verifies after the log grew', async () => {
    const anchored = f.audit.head();
    await appendMany(f, 10, N);
    expect(f.audit.verify({ expectHead: anchored })).toMatchObject({ ok: true, entries: N + 10 });
    expect(f.audit.verify({ fromSeq: 50, expectHead: anchored })).toMatchObject({ ok: true, entries: N + 10 - 49 });
    expect(f.audit.verify({ fromSeq: N + 5, expectHead: anchored })).toMatchObject({ ok: true, entries: 6 });
    expect(f.audit.verify({ fromSeq: N + 1, expectHead: anchored })).toMatchObject({ ok: true, entries: 10 });
  });

  test('a chain rewritten with every hash recomputed passes alone, but not against a recorded head', async () => {
    const anchored = f.audit.head();
    tamper(f, (db) => {
      let prev = row(db, 30).hash;
      for (let seq = 31; seq <= N; seq++) {
        const r = row(db, seq);
        const forged = rehash({ ...r, data: seq === 31 ? '{"reason":"nothing happened","cancelled":[]}' : r.data, prev_hash: prev });
        db.prepare('UPDATE audit_log SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(forged.data, forged.prev_hash, forged.hash, seq);
        prev = forged.hash;
      }
    });
    expect(f.audit.verify()).toMatchObject({ ok: true, entries: N });
    expect(f.audit.verify({ expectHead: anchored })).toMatchObject({ ok: false, seq: N, problem: 'changed', detail: expect.stringMatching(/rewritten at or before seq 100/) });
    // Also when the recorded head is before where verification starts.
    expect(f.audit.verify({ fromSeq: N, expectHead: { seq: 40, hash: anchoredAt40 } })).toMatchObject({ ok: false, seq: 40, problem: 'changed' });
  });


  test('verifying from a seq trusts the entry before it, and reports a missing one', () => {
    tamper(f, (db) => db.prepare('DELETE FROM audit_log WHERE seq = 59').run());
    expect(f.audit.verify({ fromSeq: 60 })).toMatchObject({ ok: false, seq: 59, problem: 'removed' });
    expect(f.audit.verify({ fromSeq: 61 })).toMatchObject({ ok: true, entries: 40 });
    expect(() => f.audit.verify({ fromSeq: N + 5 })).toThrow(RangeError);
  });
});
