/**
 * `waiaas-ctl freeze`: stops a wallet, or the whole appliance when no wallet is given. From the moment it is
 * committed nothing is signed and pending requests are cancelled. No signature is needed: any owner or admin
 * certificate may stop things; unfreezing is the guarded direction (`waiaas-ctl unfreeze`).
 */
import { defineCommand, idArg, positionals, str } from '../lib/command.ts';

export default defineCommand({
  name: 'freeze',
  summary: 'freeze a wallet, or the whole appliance (nothing is signed)',
  usage: '[WALLET_ID] [--reason TEXT]',
  args: ['WALLET_ID?'],
  options: { reason: { type: 'string', value: 'TEXT', help: 'why, for the record and the owners\' notification' } },
  examples: ['freeze wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --reason "agent key leaked"', 'freeze --reason "incident 42" --identity admin --state .waiaas   # the whole appliance'],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID?']);
    return { walletId: WALLET_ID === undefined ? '' : idArg(WALLET_ID, 'wlt_', 'WALLET_ID'), reason: str(input, 'reason') ?? '' };
  },
  async run(o, ctx) {
    const { owners } = await ctx.clients();
    const res = await owners.freeze({ walletId: o.walletId, reason: o.reason }, ctx.call());
    if (ctx.json) {
      ctx.out.data({ walletId: o.walletId || null, frozen: true, cancelledRequests: res.cancelledRequests });
      return;
    }
    ctx.out.line(`${o.walletId ? `wallet ${o.walletId}` : 'the appliance'} is frozen: nothing will be signed${o.walletId ? '' : ' by any wallet'}`);
    ctx.out.line(`${res.cancelledRequests} pending request(s) cancelled`);
  },
});
