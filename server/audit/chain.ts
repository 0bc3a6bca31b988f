/**
 * The hash chain of the audit log, independent of where the entries are kept (the database, an exported file):
 * the hash of an entry, the check of a sequence of entries, and the naming of the first thing wrong with it.
 *
 *   body = canonical JSON of {"action","actor","data","seq","sign_request_id","time","v":1,"wallet_id"}
 *   hash = lower-case hex SHA-256( ASCII(prev_hash) ‖ UTF-8(body) )
 *
 * `data` is the stored canonical JSON text, written into the body verbatim; prev_hash is the previous entry's hash,
 * 64 zeros for seq 1. Everything here is pure except `entryHash` calling SHA-256.
 */
import { hash as digest } from 'node:crypto';

/** prev_hash of the first entry (seq 1). */
export const GENESIS_HASH = '0'.repeat(64);

/** Version of the entry encoding, hashed into every entry (`"v":1`). */
export const ENTRY_VERSION = 1;

/** An entry as stored and as exported: the data is its canonical JSON text. */
export interface AuditRow {
  seq: number;
  time: string;
  actor: string;
  action: string;
  wallet_id: string | null;
  sign_request_id: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

/** A position in the chain: an entry's seq and hash (seq 0 and GENESIS_HASH for the empty log). */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** What verification found wrong first. */
export type AuditProblem = 'changed' | 'removed' | 'reordered' | 'inserted';

/** The answer of a verification. */
export type VerifyResult =
  | { ok: true; entries: number; head: string; headSeq: number }
  | { ok: false; seq: number; problem: AuditProblem; detail: string };

/** A failed verification. */
export type VerifyFailure = Extract<VerifyResult, { ok: false }>;

/** The canonical body of an entry (what is hashed after prev_hash). `data` must already be canonical JSON. */
export function entryBody(e: Pick<AuditRow, 'seq' | 'time' | 'actor' | 'action' | 'wallet_id' | 'sign_request_id' | 'data'>): string {
  // Keys in sorted order: action < actor < data < seq < sign_request_id < time < v < wallet_id.
  return `{"action":${JSON.stringify(e.action)},"actor":${JSON.stringify(e.actor)},"data":${e.data},"seq":${e.seq},`
    + `"sign_request_id":${e.sign_request_id === null ? 'null' : JSON.stringify(e.sign_request_id)},"time":${JSON.stringify(e.time)},`
    + `"v":${ENTRY_VERSION},"wallet_id":${e.wallet_id === null ? 'null' : JSON.stringify(e.wallet_id)}}`;
}

/** hex SHA-256( prev_hash ‖ body ). */
export function entryHash(prevHash: string, body: string): string {
  // prev_hash is ASCII hex, so hashing the UTF-8 of the concatenation is hashing ASCII(prev_hash) ‖ UTF-8(body).
  return digest('sha256', prevHash + body, 'hex');
}

/** The hash the row should have, given its own prev_hash. */
export function recomputeHash(row: AuditRow, seq: number = row.seq): string {
  return entryHash(row.prev_hash, entryBody({ ...row, seq }));
}

/** Where the first suspicious entry was met, with what was expected there. */
export interface Suspect {
  row: AuditRow;
  /** The seq that should have come next. */
  expectedSeq: number;
  /** The hash of the last good entry (or the starting point). */
  prevHash: string;
  /** The row's hash matches its own fields and prev_hash. */
  selfOk: boolean;
  /** The row's prev_hash is the last good entry's hash. */
  linkOk: boolean;
  /** The row is the first of the walk: what it should link to is the starting point, not an entry that was checked. */
  atStart: boolean;
}

/**
 * Walks entries in order, one at a time and in constant memory. `step` returns null while all is well, a Suspect
 * when an entry does not fit (the caller then gathers the evidence `classify` needs), or a failure it can name at
 * once (a recorded head that does not match).
 */
export class ChainWalker {
  private expectedSeq: number;
  private prevHash: string;
  private readonly expectHead: AuditHead | undefined;
  private readonly start: AuditHead;
  entries = 0;

  /**
   * Starts after `start` (seq 0 and GENESIS_HASH for the whole log). `expectHead`, a head recorded earlier, must be
   * met on the way (or be `start` itself); one before `start` is the caller's to check.
   */
  constructor(start: AuditHead, expectHead?: AuditHead) {
    this.start = start;
    this.expectedSeq = start.seq + 1;
    this.prevHash = start.hash;
    this.expectHead = expectHead;
  }

  step(row: AuditRow): Suspect | VerifyFailure | null {
    const selfOk = row.seq === this.expectedSeq && recomputeHash(row) === row.hash;
    const linkOk = row.prev_hash === this.prevHash;
    if (!selfOk || !linkOk) return { row, expectedSeq: this.expectedSeq, prevHash: this.prevHash, selfOk, linkOk, atStart: this.entries === 0 };
    if (this.expectHead && row.seq === this.expectHead.seq && row.hash !== this.expectHead.hash) {
      return {
        ok: false, seq: row.seq, problem: 'changed',
        detail: `entry ${row.seq} has hash ${row.hash}, but ${this.expectHead.hash} was recorded as the head at seq ${row.seq}: `
          + `the log was rewritten at or before seq ${row.seq} (every hash recomputed from there on)`,
      };
    }
    this.entries++;
    this.expectedSeq++;
    this.prevHash = row.hash;
    return null;
  }

