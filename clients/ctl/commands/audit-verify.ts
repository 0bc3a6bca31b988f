/**
 * `waiaas-ctl audit verify`: checks the audit log's hash chain — on the appliance (AuditService.VerifyAudit, admin
 * only), or offline, an export file (`--file`, no appliance and no certificate needed: the same check,
 * server/audit's verifyExportFile). Exit 0 and the head to record when it verifies; exit 8 with the first bad seq
 * and what was done to it when it does not.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { headArg, printVerification, type Head } from '../lib/audit.ts';
import { defineCommand, positionals, str } from '../lib/command.ts';
import { UsageError } from '../lib/errors.ts';

export default defineCommand({
  name: 'audit verify',
  summary: 'verify the audit hash chain (on the appliance, or an export file offline)',
  usage: '[--expect-head SEQ:HASH] [--file EXPORT.jsonl [--after SEQ:HASH]]',
  description:
    'Recomputes every hash and link and prints "ok: N entries, head SEQ:HASH": record that head somewhere the\n' +
    'appliance\'s operators cannot rewrite, and pass it later as --expect-head, which also detects entries cut\n' +
    'off the end and a log rewritten with every hash recomputed. When the chain is broken it prints the first bad\n' +
    'seq and the problem (changed, removed, reordered or inserted) and exits 8.\n' +
    'With --file, an export (audit export) is checked here, without the appliance: no connection options are\n' +
    'needed. An export that starts after seq 1 is trusted to link to what came before it unless --after gives the\n' +
    'entry before its first line (e.g. the head of the previous export).',
  options: {
    'expect-head': { type: 'string', value: 'SEQ:HASH', help: 'a head recorded earlier: the log must still contain it unchanged' },
    file: { type: 'string', value: 'FILE', help: 'check this export file offline instead of the appliance\'s log', complete: 'file' },
    after: { type: 'string', value: 'SEQ:HASH', help: 'with --file: the entry before the export\'s first line' },
  },
  examples: [
    'audit verify --state .waiaas --identity admin',
    'audit verify --expect-head 1842:9f2c1e…',
    'audit verify --file audit-000001.jsonl',
    'audit verify --file audit-001001.jsonl --after 1000:4be0a7… --json | jq .ok',
  ],
  remote: true,
  json: true,
  parse(input) {
    positionals(input, []);
    const expect = str(input, 'expect-head');
    const after = str(input, 'after');
    const fileText = str(input, 'file');
    if (after !== undefined && fileText === undefined) throw new UsageError('--after goes with --file (the appliance checks its whole log)');
    let file: string | undefined;
    if (fileText !== undefined) {
      file = resolve(fileText);
      if (!existsSync(file)) throw new UsageError(`cannot read --file ${fileText}: no such file`);
      if (!statSync(file).isFile()) throw new UsageError(`--file ${fileText} is not a file`);
    }
    const expectHead: Head | undefined = expect === undefined ? undefined : headArg(expect, '--expect-head');
    const afterHead: Head | undefined = after === undefined ? undefined : headArg(after, '--after');
    if (expectHead && afterHead && expectHead.seq < afterHead.seq) throw new UsageError(`--expect-head (seq ${expectHead.seq}) is before --after (seq ${afterHead.seq})`);
    return { file, expectHead, after: afterHead };
  },
  offline(o) {
    return o.file !== undefined;
  },
  async run(o, ctx) {
    if (o.file !== undefined) {
      const { verifyExportFile } = await import('../../../server/audit/audit.ts');
      let r;
      try {
        r = await verifyExportFile(o.file, { ...(o.after ? { after: o.after } : {}), ...(o.expectHead ? { expectHead: o.expectHead } : {}) });
      } catch (e) {
        // The recorded head lies before the export's first entry: nothing in this file can confirm it.
        if (e instanceof RangeError) throw new UsageError(`--expect-head: ${e.message}`);
        const code = (e as NodeJS.ErrnoException).code;
        if (code) throw new UsageError(`cannot read --file ${o.file}: ${code}`);
        throw e;
      }
      return printVerification(ctx, r.ok ? { ok: true, entries: r.entries, headSeq: r.headSeq, headHash: r.head } : { ok: false, badSeq: r.seq, problem: r.problem, detail: r.detail }, { file: o.file });
    }
    const { audit } = await ctx.clients();
    const r = await audit.verifyAudit({ expectHeadSeq: BigInt(o.expectHead?.seq ?? 0), expectHeadHash: o.expectHead?.hash ?? '' }, ctx.call());
    return printVerification(
      ctx,
      r.ok
        ? { ok: true, entries: Number(r.entries), headSeq: Number(r.headSeq), headHash: r.headHash }
        : { ok: false, badSeq: Number(r.badSeq), problem: r.problem, detail: r.detail, headSeq: Number(r.headSeq), headHash: r.headHash },
      { file: null },
    );
  },
});
