/**
 * `waiaas-ctl owners remove`: removes an owner key from a wallet. If the threshold would exceed the owners left, a
 * new --threshold must be given (the CLI never lowers a threshold by itself).
 */
import { defineCommand, idArg, integer, positionals, required, str } from '../lib/command.ts';
import { CtlError, EXIT, UsageError } from '../lib/errors.ts';
import { sameKey } from '../lib/keys.ts';
import { changeOwners, currentOwners, rerunHint } from '../lib/owners.ts';
import { parseSigning, SIGNING_OPTIONS } from '../lib/signing.ts';

export default defineCommand({
  name: 'owners remove',
  summary: 'remove an owner key from a wallet',
  usage: 'WALLET_ID --owner KEY [--threshold N] [--key-file FILE ... | --print-message | --signature KEY=HEX ...]',
  args: ['WALLET_ID'],
  description:
    'Sends the owner set without KEY. When the wallet is LOCKED, the current owners (the one leaving included, if\n' +
    'you like) sign the change, as for `owners add`.',
  options: {
    owner: { type: 'string', value: 'KEY', help: 'the owner key to remove' },
    threshold: { type: 'string', value: 'N', help: 'the new threshold (required when the current one would exceed the owners left)' },
    ...SIGNING_OPTIONS,
  },
  examples: [
    'owners remove wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --owner 0x8ba1f109551bD432803012645Ac136ddd64DBA72 --key-file alice.key',
    'owners remove wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --owner 7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU --threshold 1 --key-file alice.key --key-file carol.key',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID']);
    const thresholdText = str(input, 'threshold');
    return {
      walletId: idArg(WALLET_ID!, 'wlt_', 'WALLET_ID'),
      key: required(input, 'owner', 'KEY'),
      threshold: thresholdText === undefined ? undefined : integer(thresholdText, '--threshold', 0, 1000),
      signing: parseSigning(input, { required: false }),
    };
  },
  async run(o, ctx) {
    await changeOwners(
      ctx,
      o.walletId,
      o.signing,
      (current) => {
        const owners = currentOwners(current);
        const left = owners.filter((w) => !sameKey(w.key, o.key));
        if (left.length === owners.length) throw new CtlError(`${o.key} is not an owner of ${o.walletId}`, EXIT.NOT_FOUND);
        let threshold = o.threshold ?? current.threshold;
        if (left.length === 0 && o.threshold === undefined) threshold = 0;
        if (threshold > left.length) {
          throw new UsageError(`the threshold is ${current.threshold} but only ${left.length} owner(s) would be left: give --threshold N (at most ${left.length})`);
        }
        return { owners: left, threshold };
      },
      rerunHint(`owners remove ${o.walletId} --owner ${o.key}${o.threshold !== undefined ? ` --threshold ${o.threshold}` : ''}`),
    );
  },
});
