/**
 * `waiaas-ctl keys generate`: makes a new owner key file (mode 0600; an existing file is never overwritten) and
 * prints its public key — the Solana address (ed25519) or EVM address (evm) to register with `owners add`.
 */
import { resolve } from 'node:path';
import { choice, defineCommand, positionals, required } from '../lib/command.ts';
import { UsageError } from '../lib/errors.ts';
import { KEY_TYPES, newSecret, ownerAddress, writeKeyFile } from '../lib/keys.ts';

export default defineCommand({
  name: 'keys generate',
  summary: 'make a new owner key file and print its public key',
  usage: '--type ed25519|evm --out FILE',
  description:
    'The file is JSON {"type", "secret"} with mode 0600; keep it safe, it controls the wallet. An existing file is\n' +
    'never overwritten. The secret is never printed.',
  options: {
    type: { type: 'string', help: 'key type', choices: KEY_TYPES },
    out: { type: 'string', value: 'FILE', help: 'where to write the key file (must not exist)', complete: 'file' },
  },
  examples: ['keys generate --type ed25519 --out ~/.waiaas/alice.key', 'keys generate --type evm --out bob.key --json | jq -r .address'],
  remote: false,
  json: true,
  parse(input) {
    positionals(input, []);
    const type = choice(input, 'type', KEY_TYPES);
    if (!type) throw new UsageError('--type ed25519|evm is required');
    return { type, out: resolve(required(input, 'out')) };
  },
  async run(o, ctx) {
    const secret = await newSecret(o.type);
    const address = await ownerAddress({ type: o.type, secret });
    writeKeyFile(o.out, o.type, secret);
    secret.fill(0);
    if (ctx.json) {
      ctx.out.data({ type: o.type, address, keyFile: o.out });
      return;
    }
    ctx.out.kv([
      ['key file', `${o.out} (mode 0600)`],
      ['type', o.type],
      ['address', address],
    ]);
  },
});
