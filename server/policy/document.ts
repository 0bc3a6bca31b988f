/**
 * The policy document: its JSON shape (schema `waiaas.policy.v1`), validation that names the offending field path,
 * the canonical form and its hash. Pure: no I/O, no clock.
 *
 * A policy is a list of rules. Two families:
 * - **Permission rules** cover effects: every outflow, grant, call, flag, message and fee of a request must be covered
 *   by at least one permission rule whose conditions hold, or the request is denied. Kinds: `transfer`, `approve`,
 *   `call`, `message`, `fee`, `flag`.
 * - **Constraint rules** watch the request as a whole and add their verdict when triggered: `spend_limit`,
 *   `count_limit`, `cooldown`, `deny_addresses`, `time_window`, `chains`.
 * Every matching rule yields its verdict; the strictest wins (DENY > APPROVAL > DELAY > NOTIFY > INSTANT).
 *
 * Amounts are decimal strings of base units (lamports, wei, token base units). Addresses are normalised for the
 * wallet's chain: EVM lower-case, Solana exact base58.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { ChainFamily, Flag, GrantKind } from './effects.ts';

/** The five verdicts, in increasing strictness. */
export const VERDICTS = ['INSTANT', 'NOTIFY', 'DELAY', 'APPROVAL', 'DENY'] as const;
/** A verdict. */
export type Verdict = (typeof VERDICTS)[number];

/** Fields every rule has. */
interface RuleBase {
  /** Unique within the document; named in decisions and errors. */
  name: string;
  verdict: Verdict;
  /** Seconds of delay for verdict DELAY. */
  delaySeconds?: number;
}

/** Allows outflows of one asset (or any, `*`), optionally only to listed recipients and within an amount range. */
export interface TransferRule extends RuleBase {
  kind: 'transfer';
  asset: string;
  recipients?: string[];
  minAmount?: bigint;
  maxAmount?: bigint;
  /** EVM chain ids the rule applies on (absent: any). */
  chainIds?: bigint[];
}

/** Allows grants (approvals, permits, authorities…) of one asset (or any), optionally only to listed spenders, bounded. */
export interface ApproveRule extends RuleBase {
  kind: 'approve';
  asset: string;
  grantKinds?: GrantKind[];
  spenders?: string[];
  /** Largest allowance; an unbounded grant never matches a rule with max_amount. */
  maxAmount?: bigint;
  /** Largest lifetime in seconds from now; a grant without expiry never matches a rule with max_duration_seconds. */
  maxDurationSeconds?: number;
  chainIds?: bigint[];
}

/** A constraint on an argument of a call: equal to one of `in`, or within [min, max] as an unsigned integer. */
export interface ArgConstraint {
  in?: string[];
  min?: bigint;
  max?: bigint;
}

/** Allows calls to one program/contract, optionally only with listed discriminators/selectors and argument constraints. */
export interface CallRule extends RuleBase {
  kind: 'call';
  program: string;
  /** Lower-case hex without 0x. */
  discriminators?: string[];
  /** EVM: argument constraints by ABI argument index, decoded with `abi` (a function signature). */
  abi?: string;
  args?: Record<string, ArgConstraint>;
  /** Solana: constraints on the instruction's accounts by index (e.g. `{"1": {"in": [...]}}`). */
  accounts?: Record<string, ArgConstraint>;
  /** Largest native value sent with the call (EVM). */
  maxValue?: bigint;
  chainIds?: bigint[];
}

/** Allows signing messages of the listed kinds whose text matches a prefix or a pattern, or EIP-712 of a domain. */
export interface MessageRule extends RuleBase {
  kind: 'message';
  messageKinds?: ('eip191' | 'eip712' | 'solana_offchain')[];
  textPrefix?: string;
  /** A regular expression the whole text must match. */
  textPattern?: string;
  domain?: { name?: string; version?: string; chainId?: string; verifyingContract?: string };
  primaryTypes?: string[];
}

