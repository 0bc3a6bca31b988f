/**
 * The audit log: an append-only, hash-chained record of every sign request (its decoded effects, verdict, rule,
 * policy hash), every owner approval, every signature returned, and every admin change, kept in the appliance's
 * database (table `audit_log`, migration 004) and written in the SAME transaction as the change it records: if the
 * entry cannot be written the change is rolled back, so nothing is signed or changed without its entry.
 *
 * Each entry's hash covers the previous entry's hash, so changing, removing, reordering or inserting an entry
 * breaks the chain at that point and `verify` names it. Cutting entries off the END leaves a valid, shorter chain:
 * record the head (`head()`) somewhere else from time to time and pass it as `expectHead` to detect that. See
 * docs/audit.md for the encoding, what is logged, and what the chain does and does not protect against.
 *
 * Contract for writers: call `append` INSIDE the `store.write(() => ...)` op that makes the change (it throws when no
 * transaction is open). The entry commits with the change or not at all; an op that throws after appending rolls its
 * entry back with everything else (its savepoint), and the next append reuses the number, so the chain stays intact.
 *
 * The head is read from the table at each append (one seek to the last row, inside the caller's write transaction)
 * rather than kept in memory: a copy in memory would go stale when an op's savepoint or the group-commit transaction
 * rolls back after its append, and the next entry would then link to an entry that never committed. Reading it under
 * the write lock is also correct with more than one writer; the appliance is the only one anyway.
 */
import type Database from 'better-sqlite3';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Db } from '../store/db.ts';
import type { Effects } from '../policy/effects.ts';
import type { MatchedRule } from '../policy/evaluate.ts';
import { canonicalJson, type Json } from './canonical.ts';
import { ChainWalker, classify, entryBody, entryHash, GENESIS_HASH, type AuditHead, type AuditRow, type Suspect, type VerifyResult } from './chain.ts';
import { exportLine } from './export.ts';

export { canonicalJson, normalizeJson, type Json } from './canonical.ts';
export { entryBody, entryHash, recomputeHash, ENTRY_VERSION, GENESIS_HASH, type AuditHead, type AuditProblem, type AuditRow, type VerifyResult } from './chain.ts';
export { exportLine, parseExportLine, verifyExport, verifyExportFile, type VerifyExportOptions } from './export.ts';

/** Every action the log records (closed: `append` refuses anything else). */
export const AUDIT_ACTIONS = [
  'appliance.started',
  'wallet.created',
  'policy.set',
  'sign_request.decided',
  'sign_request.refused',
  'sign_request.released',
  'sign_request.signed',
  'sign_request.failed',
  'sign_request.cancelled',
  'sign_request.expired',
  'approval.recorded',
  'owners.set',
  'wallet.frozen',
  'wallet.unfrozen',
  'appliance.frozen',
  'appliance.unfreeze_scheduled',
  'appliance.unfrozen',
  'principal.put',
  'agent.issued',
  'agent.revoked',
] as const;

/** An action the log records. */
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

const ACTIONS: ReadonlySet<string> = new Set(AUDIT_ACTIONS);

/** Bytes are written as lower-case hex; callers may pass either. */
type Bytes = string | Uint8Array;

/** An error as recorded on a sign request. */
export interface AuditError {
  reason: string;
  message: string;
  metadata?: Record<string, string>;
}

/**
 * What each action's `data` carries (snake_case: it is what is hashed and exported). Fields marked optional may be
 * left out when the writer does not have them; nothing secret (no private key, no HSM PIN, no webhook secret) ever
 * goes in.
 */
