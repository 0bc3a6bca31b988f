/**
 * What the `audit` commands share: sequence numbers and heads (`SEQ:HASH`) from flags, and the result of a
 * verification (on the appliance or of an export file), printed the same way for both with its exit code: 0 when
 * the chain verifies, EXIT.CHAIN_BROKEN (8) when it does not.
 */
import type { Context } from './context.ts';
import { EXIT, UsageError, type ExitCode } from './errors.ts';

/** A position in the chain: an entry's seq and hash. */
export interface Head {
  seq: number;
  hash: string;
}

/** A sequence number from a flag: a whole number from 1. */
export function seqArg(value: string, what: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < 1) throw new UsageError(`${what} must be a sequence number (a whole number from 1; got "${value}")`);
  return Number(value);
}

/** `SEQ:HASH` (what `audit verify` prints as the head) → a head. */
export function headArg(value: string, what: string): Head {
  const m = /^(\d+):([0-9a-fA-F]{64})$/.exec(value);
  if (!m) throw new UsageError(`${what} must be SEQ:HASH, the head printed by \`waiaas-ctl audit verify\` (got "${value}")`);
  return { seq: seqArg(m[1]!, what), hash: m[2]!.toLowerCase() };
}

/** A head as printed and as given back to --expect-head. */
export function headText(seq: number, hash: string): string {
  return `${seq}:${hash}`;
}

/** The outcome of a verification. */
export type Verification =
  | { ok: true; entries: number; headSeq: number; headHash: string }
  | { ok: false; badSeq: number; problem: string; detail: string; headSeq?: number; headHash?: string };

/**
 * Prints a verification: `ok: N entries, head SEQ:HASH`, or the first bad entry (seq, problem, detail). With --json,
 * one document {ok, source, file, …}. Returns 0 or EXIT.CHAIN_BROKEN.
 */
export function printVerification(ctx: Context, v: Verification, source: { file: string | null }): ExitCode {
  const from = { source: source.file === null ? 'appliance' : 'file', file: source.file };
  if (v.ok) {
    if (ctx.json) ctx.out.data({ ok: true, ...from, entries: v.entries, headSeq: v.headSeq, headHash: v.headHash, head: headText(v.headSeq, v.headHash) });
    else ctx.out.line(`ok: ${v.entries} entries, head ${headText(v.headSeq, v.headHash)}`);
    return EXIT.OK;
  }
  const head = v.headSeq !== undefined && v.headHash !== undefined ? headText(v.headSeq, v.headHash) : null;
  if (ctx.json) {
    ctx.out.data({ ok: false, ...from, badSeq: v.badSeq, problem: v.problem, detail: v.detail, ...(head !== null ? { headSeq: v.headSeq, headHash: v.headHash, head } : {}) });
  } else {
    ctx.out.line(`broken: seq ${v.badSeq} ${v.problem}`);
    ctx.out.line(`  ${v.detail}`);
    if (head !== null) ctx.out.line(`  (the log's head is now ${head})`);
    ctx.note(`waiaas-ctl: the audit chain${source.file === null ? '' : ` in ${source.file}`} is broken at seq ${v.badSeq} (${v.problem}); treat the entries from seq ${v.badSeq} on as untrusted`);
  }
  return EXIT.CHAIN_BROKEN;
}
