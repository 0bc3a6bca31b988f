/**
 * `waiaas-ctl owners add`: adds an owner key to a wallet (optionally changing the threshold). The whole new owner set
 * is sent with SetOwners; a LOCKED wallet needs the current owners' signatures over the change message.
 */
import { choice, defineCommand, idArg, integer, positionals, required, str } from '../lib/command.ts';
import { CtlError, EXIT } from '../lib/errors.ts';
import { KEY_TYPES, keyTypeOf, sameKey } from '../lib/keys.ts';
import { changeOwners, currentOwners, ownerKeyType, rerunHint } from '../lib/owners.ts';
import { parseSigning, SIGNING_OPTIONS } from '../lib/signing.ts';

export default defineCommand({
  name: 'owners add',
  summary: 'add an owner key to a wallet',
  usage: 'WALLET_ID --owner KEY [--key-type ed25519|evm] [--label TEXT] [--threshold N] [--key-file FILE ... | --print-message | --signature KEY=HEX ...]',
  args: ['WALLET_ID'],
  description:
    'KEY is the owner\'s public key: a base58 Solana address (ed25519) or an EVM address (evm); --key-type is\n' +
    'inferred from its form when not given. The threshold stays as it is (1 for a first owner) unless --threshold\n' +
    'is given. While the wallet is NONE or GRACE the admin changes owners alone; once LOCKED, the current owners\n' +
    'sign the change: --key-file (one per owner, up to the threshold), or --print-message and then --signature.',
  options: {
    owner: { type: 'string', value: 'KEY', help: 'the new owner\'s public key (Solana or EVM address)' },
    'key-type': { type: 'string', help: 'its type (default: from the key\'s form)', choices: KEY_TYPES },
    label: { type: 'string', value: 'TEXT', help: 'a label for people, e.g. "alice\'s Ledger"' },
    threshold: { type: 'string', value: 'N', help: 'the new threshold (distinct owners needed)' },
    ...SIGNING_OPTIONS,
  },
  examples: [
    'owners add wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --owner 7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU --label alice --identity admin --state .waiaas',
    'owners add wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --owner 0x8ba1f109551bD432803012645Ac136ddd64DBA72 --threshold 2 --key-file alice.key',
    'owners add wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --owner 0x8ba1f109551bD432803012645Ac136ddd64DBA72 --print-message > change.txt',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID']);
    const key = required(input, 'owner', 'KEY');
    const keyType = ownerKeyType(choice(input, 'key-type', KEY_TYPES), key, keyTypeOf(key));
    const thresholdText = str(input, 'threshold');
    return {
      walletId: idArg(WALLET_ID!, 'wlt_', 'WALLET_ID'),
      owner: { keyType, key, label: str(input, 'label') ?? '' },
      threshold: thresholdText === undefined ? undefined : integer(thresholdText, '--threshold', 1, 1000),
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
        if (owners.some((w) => sameKey(w.key, o.owner.key))) throw new CtlError(`${o.owner.key} is already an owner of ${o.walletId}`, EXIT.PRECONDITION);
        return { owners: [...owners, o.owner], threshold: o.threshold ?? Math.max(1, current.threshold) };
      },
      rerunHint(`owners add ${o.walletId} --owner ${o.owner.key}${o.threshold ? ` --threshold ${o.threshold}` : ''}`),
    );
  },
});
