/**
 * The canonical JSON the audit log hashes: one text for one value, so that anyone can recompute an entry's hash from
 * its fields with any JSON library. It is RFC 8785 (JCS) restricted to integers:
 *
 * - object keys sorted by UTF-16 code units (JavaScript's default sort), no whitespace anywhere;
 * - strings written as ECMAScript JSON.stringify writes them (`"` `\` and U+0000-U+001F escaped, `\b \f \n \r \t` by
 *   name, the rest as `\u00xx`; lone surrogates as `\udxxx`; everything else as UTF-8);
 * - numbers must be safe integers (|n| <= 2^53 - 1) and are written in decimal; anything else is refused, so number
 *   formatting never differs between implementations. Amounts are bigints or strings, never floats.
 *
 * Values are normalised first: bigint → decimal string, Uint8Array (and Buffer) → lower-case hex without 0x, Date →
 * ISO 8601 string, Map with string keys → object; object properties whose value is undefined are left out. Anything
 * else (functions, symbols, class instances, undefined in an array, NaN, cycles) is a programming error and throws.
 */

/** A JSON value as the audit log keeps it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const MAX_DEPTH = 64;

/** The canonical JSON text of `value` (normalised as described in the module comment). Throws a TypeError otherwise. */
export function canonicalJson(value: unknown): string {
  return write(value, []);
}

/** The normalised value `canonicalJson` writes, as plain JSON data. */
export function normalizeJson(value: unknown): Json {
  return JSON.parse(canonicalJson(value)) as Json;
}

class CanonicalError extends TypeError {}

/** The path of the value being written, kept as a stack and only formatted when something fails. */
type Path = (string | number)[];

function fail(path: Path, what: string): never {
  const where = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
  throw new CanonicalError(`audit data $${where}: ${what}`);
}

function byKey(a: [string, unknown], b: [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function write(value: unknown, path: Path): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `"${value.toString()}"`;
    case 'number':
      if (!Number.isSafeInteger(value)) fail(path, `${value} is not a safe integer (pass amounts as bigint or string)`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'object':
      break;
    default:
      fail(path, `a ${typeof value} cannot be written`);
  }
  if (value === null) return 'null';
  if (path.length >= MAX_DEPTH) fail(path, `nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      path.push(i);
      if (item === undefined) fail(path, 'undefined in an array');
      out += (i > 0 ? ',' : '') + write(item, path);
      path.pop();
    }
    return `${out}]`;
  }
  if (value instanceof Uint8Array) return `"${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}"`;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) fail(path, 'invalid Date');
    return `"${value.toISOString()}"`;
  }
  let entries: [string, unknown][];
  if (value instanceof Map) {
    entries = [];
    for (const [k, v] of value as Map<unknown, unknown>) {
      if (typeof k !== 'string') fail(path, 'a Map key that is not a string');
      entries.push([k, v]);
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) fail(path, `a ${(value as object).constructor?.name ?? 'non-plain'} object cannot be written`);
    entries = Object.entries(value as Record<string, unknown>);
  }
  if (entries.length > 1) entries.sort(byKey);
  let out = '{';
  let first = true;
  for (let i = 0; i < entries.length; i++) {
    const [k, v] = entries[i]!;
    if (i > 0 && entries[i - 1]![0] === k) fail(path, `duplicate key ${JSON.stringify(k)}`);
    if (v === undefined) continue;
    path.push(k);
    out += `${first ? '' : ','}${JSON.stringify(k)}:${write(v, path)}`;
    path.pop();
    first = false;
  }
  return `${out}}`;
}
