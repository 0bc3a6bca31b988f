/** SignRequestService.CancelSignRequest. */
import type { SignRequestService as Desc } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { SignRequestService } from '../../signer/requests.ts';
import { signRequestToProto } from '../convert.ts';

/** The handler. */
export function cancelSignRequest(requests: SignRequestService): UnaryHandler<(typeof Desc)['method']['cancelSignRequest']> {
  return async (req, ctx) => ({ signRequest: signRequestToProto(await requests.cancel(req.signRequestId, ctx.identity)) });
}
