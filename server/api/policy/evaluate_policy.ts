/** PolicyService.EvaluatePolicy: a dry run that never signs and never reserves. */
import type { PolicyService as Desc } from '../../../gen/waiaas/v1/policy_pb.js';
import { WaiaasError } from '../../errors/error.ts';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { PolicyService } from '../../policies/policies.ts';
import type { Signer } from '../../signer/signer.ts';
import { effectsToProto, matchedToProto, verdictToProto } from '../convert.ts';

/** The handler. */
export function evaluatePolicy(signer: Signer, policies: PolicyService): UnaryHandler<(typeof Desc)['method']['evaluatePolicy']> {
  return async (req) => {
    if (!req.payload) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'payload is required', { metadata: { field: 'payload' } });
    const candidate = req.candidateDocument === '' ? undefined : await policies.candidate(req.walletId, req.candidateDocument);
    const { effects, decision } = await signer.evaluate({ walletId: req.walletId, payload: req.payload, ...(candidate ? { candidate } : {}) });
    return {
      verdict: verdictToProto(decision.verdict),
      delaySeconds: decision.delaySeconds,
      rule: decision.rule,
      detail: decision.detail,
      matchedRules: matchedToProto(decision.matched),
      effects: effectsToProto(effects),
      policyHash: decision.policyHash ?? '',
    };
  };
}
