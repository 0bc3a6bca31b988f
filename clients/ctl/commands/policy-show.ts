/** `waiaas-ctl policy show`: a wallet's current policy — version, hash, who set it, and its rules (or the document). */
import { defineCommand, flag, idArg, positionals } from '../lib/command.ts';
import { policyJson } from '../lib/convert.ts';

/** A rule's conditions in one line: every field but name, kind and verdict, as key=value. */
export function ruleConditions(rule: Record<string, unknown>): string {
  return Object.entries(rule)
    .filter(([k]) => k !== 'name' && k !== 'kind' && k !== 'verdict' && k !== 'delay_seconds')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

export default defineCommand({
  name: 'policy show',
  summary: 'show a wallet\'s current policy',
  usage: 'WALLET_ID [--document]',
  args: ['WALLET_ID'],
  description: 'The document shown is the canonical one the appliance stores: fixed key order, normalised addresses.',
  options: { document: { type: 'boolean', help: 'print only the document (JSON), e.g. to edit it and `policy set` it back' } },
  examples: ['policy show wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P', 'policy show wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --document > policy.json'],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID']);
    return { walletId: idArg(WALLET_ID!, 'wlt_', 'WALLET_ID'), documentOnly: flag(input, 'document') };
  },
  async run(o, ctx) {
    const { policies } = await ctx.clients();
    const { policy } = await policies.getPolicy({ walletId: o.walletId }, ctx.call());
    const p = policyJson(o.walletId, policy!);
    if (o.documentOnly) {
      ctx.out.data(p.document);
      return;
    }
    if (ctx.json) {
      ctx.out.data(p);
      return;
    }
    const doc = p.document as { pending_timeout_seconds?: number; rules?: Record<string, unknown>[] };
    ctx.out.kv([
      ['wallet', o.walletId],
      ['version', String(p.version)],
      ['hash', p.policyHash],
      ['set by', p.setBy],
      ['set at', p.createTime ?? '-'],
      ['pending timeout', `${doc.pending_timeout_seconds ?? '-'}s`],
    ]);
    ctx.out.line();
    ctx.out.table(
      ['RULE', 'KIND', 'VERDICT', 'CONDITIONS'],
      (doc.rules ?? []).map((r) => [String(r['name']), String(r['kind']), r['verdict'] === 'DELAY' ? `DELAY ${String(r['delay_seconds'])}s` : String(r['verdict']), ruleConditions(r)]),
      '(no rules: everything is denied)',
    );
  },
});
