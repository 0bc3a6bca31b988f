/** PolicyService.GetPolicy. */
import type { PolicyService as Desc } from '../../../gen/waiaas/v1/policy_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { PolicyService } from '../../policies/policies.ts';
import { policyToProto } from '../convert.ts';

/** The handler. */
export function getPolicy(policies: PolicyService): UnaryHandler<(typeof Desc)['method']['getPolicy']> {
  return async (req) => ({ policy: policyToProto(policies.get(req.walletId)) });
}
