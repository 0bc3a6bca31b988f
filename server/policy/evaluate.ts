/**
 * The policy engine's decision: effects + policy in, a closed verdict out. Pure: no I/O, no clock (the time is an
 * argument), no exceptions for a denial. Default deny: a request is allowed only when every effect it has is allowed.
 */
import type { Effects } from './effects.ts';
import type { Policy } from './document.ts';

/** The five verdicts, strictest last in severity order DENY > APPROVAL > DELAY > NOTIFY > INSTANT. */
export type Verdict = 'INSTANT' | 'NOTIFY' | 'DELAY' | 'APPROVAL' | 'DENY';

/** The engine's answer. `rule` names the rule that decided; `detail` says why in one line a person can read. */
export interface Decision {
  verdict: Verdict;
  rule: string;
  detail: string;
  /** Policy version and hash the decision was taken under (null when the wallet has no policy). */
  policyVersion: number | null;
  policyHash: string | null;
}

/** Context of a decision. `now` is unused by the first policy but is part of the engine's contract. */
export interface EvaluationContext {
  now: Date;
}

function deny(policy: Policy | null, rule: string, detail: string): Decision {
  return { verdict: 'DENY', rule, detail, policyVersion: policy?.version ?? null, policyHash: policy?.hash ?? null };
}

/** Decides what to do with a request whose decoded effects are `effects`, under `policy` (null: the wallet has none). */
export function evaluate(effects: Effects, policy: Policy | null, _ctx: EvaluationContext): Decision {
  if (policy === null) return deny(null, 'default-deny', 'the wallet has no policy');
  if (effects.flags.length > 0) {
    return deny(policy, `flag:${effects.flags[0]}`, `the transaction has ${effects.flags.join(', ')}, which no rule allows`);
  }
  const call = effects.calls[0];
  if (call !== undefined) {
    return deny(policy, 'call-not-allowed', `${call.description} is not a native transfer; no rule allows it`);
  }
  if (effects.outflows.length === 0) return deny(policy, 'default-deny', 'the transaction moves nothing that a rule allows');
  const doc = policy.document;
  const allowed = new Set(doc.allowedRecipients);
  let total = 0n;
  for (const out of effects.outflows) {
    const recipient = effects.chain === 'evm' ? out.recipient.toLowerCase() : out.recipient;
    if (!allowed.has(recipient)) return deny(policy, 'recipient-allowlist', `recipient ${out.recipient} is not on the allowlist`);
    total += out.amount;
  }
  if (doc.maxNativePerTransaction === null || total > doc.maxNativePerTransaction) {
    return deny(policy, 'native-amount-limit', `the transaction moves ${total} base units; the limit is ${doc.maxNativePerTransaction ?? 0}`);
  }
  return { verdict: 'INSTANT', rule: 'recipient-allowlist+native-amount-limit', detail: `transfers ${total} base units to allowlisted recipients`, policyVersion: policy.version, policyHash: policy.hash };
}
