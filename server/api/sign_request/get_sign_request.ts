/** SignRequestService.GetSignRequest. */
import type { SignRequestService as Desc } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { SignRequestService } from '../../signer/requests.ts';
import { signRequestToProto } from '../convert.ts';

/** The handler. */
export function getSignRequest(requests: SignRequestService): UnaryHandler<(typeof Desc)['method']['getSignRequest']> {
  return async (req, ctx) => ({ signRequest: signRequestToProto(requests.get(req.signRequestId, ctx.identity)) });
}