export interface AuditDataMap {
  /** actor 'system'. The server started; `interrupted` requests left SIGNING by the previous run became FAILED. */
  'appliance.started': { version: string; appliance_id: string; interrupted?: number };
  /** actor: the creator. walletId: the new wallet. */
  'wallet.created': {
    chain: string; address: string; algorithm: string; key_id: Bytes; public_key: Bytes; token_label: string;
    labels: Record<string, string>; request_id: string | null;
  };
  /** actor: who set it. `document` is the canonical policy JSON whose SHA-256 is `policy_hash`. */
  'policy.set': { version: number; policy_hash: string; document: string; previous_policy_hash?: string | null };
  /**
   * actor: the caller (agent). The policy decided a request; `state` is what it was recorded as: SIGNING (about to be
   * signed), PENDING (DELAY or APPROVAL) or REFUSED (DENY).
   */
  'sign_request.decided': {
    kind: string; payload_hash: string; request_id: string | null; effects: Effects | Json;
    verdict: string; rule: string; detail: string; matched: MatchedRule[] | Json[]; policy_version: number | null; policy_hash: string | null;
    delay_seconds: number; state: 'SIGNING' | 'PENDING' | 'REFUSED';
    expire_time?: string | null; not_before_time?: string | null; approval_downgraded?: boolean;
    reservation?: Map<string, bigint> | Record<string, string | bigint>;
  };
  /**
   * The request was refused without a policy verdict: undecodable payload or frozen at decision time (from_state
   * null, actor the caller), or a PENDING request rejected by an owner (from_state 'PENDING', actor who submitted it).
   */
  'sign_request.refused': {
    from_state: 'PENDING' | null; error: AuditError; kind?: string; payload_hash?: string; request_id?: string | null;
    effects?: Effects | Json | null; owner_key?: string;
  };
  /** PENDING → SIGNING: the delay passed or the owners approved. actor 'system' (or the approving identity). */
  'sign_request.released': { cause?: 'delay_elapsed' | 'approved'; verdict?: string | null };
  /**
   * SIGNING → SIGNED, committed before the signature is returned. `response_sha256`: SHA-256 of the serialized
   * SignResult the caller receives. Never key material.
   */
  'sign_request.signed': {
    kind?: string; verdict?: string | null; response_sha256: string; signature?: Bytes; transaction_hash?: Bytes; digest?: Bytes;
    signed_transaction_sha256?: string;
  };
  /**
   * SIGNING → FAILED: the HSM failed, the server stopped mid-sign, or a freeze landed while the HSM was signing
   * (`signature_dropped`: a signature was made and thrown away, never returned).
   */
  'sign_request.failed': { error: AuditError; signature_dropped?: boolean };
  /** PENDING → CANCELLED: by the agent, an owner or admin, or by a freeze (actor the freezer, error reason WAIAAS_FROZEN). */
  'sign_request.cancelled': { error: AuditError };
  /** PENDING → EXPIRED. actor 'system'. */
  'sign_request.expired': { expire_time: string | null };
  /** An owner's signed approval or rejection was accepted. actor: who submitted it. `message` is what the owner signed. */
  'approval.recorded': {
    owner_key: string; decision: 'APPROVE' | 'REJECT'; message: string; signature: Bytes;
    outcome?: 'recorded' | 'threshold' | 'rejected'; approvals?: number; threshold?: number;
  };
  /** actor: who submitted the change; `signed_by`: owner keys whose signatures authorised it (empty: the admin alone). */
  'owners.set': {
    owners: { key: string; key_type: string; label: string }[]; threshold: number; signed_by: string[];
    previous_owners?: string[]; previous_threshold?: number;
  };
  'wallet.frozen': { reason: string | null; cancelled: string[] };
  'wallet.unfrozen': { signed_by: string[] };
  'appliance.frozen': { reason: string | null; cancelled: string[] };
  /** The admin asked for an unfreeze; it takes effect at `unfreeze_time` unless someone freezes again. */
  'appliance.unfreeze_scheduled': { unfreeze_time: string };
  /** The scheduled unfreeze took effect. actor 'system'. */
  'appliance.unfrozen': { scheduled_by?: string | null };
  /** actor: the admin. A principal (agent or owner) was registered or its scope changed. */
  'principal.put': { uri: string; role: string; wallets: string[]; chains: string[]; operations: string[]; rate_limit: number };
  /** actor: the admin. A client certificate was issued to a principal (agent or owner). Never the private key. */
  'agent.issued': { uri: string; serial: string; expire_time: string; fingerprint_sha256?: string };
  /** actor: the admin. A principal and all its certificates (uri), or one certificate (serial), was revoked. */
  'agent.revoked': { uri: string | null; serial: string | null; certificates: number };
}

