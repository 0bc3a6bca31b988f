/** PolicyService.SetPolicy: owners and admins replace a wallet's policy document. */
import type { PolicyService as Desc } from '../../../gen/waiaas/v1/policy_pb.js';
import { WaiaasError } from '../../errors/error.ts';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { PolicyService } from '../../policies/policies.ts';
import { policyToProto } from '../convert.ts';

/** The handler. */
export function setPolicy(policies: PolicyService): UnaryHandler<(typeof Desc)['method']['setPolicy']> {
  return async (req, ctx) => {
    if (!req.policy || req.policy.document === '') throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'policy.document is required', { metadata: { field: 'policy.document' } });
    return { policy: policyToProto(await policies.set(req.walletId, req.policy.document, ctx.identity)) };
  };
}
