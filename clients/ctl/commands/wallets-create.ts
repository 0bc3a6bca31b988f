/** `waiaas-ctl wallets create`: creates a wallet; its key pair is generated on the appliance's HSM. */
import { Chain } from '../../../gen/waiaas/v1/wallet_pb.js';
import { choice, defineCommand, list, positionals, str } from '../lib/command.ts';
import { UsageError } from '../lib/errors.ts';
import { printWallet } from './wallets-show.ts';

const LABEL_KEY = /^[a-z0-9_-]{1,63}$/;

export default defineCommand({
  name: 'wallets create',
  summary: 'create a wallet (its key is generated on the HSM)',
  usage: '--chain solana|evm [--label KEY=VALUE ...] [--request-id ID]',
  description:
    'The appliance generates the key pair on its HSM, checks that the private key is sensitive and was never\n' +
    'extractable, and returns the wallet with its address. A retry with the same --request-id returns the same\n' +
    'wallet and generates no second key. Wallets are created by the admin (or an agent allowed to): an owner\n' +
    'certificate is refused (exit 5).',
  options: {
    chain: { type: 'string', help: 'chain family', choices: ['solana', 'evm'] },
    label: { type: 'string', multiple: true, value: 'KEY=VALUE', help: 'a label for your bookkeeping' },
    'request-id': { type: 'string', value: 'ID', help: 'idempotency key (1-128 chars of [A-Za-z0-9._:-])' },
  },
  examples: [
    'wallets create --chain solana --label team=payments --label agent=trader-1 --state .waiaas --identity admin',
    'wallets create --chain evm --request-id create-trader-1 --json',
  ],
  remote: true,
  json: true,
  parse(input) {
    positionals(input, []);
    const chain = choice(input, 'chain', ['solana', 'evm'] as const);
    if (!chain) throw new UsageError('--chain solana|evm is required');
    const labels: Record<string, string> = {};
    for (const l of list(input, 'label')) {
      const eq = l.indexOf('=');
      if (eq <= 0) throw new UsageError(`--label must be KEY=VALUE (got "${l}")`);
      const k = l.slice(0, eq);
      if (!LABEL_KEY.test(k)) throw new UsageError(`--label key "${k}" must be 1-63 characters of a-z, 0-9, _ and -`);
      if (k in labels) throw new UsageError(`--label ${k} is given twice`);
      labels[k] = l.slice(eq + 1);
    }
    const requestId = str(input, 'request-id');
    if (requestId !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(requestId)) throw new UsageError('--request-id must be 1-128 characters of A-Z a-z 0-9 . _ : -');
    return { chain: chain === 'solana' ? Chain.SOLANA : Chain.EVM, labels, requestId };
  },
  async run(o, ctx) {
    const { wallets } = await ctx.clients();
    const { wallet } = await wallets.createWallet({ chain: o.chain, labels: o.labels, requestId: o.requestId ?? '' }, ctx.call());
    printWallet(ctx, wallet!);
  },
});