/** What a writer appends. */
export interface AuditEntryInput<A extends AuditAction = AuditAction> {
  /** The identity URI that caused the change, or 'system' for the appliance itself (sweepers, start-up). */
  actor: string;
  action: A;
  walletId?: string | null | undefined;
  signRequestId?: string | null | undefined;
  data: AuditDataMap[A];
}

/** An entry as read back. */
export interface AuditEntry {
  seq: number;
  time: string;
  actor: string;
  action: string;
  walletId: string | null;
  signRequestId: string | null;
  data: { [key: string]: Json };
  prevHash: string;
  hash: string;
}

/** Options of a verification. */
export interface VerifyOptions {
  /**
   * Start at this seq instead of 1; the stored hash of the entry before it is trusted as the starting point (pass
   * it as `expectHead` too if you recorded it).
   */
  fromSeq?: number;
  /**
   * A head recorded earlier, elsewhere (anchoring): the log must still contain that entry with that hash. This is
   * what detects entries cut off the end, and a chain rewritten with recomputed hashes from some entry on.
   */
  expectHead?: AuditHead;
}

/** The most entries `tail` returns. */
export const MAX_TAIL = 10_000;
/** Entries read per query by `export` and `verifyAsync`. */
const PAGE = 1000;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const HEX64 = /^[0-9a-f]{64}$/;
const COLUMNS = 'seq, time, actor, action, wallet_id, sign_request_id, data, prev_hash, hash';

function toEntry(r: AuditRow): AuditEntry {
  return {
    seq: r.seq, time: r.time, actor: r.actor, action: r.action, walletId: r.wallet_id, signRequestId: r.sign_request_id,
    data: JSON.parse(r.data) as { [key: string]: Json }, prevHash: r.prev_hash, hash: r.hash,
  };
}

/** The export line of an entry read with `tail` (the same text `export` produces). */
export function auditEntryLine(e: AuditEntry): string {
  return exportLine({
    seq: e.seq, time: e.time, actor: e.actor, action: e.action, wallet_id: e.walletId, sign_request_id: e.signRequestId,
    data: canonicalJson(e.data), prev_hash: e.prevHash, hash: e.hash,
  });
}

