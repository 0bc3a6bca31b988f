/**
 * The policy engine: effects + compiled policy + usage snapshot + the time in, a closed decision out. Pure: no I/O,
 * no clock reads, no exceptions for a denial.
 *
 * Every effect unit of a request (each outflow, grant, call, flag, the message, the fee) must be covered by a
 * permission rule whose conditions hold; an uncovered unit is DENY. Constraint rules watch the whole request and add
 * their verdict when triggered. The strictest verdict of everything that matched wins; among DELAYs the longest.
 * An unlimited grant is never below APPROVAL, whatever the rule says.
 */
import { decodeFunctionData, parseAbi, type Hex } from 'viem';
import type { Call, Effects, Grant, Outflow } from './effects.ts';
import { type ApproveRule, type CallRule, type ConstraintRule, type MessageRule, type Policy, type Rule, type TransferRule, type Verdict } from './document.ts';

export type { Verdict } from './document.ts';

/** A policy ready for evaluation: the document plus facts derived from it ahead of time (they need I/O or async). */
export interface CompiledPolicy extends Policy {
  /**
   * SPL associated token accounts of every owner named in a transfer rule, for every mint the policy names:
   * token account → { owner, mint }. Lets a rule listing owners match a TransferChecked to their token account.
   */
  tokenAccounts: ReadonlyMap<string, { owner: string; mint: string }>;
}

/** What the ledger says, for exactly the windows the policy asks about (see usageNeeds). */
export interface UsageSnapshot {
  /** Reserved amount of `asset` within the last `windowSeconds`, keyed `${asset}|${windowSeconds}`. */
  spent: ReadonlyMap<string, bigint>;
  /** Number of counted requests within the last `windowSeconds`. */
  counts: ReadonlyMap<number, number>;
  /** When the wallet last had a request signed or reserved; null if never. */
  lastSignedAt: Date | null;
}

/** The windows a policy needs from the ledger. */
export interface UsageNeeds {
  spend: { asset: string; windowSeconds: number }[];
  counts: number[];
  lastSigned: boolean;
}

/** A rule that matched, with what it said and why. */
export interface MatchedRule {
  name: string;
  kind: string;
  verdict: Verdict;
  delaySeconds?: number;
  reason: string;
}

/** The engine's answer. */
export interface Decision {
  verdict: Verdict;
  /** For DELAY: seconds until the request may be signed. 0 otherwise. */
  delaySeconds: number;
  /** The rule that decided (a rule named in the policy, `default-deny`, or `unlimited-grant`). */
  rule: string;
  /** Why, in one line a person can read. */
  detail: string;
  /** Every rule that matched or triggered, and every unit no rule covered (as `default-deny`). */
  matched: MatchedRule[];
  policyVersion: number | null;
  policyHash: string | null;
  /** What this request reserves if it goes ahead: base units per asset of its outflows. */
  reservation: Map<string, bigint>;
}

/** Context of a decision. */
export interface EvaluationContext {
  now: Date;
}

const RANK: Record<Verdict, number> = { INSTANT: 0, NOTIFY: 1, DELAY: 2, APPROVAL: 3, DENY: 4 };

/** True when `a` is stricter than `b` (a longer DELAY is stricter than a shorter one). */
function stricter(a: MatchedRule, b: MatchedRule): boolean {
  if (RANK[a.verdict] !== RANK[b.verdict]) return RANK[a.verdict] > RANK[b.verdict];
  return (a.delaySeconds ?? 0) > (b.delaySeconds ?? 0);
}

function strictest(list: MatchedRule[]): MatchedRule | undefined {
  return list.reduce<MatchedRule | undefined>((best, m) => (best === undefined || stricter(m, best) ? m : best), undefined);
}

/** The ledger windows a policy's constraint rules read. */
export function usageNeeds(policy: Policy | null): UsageNeeds {
  const spend = new Map<string, { asset: string; windowSeconds: number }>();
  const counts = new Set<number>();
  let lastSigned = false;
  for (const r of policy?.document.rules ?? []) {
    if (r.kind === 'spend_limit') {
      spend.set(`${r.asset}|${r.windowSeconds}`, { asset: r.asset, windowSeconds: r.windowSeconds });
      // Token limits also count outflows of unnamed tokens (see constraintTriggered).
      if (r.asset !== 'native') spend.set(`unknown|${r.windowSeconds}`, { asset: 'unknown', windowSeconds: r.windowSeconds });
    }
    if (r.kind === 'count_limit') counts.add(r.windowSeconds);
    if (r.kind === 'cooldown') lastSigned = true;
  }
  return { spend: [...spend.values()], counts: [...counts], lastSigned };
}

