/** PolicyService.GetPolicy. */
import type { PolicyService as PolicyServiceDesc } from '../../../gen/waiaas/v1/policy_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { PolicyService } from '../../policies/policies.ts';
import { policyToProto } from '../convert.ts';

/** The handler, bound to the policy service. */
export function getPolicy(policies: PolicyService): UnaryHandler<(typeof PolicyServiceDesc)['method']['getPolicy']> {
  return async (req) => ({ policy: policyToProto(policies.get(req.walletId)) });
}
