/** `waiaas-ctl owners threshold`: changes how many distinct owners must sign (approvals, owner changes, unfreezes). */
import { defineCommand, idArg, integer, positionals } from '../lib/command.ts';
import { UsageError } from '../lib/errors.ts';
import { changeOwners, currentOwners, rerunHint } from '../lib/owners.ts';
import { parseSigning, SIGNING_OPTIONS } from '../lib/signing.ts';

export default defineCommand({
  name: 'owners threshold',
  summary: 'change how many owners must sign',
  usage: 'WALLET_ID N [--key-file FILE ... | --print-message | --signature KEY=HEX ...]',
  args: ['WALLET_ID', 'N'],
  description: 'N is between 1 and the number of owners. A LOCKED wallet needs the current owners\' quorum, as for `owners add`.',
  options: { ...SIGNING_OPTIONS },
  examples: ['owners threshold wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P 2 --key-file alice.key', 'owners threshold wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P 1 --key-file alice.key --key-file bob.key --json'],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID, N } = positionals(input, ['WALLET_ID', 'N']);
    return { walletId: idArg(WALLET_ID!, 'wlt_', 'WALLET_ID'), threshold: integer(N!, 'N', 1, 1000), signing: parseSigning(input, { required: false }) };
  },
  async run(o, ctx) {
    await changeOwners(
      ctx,
      o.walletId,
      o.signing,
      (current) => {
        if (o.threshold > current.owners.length) throw new UsageError(`the wallet has ${current.owners.length} owner(s): the threshold can be at most ${current.owners.length}`);
        return { owners: currentOwners(current), threshold: o.threshold };
      },
      rerunHint(`owners threshold ${o.walletId} ${o.threshold}`),
    );
  },
});
