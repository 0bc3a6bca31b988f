/**
 * `waiaas-ctl watch`: follows pending requests live (ApprovalService.WatchPendingRequests): first every pending
 * request, then one line per change — a new request, an approval, a request leaving the list — until Ctrl-C (exit 0).
 * With --json, one JSON object per line.
 */
import { ApprovalAction } from '../../../gen/waiaas/v1/approval_pb.js';
import { defineCommand, idArg, positionals, str } from '../lib/command.ts';
import { iso, pendingRequestJson, stateName, verdictText } from '../lib/convert.ts';
import { ellipsis } from '../lib/output.ts';

export default defineCommand({
  name: 'watch',
  summary: 'follow pending requests live, a line per change, until Ctrl-C',
  usage: '[--wallet WALLET_ID]',
  options: { wallet: { type: 'string', value: 'WALLET_ID', help: 'only this wallet\'s requests' } },
  examples: ['watch', 'watch --wallet wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --json | jq --unbuffered -r .signRequest.signRequestId'],
  remote: true,
  json: true,
  parse(input) {
    positionals(input, []);
    const wallet = str(input, 'wallet');
    return { walletId: wallet === undefined ? '' : idArg(wallet, 'wlt_', '--wallet') };
  },
  async run(o, ctx) {
    const { approvals } = await ctx.clients();
    if (!ctx.json) ctx.note(`waiaas-ctl: watching pending requests${o.walletId ? ` of ${o.walletId}` : ''}; Ctrl-C to stop`);
    try {
      for await (const { request } of approvals.watchPendingRequests({ walletId: o.walletId }, { signal: ctx.signal })) {
        if (!request) continue;
        if (ctx.json) {
          ctx.out.jsonLine(pendingRequestJson(request));
          continue;
        }
        const r = request.signRequest!;
        const n = request.approvals.filter((a) => a.action === ApprovalAction.APPROVE).length;
        ctx.out.line(
          [iso(r.updateTime) ?? iso(r.createTime) ?? new Date().toISOString(), r.signRequestId, r.walletId, stateName(r.state), verdictText(r.verdict, r.delaySeconds), `${n}/${request.threshold}`, ellipsis(request.summary.join('; '), 100)].join('  '),
        );
      }
    } catch (e) {
      if (ctx.signal.aborted) return 0;
      throw e;
    }
    if (ctx.signal.aborted) return 0;
    if (!ctx.json) ctx.note('waiaas-ctl: the appliance ended the stream');
    return 0;
  },
});