/** Base units per asset that the request's outflows move. */
export function reservationOf(effects: Effects): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const o of effects.outflows) out.set(o.asset, (out.get(o.asset) ?? 0n) + o.amount);
  return out;
}

function matched(r: Rule, reason: string): MatchedRule {
  return { name: r.name, kind: r.kind, verdict: r.verdict, ...(r.delaySeconds === undefined ? {} : { delaySeconds: r.delaySeconds }), reason };
}

function chainOk(r: { chainIds?: bigint[] }, effects: Effects): boolean {
  return r.chainIds === undefined || (effects.chainId !== undefined && r.chainIds.includes(effects.chainId));
}

function assetOk(ruleAsset: string, asset: string): boolean {
  return ruleAsset === '*' || ruleAsset === asset;
}

function recipientOk(r: TransferRule, o: Outflow, policy: CompiledPolicy): boolean {
  if (r.recipients === undefined) return true;
  if (r.recipients.includes(o.recipient)) return true;
  if (o.recipientKind === 'token_account' && o.asset.startsWith('spl:')) {
    const ta = policy.tokenAccounts.get(o.recipient);
    return ta !== undefined && ta.mint === o.asset.slice(4) && r.recipients.includes(ta.owner);
  }
  return false;
}

function transferCovers(r: TransferRule, o: Outflow, effects: Effects, policy: CompiledPolicy): boolean {
  return (
    assetOk(r.asset, o.asset) &&
    recipientOk(r, o, policy) &&
    (r.minAmount === undefined || o.amount >= r.minAmount) &&
    (r.maxAmount === undefined || o.amount <= r.maxAmount) &&
    chainOk(r, effects)
  );
}

function approveCovers(r: ApproveRule, g: Grant, effects: Effects, now: Date): boolean {
  if (!assetOk(r.asset, g.asset) || !chainOk(r, effects)) return false;
  if (r.grantKinds !== undefined && !r.grantKinds.includes(g.kind)) return false;
  if (r.spenders !== undefined && !r.spenders.includes(g.spender)) return false;
  if (r.maxAmount !== undefined && !g.revoke && (g.unlimited || g.amount === null || g.amount > r.maxAmount)) return false;
  if (r.maxDurationSeconds !== undefined && !g.revoke) {
    if (g.expiry === undefined) return false;
    const nowSeconds = BigInt(Math.floor(now.getTime() / 1000));
    if (g.expiry - nowSeconds > BigInt(r.maxDurationSeconds)) return false;
  }
  return true;
}

function constraintOk(value: string, c: { in?: string[]; min?: bigint; max?: bigint }): boolean {
  if (c.in !== undefined && !c.in.includes(value)) return false;
  if (c.min !== undefined || c.max !== undefined) {
    if (!/^[0-9]+$/.test(value)) return false;
    const n = BigInt(value);
    if (c.min !== undefined && n < c.min) return false;
    if (c.max !== undefined && n > c.max) return false;
  }
  return true;
}

function argText(v: unknown): string {
  if (typeof v === 'string') return v.toLowerCase();
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
}

function callCovers(r: CallRule, c: Call, effects: Effects): boolean {
  if (r.program !== c.program || !chainOk(r, effects)) return false;
  if (r.discriminators !== undefined && !r.discriminators.some((d) => c.data.startsWith(d))) return false;
  if (r.maxValue !== undefined && c.value > r.maxValue) return false;
  if (r.accounts !== undefined) {
    for (const [idx, cons] of Object.entries(r.accounts)) {
      const acc = c.accounts[Number(idx)];
      if (acc === undefined || !constraintOk(acc, cons)) return false;
    }
  }
  if (r.args !== undefined && r.abi !== undefined) {
    let args: readonly unknown[];
    try {
      args = decodeFunctionData({ abi: parseAbi([r.abi]), data: `0x${c.data}` as Hex }).args ?? [];
    } catch {
      return false; // calldata that does not decode with the rule's ABI is not what the rule allows
    }
    for (const [idx, cons] of Object.entries(r.args)) {
      const v = args[Number(idx)];
      if (v === undefined || !constraintOk(argText(v), cons)) return false;
    }
  }
  return true;
}

