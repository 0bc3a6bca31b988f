/**
 * API messages → the CLI's JSON shapes (stable camelCase keys; enums as short names like "solana", "PENDING",
 * "INSTANT"; bytes as hex; times as ISO 8601 or null) and → human lines (effects, matched rules, approvals).
 *
 * The JSON shapes are part of the CLI's interface (scripts read them): add keys, never rename or remove one.
 */
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { Principal } from '../../../gen/waiaas/v1/agent_pb.js';
import { ApprovalAction, type Approval, type PendingRequest } from '../../../gen/waiaas/v1/approval_pb.js';
import type { AuditEntry } from '../../../gen/waiaas/v1/audit_pb.js';
import { Verdict, type Effects, type MatchedRule } from '../../../gen/waiaas/v1/effects_pb.js';
import { OwnerKeyType, OwnerState, type WalletOwnership } from '../../../gen/waiaas/v1/owner_pb.js';
import type { EvaluatePolicyResponse, Policy } from '../../../gen/waiaas/v1/policy_pb.js';
import { SignRequestState, type SignRequest } from '../../../gen/waiaas/v1/sign_request_pb.js';
import { Chain, KeyAlgorithm, type Wallet } from '../../../gen/waiaas/v1/wallet_pb.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A timestamp as ISO 8601, or null when absent. */
export function iso(t: Timestamp | undefined): string | null {
  return t ? timestampDate(t).toISOString() : null;
}

/** A timestamp as a Date, or undefined. */
export function date(t: Timestamp | undefined): Date | undefined {
  return t ? timestampDate(t) : undefined;
}

/** Chain enum → "solana" / "evm". */
export function chainName(c: Chain): string {
  return c === Chain.SOLANA ? 'solana' : c === Chain.EVM ? 'evm' : 'unspecified';
}

/** Verdict enum → "INSTANT" … "DENY". */
export function verdictName(v: Verdict): string {
  return (Verdict[v] as string | undefined) ?? 'UNSPECIFIED';
}

/** SignRequestState enum → "PENDING" … "EXPIRED". */
export function stateName(s: SignRequestState): string {
  return (SignRequestState[s] as string | undefined) ?? 'UNSPECIFIED';
}

/** OwnerState enum → "NONE" / "GRACE" / "LOCKED". */
export function ownerStateName(s: OwnerState): string {
  return (OwnerState[s] as string | undefined) ?? 'UNSPECIFIED';
}

/** OwnerKeyType enum → "ed25519" / "evm". */
export function keyTypeName(t: OwnerKeyType): string {
  return t === OwnerKeyType.ED25519 ? 'ed25519' : t === OwnerKeyType.EVM ? 'evm' : 'unspecified';
}

/** ApprovalAction enum → "APPROVE" / "REJECT". */
export function actionName(a: ApprovalAction): string {
  return (ApprovalAction[a] as string | undefined) ?? 'UNSPECIFIED';
}

// ---------------------------------------------------------------------------------------------------------------- JSON

/** A wallet. */
export function walletJson(w: Wallet) {
  return {
    walletId: w.walletId,
    chain: chainName(w.chain),
    address: w.address,
    key: {
      keyId: w.key?.keyId ?? '',
      algorithm: w.key?.algorithm === KeyAlgorithm.ED25519 ? 'ed25519' : w.key?.algorithm === KeyAlgorithm.SECP256K1 ? 'secp256k1' : 'unspecified',
      publicKey: hex(w.key?.publicKey ?? new Uint8Array()),
      tokenLabel: w.key?.tokenLabel ?? '',
    },
    labels: { ...w.labels },
    createTime: iso(w.createTime),
  };
}

/** A policy, with its document parsed. */
export function policyJson(walletId: string, p: Policy) {
  return {
    walletId,
    version: Number(p.version),
    policyHash: p.policyHash,
    setBy: p.setBy,
    createTime: iso(p.createTime),
    document: JSON.parse(p.document) as unknown,
  };
}

/** Decoded effects. */
export function effectsJson(e: Effects | undefined) {
  if (!e) return null;
  return {
    chain: e.chain,
    chainId: Number(e.chainId),
    outflows: e.outflows.map((o) => ({ asset: o.asset, amount: o.amount, decimals: o.decimals, recipient: o.recipient, recipientKind: o.recipientKind, from: o.from, source: o.source })),
    grants: e.grants.map((g) => ({ kind: g.kind, asset: g.asset, spender: g.spender, amount: g.amount, unlimited: g.unlimited, expiry: Number(g.expiry), revoke: g.revoke, source: g.source })),
    calls: e.calls.map((c) => ({ program: c.program, discriminator: c.discriminator, data: c.data, accounts: [...c.accounts], value: c.value, description: c.description })),
    flags: [...e.flags],
    maxFee: e.maxFee,
    message: e.message ? { kind: e.message.kind, text: e.message.text, domain: { ...e.message.domain }, primaryType: e.message.primaryType } : null,
  };
}

/** A matched rule. */
export function matchedRuleJson(m: MatchedRule) {
  return { name: m.name, kind: m.kind, verdict: verdictName(m.verdict), delaySeconds: m.delaySeconds, reason: m.reason };
}

/** A policy dry run. */
export function evaluationJson(walletId: string, r: EvaluatePolicyResponse) {
  return {
    walletId,
    verdict: verdictName(r.verdict),
    delaySeconds: r.delaySeconds,
    rule: r.rule,
    detail: r.detail,
    policyHash: r.policyHash,
    matchedRules: r.matchedRules.map(matchedRuleJson),
    effects: effectsJson(r.effects),
  };
}

