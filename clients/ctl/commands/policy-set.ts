/**
 * `waiaas-ctl policy set`: validates and stores a new version of a wallet's policy. An invalid document is refused by
 * the appliance with the field path of the first error (exit 3).
 */
import { defineCommand, idArg, positionals, required } from '../lib/command.ts';
import { policyJson } from '../lib/convert.ts';
import { inputText, textInput } from '../lib/files.ts';

export default defineCommand({
  name: 'policy set',
  summary: 'replace a wallet\'s policy with a document (new version)',
  usage: 'WALLET_ID --file FILE',
  args: ['WALLET_ID'],
  description:
    'The document is a waiaas.policy.v1 JSON document (docs/policy.md). The appliance validates it and stores it as\n' +
    'the next version; errors name the field, e.g. policy.document.rules[2].recipients[0]. Owners and admins only.\n' +
    'Try it first with `policy diff` and `policy evaluate --file`.',
  options: { file: { type: 'string', value: 'FILE', help: 'the policy document (JSON); - reads standard input', complete: 'file' } },
  examples: [
    'policy set wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --file policy.json',
    'policy set wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --file - < policy.json   # from standard input',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID']);
    return { walletId: idArg(WALLET_ID!, 'wlt_', 'WALLET_ID'), file: textInput(required(input, 'file'), 'file') };
  },
  async run(o, ctx) {
    const document = await inputText(o.file, ctx);
    const { policies } = await ctx.clients();
    const { policy } = await policies.setPolicy({ walletId: o.walletId, policy: { document } }, ctx.call());
    const p = policyJson(o.walletId, policy!);
    if (ctx.json) {
      ctx.out.data(p);
      return;
    }
    ctx.out.line(`policy version ${p.version} set on ${o.walletId}`);
    ctx.out.kv([
      ['hash', p.policyHash],
      ['set by', p.setBy],
      ['rules', String((p.document as { rules?: unknown[] }).rules?.length ?? 0)],
    ]);
  },
});