function messageCovers(r: MessageRule, effects: Effects): boolean {
  const m = effects.message;
  if (!m) return false;
  if (r.messageKinds !== undefined && !r.messageKinds.includes(m.kind)) return false;
  if (r.textPrefix !== undefined && !(m.text ?? '').startsWith(r.textPrefix)) return false;
  if (r.textPattern !== undefined && (m.text === undefined || !new RegExp(`^(?:${r.textPattern})$`, 'u').test(m.text))) return false;
  if (r.domain !== undefined) {
    const d = m.domain ?? {};
    if (r.domain.name !== undefined && d.name !== r.domain.name) return false;
    if (r.domain.version !== undefined && d.version !== r.domain.version) return false;
    if (r.domain.chainId !== undefined && d.chainId !== r.domain.chainId) return false;
    if (r.domain.verifyingContract !== undefined && d.verifyingContract?.toLowerCase() !== r.domain.verifyingContract) return false;
  }
  if (r.primaryTypes !== undefined && (m.primaryType === undefined || !r.primaryTypes.includes(m.primaryType))) return false;
  return true;
}

/** The units of a request, each with a description and a test of whether a permission rule covers it. */
function units(effects: Effects, policy: CompiledPolicy, now: Date): { what: string; covers: (r: Rule) => boolean; unlimitedGrant: boolean }[] {
  const out: { what: string; covers: (r: Rule) => boolean; unlimitedGrant: boolean }[] = [];
  for (const o of effects.outflows) {
    out.push({ what: `${o.source}: ${o.amount} of ${o.asset} to ${o.recipient || '(none)'}`, covers: (r) => r.kind === 'transfer' && transferCovers(r, o, effects, policy), unlimitedGrant: false });
  }
  for (const g of effects.grants) {
    out.push({
      what: `${g.source}: ${g.kind} of ${g.asset} to ${g.spender || '(none)'}${g.unlimited ? ' (unlimited)' : g.amount === null ? '' : ` up to ${g.amount}`}`,
      covers: (r) => r.kind === 'approve' && approveCovers(r, g, effects, now),
      unlimitedGrant: g.unlimited && !g.revoke,
    });
  }
  for (const c of effects.calls) out.push({ what: c.description, covers: (r) => r.kind === 'call' && callCovers(r, c, effects), unlimitedGrant: false });
  for (const f of effects.flags) out.push({ what: `flag ${f}`, covers: (r) => r.kind === 'flag' && r.flags.includes(f), unlimitedGrant: false });
  if (effects.message) out.push({ what: `${effects.message.kind} message`, covers: (r) => r.kind === 'message' && messageCovers(r, effects), unlimitedGrant: false });
  if (effects.maxFee > 0n) out.push({ what: `a fee of up to ${effects.maxFee}`, covers: (r) => r.kind === 'fee' && effects.maxFee <= r.max, unlimitedGrant: false });
  return out;
}

/** The contract or mint of an asset id (`erc20:0x…` → `0x…`), or undefined for native/unknown. */
function assetAddress(asset: string): string | undefined {
  const i = asset.indexOf(':');
  return i > 0 ? asset.slice(i + 1) : undefined;
}

/** Every address a request touches, for deny lists: parties, token contracts and mints, programs, accounts. */
function touchedAddresses(effects: Effects, policy: CompiledPolicy): Set<string> {
  const s = new Set<string>();
  for (const o of effects.outflows) {
    s.add(o.recipient);
    if (o.from) s.add(o.from);
    const token = assetAddress(o.asset);
    if (token) s.add(token);
    const ta = policy.tokenAccounts.get(o.recipient);
    if (ta) s.add(ta.owner);
  }
  for (const g of effects.grants) {
    s.add(g.spender);
    const token = assetAddress(g.asset);
    if (token) s.add(token);
  }
  for (const c of effects.calls) {
    s.add(c.program);
    c.accounts.forEach((a) => s.add(a));
  }
  if (effects.message?.domain?.verifyingContract) s.add(effects.message.domain.verifyingContract.toLowerCase());
  return s;
}