function checkSeq(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}`);
}

function checkHead(name: string, h: AuditHead): void {
  if (!Number.isSafeInteger(h.seq) || h.seq < 0 || typeof h.hash !== 'string' || !HEX64.test(h.hash)) {
    throw new RangeError(`${name} must be { seq: integer >= 0, hash: 64 lower-case hex digits }`);
  }
}

type S = Database.Statement;

/** Appends to, reads and verifies the audit log on one database. */
export class AuditLog {
  private readonly db: Db;
  private readonly st: Record<'head' | 'insert' | 'bySeq' | 'from' | 'page' | 'after' | 'byHash' | 'tail' | 'tailWallet' | 'tailRequest', S>;

  constructor(db: Db) {
    this.db = db;
    this.st = {
      head: db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1'),
      insert: db.prepare(`INSERT INTO audit_log (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      bySeq: db.prepare(`SELECT ${COLUMNS} FROM audit_log WHERE seq = ?`),
      from: db.prepare(`SELECT ${COLUMNS} FROM audit_log WHERE seq >= ? ORDER BY seq`),
      page: db.prepare(`SELECT ${COLUMNS} FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`),
      after: db.prepare(`SELECT ${COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 1`),
      byHash: db.prepare('SELECT seq FROM audit_log WHERE hash = ? ORDER BY seq LIMIT 1'),
      tail: db.prepare(`SELECT ${COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?`),
      tailWallet: db.prepare(`SELECT ${COLUMNS} FROM audit_log WHERE wallet_id = ? ORDER BY seq DESC LIMIT ?`),
      tailRequest: db.prepare(`SELECT ${COLUMNS} FROM audit_log WHERE sign_request_id = ? ORDER BY seq DESC LIMIT ?`),
    };
  }

  /**
   * Appends an entry at `time` (RFC 3339, normally the time of the change it records) and returns its seq and hash.
   *
   * MUST run inside the caller's write transaction (`store.write(() => { change(); audit.append(...) })`): it throws
   * when none is open. Throws a TypeError for an unknown action or data that has no canonical form (a float, a class
   * instance, …): that rolls back the op, so a change that cannot be audited is not made.
   */
  append<A extends AuditAction>(entry: AuditEntryInput<A>, time: string): AuditHead {
    if (!this.db.inTransaction) {
      throw new Error('AuditLog.append must be called inside store.write(...), in the transaction of the change it records');
    }
    if (!ACTIONS.has(entry.action)) throw new TypeError(`unknown audit action ${JSON.stringify(entry.action)}`);
    if (typeof entry.actor !== 'string' || entry.actor === '') throw new TypeError('audit actor must be an identity URI or "system"');
    if (typeof time !== 'string' || !RFC3339.test(time)) throw new TypeError(`audit time must be an RFC 3339 timestamp, not ${JSON.stringify(time)}`);
    const walletId = entry.walletId ?? null;
    const signRequestId = entry.signRequestId ?? null;
    if (walletId !== null && typeof walletId !== 'string') throw new TypeError('audit walletId must be a string');
    if (signRequestId !== null && typeof signRequestId !== 'string') throw new TypeError('audit signRequestId must be a string');
    const d: unknown = entry.data;
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new TypeError('audit data must be an object');
    const data = canonicalJson(d);

    const head = this.st.head.get() as AuditHead | undefined;
    const seq = (head?.seq ?? 0) + 1;
    const prevHash = head?.hash ?? GENESIS_HASH;
    const hash = entryHash(prevHash, entryBody({ seq, time, actor: entry.actor, action: entry.action, wallet_id: walletId, sign_request_id: signRequestId, data }));
    this.st.insert.run(seq, time, entry.actor, entry.action, walletId, signRequestId, data, prevHash, hash);
    return { seq, hash };
  }

  /** The latest entry's seq and hash ({ seq: 0, hash: GENESIS_HASH } when empty): record it elsewhere to anchor the log. */
  head(): AuditHead {
    const h = this.st.head.get() as AuditHead | undefined;
    return h ? { seq: h.seq, hash: h.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  /** Where a walk from `fromSeq` starts, or a problem with its starting point or with a recorded head before it. */
  private begin(opts: VerifyOptions): { walker: ChainWalker; from: number } | { result: VerifyResult } {
    const from = opts.fromSeq ?? 1;
    checkSeq('fromSeq', from, 1);
    if (opts.expectHead) checkHead('expectHead', opts.expectHead);
    let start: AuditHead = { seq: 0, hash: GENESIS_HASH };
    if (from > 1) {
      const before = this.st.bySeq.get(from - 1) as AuditRow | undefined;
      if (!before) {
        const head = this.head();
        if (head.seq < from - 1) throw new RangeError(`the log has ${head.seq} entries; cannot start verifying at ${from}`);
        return { result: { ok: false, seq: from - 1, problem: 'removed', detail: `entry ${from - 1}, where verification starts, is missing` } };
      }
      start = { seq: before.seq, hash: before.hash };
    }
    const want = opts.expectHead;
    if (want && want.seq < start.seq) {
      const row = this.st.bySeq.get(want.seq) as AuditRow | undefined;
      if (!row && want.seq > 0) return { result: { ok: false, seq: want.seq, problem: 'removed', detail: `entry ${want.seq}, recorded as a head, is missing` } };
      if (row && row.hash !== want.hash) {
        return { result: { ok: false, seq: want.seq, problem: 'changed', detail: `entry ${want.seq} has hash ${row.hash}, but ${want.hash} was recorded: the log was rewritten at or before seq ${want.seq}` } };
      }
      return { walker: new ChainWalker(start), from };
    }
    return { walker: new ChainWalker(start, want), from };
  }

  /** Names the problem at a suspect entry (the iterator over the table must be closed). */
  private conclude(s: Suspect): VerifyResult {
    const next = this.st.after.get(s.row.seq) as AuditRow | undefined;
    const pointsTo = (this.st.byHash.get(s.row.prev_hash) as { seq: number } | undefined)?.seq;
    return classify(s, { next, pointsTo });
  }

  /**
   * Walks the chain from `fromSeq` (default 1) to the head, recomputing every hash and link in constant memory, and
   * names the first entry that was changed, removed, reordered or inserted. Synchronous: on a large log it holds
   * the event loop for the whole walk (several seconds per million entries); a running server should use
   * `verifyAsync`.
   */
  verify(opts: VerifyOptions = {}): VerifyResult {
    const b = this.begin(opts);
    if ('result' in b) return b.result;
    let suspect: Suspect | undefined;
    for (const row of this.st.from.iterate(b.from) as IterableIterator<AuditRow>) {
      const r = b.walker.step(row);
      if (r === null) continue;
      if ('ok' in r) return r; // leaving the loop closes the iterator
      suspect = r;
      break;
    }
    return suspect ? this.conclude(suspect) : b.walker.finish();
  }

  /**
   * `verify` in pages of entries, yielding to the event loop between pages so that signing goes on meanwhile. It
   * checks the log up to the head as it was when it started (entries appended meanwhile are left for next time).
   */
  async verifyAsync(opts: VerifyOptions & { pageSize?: number } = {}): Promise<VerifyResult> {
    const pageSize = opts.pageSize ?? PAGE;
    checkSeq('pageSize', pageSize, 1);
    const b = this.begin(opts);
    if ('result' in b) return b.result;
    const end = this.head().seq;
    let after = b.from - 1;
    for (;;) {
      const page = this.st.page.all(after, end, pageSize) as AuditRow[];
      for (const row of page) {
        const r = b.walker.step(row);
        if (r === null) continue;
        if ('ok' in r) return r;
        return this.conclude(r);
      }
      if (page.length < pageSize) break;
      after = page[page.length - 1]!.seq;
      await yieldToEventLoop();
    }
    return b.walker.finish();
  }

  /** The last `n` entries (1 to MAX_TAIL), oldest first; optionally only those of one wallet or one sign request. */
  tail(n: number, filter: { walletId?: string; signRequestId?: string } = {}): AuditEntry[] {
    checkSeq('n', n, 1);
    const limit = Math.min(n, MAX_TAIL);
    const rows = (filter.signRequestId !== undefined
      ? this.st.tailRequest.all(filter.signRequestId, limit)
      : filter.walletId !== undefined
        ? this.st.tailWallet.all(filter.walletId, limit)
        : this.st.tail.all(limit)) as AuditRow[];
    if (filter.signRequestId !== undefined && filter.walletId !== undefined) {
      return rows.filter((r) => r.wallet_id === filter.walletId).reverse().map(toEntry);
    }
    return rows.reverse().map(toEntry);
  }

  /**
   * The entries from `fromSeq` to `toSeq` (inclusive; default: the whole log) as export lines (JSON, no newline), in
   * seq order. Reads a page at a time and holds no cursor between pages, so the caller may stream the lines out
   * with awaits in between. Check the result with `verifyExport`.
   */
  *export(fromSeq = 1, toSeq: number = Number.MAX_SAFE_INTEGER): Generator<string, void, undefined> {
    checkSeq('fromSeq', fromSeq, 1);
    checkSeq('toSeq', toSeq, 0);
    let after = fromSeq - 1;
    for (;;) {
      const page = this.st.page.all(after, toSeq, PAGE) as AuditRow[];
      for (const row of page) yield exportLine(row);
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.seq;
    }
  }
}
