/**
 * `waiaas-ctl audit export`: the audit log (or a range of it) as JSON lines, one entry per line in seq order, to
 * stdout or a file (AuditService.ExportAudit, a server stream; admin only). Each line is the canonical JSON of the
 * entry with its hash: the format `audit verify --file` checks without the appliance.
 */
import { closeSync, existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { headText, seqArg } from '../lib/audit.ts';
import { defineCommand, positionals, str } from '../lib/command.ts';
import { UsageError } from '../lib/errors.ts';

/** The seq and hash of an export line (for the summary), or undefined if it is not one. */
function lineHead(line: string): { seq: number; hash: string } | undefined {
  try {
    const o = JSON.parse(line) as { seq?: unknown; hash?: unknown };
    return typeof o.seq === 'number' && typeof o.hash === 'string' ? { seq: o.seq, hash: o.hash } : undefined;
  } catch {
    return undefined;
  }
}

export default defineCommand({
  name: 'audit export',
  summary: 'export audit entries as JSON lines (to stdout or a file)',
  usage: '[--from SEQ] [--to SEQ] [--out FILE]',
  description:
    'Without --out the lines go to stdout (--json changes nothing there: they are JSON already). With --out FILE\n' +
    '(which must not exist) they go to the file, and a summary is printed: the entries written and the head of\n' +
    'the export (SEQ:HASH of its last line). A failed export removes the partial file. Check an export anywhere\n' +
    'with audit verify --file FILE. The whole export must finish within --timeout: raise it for a very large log.',
  options: {
    from: { type: 'string', value: 'SEQ', help: 'first entry (default 1)' },
    to: { type: 'string', value: 'SEQ', help: 'last entry (default: the head)' },
    out: { type: 'string', value: 'FILE', help: 'write to this file (must not exist) instead of stdout', complete: 'file' },
  },
  examples: [
    'audit export --state .waiaas --identity admin > audit-000001.jsonl',
    'audit export --from 1001 --to 2000 --out audit-001001.jsonl',
    'audit export --out audit.jsonl --json | jq -r .head',
  ],
  remote: true,
  json: true,
  parse(input) {
    positionals(input, []);
    const from = str(input, 'from');
    const to = str(input, 'to');
    const fromSeq = from === undefined ? 1 : seqArg(from, '--from');
    const toSeq = to === undefined ? 0 : seqArg(to, '--to');
    if (toSeq !== 0 && toSeq < fromSeq) throw new UsageError(`--to ${toSeq} is before --from ${fromSeq}`);
    const outText = str(input, 'out');
    const out = outText === undefined ? undefined : resolve(outText);
    if (out !== undefined && existsSync(out)) throw new UsageError(`${out} already exists; refusing to overwrite (choose another --out)`);
    return { fromSeq, toSeq, out };
  },
  async run(o, ctx) {
    const { audit } = await ctx.clients();
    let fd: number | undefined;
    if (o.out !== undefined) {
      try {
        fd = openSync(o.out, 'wx', 0o644);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new UsageError(code === 'EEXIST' ? `${o.out} already exists; refusing to overwrite (choose another --out)` : `cannot create ${o.out}: ${code ?? (e as Error).message}`);
      }
    }
    let entries = 0;
    let first: string | undefined;
    let last: string | undefined;
    try {
      for await (const page of audit.exportAudit({ fromSeq: BigInt(o.fromSeq), toSeq: BigInt(o.toSeq) }, ctx.call())) {
        if (page.lines.length === 0) continue;
        const text = `${page.lines.join('\n')}\n`;
        if (fd !== undefined) writeSync(fd, text);
        else ctx.out.write(text);
        entries += page.lines.length;
        first ??= page.lines[0];
        last = page.lines[page.lines.length - 1];
      }
    } catch (e) {
      if (fd !== undefined) {
        closeSync(fd);
        fd = undefined;
        rmSync(o.out!, { force: true });
      }
      throw e;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (o.out === undefined) return;
    const firstSeq = first === undefined ? null : (lineHead(first)?.seq ?? null);
    const head = last === undefined ? undefined : lineHead(last);
    if (ctx.json) {
      ctx.out.data({ file: o.out, entries, firstSeq, lastSeq: head?.seq ?? null, head: head ? headText(head.seq, head.hash) : null });
      return;
    }
    ctx.out.kv([
      ['file', o.out],
      ['entries', entries === 0 ? '0' : `${entries} (seq ${firstSeq ?? '?'}..${head?.seq ?? '?'})`],
      ['head', head ? headText(head.seq, head.hash) : '-'],
    ]);
  },
});
