/** PolicyService.SetPolicy: owners and admins replace a wallet's policy. */
import type { PolicyService as PolicyServiceDesc } from '../../../gen/waiaas/v1/policy_pb.js';
import { WaiaasError } from '../../errors/error.ts';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { PolicyService } from '../../policies/policies.ts';
import { policyToProto } from '../convert.ts';

/** The handler, bound to the policy service. */
export function setPolicy(policies: PolicyService): UnaryHandler<(typeof PolicyServiceDesc)['method']['setPolicy']> {
  return async (req, ctx) => {
    if (!req.policy) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'policy is required', { metadata: { field: 'policy' } });
    const p = policies.set(req.walletId, { allowedRecipients: req.policy.allowedRecipients, maxNativePerTransaction: req.policy.maxNativePerTransaction }, ctx.identity);
    return { policy: policyToProto(p) };
  };
}
