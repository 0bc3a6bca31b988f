/** AuditService: tail, export and verify the audit log (admin only, see server/authz). */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { AuditEntrySchema, AuditService as Desc } from '../../../gen/waiaas/v1/audit_pb.js';
import type { AuditEntry } from '../../audit/audit.ts';
import { WaiaasError } from '../../errors/error.ts';
import type { StreamHandler, UnaryHandler } from '../../grpc/bind.ts';
import type { Store } from '../../store/store.ts';

type M = (typeof Desc)['method'];

function toProto(e: AuditEntry): MessageInitShape<typeof AuditEntrySchema> {
  return {
    seq: BigInt(e.seq), time: e.time, actor: e.actor, action: e.action, walletId: e.walletId ?? '', signRequestId: e.signRequestId ?? '',
    data: JSON.stringify(e.data), prevHash: e.prevHash, hash: e.hash,
  };
}

/** AuditService.TailAudit. */
export const tailAudit = (store: Store): UnaryHandler<M['tailAudit']> => async (req) => {
  if (req.count > 10_000) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'count is at most 10000', { metadata: { field: 'count' } });
  const filter = { ...(req.walletId ? { walletId: req.walletId } : {}), ...(req.signRequestId ? { signRequestId: req.signRequestId } : {}) };
  return { entries: store.audit.tail(req.count || 20, filter).map(toProto) };
};

/** AuditService.ExportAudit: pages of JSON lines; the export holds no cursor between pages. */
export const exportAudit = (store: Store): StreamHandler<M['exportAudit']> =>
  async function* (req, ctx) {
    let page: string[] = [];
    for (const line of store.audit.export(Number(req.fromSeq) || 1, Number(req.toSeq) || Number.MAX_SAFE_INTEGER)) {
      if (ctx.signal.aborted) return;
      page.push(line);
      if (page.length === 500) {
        yield { lines: page };
        page = [];
      }
    }
    if (page.length > 0) yield { lines: page };
  };

/** AuditService.VerifyAudit. */
export const verifyAudit = (store: Store): UnaryHandler<M['verifyAudit']> => async (req) => {
  const expectHead = req.expectHeadSeq > 0n ? { seq: Number(req.expectHeadSeq), hash: req.expectHeadHash } : undefined;
  const r = await store.audit.verifyAsync(expectHead ? { expectHead } : {});
  if (r.ok) return { ok: true, entries: BigInt(r.entries), headSeq: BigInt(r.headSeq), headHash: r.head };
  const head = store.audit.head();
  return { ok: false, badSeq: BigInt(r.seq), problem: r.problem, detail: r.detail, headSeq: BigInt(head.seq), headHash: head.hash };
};
