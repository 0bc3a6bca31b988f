/**
 * OwnerService: one small handler per RPC (get ownership, change message, set owners, freeze, unfreeze, appliance
 * state). Each translates the request and calls server/owners/owners.ts, which owns the rules.
 */
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { OwnerService as Desc } from '../../../gen/waiaas/v1/owner_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { OwnerService } from '../../owners/owners.ts';
import { changeFromProto, ownershipToProto, signaturesFromProto } from './convert.ts';

type M = (typeof Desc)['method'];

/** OwnerService.GetOwnership. */
export const getOwnership = (owners: OwnerService): UnaryHandler<M['getOwnership']> => async (req) => ({ ownership: ownershipToProto(owners.get(req.walletId)) });

/** OwnerService.GetOwnerChangeMessage. */
export const getOwnerChangeMessage = (owners: OwnerService): UnaryHandler<M['getOwnerChangeMessage']> => async (req, ctx) => {
  const m = owners.changeMessage(req.walletId, req.unfreeze ? null : changeFromProto(req.change), ctx.identity);
  return { message: m.message, expireTime: timestampFromDate(m.expireTime) };
};

/** OwnerService.SetOwners. */
export const setOwners = (owners: OwnerService): UnaryHandler<M['setOwners']> => async (req, ctx) => ({
  ownership: ownershipToProto(await owners.setOwners(req.walletId, changeFromProto(req.change), req.message, signaturesFromProto(req.signatures), ctx.identity)),
});

/** OwnerService.Freeze. */
export const freeze = (owners: OwnerService): UnaryHandler<M['freeze']> => async (req, ctx) => ({ cancelledRequests: await owners.freeze(req.walletId, req.reason, ctx.identity) });

/** OwnerService.Unfreeze. */
export const unfreeze = (owners: OwnerService): UnaryHandler<M['unfreeze']> => async (req, ctx) => ({
  effectiveTime: timestampFromDate(await owners.unfreeze(req.walletId, req.message, signaturesFromProto(req.signatures), ctx.identity)),
});

/** OwnerService.GetApplianceState. */
export const getApplianceState = (owners: OwnerService): UnaryHandler<M['getApplianceState']> => async () => {
  const a = owners.appliance();
  return { frozen: a.frozen, applianceId: a.applianceId, ...(a.unfreezeTime ? { unfreezeTime: timestampFromDate(new Date(a.unfreezeTime)) } : {}) };
};