/** Allows a worst-case network fee up to `max` base units. */
export interface FeeRule extends RuleBase {
  kind: 'fee';
  max: bigint;
}

/** Explicitly allows flags that are otherwise denied. */
export interface FlagRule extends RuleBase {
  kind: 'flag';
  flags: Flag[];
}

/** Triggered when this request plus what was reserved in the window would exceed `max` of `asset`. */
export interface SpendLimitRule extends RuleBase {
  kind: 'spend_limit';
  asset: string;
  windowSeconds: number;
  max: bigint;
}

/** Triggered when this request would make more than `max` signing requests in the window. */
export interface CountLimitRule extends RuleBase {
  kind: 'count_limit';
  windowSeconds: number;
  max: number;
}

/** Triggered when the wallet's last signature is less than `seconds` ago. */
export interface CooldownRule extends RuleBase {
  kind: 'cooldown';
  seconds: number;
}

/** Triggered when any recipient, spender, program or contract of the request is listed. */
export interface DenyAddressesRule extends RuleBase {
  kind: 'deny_addresses';
  addresses: string[];
}

/** Triggered when the request arrives OUTSIDE the UTC window [from, to) on the listed days. */
export interface TimeWindowRule extends RuleBase {
  kind: 'time_window';
  /** Days the window is open, 0 = Sunday … 6 = Saturday. */
  days: number[];
  /** Minutes after midnight UTC. */
  fromMinute: number;
  toMinute: number;
}

/** Triggered when an EVM request is for a chain id not listed. */
export interface ChainsRule extends RuleBase {
  kind: 'chains';
  chainIds: bigint[];
}

/** Rules that cover effects. */
export type PermissionRule = TransferRule | ApproveRule | CallRule | MessageRule | FeeRule | FlagRule;
/** Rules that watch the whole request. */
export type ConstraintRule = SpendLimitRule | CountLimitRule | CooldownRule | DenyAddressesRule | TimeWindowRule | ChainsRule;
/** Any rule. */
export type Rule = PermissionRule | ConstraintRule;

/** A validated policy document. */
export interface PolicyDocument {
  rules: Rule[];
  /** How long a DELAY/APPROVAL request may stay pending before it expires (and its reservation is released). */
  pendingTimeoutSeconds: number;
}

/** A stored policy: document plus version and hash. */
export interface Policy {
  version: number;
  hash: string;
  document: PolicyDocument;
}

/** A validation failure: `field` is the path in the JSON document, e.g. `rules[2].recipients[0]`. */
export interface PolicyValidationError {
  field: string;
  message: string;
}

/** The schema id every document carries. */
export const POLICY_SCHEMA = 'waiaas.policy.v1';
const MAX_RULES = 256;
const MAX_LIST = 1000;
const MAX_WINDOW_SECONDS = 31 * 86400;
const DEFAULT_PENDING_TIMEOUT = 86400;
const U256_MAX = (1n << 256n) - 1n;
const BASE58 = /^[1-9A-HJ-NP-Za-km-z]{32,44}$/;
const EVM_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;
const HEX = /^[0-9a-f]*$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const WINDOW = /^([1-9][0-9]{0,6})(s|m|h|d)$/;
const HHMM = /^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$/;
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const GRANT_KINDS: GrantKind[] = ['token_approval', 'permit', 'permit2', 'approval_for_all', 'set_authority', 'close_account', 'assign', 'code_delegation'];
const FLAGS: Flag[] = ['ADDRESS_LOOKUP_TABLE', 'DURABLE_NONCE', 'CONTRACT_CREATION', 'EIP7702_AUTHORIZATION', 'MISSING_CHAIN_ID', 'UNKNOWN_TYPED_DATA'];
const MESSAGE_KINDS = ['eip191', 'eip712', 'solana_offchain'] as const;

/** Thrown inside validation; turned into the result's error. */
class Invalid extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

