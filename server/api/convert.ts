/**
 * Conversions between stored records and API messages, shared by the handlers.
 */
import { fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Verdict, type EffectsSchema, type MatchedRuleSchema } from '../../gen/waiaas/v1/effects_pb.js';
import type { PolicySchema } from '../../gen/waiaas/v1/policy_pb.js';
import { SignRequestState, SignResultSchema, type SignRequestSchema } from '../../gen/waiaas/v1/sign_request_pb.js';
import { Chain, KeyAlgorithm, type WalletSchema } from '../../gen/waiaas/v1/wallet_pb.js';
import { WaiaasError } from '../errors/error.ts';
import type { StoredPolicy } from '../policies/policies.ts';
import { canonicalPolicy } from '../policy/document.ts';
import type { Effects } from '../policy/effects.ts';
import type { MatchedRule, Verdict as EngineVerdict } from '../policy/evaluate.ts';
import type { SignRequestRecord, SignState, StoredChain, WalletRecord } from '../store/store.ts';

/** API chain → stored chain; CHAIN_UNSPECIFIED and unknown values are INVALID_ARGUMENT naming `field`. */
export function chainFromProto(chain: Chain, field = 'chain'): StoredChain {
  if (chain === Chain.SOLANA) return 'solana';
  if (chain === Chain.EVM) return 'evm';
  throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `${field} must be CHAIN_SOLANA or CHAIN_EVM`, { metadata: { field } });
}

/** Stored chain → API chain. */
export function chainToProto(chain: StoredChain): Chain {
  return chain === 'solana' ? Chain.SOLANA : Chain.EVM;
}

/** A stored wallet as the API's Wallet message. */
export function walletToProto(w: WalletRecord): MessageInitShape<typeof WalletSchema> {
  return {
    walletId: w.walletId,
    chain: chainToProto(w.chain),
    address: w.address,
    key: {
      keyId: Buffer.from(w.keyId).toString('hex'),
      algorithm: w.algorithm === 'ed25519' ? KeyAlgorithm.ED25519 : KeyAlgorithm.SECP256K1,
      publicKey: w.publicKey,
      tokenLabel: w.tokenLabel,
    },
    labels: w.labels,
    createTime: timestampFromDate(new Date(w.createTime)),
  };
}

/** A policy as the API's Policy message (its canonical document). */
export function policyToProto(p: StoredPolicy): MessageInitShape<typeof PolicySchema> {
  return {
    version: BigInt(p.version),
    policyHash: p.hash,
    document: canonicalPolicy(p.document),
    createTime: timestampFromDate(new Date(p.createTime)),
    setBy: p.setBy,
  };
}

const VERDICT: Record<EngineVerdict, Verdict> = {
  INSTANT: Verdict.INSTANT,
  NOTIFY: Verdict.NOTIFY,
  DELAY: Verdict.DELAY,
  APPROVAL: Verdict.APPROVAL,
  DENY: Verdict.DENY,
};

/** Engine verdict → API verdict. */
export function verdictToProto(v: string | null): Verdict {
  return v !== null && v in VERDICT ? VERDICT[v as EngineVerdict] : Verdict.UNSPECIFIED;
}

const STATE: Record<SignState, SignRequestState> = {
  PENDING: SignRequestState.PENDING,
  SIGNING: SignRequestState.SIGNING,
  SIGNED: SignRequestState.SIGNED,
  REFUSED: SignRequestState.REFUSED,
  FAILED: SignRequestState.FAILED,
  CANCELLED: SignRequestState.CANCELLED,
  EXPIRED: SignRequestState.EXPIRED,
};

/** Stored state → API state. */
export function stateToProto(s: SignState): SignRequestState {
  return STATE[s];
}

/** API state → stored state (UNSPECIFIED: undefined). */
export function stateFromProto(s: SignRequestState): SignState | undefined {
  return (Object.keys(STATE) as SignState[]).find((k) => STATE[k] === s);
}

/** Matched rules as API messages. */
export function matchedToProto(list: MatchedRule[]): MessageInitShape<typeof MatchedRuleSchema>[] {
  return list.map((m) => ({ name: m.name, kind: m.kind, verdict: VERDICT[m.verdict], delaySeconds: m.delaySeconds ?? 0, reason: m.reason }));
}

type JsonEffects = Omit<Effects, 'chainId' | 'maxFee' | 'outflows' | 'grants' | 'calls'> & {
  chainId?: string;
  maxFee: string;
  outflows: (Omit<Effects['outflows'][number], 'amount'> & { amount: string })[];
  grants: (Omit<Effects['grants'][number], 'amount' | 'expiry'> & { amount: string | null; expiry?: string })[];
  calls: (Omit<Effects['calls'][number], 'value'> & { value: string })[];
};

/** Effects (as recorded JSON, or live) as the API's Effects message. */
export function effectsToProto(effects: Effects | string): MessageInitShape<typeof EffectsSchema> {
  const e = (typeof effects === 'string' ? JSON.parse(effects) : JSON.parse(JSON.stringify(effects, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))) as JsonEffects;
  return {
    chain: e.chain,
    chainId: e.chainId === undefined ? 0n : BigInt(e.chainId),
    outflows: e.outflows.map((o) => ({
      asset: o.asset, amount: o.amount, decimals: o.decimals ?? -1, recipient: o.recipient, recipientKind: o.recipientKind, from: o.from ?? '', source: o.source,
    })),
    grants: e.grants.map((g) => ({
      kind: g.kind, asset: g.asset, spender: g.spender, amount: g.amount ?? '', unlimited: g.unlimited, expiry: g.expiry === undefined ? 0n : BigInt(g.expiry), revoke: g.revoke ?? false, source: g.source,
    })),
    calls: e.calls.map((c) => ({ program: c.program, discriminator: c.discriminator, data: c.data, accounts: c.accounts, value: c.value, description: c.description })),
    flags: e.flags,
    maxFee: e.maxFee,
    ...(e.message ? { message: { kind: e.message.kind, text: e.message.text ?? '', domain: e.message.domain ?? {}, primaryType: e.message.primaryType ?? '' } } : {}),
  };
}

/** A stored sign request as the API's SignRequest resource. */
export function signRequestToProto(r: SignRequestRecord): MessageInitShape<typeof SignRequestSchema> {
  return {
    signRequestId: r.id,
    walletId: r.walletId,
    state: stateToProto(r.state),
    verdict: verdictToProto(r.verdict),
    delaySeconds: r.delaySeconds,
    rule: r.rule ?? '',
    detail: r.detail ?? '',
    matchedRules: r.matched ? matchedToProto(JSON.parse(r.matched) as MatchedRule[]) : [],
    ...(r.effects ? { effects: effectsToProto(r.effects) } : {}),
    policyHash: r.policyHash ?? '',
    policyVersion: BigInt(r.policyVersion ?? 0),
    requestedBy: r.caller,
    requestId: r.requestId ?? '',
    createTime: timestampFromDate(new Date(r.createTime)),
    updateTime: timestampFromDate(new Date(r.updateTime)),
    ...(r.expireTime ? { expireTime: timestampFromDate(new Date(r.expireTime)) } : {}),
    ...(r.notBeforeTime ? { notBeforeTime: timestampFromDate(new Date(r.notBeforeTime)) } : {}),
    ...(r.response ? { result: fromBinary(SignResultSchema, r.response) } : {}),
    errorReason: r.errorReason ?? '',
    errorMessage: r.errorMessage ?? '',
    kind: r.kind,
  };
}
