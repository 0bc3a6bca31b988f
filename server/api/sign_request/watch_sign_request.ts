/** SignRequestService.WatchSignRequest: the request now, then at every change until it ends. */
import type { SignRequestService as Desc } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { StreamHandler } from '../../grpc/bind.ts';
import type { SignRequestService } from '../../signer/requests.ts';
import { signRequestToProto } from '../convert.ts';

/** The handler. */
export function watchSignRequest(requests: SignRequestService): StreamHandler<(typeof Desc)['method']['watchSignRequest']> {
  return async function* (req, ctx) {
    for await (const rec of requests.watch(req.signRequestId, ctx.identity, ctx.signal)) yield { signRequest: signRequestToProto(rec) };
  };
}