/** Reads one JSON object's fields, remembering which were used so that unknown ones are refused by name. */
class Fields {
  private readonly used = new Set<string>();
  readonly path: string;
  private readonly o: Obj;

  constructor(value: Json | undefined, path: string) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Invalid(path || '(document)', 'must be an object');
    this.o = value;
    this.path = path;
  }

  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    return this.o[key] !== undefined;
  }

  raw(key: string): Json | undefined {
    this.used.add(key);
    return this.o[key];
  }

  str(key: string, required: true): string;
  str(key: string, required?: false): string | undefined;
  str(key: string, required = false): string | undefined {
    const v = this.raw(key);
    if (v === undefined) {
      if (required) throw new Invalid(this.at(key), 'is required');
      return undefined;
    }
    if (typeof v !== 'string') throw new Invalid(this.at(key), 'must be a string');
    return v;
  }

  int(key: string, min: number, max: number, required: true): number;
  int(key: string, min: number, max: number, required?: false): number | undefined;
  int(key: string, min: number, max: number, required = false): number | undefined {
    const v = this.raw(key);
    if (v === undefined) {
      if (required) throw new Invalid(this.at(key), 'is required');
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Invalid(this.at(key), `must be an integer from ${min} to ${max}`);
    return v;
  }

  amount(key: string, required: true): bigint;
  amount(key: string, required?: false): bigint | undefined;
  amount(key: string, required = false): bigint | undefined {
    const v = this.str(key, required as true);
    if (v === undefined) return undefined;
    if (!DECIMAL.test(v)) throw new Invalid(this.at(key), 'must be a decimal integer string of base units');
    const n = BigInt(v);
    if (n > U256_MAX) throw new Invalid(this.at(key), 'must be at most 2^256-1');
    return n;
  }

  list(key: string, required: true): Json[];
  list(key: string, required?: false): Json[] | undefined;
  list(key: string, required = false): Json[] | undefined {
    const v = this.raw(key);
    if (v === undefined) {
      if (required) throw new Invalid(this.at(key), 'is required');
      return undefined;
    }
    if (!Array.isArray(v)) throw new Invalid(this.at(key), 'must be a list');
    if (v.length === 0) throw new Invalid(this.at(key), 'must not be empty (leave it out to mean "any")');
    if (v.length > MAX_LIST) throw new Invalid(this.at(key), `must have at most ${MAX_LIST} entries`);
    return v;
  }

  /** Refuses fields that were never read: a typo must not silently widen a rule. */
  done(): void {
    for (const k of Object.keys(this.o)) {
      if (!this.used.has(k)) throw new Invalid(this.at(k), 'is not a known field');
    }
  }
}

/** Normalises an address for the wallet's chain, or throws naming `field`. */
function address(v: Json, field: string, chain: ChainFamily): string {
  if (typeof v !== 'string') throw new Invalid(field, 'must be a string');
  if (chain === 'evm') {
    if (!EVM_ADDRESS.test(v)) throw new Invalid(field, 'must be an EVM address (0x followed by 40 hex digits)');
    return v.toLowerCase();
  }
  if (!BASE58.test(v) || base58Length(v) !== 32) throw new Invalid(field, 'must be a Solana address (base58 of 32 bytes)');
  return v;
}

function addresses(f: Fields, key: string, chain: ChainFamily, required = false): string[] | undefined {
  const l = required ? f.list(key, true) : f.list(key);
  if (l === undefined) return undefined;
  return [...new Set(l.map((v, i) => address(v, `${f.at(key)}[${i}]`, chain)))].sort();
}

