/**
 * The spend ledger: reservations taken with each decision, and totals per time bucket so that the amount reserved
 * in any window up to 31 days is read from at most ~200 bucket rows in five index range scans, whatever the size of
 * the history (no scan per request). Buckets are minute, hour and day sized and aligned to UTC; a window is covered
 * greedily by the largest aligned buckets, widened to whole minutes at its start, so a total is never under-counted.
 *
 * Every function here runs inside the caller's write transaction (Store.write): a decision and its reservation are
 * committed together or not at all.
 */
import type Database from 'better-sqlite3';
import type { Db } from './db.ts';

/** Bucket sizes in milliseconds: minute, hour, day. */
export const BUCKET_MS = [60_000, 3_600_000, 86_400_000] as const;
/** The asset id under which each request counts once (for count limits). */
export const COUNT_ASSET = '#count';

/** Ranges of bucket starts [from, to) per level that exactly tile [fromMs rounded down to a minute, toMs]. */
export function windowCover(fromMs: number, toMs: number): { level: number; from: number; to: number }[] {
  let s = Math.floor(fromMs / BUCKET_MS[0]) * BUCKET_MS[0];
  const end = Math.floor(toMs / BUCKET_MS[0]) * BUCKET_MS[0] + BUCKET_MS[0];
  const out: { level: number; from: number; to: number }[] = [];
  while (s < end) {
    let level = BUCKET_MS.length - 1;
    while (level > 0 && (s % BUCKET_MS[level]! !== 0 || s + BUCKET_MS[level]! > end)) level--;
    const size = BUCKET_MS[level]!;
    const last = out.at(-1);
    if (last && last.level === level && last.to === s) last.to = s + size;
    else out.push({ level, from: s, to: s + size });
    s += size;
  }
  return out;
}

/** Reads and writes the ledger tables on one database. */
export class Ledger {
  private readonly db: Db;
  private readonly st: {
    bucketGet: Database.Statement;
    bucketPut: Database.Statement;
    range: Database.Statement;
    reserve: Database.Statement;
    reservations: Database.Statement;
    markReleased: Database.Statement;
    activityGet: Database.Statement;
    activityPut: Database.Statement;
    prune: Database.Statement;
  };

  constructor(db: Db) {
    this.db = db;
    this.st = {
      bucketGet: db.prepare('SELECT amount FROM spend_buckets WHERE wallet_id = ? AND asset = ? AND level = ? AND start_ms = ?'),
      bucketPut: db.prepare('INSERT OR REPLACE INTO spend_buckets (wallet_id, asset, level, start_ms, amount) VALUES (?, ?, ?, ?, ?)'),
      range: db.prepare('SELECT amount FROM spend_buckets WHERE wallet_id = ? AND asset = ? AND level = ? AND start_ms >= ? AND start_ms < ?'),
      reserve: db.prepare('INSERT INTO spend_reservations (sign_request_id, wallet_id, asset, amount, time_ms) VALUES (?, ?, ?, ?, ?)'),
      reservations: db.prepare('SELECT wallet_id, asset, amount, time_ms FROM spend_reservations WHERE sign_request_id = ? AND released = 0'),
      markReleased: db.prepare('UPDATE spend_reservations SET released = 1 WHERE sign_request_id = ?'),
      activityGet: db.prepare('SELECT last_sign_ms FROM wallet_activity WHERE wallet_id = ?'),
      activityPut: db.prepare('INSERT INTO wallet_activity (wallet_id, last_sign_ms) VALUES (?, ?) ON CONFLICT (wallet_id) DO UPDATE SET last_sign_ms = MAX(last_sign_ms, excluded.last_sign_ms)'),
      prune: db.prepare('DELETE FROM spend_buckets WHERE start_ms < ?'),
    };
  }

  private addToBuckets(walletId: string, asset: string, timeMs: number, delta: bigint): void {
    BUCKET_MS.forEach((size, level) => {
      const start = Math.floor(timeMs / size) * size;
      const row = this.st.bucketGet.get(walletId, asset, level, start) as { amount: string } | undefined;
      const next = BigInt(row?.amount ?? '0') + delta;
      this.st.bucketPut.run(walletId, asset, level, start, (next < 0n ? 0n : next).toString());
    });
  }

  /** Reserves `amounts` (per asset) and one count for request `signRequestId` at `timeMs`. */
  reserve(walletId: string, signRequestId: string, amounts: ReadonlyMap<string, bigint>, timeMs: number): void {
    const all = new Map(amounts);
    all.set(COUNT_ASSET, 1n);
    for (const [asset, amount] of all) {
      if (amount <= 0n) continue;
      this.st.reserve.run(signRequestId, walletId, asset, amount.toString(), timeMs);
      this.addToBuckets(walletId, asset, timeMs, amount);
    }
  }

  /** Releases what `signRequestId` reserved (cancelled, rejected or expired before it was signed). Idempotent. */
  release(signRequestId: string): void {
    const rows = this.st.reservations.all(signRequestId) as { wallet_id: string; asset: string; amount: string; time_ms: number }[];
    for (const r of rows) this.addToBuckets(r.wallet_id, r.asset, r.time_ms, -BigInt(r.amount));
    this.st.markReleased.run(signRequestId);
  }

  /** Total reserved for `asset` in the window [nowMs - windowSeconds, nowMs]. */
  total(walletId: string, asset: string, windowSeconds: number, nowMs: number): bigint {
    let sum = 0n;
    for (const r of windowCover(nowMs - windowSeconds * 1000, nowMs)) {
      for (const row of this.st.range.all(walletId, asset, r.level, r.from, r.to) as { amount: string }[]) sum += BigInt(row.amount);
    }
    return sum;
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

  /** Drops buckets older than the longest window (31 days) plus a day; reservations stay as the record. */
  prune(nowMs: number): number {
    return this.st.prune.run(nowMs - 32 * 86_400_000).changes;
  }
}
