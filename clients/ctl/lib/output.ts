/**
 * Output: JSON documents (--json; stable camelCase keys, bytes as hex, 64-bit integers as decimal strings unless a
 * converter chose a number), JSON lines (watch), and the human forms — aligned tables and key/value blocks.
 */

/** JSON.stringify replacer: bigint → decimal string, bytes → hex. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return value;
}

/** Writes to a stream (stdout by default). */
export class Output {
  readonly json: boolean;
  private readonly sink: (s: string) => void;

  constructor(json: boolean, sink: (s: string) => void) {
    this.json = json;
    this.sink = sink;
  }

  /** Raw text, exactly. */
  write(s: string): void {
    this.sink(s);
  }

  /** One line. */
  line(s = ''): void {
    this.sink(`${s}\n`);
  }

  /** A JSON document, indented. */
  data(value: unknown): void {
    this.sink(`${JSON.stringify(value, replacer, 2)}\n`);
  }

  /** A JSON line (compact). */
  jsonLine(value: unknown): void {
    this.sink(`${JSON.stringify(value, replacer)}\n`);
  }

  /** An aligned table with a header row; `empty` is printed instead when there are no rows. */
  table(headers: readonly string[], rows: readonly (readonly string[])[], empty = '(none)'): void {
    if (rows.length === 0) {
      this.line(empty);
      return;
    }
    for (const l of formatTable(headers, rows)) this.line(l);
  }

  /** Aligned "key  value" lines; multi-line values are indented under the first line. */
  kv(pairs: readonly (readonly [string, string])[], indent = ''): void {
    for (const l of formatKv(pairs, indent)) this.line(l);
  }
}

/** Table lines: columns padded to their widest cell; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** Key/value lines. */
export function formatKv(pairs: readonly (readonly [string, string])[], indent = ''): string[] {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  const out: string[] = [];
  for (const [k, v] of pairs) {
    const [first, ...rest] = v.split('\n');
    out.push(`${indent}${k.padEnd(width)}  ${first ?? ''}`.trimEnd());
    for (const r of rest) out.push(`${indent}${' '.repeat(width + 2)}${r}`.trimEnd());
  }
  return out;
}

/** Shortens a long value for a table cell. */
export function ellipsis(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
