/** `waiaas-ctl wallets list`: every wallet (all pages), optionally of one chain family. */
import { Chain, type Wallet } from '../../../gen/waiaas/v1/wallet_pb.js';
import { choice, defineCommand, positionals } from '../lib/command.ts';
import { walletJson } from '../lib/convert.ts';

export default defineCommand({
  name: 'wallets list',
  summary: 'list wallets',
  usage: '[--chain solana|evm]',
  options: { chain: { type: 'string', help: 'only wallets of this chain family', choices: ['solana', 'evm'] } },
  examples: ['wallets list', 'wallets list --chain evm --json | jq -r \'.wallets[].walletId\''],
  remote: true,
  json: true,
  parse(input) {
    positionals(input, []);
    const chain = choice(input, 'chain', ['solana', 'evm'] as const);
    return { chain: chain === 'solana' ? Chain.SOLANA : chain === 'evm' ? Chain.EVM : Chain.UNSPECIFIED };
  },
  async run(o, ctx) {
    const { wallets } = await ctx.clients();
    const all: Wallet[] = [];
    let pageToken = '';
    do {
      const page = await wallets.listWallets({ chain: o.chain, pageSize: 1000, pageToken }, ctx.call());
      all.push(...page.wallets);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    const rows = all.map(walletJson);
    if (ctx.json) {
      ctx.out.data({ wallets: rows });
      return;
    }
    ctx.out.table(
      ['WALLET', 'CHAIN', 'ADDRESS', 'CREATED', 'LABELS'],
      rows.map((w) => [w.walletId, w.chain, w.address, w.createTime ?? '-', Object.entries(w.labels).map(([k, v]) => `${k}=${v}`).join(',')]),
      '(no wallets)',
    );
  },
});
