/**
 * ApprovalService: one small handler per RPC (list, get, message, approve, reject, watch). Each translates the
 * request and calls server/owners/approvals.ts, which owns the rules.
 */
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ApprovalService as Desc } from '../../../gen/waiaas/v1/approval_pb.js';
import { WaiaasError } from '../../errors/error.ts';
import type { StreamHandler, UnaryHandler } from '../../grpc/bind.ts';
import type { ApprovalService } from '../../owners/approvals.ts';
import { actionFromProto, pendingToProto } from '../owner/convert.ts';

type M = (typeof Desc)['method'];

/** ApprovalService.ListPendingRequests. */
export const listPendingRequests = (a: ApprovalService): UnaryHandler<M['listPendingRequests']> => async (req, ctx) => ({
  requests: a.list(req.walletId, ctx.identity).map(pendingToProto),
});

/** ApprovalService.GetPendingRequest. */
export const getPendingRequest = (a: ApprovalService): UnaryHandler<M['getPendingRequest']> => async (req, ctx) => ({ request: pendingToProto(a.get(req.signRequestId, ctx.identity)) });

/** ApprovalService.GetApprovalMessage. */
export const getApprovalMessage = (a: ApprovalService): UnaryHandler<M['getApprovalMessage']> => async (req, ctx) => {
  const m = a.message(req.signRequestId, actionFromProto(req.action), ctx.identity);
  return { message: m.message, expireTime: timestampFromDate(m.expireTime) };
};

function signature(s: { key: string; signature: Uint8Array } | undefined): { key: string; signature: Uint8Array } {
  if (!s) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'signature is required', { metadata: { field: 'signature' } });
  return { key: s.key, signature: s.signature };
}

/** ApprovalService.Approve. */
export const approve = (a: ApprovalService): UnaryHandler<M['approve']> => async (req, ctx) => ({
  request: pendingToProto(await a.decide(req.signRequestId, 'APPROVE', req.message, signature(req.signature), ctx.identity)),
});

/** ApprovalService.Reject. */
export const reject = (a: ApprovalService): UnaryHandler<M['reject']> => async (req, ctx) => ({
  request: pendingToProto(await a.decide(req.signRequestId, 'REJECT', req.message, signature(req.signature), ctx.identity)),
});

/** ApprovalService.WatchPendingRequests. */
export const watchPendingRequests = (a: ApprovalService): StreamHandler<M['watchPendingRequests']> =>
  async function* (req, ctx) {
    for await (const v of a.watch(req.walletId, ctx.identity, ctx.signal)) yield { request: pendingToProto(v) };
  };
