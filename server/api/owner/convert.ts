/** Conversions between owner-control records and API messages. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { ApprovalAction, type PendingRequestSchema } from '../../../gen/waiaas/v1/approval_pb.js';
import { OwnerKeyType, OwnerState, type OwnerChange, type OwnerSignature, type WalletOwnershipSchema } from '../../../gen/waiaas/v1/owner_pb.js';
import { WaiaasError } from '../../errors/error.ts';
import type { PendingView } from '../../owners/approvals.ts';
import type { Ownership, SubmittedSignature } from '../../owners/owners.ts';
import type { OwnerRecord } from '../../store/control.ts';
import { signRequestToProto } from '../convert.ts';

const STATE = { NONE: OwnerState.NONE, GRACE: OwnerState.GRACE, LOCKED: OwnerState.LOCKED } as const;

/** Ownership as the API message. */
export function ownershipToProto(o: Ownership): MessageInitShape<typeof WalletOwnershipSchema> {
  return {
    walletId: o.walletId,
    owners: o.owners.map((x) => ({
      keyType: x.keyType === 'ed25519' ? OwnerKeyType.ED25519 : OwnerKeyType.EVM,
      key: x.key,
      label: x.label,
      ...(x.provenTime ? { provenTime: timestampFromDate(new Date(x.provenTime)) } : {}),
    })),
    threshold: o.threshold,
    state: STATE[o.state],
    frozen: o.frozen,
    ownershipVersion: BigInt(o.ownershipVersion),
  };
}

/** An API owner change as the domain's. */
export function changeFromProto(c: OwnerChange | undefined): { owners: Omit<OwnerRecord, 'provenTime'>[]; threshold: number } {
  if (!c) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'change is required', { metadata: { field: 'change' } });
  return {
    owners: c.owners.map((o, i) => {
      if (o.keyType !== OwnerKeyType.ED25519 && o.keyType !== OwnerKeyType.EVM) {
        throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'key_type must be ED25519 or EVM', { metadata: { field: `change.owners[${i}].key_type` } });
      }
      return { keyType: o.keyType === OwnerKeyType.ED25519 ? 'ed25519' : 'evm', key: o.key, label: o.label };
    }),
    threshold: c.threshold,
  };
}

/** API signatures as the domain's. */
export function signaturesFromProto(list: OwnerSignature[]): SubmittedSignature[] {
  return list.map((s) => ({ key: s.key, signature: s.signature }));
}

/** API approval action as the domain's. */
export function actionFromProto(a: ApprovalAction): 'APPROVE' | 'REJECT' {
  if (a === ApprovalAction.APPROVE) return 'APPROVE';
  if (a === ApprovalAction.REJECT) return 'REJECT';
  throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'action must be APPROVE or REJECT', { metadata: { field: 'action' } });
}

/** A pending view as the API message. */
export function pendingToProto(v: PendingView): MessageInitShape<typeof PendingRequestSchema> {
  return {
    signRequest: signRequestToProto(v.record),
    summary: v.summary,
    payloadHash: v.payloadHash,
    approvals: v.approvals.map((a) => ({ key: a.ownerKey, action: a.action === 'APPROVE' ? ApprovalAction.APPROVE : ApprovalAction.REJECT, createTime: timestampFromDate(new Date(a.createTime)) })),
    threshold: v.threshold,
  };
}