/** An asset id: `native`, `*`, `spl:<mint>` (Solana), `erc20:|erc721:|erc1155:<address>` (EVM). */
function asset(v: string, field: string, chain: ChainFamily): string {
  if (v === 'native' || v === '*') return v;
  const [kind, addr, ...rest] = v.split(':');
  if (rest.length === 0 && addr !== undefined) {
    if (chain === 'solana' && kind === 'spl') return `spl:${address(addr, field, chain)}`;
    if (chain === 'evm' && (kind === 'erc20' || kind === 'erc721' || kind === 'erc1155')) return `${kind}:${address(addr, field, chain)}`;
  }
  throw new Invalid(field, chain === 'evm' ? 'must be "native", "*" or "erc20:|erc721:|erc1155:<address>"' : 'must be "native", "*" or "spl:<mint>"');
}

function chainIds(f: Fields, key: string, chain: ChainFamily, required = false): bigint[] | undefined {
  const l = required ? f.list(key, true) : f.list(key);
  if (l === undefined) return undefined;
  if (chain !== 'evm') throw new Invalid(f.at(key), 'applies to EVM wallets only');
  return l.map((v, i) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new Invalid(`${f.at(key)}[${i}]`, 'must be a positive chain id');
    return BigInt(v);
  });
}

function windowSeconds(f: Fields, key: string): number {
  const v = f.str(key, true);
  const m = WINDOW.exec(v);
  if (!m) throw new Invalid(f.at(key), 'must be a duration like "90s", "15m", "1h", "24h", "7d" or "30d"');
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (n > MAX_WINDOW_SECONDS) throw new Invalid(f.at(key), 'must be at most 31 days');
  return n;
}

function argConstraints(v: Json | undefined, field: string, chain: ChainFamily, isAccount: boolean): Record<string, ArgConstraint> | undefined {
  if (v === undefined) return undefined;
  const outer = new Fields(v, field);
  const out: Record<string, ArgConstraint> = {};
  for (const key of Object.keys(v as Obj)) {
    if (!/^(0|[1-9][0-9]?)$/.test(key)) throw new Invalid(outer.at(key), 'keys are argument indexes (0-99)');
    const c = new Fields(outer.raw(key), outer.at(key));
    const constraint: ArgConstraint = {};
    const inList = c.list('in');
    if (inList) {
      constraint.in = inList.map((x, i) => {
        const p = `${c.at('in')}[${i}]`;
        if (isAccount || (typeof x === 'string' && (x.startsWith('0x') || BASE58.test(x)) && !DECIMAL.test(x))) return address(x, p, chain);
        if (typeof x === 'string' && DECIMAL.test(x)) return x;
        throw new Invalid(p, 'must be an address or a decimal integer string');
      });
    }
    const min = c.amount('min');
    const max = c.amount('max');
    if (min !== undefined) constraint.min = min;
    if (max !== undefined) constraint.max = max;
    if (isAccount && (min !== undefined || max !== undefined)) throw new Invalid(c.at('min'), 'accounts take only "in"');
    if (constraint.in === undefined && min === undefined && max === undefined) throw new Invalid(c.path, 'needs "in", "min" or "max"');
    c.done();
    out[key] = constraint;
  }
  return out;
}