/** A sign request. */
export function signRequestJson(r: SignRequest | undefined) {
  if (!r) return null;
  return {
    signRequestId: r.signRequestId,
    walletId: r.walletId,
    state: stateName(r.state),
    kind: r.kind,
    verdict: verdictName(r.verdict),
    delaySeconds: r.delaySeconds,
    rule: r.rule,
    detail: r.detail,
    matchedRules: r.matchedRules.map(matchedRuleJson),
    effects: effectsJson(r.effects),
    policyHash: r.policyHash,
    policyVersion: Number(r.policyVersion),
    requestedBy: r.requestedBy,
    requestId: r.requestId,
    createTime: iso(r.createTime),
    updateTime: iso(r.updateTime),
    expireTime: iso(r.expireTime),
    notBeforeTime: iso(r.notBeforeTime),
    errorReason: r.errorReason,
    errorMessage: r.errorMessage,
    result: r.result
      ? {
          signedTransaction: hex(r.result.signedTransaction),
          signature: hex(r.result.signature),
          transactionHash: hex(r.result.transactionHash),
          yParity: r.result.yParity,
          digest: hex(r.result.digest),
          signedMessage: hex(r.result.signedMessage),
        }
      : null,
  };
}

/** An owner's recorded approval or rejection. */
export function approvalJson(a: Approval) {
  return { key: a.key, action: actionName(a.action), createTime: iso(a.createTime) };
}

/** A pending request with what owners need to decide it. */
export function pendingRequestJson(p: PendingRequest | undefined) {
  if (!p) return null;
  return {
    signRequest: signRequestJson(p.signRequest),
    summary: [...p.summary],
    payloadHash: p.payloadHash,
    approvals: p.approvals.map(approvalJson),
    threshold: p.threshold,
  };
}

/** A wallet's ownership. */
export function ownershipJson(o: WalletOwnership | undefined) {
  if (!o) return null;
  return {
    walletId: o.walletId,
    state: ownerStateName(o.state),
    threshold: o.threshold,
    frozen: o.frozen,
    ownershipVersion: Number(o.ownershipVersion),
    owners: o.owners.map((w) => ({ keyType: keyTypeName(w.keyType), key: w.key, label: w.label, provenTime: iso(w.provenTime) })),
  };
}

/** An agent or owner principal. `wallets` and `chains` may be ["*"] (all). */
export function principalJson(p: Principal) {
  return {
    uri: p.uri,
    role: p.role,
    status: p.status,
    wallets: [...p.wallets],
    chains: [...p.chains],
    operations: [...p.operations],
    rateLimitPerSecond: p.rateLimitPerSecond,
    certificateSerials: [...p.certificateSerials],
    createTime: iso(p.createTime),
  };
}

/** An audit entry, with its data as an object (the appliance sends it as canonical JSON text). */
export function auditEntryJson(e: AuditEntry) {
  let data: unknown;
  try {
    data = JSON.parse(e.data) as unknown;
  } catch {
    data = e.data;
  }
  return {
    seq: Number(e.seq),
    time: e.time,
    actor: e.actor,
    action: e.action,
    walletId: e.walletId || null,
    signRequestId: e.signRequestId || null,
    data,
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

// --------------------------------------------------------------------------------------------------------------- human

/** A verdict with its delay, e.g. "DELAY 600s". */
export function verdictText(v: Verdict, delaySeconds: number): string {
  return v === Verdict.DELAY ? `DELAY ${delaySeconds}s` : verdictName(v);
}

/** One readable line per decoded effect. */
export function effectLines(e: Effects | undefined): string[] {
  if (!e) return [];
  const lines: string[] = [];
  for (const o of e.outflows) {
    const to = o.recipientKind === 'burn' ? 'burned' : `→ ${o.recipient}${o.recipientKind === 'token_account' ? ' (token account)' : ''}`;
    lines.push(`outflow  ${o.amount} ${o.asset} ${to}${o.from ? ` from ${o.from}` : ''}${o.source ? `  [${o.source}]` : ''}`);
  }
  for (const g of e.grants) {
    const amount = g.revoke ? 'revoke' : g.unlimited ? 'UNLIMITED' : g.amount || 'unbounded';
    const expiry = g.expiry > 0n ? ` until ${new Date(Number(g.expiry) * 1000).toISOString()}` : '';
    lines.push(`grant    ${g.kind} ${g.asset} to ${g.spender}: ${amount}${expiry}${g.source ? `  [${g.source}]` : ''}`);
  }
  for (const c of e.calls) {
    lines.push(`call     ${c.program} ${c.discriminator || '-'}${c.value && c.value !== '0' ? ` value ${c.value}` : ''}${c.description ? `  ${c.description}` : ''}`);
  }
  for (const f of e.flags) lines.push(`flag     ${f}`);
  if (e.message) {
    const m = e.message;
    const what = m.text ? JSON.stringify(m.text.length > 200 ? `${m.text.slice(0, 199)}…` : m.text) : m.primaryType;
    const domain = Object.entries(m.domain).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`message  ${m.kind} ${what}${domain ? `  (${domain})` : ''}`);
  }
  if (e.maxFee && !(e.message && e.maxFee === '0')) lines.push(`fee      at most ${e.maxFee}`);
  return lines;
}

/** Rows of the matched-rules table. */
export function matchedRuleRows(rules: readonly MatchedRule[]): string[][] {
  return rules.map((m) => [m.name, m.kind, verdictText(m.verdict, m.delaySeconds), m.reason]);
}

/** Header of the matched-rules table. */
export const MATCHED_RULE_HEADERS = ['RULE', 'KIND', 'VERDICT', 'WHY'] as const;
