/** Shared set-up of the audit tests: a real store file, entries appended through store.write, a raw connection. */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, type AuditEntryInput, type AuditRow } from '../../server/audit/audit.ts';
import { Store } from '../../server/store/store.ts';

export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

/** The time of the i-th test entry. */
export function timeOf(i: number): string {
  return new Date(T0 + i * 1000).toISOString();
}

/** A store on a fresh file with its audit log. */
export interface Fixture {
  dir: string;
  path: string;
  store: Store;
  audit: AuditLog;
  close(): void;
}

export function openFixture(): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'waiaas-audit-'));
  const path = join(dir, 'db.sqlite');
  const store = Store.open(path);
  return {
    dir, path, store, audit: new AuditLog(store.db),
    close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A varied entry for index i. */
export function sampleEntry(i: number): AuditEntryInput {
  switch (i % 4) {
    case 0:
      return {
        actor: 'spiffe://waiaas/agent/trader', action: 'sign_request.decided', walletId: `wal_${i % 7}`, signRequestId: `req_${i}`,
        data: {
          kind: 'evm_transaction', payload_hash: 'ab'.repeat(32), request_id: `r-${i}`, verdict: 'INSTANT', rule: 'small-payments', detail: 'within limits',
          matched: [{ name: 'small-payments', kind: 'spend_limit', verdict: 'INSTANT', reason: 'under 1 ETH' }], policy_version: 3, policy_hash: 'cd'.repeat(32),
          delay_seconds: 0, state: 'SIGNING',
          effects: { chain: 'evm', chainId: 1n, outflows: [{ asset: 'native', amount: BigInt(i) * 10n ** 15n, recipient: '0x' + 'ee'.repeat(20), recipientKind: 'owner', source: 'native' }], grants: [], calls: [], flags: [], maxFee: 21_000n },
        },
      };
    case 1:
      return { actor: 'system', action: 'sign_request.signed', walletId: `wal_${i % 7}`, signRequestId: `req_${i - 1}`, data: { response_sha256: 'ef'.repeat(32), signature: new Uint8Array([i & 255, 1, 2, 3]), verdict: 'INSTANT' } };
    case 2:
      return { actor: 'spiffe://waiaas/admin/ops', action: 'wallet.frozen', walletId: `wal_${i % 7}`, data: { reason: `drill ${i} — «unicode» ✓`, cancelled: [] } };
    default:
      return { actor: 'spiffe://waiaas/owner/alice', action: 'approval.recorded', walletId: `wal_${i % 7}`, signRequestId: `req_${i}`, data: { owner_key: 'So1ana' + i, decision: 'APPROVE', message: `WAIaaS approval\nRequest: req_${i}\n`, signature: 'aa'.repeat(64) } };
  }
}

/** Appends entries [from, from + n) each in its own store.write (one group commit for the whole burst). */
export async function appendMany(f: Fixture, n: number, from = 0): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, k) => f.store.write(() => f.audit.append(sampleEntry(from + k), timeOf(from + k)))));
}

/** Runs `fn` on a second, raw connection to the file with the append-only triggers dropped (an attacker with the file). */
export function tamper(f: Fixture, fn: (db: Database.Database) => void): void {
  const db = new Database(f.path);
  try {
    db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_log_append_at_head;');
    db.transaction(() => fn(db))();
  } finally {
    db.close();
  }
}

/** A row as stored. */
export function row(db: Database.Database, seq: number): AuditRow {
  return db.prepare('SELECT * FROM audit_log WHERE seq = ?').get(seq) as AuditRow;
}

/** Moves entries after `after` up by `by` (renumbering; the primary key forbids doing it in one UPDATE). */
export function shiftSeqs(db: Database.Database, after: number, by: number): void {
  db.prepare('UPDATE audit_log SET seq = seq + 1000000000 WHERE seq > ?').run(after);
  db.prepare('UPDATE audit_log SET seq = seq - 1000000000 + ? WHERE seq > 1000000000').run(by);
}