  /** The last good position. */
  get head(): AuditHead {
    return { seq: this.expectedSeq - 1, hash: this.prevHash };
  }

  /** The result once every entry was stepped through without a problem. */
  finish(): VerifyResult {
    const head = this.head;
    const want = this.expectHead;
    if (want && head.seq < want.seq) {
      return {
        ok: false, seq: head.seq + 1, problem: 'removed',
        detail: `the log ends at seq ${head.seq}, but seq ${want.seq} (hash ${want.hash}) was recorded as its head: ${want.seq === head.seq + 1 ? `entry ${want.seq} was` : `entries ${head.seq + 1}..${want.seq} were`} cut off the end`,
      };
    }
    if (want && want.seq === this.start.seq && want.hash !== this.start.hash) {
      return {
        ok: false, seq: want.seq, problem: 'changed',
        detail: `entry ${want.seq} has hash ${this.start.hash}, but ${want.hash} was recorded as the head at seq ${want.seq}: the log was rewritten at or before seq ${want.seq}`,
      };
    }
    return { ok: true, entries: this.entries, head: head.hash, headSeq: head.seq };
  }
}

/** Evidence gathered after a Suspect, from wherever the entries are kept. */
export interface Evidence {
  /** The entry after the suspect (in the order read), if any. */
  next: AuditRow | undefined;
  /** The seq of the entry whose hash is the suspect's prev_hash, if any entry has it. */
  pointsTo: number | undefined;
  /** An entry with the expected seq comes later (only possible in an export, whose lines can be out of order). */
  expectedLater?: boolean;
}

/** How far the renumbering search looks (entries removed in one place, later ones renumbered). */
const RENUMBER_SEARCH = 64;

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

/**
 * Names the first problem. Heuristic, from the links between entries: the seq it names is the first entry that is
 * not what it should be; the kind says what most simply explains the evidence.
 */
export function classify(s: Suspect, ev: Evidence): VerifyFailure {
  const { row, expectedSeq: e, prevHash: P } = s;
  const { next, pointsTo } = ev;
  if (row.seq > e) {
    if ((next && next.seq === e) || ev.expectedLater) return { ok: false, seq: e, problem: 'reordered', detail: `entry ${row.seq} comes before entry ${e}` };
    const last = row.seq - 1;
    return {
      ok: false, seq: e, problem: 'removed',
      detail: last === e ? `entry ${e} is missing (the log goes from ${e - 1} to ${row.seq})` : `entries ${e}..${last} are missing (the log goes from ${e - 1} to ${row.seq})`,
    };
  }
  if (row.seq < e) {
    if (row.seq === e - 1 && row.hash === P) return { ok: false, seq: row.seq, problem: 'inserted', detail: `entry ${row.seq} appears twice` };
    return { ok: false, seq: row.seq, problem: 'reordered', detail: `entry ${row.seq} comes after entry ${e - 1}` };
  }
  if (!s.linkOk && pointsTo !== undefined && pointsTo >= e) {
    return {
      ok: false, seq: e, problem: 'reordered',
      detail: `entry ${e} links to entry ${pointsTo}, which comes after it: entries were swapped or renumbered`,
    };
  }
  if (next && next.prev_hash === P) {
    return {
      ok: false, seq: e, problem: 'inserted',
      detail: `entry ${e} is not part of the chain: the entry after it links directly to entry ${e - 1}`,
    };
  }
  if (s.linkOk) {
    return { ok: false, seq: e, problem: 'changed', detail: `entry ${e} does not match its hash: its content was changed` };
  }
  if (pointsTo !== undefined && pointsTo < e - 1) {
    const first = pointsTo + 1;
    const last = e - 1;
    return {
      ok: false, seq: first, problem: 'inserted',
      detail: `entry ${e} links to entry ${pointsTo}: ${first === last ? `entry ${first} was` : `entries ${first}..${last} were`} inserted between them`,
    };
  }
  // The entry links to a hash no entry has.
  if (s.selfOk) {
    if (e === 1) return { ok: false, seq: 1, problem: 'changed', detail: 'entry 1 does not start from the genesis hash: its prev_hash was changed' };
    if (s.atStart) {
      return {
        ok: false, seq: e, problem: 'changed',
        detail: `entry ${e} does not link to the hash it should follow (${P} at seq ${e - 1}): entry ${e} or the entry before it was changed`,
      };
    }
    return {
      ok: false, seq: e - 1, problem: 'changed',
      detail: `entry ${e} links to a hash no entry has, and entry ${e - 1} matches its own hash: entry ${e - 1} was changed and its hash recomputed`,
    };
  }
  for (let k = 1; k <= RENUMBER_SEARCH; k++) {
    if (recomputeHash(row, row.seq + k) === row.hash) {
      return {
        ok: false, seq: e, problem: 'removed',
        detail: `entry ${e} was entry ${row.seq + k} and links to an entry that is gone: ${k} ${plural(k, 'entry was', 'entries were')} removed and the later ones renumbered`,
      };
    }
  }
  return { ok: false, seq: e, problem: 'changed', detail: `entry ${e} neither matches its hash nor links to an entry of the log: it was changed` };
}
