/**
 * `waiaas-ctl unfreeze`: lifts a freeze. A wallet: with its owners' quorum over the unfreeze message the appliance
 * issues (or by the admin alone while the wallet has no proven owner). The appliance: by the admin, taking effect
 * after the appliance's configured delay, which is printed.
 */
import { OwnerState } from '../../../gen/waiaas/v1/owner_pb.js';
import { defineCommand, idArg, positionals } from '../lib/command.ts';
import { date } from '../lib/convert.ts';
import { UsageError } from '../lib/errors.ts';
import { rerunHint } from '../lib/owners.ts';
import { collectSignatures, hasSigning, parseSigning, printMessage, SIGNING_OPTIONS } from '../lib/signing.ts';

export default defineCommand({
  name: 'unfreeze',
  summary: 'unfreeze a wallet (owners\' quorum) or the appliance (admin, after a delay)',
  usage: '[WALLET_ID] [--key-file FILE ... | --print-message | --signature KEY=HEX ... [--message-file FILE]]',
  args: ['WALLET_ID?'],
  description:
    'For a LOCKED wallet, the owners sign the unfreeze message: --key-file once per owner up to the threshold, or\n' +
    '--print-message to sign elsewhere and then --signature. While the wallet has no proven owner, the admin may\n' +
    'unfreeze it alone. Without WALLET_ID, unfreezes the appliance (admin certificate); it takes effect after the\n' +
    'configured delay, and the time is printed.',
  options: { ...SIGNING_OPTIONS },
  examples: [
    'unfreeze wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --key-file alice.key --key-file bob.key',
    'unfreeze wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --print-message > unfreeze.txt',
    'unfreeze --identity admin --state .waiaas   # the whole appliance',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID?']);
    const signing = parseSigning(input, { required: false });
    if (WALLET_ID === undefined && hasSigning(signing)) throw new UsageError('owners\' signatures unfreeze a wallet: give WALLET_ID (the appliance is unfrozen by the admin alone)');
    return { walletId: WALLET_ID === undefined ? '' : idArg(WALLET_ID, 'wlt_', 'WALLET_ID'), signing };
  },
  async run(o, ctx) {
    const { owners } = await ctx.clients();
    const done = (effective: Date | undefined): void => {
      const now = Date.now();
      if (ctx.json) {
        ctx.out.data({ walletId: o.walletId || null, effectiveTime: effective?.toISOString() ?? null, frozen: effective !== undefined && effective.getTime() > now + 1000 });
        return;
      }
      const what = o.walletId ? `wallet ${o.walletId}` : 'the appliance';
      if (!effective || effective.getTime() <= now + 1000) ctx.out.line(`${what} is unfrozen`);
      else ctx.out.line(`${what} will be unfrozen at ${effective.toISOString()} (in ${Math.ceil((effective.getTime() - now) / 1000)} s)`);
    };
    if (o.walletId === '') {
      const state = await owners.getApplianceState({}, ctx.call());
      if (!state.frozen) {
        if (ctx.json) ctx.out.data({ walletId: null, effectiveTime: null, frozen: false });
        else ctx.out.line('the appliance is not frozen; nothing to do');
        return;
      }
      const res = await owners.unfreeze({ walletId: '' }, ctx.call());
      done(date(res.effectiveTime));
      return;
    }
    const { ownership } = await owners.getOwnership({ walletId: o.walletId }, ctx.call());
    if (!hasSigning(o.signing)) {
      if (ownership!.state === OwnerState.LOCKED) {
        throw new UsageError(
          `wallet ${o.walletId} is LOCKED: unfreezing it needs ${ownership!.threshold} owner signature(s)`,
          `add --key-file FILE (once per owner), or --print-message and then --signature KEY=HEX --message-file FILE`,
        );
      }
      const res = await owners.unfreeze({ walletId: o.walletId }, ctx.call());
      done(date(res.effectiveTime));
      return;
    }
    let message = o.signing.message;
    let expire: Date | undefined;
    if (message === undefined) {
      const m = await owners.getOwnerChangeMessage({ walletId: o.walletId, unfreeze: true }, ctx.call());
      message = m.message;
      expire = date(m.expireTime);
    }
    if (o.signing.printMessage) {
      printMessage(ctx, message, expire, rerunHint(`unfreeze ${o.walletId}`));
      return;
    }
    const signatures = await collectSignatures(ctx, o.signing, message, expire, 'unfreeze');
    const res = await owners.unfreeze({ walletId: o.walletId, message, signatures }, ctx.call());
    done(date(res.effectiveTime));
  },
});
