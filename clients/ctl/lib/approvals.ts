/**
 * Owners' decisions on pending requests, shared by `approvals approve` and `approvals reject`: fetch the exact
 * message the appliance issues for the request and action (GetApprovalMessage), sign it with each owner key file
 * (or take signatures made elsewhere), and submit them one by one. Also the printing of a pending request.
 */
import { ApprovalAction, type PendingRequest } from '../../../gen/waiaas/v1/approval_pb.js';
import { SignRequestState } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { Context } from './context.ts';
import { date, effectLines, iso, MATCHED_RULE_HEADERS, matchedRuleRows, actionName, pendingRequestJson, stateName, verdictText } from './convert.ts';
import { collectSignatures, printMessage, type Signing } from './signing.ts';

/** Prints a pending (or decided) request in full: summary, effects, matched rules, approvals. */
export function printPendingRequest(ctx: Context, p: PendingRequest): void {
  if (ctx.json) {
    ctx.out.data(pendingRequestJson(p));
    return;
  }
  const r = p.signRequest!;
  const approvals = p.approvals.filter((a) => a.action === ApprovalAction.APPROVE).length;
  ctx.out.kv([
    ['request', r.signRequestId],
    ['wallet', r.walletId],
    ['state', stateName(r.state)],
    ['verdict', `${verdictText(r.verdict, r.delaySeconds)} (rule ${r.rule || '-'})`],
    ['detail', r.detail || '-'],
    ['kind', r.kind || '-'],
    ['requested by', r.requestedBy || '-'],
    ['created', iso(r.createTime) ?? '-'],
    ...(r.notBeforeTime ? ([['not before', iso(r.notBeforeTime)!]] as const) : []),
    ...(r.expireTime ? ([['expires', iso(r.expireTime)!]] as const) : []),
    ['approvals', `${approvals} of ${p.threshold}`],
    ['payload sha256', p.payloadHash || '-'],
    ['policy', `version ${r.policyVersion} (${r.policyHash || '-'})`],
    ...(r.errorReason ? ([['ended', `${r.errorReason}: ${r.errorMessage}`]] as const) : []),
  ]);
  ctx.out.line();
  ctx.out.line('summary:');
  ctx.out.line(p.summary.length > 0 ? p.summary.map((l) => `  ${l}`).join('\n') : '  (none)');
  ctx.out.line();
  ctx.out.line('effects:');
  const lines = effectLines(r.effects);
  ctx.out.line(lines.length > 0 ? lines.map((l) => `  ${l}`).join('\n') : '  (none)');
  ctx.out.line();
  ctx.out.line('matched rules:');
  ctx.out.table(MATCHED_RULE_HEADERS, matchedRuleRows(r.matchedRules), '(none)');
  ctx.out.line();
  ctx.out.line('owner decisions:');
  ctx.out.table(['OWNER', 'DECISION', 'AT'], p.approvals.map((a) => [a.key, actionName(a.action), iso(a.createTime) ?? '-']), '(none yet)');
}

/** Approves or rejects `requestId` with the given signatures; prints the request as it ends up. */
export async function decide(ctx: Context, requestId: string, action: 'approve' | 'reject', signing: Signing, rerun: string): Promise<void> {
  const { approvals } = await ctx.clients();
  let message = signing.message;
  let expire: Date | undefined;
  if (message === undefined) {
    const m = await approvals.getApprovalMessage({ signRequestId: requestId, action: action === 'approve' ? ApprovalAction.APPROVE : ApprovalAction.REJECT }, ctx.call());
    message = m.message;
    expire = date(m.expireTime);
  }
  if (signing.printMessage) {
    printMessage(ctx, message, expire, rerun);
    return;
  }
  const signatures = await collectSignatures(ctx, signing, message, expire, action === 'approve' ? 'approval' : 'rejection');
  let last: PendingRequest | undefined;
  const accepted: string[] = [];
  for (const signature of signatures) {
    if (last && last.signRequest?.state !== SignRequestState.PENDING) {
      if (!ctx.json) ctx.note(`waiaas-ctl: the request is ${stateName(last.signRequest!.state)}; ${signature.key}'s signature was not needed and not sent`);
      continue;
    }
    const req = { signRequestId: requestId, message, signature };
    const res = action === 'approve' ? await approvals.approve(req, ctx.call()) : await approvals.reject(req, ctx.call());
    last = res.request!;
    accepted.push(signature.key);
    if (!ctx.json) {
      const n = last.approvals.filter((a) => a.action === ApprovalAction.APPROVE).length;
      ctx.out.line(`${action === 'approve' ? 'approved' : 'rejected'} by ${signature.key}: request is ${stateName(last.signRequest!.state)}${action === 'approve' ? ` (${n} of ${last.threshold} approvals)` : ''}`);
    }
  }
  if (ctx.json) {
    ctx.out.data({ action: action.toUpperCase(), signedBy: accepted, request: pendingRequestJson(last) });
    return;
  }
  ctx.out.line();
  printPendingRequest(ctx, last!);
}
