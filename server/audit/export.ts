/**
 * The export format of the audit log, and its verification without the database: one JSON line per entry, in seq
 * order, each the canonical JSON of
 *
 *   {"action","actor","data":{…},"hash","prev_hash","seq","sign_request_id","time","v":1,"wallet_id"}
 *
 * (`data` as a JSON object, not as a string, so that jq can read it). An exported file can be checked anywhere:
 * `verifyExport` recomputes every hash and link exactly as the database check does.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { canonicalJson } from './canonical.ts';
import {
  ChainWalker, classify, ENTRY_VERSION, GENESIS_HASH, type AuditHead, type AuditRow, type Suspect, type VerifyFailure, type VerifyResult,
} from './chain.ts';

/** The export line of a stored entry (no trailing newline). */
export function exportLine(row: AuditRow): string {
  // Keys in sorted order; `data` is canonical already, so the line is canonical JSON as a whole.
  return `{"action":${JSON.stringify(row.action)},"actor":${JSON.stringify(row.actor)},"data":${row.data},"hash":${JSON.stringify(row.hash)},`
    + `"prev_hash":${JSON.stringify(row.prev_hash)},"seq":${row.seq},"sign_request_id":${row.sign_request_id === null ? 'null' : JSON.stringify(row.sign_request_id)},`
    + `"time":${JSON.stringify(row.time)},"v":${ENTRY_VERSION},"wallet_id":${row.wallet_id === null ? 'null' : JSON.stringify(row.wallet_id)}}`;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Parses one export line back into a row; throws an Error saying what is wrong with it. */
export function parseExportLine(line: string): AuditRow {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new Error(`not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  const o = v as Record<string, unknown>;
  if (o.v !== ENTRY_VERSION) throw new Error(`unknown entry version ${JSON.stringify(o.v)}`);
  if (!Number.isSafeInteger(o.seq) || (o.seq as number) < 1) throw new Error('seq is not a positive integer');
  for (const k of ['time', 'actor', 'action'] as const) if (typeof o[k] !== 'string') throw new Error(`${k} is not a string`);
  for (const k of ['wallet_id', 'sign_request_id'] as const) if (o[k] !== null && typeof o[k] !== 'string') throw new Error(`${k} is neither a string nor null`);
  for (const k of ['prev_hash', 'hash'] as const) if (typeof o[k] !== 'string' || !HEX64.test(o[k])) throw new Error(`${k} is not 64 lower-case hex digits`);
  if (typeof o.data !== 'object' || o.data === null || Array.isArray(o.data)) throw new Error('data is not a JSON object');
  let data: string;
  try {
    data = canonicalJson(o.data);
  } catch (err) {
    throw new Error((err as Error).message);
  }
  return {
    seq: o.seq as number, time: o.time as string, actor: o.actor as string, action: o.action as string,
    wallet_id: o.wallet_id as string | null, sign_request_id: o.sign_request_id as string | null, data,
    prev_hash: o.prev_hash as string, hash: o.hash as string,
  };
}

/** Options of an export check. */
export interface VerifyExportOptions {
  /**
   * The head the export continues from (the entry before its first line), e.g. the head of the previous export or an
   * anchored head: the first line must link to it. Without it, an export starting at seq 1 must start from the
   * genesis hash, and one starting later is trusted to link to what came before it.
   */
  after?: AuditHead;
  /** A head recorded earlier (anchored): the export must contain it unchanged, or end after it. */
  expectHead?: AuditHead;
}

function malformed(seq: number, lineNo: number, err: unknown): VerifyFailure {
  return { ok: false, seq, problem: 'changed', detail: `line ${lineNo} is not an audit entry: ${(err as Error).message}` };
}

function startOf(first: AuditRow | undefined, opts: VerifyExportOptions): AuditHead {
  if (opts.after) return opts.after;
  if (!first || first.seq === 1) return { seq: 0, hash: GENESIS_HASH };
  return { seq: first.seq - 1, hash: first.prev_hash };
}

function checkAnchorPlacement(start: AuditHead, opts: VerifyExportOptions): void {
  if (opts.expectHead && opts.expectHead.seq < start.seq) {
    throw new RangeError(`the recorded head (seq ${opts.expectHead.seq}) is before the first entry of the export (seq ${start.seq + 1}); export from seq ${opts.expectHead.seq} or earlier to check it`);
  }
}

function tryParse(line: string): AuditRow | undefined {
  try {
    return parseExportLine(line);
  } catch {
    return undefined;
  }
}

/**
 * Checks exported lines (an array, or the file's text) standalone: every hash, every link, seq order, and the
 * optional recorded head. Blank lines are ignored. Names the first problem like `AuditLog.verify`.
 */
export function verifyExport(lines: string | readonly string[], opts: VerifyExportOptions = {}): VerifyResult {
  const all = (typeof lines === 'string' ? lines.split('\n') : lines).map((l, i) => ({ line: l, no: i + 1 })).filter((l) => l.line.trim() !== '');
  let first: AuditRow | undefined;
  if (all.length > 0) {
    try {
      first = parseExportLine(all[0]!.line);
    } catch (err) {
      return malformed(opts.after ? opts.after.seq + 1 : 1, all[0]!.no, err);
    }
  }
  const start = startOf(first, opts);
  checkAnchorPlacement(start, opts);
  const walker = new ChainWalker(start, opts.expectHead);
  for (let i = 0; i < all.length; i++) {
    let row: AuditRow;
    try {
      row = parseExportLine(all[i]!.line);
    } catch (err) {
      return malformed(walker.head.seq + 1, all[i]!.no, err);
    }
    const r = walker.step(row);
    if (r === null) continue;
    if ('ok' in r) return r;
    const next = i + 1 < all.length ? tryParse(all[i + 1]!.line) : undefined;
    const rows = all.map((l) => tryParse(l.line));
    return classify(r, {
      next,
      pointsTo: rows.find((x) => x?.hash === r.row.prev_hash)?.seq,
      expectedLater: rows.slice(i + 1).some((x) => x?.seq === r.expectedSeq),
    });
  }
  return walker.finish();
}

async function* fileLines(path: string): AsyncGenerator<{ line: string; no: number }> {
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let no = 0;
  try {
    for await (const line of rl) {
      no++;
      if (line.trim() !== '') yield { line, no };
    }
  } finally {
    rl.close();
  }
}

/**
 * Checks an exported file standalone, reading it line by line (constant memory, whatever its size); on a problem it
 * reads the file once more to see where the bad entry links to.
 */
export async function verifyExportFile(path: string, opts: VerifyExportOptions = {}): Promise<VerifyResult> {
  let walker: ChainWalker | undefined;
  let suspect: Suspect | undefined;
  let next: AuditRow | undefined;
  for await (const { line, no } of fileLines(path)) {
    if (suspect) {
      next = tryParse(line);
      break;
    }
    let row: AuditRow;
    try {
      row = parseExportLine(line);
    } catch (err) {
      return malformed(walker ? walker.head.seq + 1 : opts.after ? opts.after.seq + 1 : 1, no, err);
    }
    if (!walker) {
      const start = startOf(row, opts);
      checkAnchorPlacement(start, opts);
      walker = new ChainWalker(start, opts.expectHead);
    }
    const r = walker.step(row);
    if (r === null) continue;
    if ('ok' in r) return r;
    suspect = r;
  }
  if (!walker) {
    const start = startOf(undefined, opts);
    checkAnchorPlacement(start, opts);
    walker = new ChainWalker(start, opts.expectHead);
  }
  if (!suspect) return walker.finish();
  // Second pass. Every line before the suspect has a smaller seq than expected, so any line with it comes later.
  let pointsTo: number | undefined;
  let expectedLater = false;
  for await (const { line } of fileLines(path)) {
    const row = tryParse(line);
    if (!row) continue;
    if (pointsTo === undefined && row.hash === suspect.row.prev_hash) pointsTo = row.seq;
    if (row.seq === suspect.expectedSeq) expectedLater = true;
    if (pointsTo !== undefined && expectedLater) break;
  }
  return classify(suspect, { next, pointsTo, expectedLater });
}