function constraintTriggered(r: ConstraintRule, effects: Effects, policy: CompiledPolicy, usage: UsageSnapshot, reservation: Map<string, bigint>, now: Date): string | undefined {
  switch (r.kind) {
    case 'spend_limit': {
      // An outflow whose token the bytes do not name (unchecked SPL Transfer) could be this token: it counts too.
      const countsUnknown = r.asset !== 'native';
      const amount = (reservation.get(r.asset) ?? 0n) + (countsUnknown ? (reservation.get('unknown') ?? 0n) : 0n);
      if (amount === 0n) return undefined;
      const used = (usage.spent.get(`${r.asset}|${r.windowSeconds}`) ?? 0n) + (countsUnknown ? (usage.spent.get(`unknown|${r.windowSeconds}`) ?? 0n) : 0n);
      return used + amount > r.max ? `${used} already reserved in the window plus ${amount} exceeds ${r.max} of ${r.asset}` : undefined;
    }
    case 'count_limit': {
      const n = usage.counts.get(r.windowSeconds) ?? 0;
      return n + 1 > r.max ? `${n} requests already in the window; the limit is ${r.max}` : undefined;
    }
    case 'cooldown': {
      if (usage.lastSignedAt === null) return undefined;
      const since = (now.getTime() - usage.lastSignedAt.getTime()) / 1000;
      return since < r.seconds ? `the last signature was ${Math.floor(since)} s ago; the cooldown is ${r.seconds} s` : undefined;
    }
    case 'deny_addresses': {
      const touched = touchedAddresses(effects, policy);
      const hit = r.addresses.find((a) => touched.has(a));
      if (hit !== undefined) return `the request involves denied address ${hit}`;
      // An account loaded from a lookup table could be any address, a denied one included: fail closed.
      const hidden = [...touched].find((a) => a.startsWith('lookup:'));
      return hidden === undefined ? undefined : `the request loads ${hidden} from a lookup table, which could be a denied address`;
    }
    case 'time_window': {
      const day = now.getUTCDay();
      const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
      const open = r.days.includes(day) && minute >= r.fromMinute && minute < r.toMinute;
      return open ? undefined : 'the request arrived outside the allowed UTC time window';
    }
    case 'chains':
      if (effects.chainId === undefined || r.chainIds.includes(effects.chainId)) return undefined;
      return `chain id ${effects.chainId} is not allowed`;
  }
}

function decision(verdictFrom: MatchedRule, matchedRules: MatchedRule[], policy: CompiledPolicy | null, reservation: Map<string, bigint>): Decision {
  return {
    verdict: verdictFrom.verdict,
    delaySeconds: verdictFrom.verdict === 'DELAY' ? Math.max(...matchedRules.filter((m) => m.verdict === 'DELAY').map((m) => m.delaySeconds ?? 0)) : 0,
    rule: verdictFrom.name,
    detail: verdictFrom.reason,
    matched: matchedRules,
    policyVersion: policy?.version ?? null,
    policyHash: policy?.hash ?? null,
    reservation,
  };
}

/** Decides a request whose decoded effects are `effects`, under `policy` (null: the wallet has none). */
export function evaluate(effects: Effects, policy: CompiledPolicy | null, usage: UsageSnapshot, ctx: EvaluationContext): Decision {
  const reservation = reservationOf(effects);
  if (policy === null) {
    const m: MatchedRule = { name: 'default-deny', kind: 'default', verdict: 'DENY', reason: 'the wallet has no policy' };
    return decision(m, [m], null, reservation);
  }
  const all: MatchedRule[] = [];
  const seen = new Map<string, MatchedRule>();
  const add = (m: MatchedRule): MatchedRule => {
    const key = `${m.name}\n${m.verdict}\n${m.reason}`;
    if (!seen.has(key)) {
      seen.set(key, m);
      all.push(m);
    }
    return m;
  };
  const verdicts: MatchedRule[] = [];
  const list = units(effects, policy, ctx.now);
  if (list.length === 0) verdicts.push(add({ name: 'default-deny', kind: 'default', verdict: 'DENY', reason: 'the request does nothing a rule allows' }));
  for (const u of list) {
    const covering = policy.document.rules.filter((r) => u.covers(r)).map((r) => add(matched(r, `covers ${u.what}`)));
    const best = strictest(covering);
    if (best === undefined) {
      verdicts.push(add({ name: 'default-deny', kind: 'default', verdict: 'DENY', reason: `no rule allows ${u.what}` }));
      continue;
    }
    verdicts.push(best);
    if (u.unlimitedGrant && RANK[best.verdict] < RANK.APPROVAL) {
      verdicts.push(add({ name: 'unlimited-grant', kind: 'built-in', verdict: 'APPROVAL', reason: `${u.what} is unbounded: never signed without the owner's approval` }));
    }
  }
  for (const r of policy.document.rules) {
    if (r.kind === 'spend_limit' || r.kind === 'count_limit' || r.kind === 'cooldown' || r.kind === 'deny_addresses' || r.kind === 'time_window' || r.kind === 'chains') {
      const why = constraintTriggered(r, effects, policy, usage, reservation, ctx.now);
      if (why !== undefined) verdicts.push(add(matched(r, why)));
    }
  }
  // Among equally strict verdicts, a named rule explains a decision better than the built-in default.
  const top = strictest(verdicts)!;
  const ties = verdicts.filter((v) => v.verdict === top.verdict && (v.delaySeconds ?? 0) === (top.delaySeconds ?? 0));
  const explaining = ties.find((v) => v.kind !== 'default') ?? top;
  return decision(explaining, all, policy, reservation);
}
