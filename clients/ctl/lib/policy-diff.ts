/**
 * The comparison behind `policy diff`: two policy documents, rule by rule (matched by name), field by field.
 *
 * The current document is the appliance's canonical form; the candidate is as written. Before comparing, values are
 * put in the canonical form's terms where the difference is only of form — EVM addresses (also inside asset ids)
 * lower-case, windows in their largest whole unit (60m = 1h), a missing pending_timeout_seconds as its default —
 * so that the diff shows what changes in meaning. Whether the two are the same document exactly is decided by the
 * policy hashes the appliance computes, not here.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
/** A rule as written. */
export type RuleDoc = { [k: string]: Json };

/** One field that differs between two versions of a rule. */
export interface FieldChange {
  field: string;
  /** Absent from the current rule: null. */
  from: Json;
  /** Absent from the candidate rule: null. */
  to: Json;
}

/** The differences between two documents. */
export interface PolicyDiff {
  added: { name: string; rule: RuleDoc }[];
  removed: { name: string; rule: RuleDoc }[];
  changed: { name: string; changes: FieldChange[] }[];
  pendingTimeoutSeconds: { from: number | null; to: number | null } | null;
  /** The rules both have are in another order (order does not change verdicts: the strictest wins). */
  reordered: boolean;
}

const DEFAULT_PENDING_TIMEOUT = 86400;
const EVM_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const ASSET_ADDRESS = /^(erc20|erc721|erc1155):(0x[0-9a-fA-F]{40})$/;
const WINDOW = /^(\d+)([smhd])$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

function windowText(v: string): string {
  const m = WINDOW.exec(v);
  if (!m) return v;
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) if (seconds % n === 0) return `${seconds / n}${u}`;
  return v;
}

/** A value in canonical terms (see the module comment). */
export function normalize(value: Json, key = ''): Json {
  if (typeof value === 'string') {
    if (EVM_ADDRESS.test(value)) return value.toLowerCase();
    const a = ASSET_ADDRESS.exec(value);
    if (a) return `${a[1]}:${a[2]!.toLowerCase()}`;
    if (key === 'window') return windowText(value);
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => normalize(v, key));
  if (value !== null && typeof value === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalize(v, k);
    return out;
  }
  return value;
}

/** JSON with object keys sorted, so that key order never counts as a difference. */
function stable(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable(v[k]!)}`).join(',')}}`;
  return JSON.stringify(v);
}

const same = (a: Json | undefined, b: Json | undefined): boolean => stable(a ?? null) === stable(b ?? null);

function rulesOf(doc: Json): RuleDoc[] {
  const rules = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? doc['rules'] : undefined;
  return Array.isArray(rules) ? rules.filter((r): r is RuleDoc => r !== null && typeof r === 'object' && !Array.isArray(r)) : [];
}

function timeoutOf(doc: Json): number | null {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return null;
  const t = doc['pending_timeout_seconds'];
  return typeof t === 'number' ? t : DEFAULT_PENDING_TIMEOUT;
}

/** Compares the current document (null when the wallet has no policy) with a candidate. */
export function diffPolicies(current: Json, candidate: Json): PolicyDiff {
  const cur = rulesOf(current).map((r) => normalize(r) as RuleDoc);
  const next = rulesOf(candidate).map((r) => normalize(r) as RuleDoc);
  const byName = (rules: RuleDoc[]): Map<string, RuleDoc> => new Map(rules.map((r) => [String(r['name']), r]));
  const curBy = byName(cur);
  const nextBy = byName(next);
  const added = next.filter((r) => !curBy.has(String(r['name']))).map((rule) => ({ name: String(rule['name']), rule }));
  const removed = cur.filter((r) => !nextBy.has(String(r['name']))).map((rule) => ({ name: String(rule['name']), rule }));
  const changed: PolicyDiff['changed'] = [];
  for (const r of next) {
    const name = String(r['name']);
    const before = curBy.get(name);
    if (!before) continue;
    const fields = [...new Set([...Object.keys(before), ...Object.keys(r)])];
    const changes = fields.filter((f) => !same(before[f], r[f])).map((field) => ({ field, from: before[field] ?? null, to: r[field] ?? null }));
    if (changes.length > 0) changed.push({ name, changes });
  }
  const common = (rules: RuleDoc[], other: Map<string, RuleDoc>): string[] => rules.map((r) => String(r['name'])).filter((n) => other.has(n));
  const reordered = !same(common(cur, nextBy), common(next, curBy));
  const from = current === null ? null : timeoutOf(current);
  const to = timeoutOf(candidate);
  return { added, removed, changed, pendingTimeoutSeconds: from === to ? null : { from, to }, reordered };
}

/** True when the diff has nothing in it (ignoring order). */
export function isEmptyDiff(d: PolicyDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0 && d.pendingTimeoutSeconds === null;
}