function parseRule(v: Json, path: string, chain: ChainFamily): Rule {
  const f = new Fields(v, path);
  const name = f.str('name', true);
  if (!NAME.test(name)) throw new Invalid(f.at('name'), 'must be 1-64 characters of [A-Za-z0-9._-], starting with a letter or digit');
  const verdict = f.str('verdict', true) as Verdict;
  if (!VERDICTS.includes(verdict)) throw new Invalid(f.at('verdict'), `must be one of ${VERDICTS.join(', ')}`);
  const delaySeconds = f.int('delay_seconds', 1, 30 * 86400);
  if (verdict === 'DELAY' && delaySeconds === undefined) throw new Invalid(f.at('delay_seconds'), 'is required with verdict DELAY');
  if (verdict !== 'DELAY' && delaySeconds !== undefined) throw new Invalid(f.at('delay_seconds'), 'is only for verdict DELAY');
  const base: RuleBase = { name, verdict, ...(delaySeconds === undefined ? {} : { delaySeconds }) };
  const kind = f.str('kind', true);
  let rule: Rule;
  switch (kind) {
    case 'transfer': {
      const r: TransferRule = { ...base, kind, asset: asset(f.str('asset', true), f.at('asset'), chain) };
      const recipients = addresses(f, 'recipients', chain);
      const minAmount = f.amount('min_amount');
      const maxAmount = f.amount('max_amount');
      const ids = chainIds(f, 'chain_ids', chain);
      if (recipients) r.recipients = recipients;
      if (minAmount !== undefined) r.minAmount = minAmount;
      if (maxAmount !== undefined) r.maxAmount = maxAmount;
      if (ids) r.chainIds = ids;
      if (minAmount !== undefined && maxAmount !== undefined && minAmount > maxAmount) throw new Invalid(f.at('min_amount'), 'must not exceed max_amount');
      rule = r;
      break;
    }
    case 'approve': {
      const r: ApproveRule = { ...base, kind, asset: asset(f.str('asset', true), f.at('asset'), chain) };
      const kinds = f.list('grant_kinds');
      if (kinds) {
        r.grantKinds = kinds.map((k, i) => {
          if (typeof k !== 'string' || !GRANT_KINDS.includes(k as GrantKind)) throw new Invalid(`${f.at('grant_kinds')}[${i}]`, `must be one of ${GRANT_KINDS.join(', ')}`);
          return k as GrantKind;
        });
      }
      const spenders = addresses(f, 'spenders', chain);
      const maxAmount = f.amount('max_amount');
      const maxDurationSeconds = f.int('max_duration_seconds', 1, 10 * 365 * 86400);
      const ids = chainIds(f, 'chain_ids', chain);
      if (spenders) r.spenders = spenders;
      if (maxAmount !== undefined) r.maxAmount = maxAmount;
      if (maxDurationSeconds !== undefined) r.maxDurationSeconds = maxDurationSeconds;
      if (ids) r.chainIds = ids;
      rule = r;
      break;
    }
    case 'call': {
      const r: CallRule = { ...base, kind, program: address(f.str('program', true), f.at('program'), chain) };
      const discs = f.list('discriminators');
      if (discs) {
        r.discriminators = discs.map((d, i) => {
          const p = `${f.at('discriminators')}[${i}]`;
          if (typeof d !== 'string') throw new Invalid(p, 'must be a string');
          const h = d.toLowerCase().replace(/^0x/, '');
          if (!HEX.test(h) || h.length === 0 || h.length % 2 !== 0 || h.length > 16) throw new Invalid(p, 'must be 1-8 bytes of hex');
          return h;
        });
      }
      const abi = f.str('abi');
      if (abi !== undefined) {
        if (chain !== 'evm') throw new Invalid(f.at('abi'), 'applies to EVM wallets only');
        if (!/^(function )?[A-Za-z_][A-Za-z0-9_]*\(.*\)$/.test(abi) || abi.length > 512) throw new Invalid(f.at('abi'), 'must be a function signature like "swap(address,uint256)"');
        r.abi = abi.startsWith('function ') ? abi : `function ${abi}`;
      }
      const args = argConstraints(f.raw('args'), f.at('args'), chain, false);
      if (args) {
        if (!r.abi) throw new Invalid(f.at('args'), 'needs "abi" to decode the arguments');
        r.args = args;
      }
      const accounts = argConstraints(f.raw('accounts'), f.at('accounts'), chain, true);
      if (accounts) {
        if (chain !== 'solana') throw new Invalid(f.at('accounts'), 'applies to Solana wallets only');
        r.accounts = accounts;
      }
      const maxValue = f.amount('max_value');
      if (maxValue !== undefined) r.maxValue = maxValue;
      const ids = chainIds(f, 'chain_ids', chain);
      if (ids) r.chainIds = ids;
      rule = r;
      break;
    }
    case 'message': {
      const r: MessageRule = { ...base, kind };
      const kinds = f.list('message_kinds');
      if (kinds) {
        r.messageKinds = kinds.map((k, i) => {
          if (typeof k !== 'string' || !(MESSAGE_KINDS as readonly string[]).includes(k)) throw new Invalid(`${f.at('message_kinds')}[${i}]`, `must be one of ${MESSAGE_KINDS.join(', ')}`);
          return k as (typeof MESSAGE_KINDS)[number];
        });
      }
      const prefix = f.str('text_prefix');
      if (prefix !== undefined) {
        if (prefix.length === 0 || prefix.length > 1024) throw new Invalid(f.at('text_prefix'), 'must be 1-1024 characters');
        r.textPrefix = prefix;
      }
      const pattern = f.str('text_pattern');
      if (pattern !== undefined) {
        if (pattern.length === 0 || pattern.length > 512) throw new Invalid(f.at('text_pattern'), 'must be 1-512 characters');
        try {
          new RegExp(pattern, 'u');
        } catch {
          throw new Invalid(f.at('text_pattern'), 'is not a valid regular expression');
        }
        r.textPattern = pattern;
      }
      const domain = f.raw('domain');
      if (domain !== undefined) {
        const d = new Fields(domain, f.at('domain'));
        const out: MessageRule['domain'] = {};
        const name = d.str('name');
        const version = d.str('version');
        const cid = d.raw('chain_id');
        const vc = d.raw('verifying_contract');
        if (name !== undefined) out.name = name;
        if (version !== undefined) out.version = version;
        if (cid !== undefined) {
          if (typeof cid !== 'number' || !Number.isSafeInteger(cid) || cid < 1) throw new Invalid(d.at('chain_id'), 'must be a positive chain id');
          out.chainId = String(cid);
        }
        if (vc !== undefined) out.verifyingContract = address(vc, d.at('verifying_contract'), 'evm');
        d.done();
        r.domain = out;
      }
      const pts = f.list('primary_types');
      if (pts) {
        r.primaryTypes = pts.map((p, i) => {
          if (typeof p !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(p)) throw new Invalid(`${f.at('primary_types')}[${i}]`, 'must be a type name');
          return p;
        });
      }
      rule = r;
      break;
    }
    case 'fee':
      rule = { ...base, kind, max: f.amount('max', true) };
      break;
    case 'flag': {
      const flags = f.list('flags', true).map((x, i) => {
        if (typeof x !== 'string' || !FLAGS.includes(x as Flag)) throw new Invalid(`${f.at('flags')}[${i}]`, `must be one of ${FLAGS.join(', ')}`);
        return x as Flag;
      });
      rule = { ...base, kind, flags };
      break;
    }
    case 'spend_limit':
      rule = { ...base, kind, asset: asset(f.str('asset', true), f.at('asset'), chain), windowSeconds: windowSeconds(f, 'window'), max: f.amount('max', true) };
      if ((rule as SpendLimitRule).asset === '*') throw new Invalid(f.at('asset'), 'must name one asset: amounts of different assets do not add up');
      break;
    case 'count_limit':
      rule = { ...base, kind, windowSeconds: windowSeconds(f, 'window'), max: f.int('max', 0, 1_000_000_000, true) };
      break;
    case 'cooldown':
      rule = { ...base, kind, seconds: f.int('seconds', 1, MAX_WINDOW_SECONDS, true) };
      break;
    case 'deny_addresses':
      rule = { ...base, kind, addresses: addresses(f, 'addresses', chain, true)! };
      break;
    case 'time_window': {
      const days = (f.list('days') ?? DAY_NAMES).map((d, i) => {
        const idx = typeof d === 'string' ? DAY_NAMES.indexOf(d) : -1;
        if (idx < 0) throw new Invalid(`${f.at('days')}[${i}]`, `must be one of ${DAY_NAMES.join(', ')}`);
        return idx;
      });
      const minute = (key: string): number => {
        const s = f.str(key, true);
        const m = HHMM.exec(s);
        if (!m) throw new Invalid(f.at(key), 'must be HH:MM (UTC, 00:00 to 24:00)');
        return s === '24:00' ? 1440 : Number(m[1]) * 60 + Number(m[2]);
      };
      const fromMinute = minute('from');
      const toMinute = minute('to');
      if (fromMinute >= toMinute) throw new Invalid(f.at('to'), 'must be later than "from" (split a window over midnight into two rules)');
      rule = { ...base, kind, days: [...new Set(days)].sort(), fromMinute, toMinute };
      break;
    }
    case 'chains':
      rule = { ...base, kind, chainIds: chainIds(f, 'chain_ids', chain, true)! };
      break;
    default:
      throw new Invalid(f.at('kind'), 'must be one of transfer, approve, call, message, fee, flag, spend_limit, count_limit, cooldown, deny_addresses, time_window, chains');
  }
  f.done();
  return rule;
}

