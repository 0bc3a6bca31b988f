/** Exported JSON lines: a round trip, standalone verification, and tampering with the exported file. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { auditEntryLine, parseExportLine, verifyExport, verifyExportFile } from '../../server/audit/audit.ts';
import { appendMany, openFixture, type Fixture } from './helpers.ts';

let f: Fixture;
let lines: string[];
const N = 60;
beforeEach(async () => {
  f = openFixture();
  await appendMany(f, N);
  lines = [...f.audit.export()];
});
afterEach(() => f.close());

function edit(seq: number, fn: (o: Record<string, unknown>) => void): string[] {
  return lines.map((l, i) => {
    if (i !== seq - 1) return l;
    const o = JSON.parse(l) as Record<string, unknown>;
    fn(o);
    return JSON.stringify(o);
  });
}

describe('export', () => {
  test('one canonical JSON line per entry, with its hash, verifiable without the database', () => {
    expect(lines).toHaveLength(N);
    const head = f.audit.head();
    expect(verifyExport(lines)).toEqual({ ok: true, entries: N, head: head.hash, headSeq: N });
    expect(verifyExport(`${lines.join('\n')}\n`, { expectHead: head })).toMatchObject({ ok: true, entries: N });
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(['action', 'actor', 'data', 'hash', 'prev_hash', 'seq', 'sign_request_id', 'time', 'v', 'wallet_id']);
    expect(first).toMatchObject({ seq: 1, v: 1, prev_hash: '0'.repeat(64), action: 'sign_request.decided' });
    expect((first.data as { effects: { maxFee: unknown } }).effects.maxFee).toBe('21000');
    // tail gives the same lines.
    expect(f.audit.tail(N).map(auditEntryLine)).toEqual(lines);
    expect(parseExportLine(lines[5]!).hash).toBe(f.audit.tail(N)[5]!.hash);
  });

  test('a range links to the head before it', () => {
    const part = [...f.audit.export(21, 40)];
    expect(part.map((l) => parseExportLine(l).seq)).toEqual(Array.from({ length: 20 }, (_, k) => k + 21));
    expect(verifyExport(part)).toMatchObject({ ok: true, entries: 20, headSeq: 40 });
    const after = { seq: 20, hash: parseExportLine(lines[19]!).hash };
    expect(verifyExport(part, { after })).toMatchObject({ ok: true, entries: 20, headSeq: 40 });
    expect(verifyExport(part, { after: { seq: 20, hash: 'a'.repeat(64) } })).toMatchObject({ ok: false, seq: 21 });
    expect(() => verifyExport(part, { expectHead: { seq: 5, hash: 'a'.repeat(64) } })).toThrow(RangeError);
    expect([...f.audit.export(61)]).toEqual([]);
  });

  test('the generator holds no cursor: writes go on while lines are streamed out', async () => {
    await appendMany(f, 2500, N);
    const out: string[] = [];
    let wrote = false;
    for (const line of f.audit.export()) {
      out.push(line);
      if (out.length === 1500 && !wrote) {
        wrote = true;
        await appendMany(f, 3, N + 2500);
      }
    }
    expect(out).toHaveLength(N + 2503);
    expect(verifyExport(out)).toMatchObject({ ok: true, entries: N + 2503 });
  });

  test('tampering with the export is detected', () => {
    expect(verifyExport(edit(12, (o) => ((o.data as Record<string, unknown>).verdict = 'DENY')))).toMatchObject({ ok: false, seq: 12, problem: 'changed' });
    expect(verifyExport(edit(13, (o) => (o.actor = 'someone')))).toMatchObject({ ok: false, seq: 13, problem: 'changed' });
    expect(verifyExport(lines.filter((_, i) => i !== 29))).toMatchObject({ ok: false, seq: 30, problem: 'removed' });
    const swapped = [...lines];
    [swapped[9], swapped[10]] = [swapped[10]!, swapped[9]!];
    expect(verifyExport(swapped)).toMatchObject({ ok: false, seq: 10, problem: 'reordered' });
    const dup = [...lines.slice(0, 20), lines[19]!, ...lines.slice(20)];
    expect(verifyExport(dup)).toMatchObject({ ok: false, seq: 20, problem: 'inserted' });
    expect(verifyExport([...lines.slice(0, 7), '{"not":"an entry"}', ...lines.slice(8)])).toMatchObject({ ok: false, seq: 8, problem: 'changed', detail: expect.stringMatching(/line 8 is not an audit entry/) });
    expect(verifyExport(edit(1, (o) => (o.prev_hash = '1'.repeat(64))))).toMatchObject({ ok: false, seq: 1 });
    expect(verifyExport(edit(4, (o) => ((o.data as Record<string, unknown>).amount = 1.5)))).toMatchObject({ ok: false, seq: 4, problem: 'changed' });
    // A truncated export is only caught against a recorded head.
    expect(verifyExport(lines.slice(0, 50))).toMatchObject({ ok: true, entries: 50 });
    expect(verifyExport(lines.slice(0, 50), { expectHead: f.audit.head() })).toMatchObject({ ok: false, seq: 51, problem: 'removed' });
  });

  test('an exported file is checked line by line', async () => {
    const good = join(f.dir, 'audit.jsonl');
    writeFileSync(good, `${lines.join('\n')}\n`);
    expect(await verifyExportFile(good, { expectHead: f.audit.head() })).toMatchObject({ ok: true, entries: N, headSeq: N });
    const bad = join(f.dir, 'bad.jsonl');
    const swapped = [...lines];
    [swapped[40], swapped[44]] = [swapped[44]!, swapped[40]!];
    writeFileSync(bad, swapped.join('\n'));
    expect(await verifyExportFile(bad)).toMatchObject({ ok: false, seq: 41, problem: 'reordered' });
    writeFileSync(bad, edit(33, (o) => (o.time = '2030-01-01T00:00:00.000Z')).join('\r\n'));
    expect(await verifyExportFile(bad)).toMatchObject({ ok: false, seq: 33, problem: 'changed' });
    writeFileSync(bad, '');
    expect(await verifyExportFile(bad)).toEqual({ ok: true, entries: 0, head: '0'.repeat(64), headSeq: 0 });
  });
});
