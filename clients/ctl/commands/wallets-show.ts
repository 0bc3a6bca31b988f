/** `waiaas-ctl wallets show`: one wallet — chain, address, HSM key, labels. */
import type { Wallet } from '../../../gen/waiaas/v1/wallet_pb.js';
import { defineCommand, idArg, positionals } from '../lib/command.ts';
import type { Context } from '../lib/context.ts';
import { walletJson } from '../lib/convert.ts';

/** Prints a wallet (JSON or a key/value block); shared with `wallets create`. */
export function printWallet(ctx: Context, wallet: Wallet): void {
  const w = walletJson(wallet);
  if (ctx.json) {
    ctx.out.data(w);
    return;
  }
  ctx.out.kv([
    ['wallet', w.walletId],
    ['chain', w.chain],
    ['address', w.address],
    ['key', `${w.key.algorithm} on token "${w.key.tokenLabel}", CKA_ID ${w.key.keyId}`],
    ['public key', w.key.publicKey],
    ['labels', Object.entries(w.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '-'],
    ['created', w.createTime ?? '-'],
  ]);
}

export default defineCommand({
  name: 'wallets show',
  summary: 'show one wallet',
  usage: 'WALLET_ID',
  args: ['WALLET_ID'],
  options: {},
  examples: ['wallets show wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P', 'wallets show wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --json | jq -r .address'],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID']);
    return { walletId: idArg(WALLET_ID!, 'wlt_', 'WALLET_ID') };
  },
  async run(o, ctx) {
    const { wallets } = await ctx.clients();
    const { wallet } = await wallets.getWallet({ walletId: o.walletId }, ctx.call());
    printWallet(ctx, wallet!);
  },
});