/**
 * Validates a policy document (JSON text) for a wallet of `chain`; returns the document or the first error with
 * its field path.
 */
export function validatePolicy(json: string, chain: ChainFamily): { ok: true; document: PolicyDocument } | { ok: false; error: PolicyValidationError } {
  let parsed: Json;
  try {
    if (json.length > 1 << 20) throw new Invalid('(document)', 'must be at most 1 MiB');
    try {
      parsed = JSON.parse(json) as Json;
    } catch (e) {
      throw new Invalid('(document)', `is not valid JSON: ${(e as Error).message}`);
    }
    const f = new Fields(parsed, '');
    if (f.str('schema', true) !== POLICY_SCHEMA) throw new Invalid('schema', `must be "${POLICY_SCHEMA}"`);
    const pendingTimeoutSeconds = f.int('pending_timeout_seconds', 60, 30 * 86400) ?? DEFAULT_PENDING_TIMEOUT;
    const rawRules = f.raw('rules');
    if (!Array.isArray(rawRules)) throw new Invalid('rules', 'must be a list');
    if (rawRules.length > MAX_RULES) throw new Invalid('rules', `must have at most ${MAX_RULES} rules`);
    const rules = rawRules.map((r, i) => parseRule(r, `rules[${i}]`, chain));
    const names = new Set<string>();
    rules.forEach((r, i) => {
      if (names.has(r.name)) throw new Invalid(`rules[${i}].name`, `"${r.name}" is used by an earlier rule`);
      names.add(r.name);
    });
    f.done();
    return { ok: true, document: { rules, pendingTimeoutSeconds } };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: { field: e.field, message: e.message } };
    throw e;
  }
}

