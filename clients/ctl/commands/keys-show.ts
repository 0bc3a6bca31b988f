/** `waiaas-ctl keys show`: the public key (address) of an owner key file; checks the file's mode and shape. */
import { resolve } from 'node:path';
import { defineCommand, positionals, required } from '../lib/command.ts';
import { ownerAddress, readKeyFile } from '../lib/keys.ts';

export default defineCommand({
  name: 'keys show',
  summary: 'print the public key (address) of an owner key file',
  usage: '--key-file FILE',
  options: { 'key-file': { type: 'string', value: 'FILE', help: 'the owner key file (mode 0600 or 0400)', complete: 'file' } },
  examples: ['keys show --key-file ~/.waiaas/alice.key', 'keys show --key-file bob.key --json | jq -r .address'],
  remote: false,
  json: true,
  parse(input) {
    positionals(input, []);
    return { key: readKeyFile(resolve(required(input, 'key-file'))) };
  },
  async run(o, ctx) {
    const address = await ownerAddress(o.key);
    if (ctx.json) {
      ctx.out.data({ type: o.key.type, address, keyFile: o.key.file });
      return;
    }
    ctx.out.kv([
      ['key file', o.key.file],
      ['type', o.key.type],
      ['address', address],
    ]);
  },
});
