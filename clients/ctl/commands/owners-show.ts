/** `waiaas-ctl owners show`: a wallet's owners, threshold, ownership state and freeze. */
import { defineCommand, idArg, positionals } from '../lib/command.ts';
import { printOwnership } from '../lib/owners.ts';

export default defineCommand({
  name: 'owners show',
  summary: 'show a wallet\'s owners, threshold, state and freeze',
  usage: 'WALLET_ID',
  args: ['WALLET_ID'],
  description:
    'States: NONE (no owner; the admin manages owners), GRACE (owners registered, none has signed yet; the admin may\n' +
    'still change them), LOCKED (an owner has proven its key; changes and unfreezes need the owners\' quorum).',
  options: {},
  examples: ['owners show wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P', 'owners show wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --json | jq .threshold'],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID']);
    return { walletId: idArg(WALLET_ID!, 'wlt_', 'WALLET_ID') };
  },
  async run(o, ctx) {
    const { owners } = await ctx.clients();
    const { ownership } = await owners.getOwnership({ walletId: o.walletId }, ctx.call());
    printOwnership(ctx, ownership!);
  },
});
