/** `waiaas-ctl approvals list`: requests waiting for owners (DELAY and APPROVAL verdicts), oldest first. */
import { ApprovalAction } from '../../../gen/waiaas/v1/approval_pb.js';
import { defineCommand, idArg, positionals, str } from '../lib/command.ts';
import { iso, pendingRequestJson, verdictText } from '../lib/convert.ts';
import { ellipsis } from '../lib/output.ts';

export default defineCommand({
  name: 'approvals list',
  summary: 'list requests waiting for owners',
  usage: '[--wallet WALLET_ID]',
  options: { wallet: { type: 'string', value: 'WALLET_ID', help: 'only this wallet\'s requests' } },
  examples: ['approvals list', 'approvals list --wallet wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --json | jq -r \'.requests[].signRequest.signRequestId\''],
  remote: true,
  json: true,
  parse(input) {
    positionals(input, []);
    const wallet = str(input, 'wallet');
    return { walletId: wallet === undefined ? '' : idArg(wallet, 'wlt_', '--wallet') };
  },
  async run(o, ctx) {
    const { approvals } = await ctx.clients();
    const { requests } = await approvals.listPendingRequests({ walletId: o.walletId }, ctx.call());
    if (ctx.json) {
      ctx.out.data({ requests: requests.map(pendingRequestJson) });
      return;
    }
    ctx.out.table(
      ['REQUEST', 'WALLET', 'VERDICT', 'APPROVALS', 'EXPIRES', 'SUMMARY'],
      requests.map((p) => {
        const r = p.signRequest!;
        const n = p.approvals.filter((a) => a.action === ApprovalAction.APPROVE).length;
        return [r.signRequestId, r.walletId, verdictText(r.verdict, r.delaySeconds), `${n}/${p.threshold}`, iso(r.expireTime) ?? '-', ellipsis(p.summary.join('; '), 80)];
      }),
      '(no pending requests)',
    );
  },
});
