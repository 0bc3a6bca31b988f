/** SignRequestService.ListSignRequests. */
import type { SignRequestService as Desc } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { SignRequestService } from '../../signer/requests.ts';
import { signRequestToProto, stateFromProto } from '../convert.ts';

/** The handler. */
export function listSignRequests(requests: SignRequestService): UnaryHandler<(typeof Desc)['method']['listSignRequests']> {
  return async (req, ctx) => {
    const page = requests.list({ walletId: req.walletId, state: stateFromProto(req.state), pageSize: req.pageSize, pageToken: req.pageToken }, ctx.identity);
    return { signRequests: page.requests.map(signRequestToProto), nextPageToken: page.nextPageToken };
  };
}