/** The canonical JSON of a document: fixed key order, normalised addresses, amounts as decimal strings. */
export function canonicalPolicy(doc: PolicyDocument): string {
  return JSON.stringify({ schema: POLICY_SCHEMA, pending_timeout_seconds: doc.pendingTimeoutSeconds, rules: doc.rules.map(ruleToJson) });
}

const WINDOW_UNITS: [number, string][] = [[86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']];

function windowText(seconds: number): string {
  const [n, u] = WINDOW_UNITS.find(([n]) => seconds % n === 0)!;
  return `${seconds / n}${u}`;
}

function hhmm(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

function constraintsToJson(c: Record<string, ArgConstraint>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const k of Object.keys(c).sort((a, b) => Number(a) - Number(b))) {
    const v = c[k]!;
    out[k] = { ...(v.in ? { in: v.in } : {}), ...(v.min !== undefined ? { min: v.min.toString() } : {}), ...(v.max !== undefined ? { max: v.max.toString() } : {}) };
  }
  return out;
}

/** One rule as it appears in the canonical document (snake_case, the same shape validatePolicy reads). */
export function ruleToJson(r: Rule): Obj {
  const o: Obj = { name: r.name, kind: r.kind, verdict: r.verdict };
  if (r.delaySeconds !== undefined) o.delay_seconds = r.delaySeconds;
  const amt = (k: string, v: bigint | undefined): void => {
    if (v !== undefined) o[k] = v.toString();
  };
  const ids = (v: bigint[] | undefined): void => {
    if (v) o.chain_ids = v.map(Number);
  };
  switch (r.kind) {
    case 'transfer':
      o.asset = r.asset;
      if (r.recipients) o.recipients = r.recipients;
      amt('min_amount', r.minAmount);
      amt('max_amount', r.maxAmount);
      ids(r.chainIds);
      break;
    case 'approve':
      o.asset = r.asset;
      if (r.grantKinds) o.grant_kinds = r.grantKinds;
      if (r.spenders) o.spenders = r.spenders;
      amt('max_amount', r.maxAmount);
      if (r.maxDurationSeconds !== undefined) o.max_duration_seconds = r.maxDurationSeconds;
      ids(r.chainIds);
      break;
    case 'call':
      o.program = r.program;
      if (r.discriminators) o.discriminators = r.discriminators;
      if (r.abi) o.abi = r.abi;
      if (r.args) o.args = constraintsToJson(r.args);
      if (r.accounts) o.accounts = constraintsToJson(r.accounts);
      amt('max_value', r.maxValue);
      ids(r.chainIds);
      break;
    case 'message':
      if (r.messageKinds) o.message_kinds = r.messageKinds;
      if (r.textPrefix !== undefined) o.text_prefix = r.textPrefix;
      if (r.textPattern !== undefined) o.text_pattern = r.textPattern;
      if (r.domain) {
        o.domain = {
          ...(r.domain.name !== undefined ? { name: r.domain.name } : {}),
          ...(r.domain.version !== undefined ? { version: r.domain.version } : {}),
          ...(r.domain.chainId !== undefined ? { chain_id: Number(r.domain.chainId) } : {}),
          ...(r.domain.verifyingContract !== undefined ? { verifying_contract: r.domain.verifyingContract } : {}),
        };
      }
      if (r.primaryTypes) o.primary_types = r.primaryTypes;
      break;
    case 'fee':
      o.max = r.max.toString();
      break;
    case 'flag':
      o.flags = r.flags;
      break;
    case 'spend_limit':
      o.asset = r.asset;
      o.window = windowText(r.windowSeconds);
      o.max = r.max.toString();
      break;
    case 'count_limit':
      o.window = windowText(r.windowSeconds);
      o.max = r.max;
      break;
    case 'cooldown':
      o.seconds = r.seconds;
      break;
    case 'deny_addresses':
      o.addresses = r.addresses;
      break;
    case 'time_window':
      o.days = r.days.map((d) => DAY_NAMES[d]!);
      o.from = hhmm(r.fromMinute);
      o.to = hhmm(r.toMinute);
      break;
    case 'chains':
      o.chain_ids = r.chainIds.map(Number);
      break;
  }
  return o;
}

/** Parses a canonical document as stored (it was validated when it was set). */
export function parseCanonicalPolicy(json: string, chain: ChainFamily): PolicyDocument {
  const v = validatePolicy(json, chain);
  if (!v.ok) throw new Error(`stored policy no longer validates at ${v.error.field}: ${v.error.message}`);
  return v.document;
}

/** Hex SHA-256 of the canonical JSON. */
export function policyHash(doc: PolicyDocument): string {
  return bytesToHex(sha256(utf8ToBytes(canonicalPolicy(doc))));
}

/** Number of bytes a base58 string decodes to (for address validation without a chain library). */
function base58Length(s: string): number {
  const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  let n = 0n;
  for (const c of s) n = n * 58n + BigInt(ALPHABET.indexOf(c));
  let bytes = 0;
  while (n > 0n) {
    bytes++;
    n >>= 8n;
  }
  let zeros = 0;
  while (s[zeros] === '1') zeros++;
  return bytes + zeros;
}
