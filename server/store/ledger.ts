/**
 * The spend ledger: reservations taken with each decision, and per-minute running totals so that the amount
 * reserved in any window is the difference of two running totals, read with two index seeks whatever the size of the
 * history (no scan per request). The window start is rounded down to its minute, so a total is never under-counted.
 *
 * Adding at the current minute touches one row. Adding at an earlier minute (a release of an older pending request,
 * or a clock that stepped back) also shifts the running totals of the later minutes that have activity.
 *
 * Every function here runs inside the caller's write transaction (Store.write): a decision and its reservation are
 * committed together or not at all.
 */
import type Database from 'better-sqlite3';
import type { Db } from './db.ts';

/** Bucket size: one minute. */
export const BUCKET_MS = 60_000;
/** The asset id under which each request counts once (for count limits). */
export const COUNT_ASSET = '#count';
/** Buckets older than this are pruned (the longest window is 31 days), keeping one anchor row per asset. */
export const RETAIN_MS = 32 * 86_400_000;

/** Reads and writes the ledger tables on one database. */
export class Ledger {
  private readonly st: Record<
    'at' | 'before' | 'atOrBefore' | 'insert' | 'update' | 'later' | 'reserve' | 'reservations' | 'markReleased' | 'activityGet' | 'activityPut' | 'prune',
    Database.Statement
  >;

  constructor(db: Db) {
    this.st = {
      at: db.prepare('SELECT amount, cum FROM spend_buckets WHERE wallet_id = ? AND asset = ? AND start_ms = ?'),
      before: db.prepare('SELECT cum FROM spend_buckets WHERE wallet_id = ? AND asset = ? AND start_ms < ? ORDER BY start_ms DESC LIMIT 1'),
      atOrBefore: db.prepare('SELECT cum FROM spend_buckets WHERE wallet_id = ? AND asset = ? AND start_ms <= ? ORDER BY start_ms DESC LIMIT 1'),
      insert: db.prepare('INSERT INTO spend_buckets (wallet_id, asset, start_ms, amount, cum) VALUES (?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE spend_buckets SET amount = ?, cum = ? WHERE wallet_id = ? AND asset = ? AND start_ms = ?'),
      later: db.prepare('SELECT start_ms, amount, cum FROM spend_buckets WHERE wallet_id = ? AND asset = ? AND start_ms > ? ORDER BY start_ms'),
      reserve: db.prepare('INSERT INTO spend_reservations (sign_request_id, wallet_id, asset, amount, time_ms) VALUES (?, ?, ?, ?, ?)'),
      reservations: db.prepare('SELECT wallet_id, asset, amount, time_ms FROM spend_reservations WHERE sign_request_id = ? AND released = 0'),
      markReleased: db.prepare('UPDATE spend_reservations SET released = 1 WHERE sign_request_id = ?'),
      activityGet: db.prepare('SELECT last_sign_ms FROM wallet_activity WHERE wallet_id = ?'),
      activityPut: db.prepare('INSERT INTO wallet_activity (wallet_id, last_sign_ms) VALUES (?, ?) ON CONFLICT (wallet_id) DO UPDATE SET last_sign_ms = MAX(last_sign_ms, excluded.last_sign_ms)'),
      prune: db.prepare(
        `DELETE FROM spend_buckets WHERE start_ms < @cutoff AND (wallet_id, asset, start_ms) NOT IN
           (SELECT wallet_id, asset, MAX(start_ms) FROM spend_buckets WHERE start_ms < @cutoff GROUP BY wallet_id, asset)`,
      ),
    };
  }

  private add(walletId: string, asset: string, timeMs: number, delta: bigint): void {
    const start = Math.floor(timeMs / BUCKET_MS) * BUCKET_MS;
    const row = this.st.at.get(walletId, asset, start) as { amount: string; cum: string } | undefined;
    if (row) {
      this.st.update.run((BigInt(row.amount) + delta).toString(), (BigInt(row.cum) + delta).toString(), walletId, asset, start);
    } else {
      const prev = this.st.before.get(walletId, asset, start) as { cum: string } | undefined;
      this.st.insert.run(walletId, asset, start, delta.toString(), (BigInt(prev?.cum ?? '0') + delta).toString());
    }
    for (const later of this.st.later.all(walletId, asset, start) as { start_ms: number; amount: string; cum: string }[]) {
      this.st.update.run(later.amount, (BigInt(later.cum) + delta).toString(), walletId, asset, later.start_ms);
    }
  }

  /** Reserves `amounts` (per asset) and one count for request `signRequestId` at `timeMs`. */
  reserve(walletId: string, signRequestId: string, amounts: ReadonlyMap<string, bigint>, timeMs: number): void {
    const all = new Map(amounts);
    all.set(COUNT_ASSET, 1n);
    for (const [asset, amount] of all) {
      if (amount <= 0n) continue;
      this.st.reserve.run(signRequestId, walletId, asset, amount.toString(), timeMs);
      this.add(walletId, asset, timeMs, amount);
    }
  }

  /** Releases what `signRequestId` reserved (cancelled, rejected or expired before it was signed). Idempotent. */
  release(signRequestId: string): void {
    const rows = this.st.reservations.all(signRequestId) as { wallet_id: string; asset: string; amount: string; time_ms: number }[];
    for (const r of rows) this.add(r.wallet_id, r.asset, r.time_ms, -BigInt(r.amount));
    this.st.markReleased.run(signRequestId);
  }

  /** Total reserved for `asset` in the window [nowMs - windowSeconds, nowMs], the start rounded down to its minute. */
  total(walletId: string, asset: string, windowSeconds: number, nowMs: number): bigint {
    const from = Math.floor((nowMs - windowSeconds * 1000) / BUCKET_MS) * BUCKET_MS;
    const hi = this.st.atOrBefore.get(walletId, asset, nowMs) as { cum: string } | undefined;
    if (!hi) return 0n;
    const lo = this.st.before.get(walletId, asset, from) as { cum: string } | undefined;
    return BigInt(hi.cum) - BigInt(lo?.cum ?? '0');
  }

  /** Records that the wallet signed at `timeMs` (for cooldowns). */
  signed(walletId: string, timeMs: number): void {
    this.st.activityPut.run(walletId, timeMs);
  }

  /** When the wallet last signed, or null. */
  lastSigned(walletId: string): Date | null {
    const row = this.st.activityGet.get(walletId) as { last_sign_ms: number } | undefined;
    return row ? new Date(row.last_sign_ms) : null;
  }

  /**
   * Drops buckets older than RETAIN_MS, keeping the newest old row of each wallet and asset: its running total is the
   * baseline later differences need. Reservations stay as the record.
   */
  prune(nowMs: number): number {
    return this.st.prune.run({ cutoff: nowMs - RETAIN_MS }).changes;
  }
}
