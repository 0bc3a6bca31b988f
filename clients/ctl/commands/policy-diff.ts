/**
 * `waiaas-ctl policy diff`: what setting a candidate document would change, rule by rule (by name): rules added,
 * removed, and changed field by field. The appliance validates the candidate first (errors name the field, exit 3)
 * and computes its canonical hash, so "no changes" means the very same canonical document.
 */
import { Chain } from '../../../gen/waiaas/v1/wallet_pb.js';
import { defineCommand, idArg, positionals, required } from '../lib/command.ts';
import { inputText, textInput } from '../lib/files.ts';
import { diffPolicies, isEmptyDiff, type Json, type RuleDoc } from '../lib/policy-diff.ts';
import { ruleConditions } from './policy-show.ts';

/** A payload every wallet of the chain can decode; evaluated only to have the candidate validated and hashed. */
const PROBE_TEXT = new TextEncoder().encode('waiaas-ctl policy diff');

const show = (v: Json): string => (v === null ? '(absent)' : JSON.stringify(v));

function ruleLine(sign: string, rule: RuleDoc): string {
  const verdict = rule['verdict'] === 'DELAY' ? `DELAY ${String(rule['delay_seconds'])}s` : String(rule['verdict']);
  return `${sign} rule "${String(rule['name'])}": ${String(rule['kind'])} ${verdict} ${ruleConditions(rule)}`.trimEnd();
}

export default defineCommand({
  name: 'policy diff',
  summary: 'show what a candidate document would change (rules added, removed, changed)',
  usage: 'WALLET_ID --file FILE',
  args: ['WALLET_ID'],
  description:
    'Compares the wallet\'s current canonical policy with the candidate, matching rules by name. Differences of\n' +
    'form only (key order, EVM address case, 60m vs 1h) are not shown. Exit code 0 whether or not there are changes.',
  options: { file: { type: 'string', value: 'FILE', help: 'the candidate document (JSON); - reads standard input', complete: 'file' } },
  examples: ['policy diff wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --file policy.json', 'policy diff wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --file policy.json --json | jq \'.added[].name\''],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID']);
    return { walletId: idArg(WALLET_ID!, 'wlt_', 'WALLET_ID'), file: textInput(required(input, 'file'), 'file') };
  },
  async run(o, ctx) {
    const text = await inputText(o.file, ctx);
    const { wallets, policies } = await ctx.clients();
    const { wallet } = await wallets.getWallet({ walletId: o.walletId }, ctx.call());
    let current: { version: number; policyHash: string; document: Json } | null = null;
    try {
      const { policy } = await policies.getPolicy({ walletId: o.walletId }, ctx.call());
      current = { version: Number(policy!.version), policyHash: policy!.policyHash, document: JSON.parse(policy!.document) as Json };
    } catch (e) {
      if ((e as { reason?: string }).reason !== 'WAIAAS_POLICY_NOT_FOUND') throw e;
    }
    // Validates the candidate (field-path errors) and gives its canonical hash.
    const probe = wallet!.chain === Chain.EVM ? { case: 'evmMessage' as const, value: PROBE_TEXT } : { case: 'solanaMessage' as const, value: PROBE_TEXT };
    const evaluated = await policies.evaluatePolicy({ walletId: o.walletId, payload: { payload: probe }, candidateDocument: text }, ctx.call());
    const candidateHash = evaluated.policyHash;
    const identical = current !== null && current.policyHash === candidateHash;
    const diff = diffPolicies(current?.document ?? null, JSON.parse(text) as Json);

    if (ctx.json) {
      ctx.out.data({
        walletId: o.walletId,
        current: current ? { version: current.version, policyHash: current.policyHash } : null,
        candidate: { file: o.file.name, policyHash: candidateHash },
        identical,
        ...diff,
      });
      return;
    }
    const from = current ? `current version ${current.version} (${current.policyHash.slice(0, 12)}…)` : 'no policy yet';
    ctx.out.line(`policy diff for ${o.walletId}: ${from} → ${o.file.name} (${candidateHash.slice(0, 12)}…)`);
    if (identical) {
      ctx.out.line('no changes: the candidate is the current policy');
      return;
    }
    if (isEmptyDiff(diff)) {
      ctx.out.line(diff.reordered ? 'no rule changes; the rules are in another order (order does not change verdicts)' : 'no rule changes (the documents differ only in form)');
      return;
    }
    for (const a of diff.added) ctx.out.line(ruleLine('+', a.rule));
    for (const r of diff.removed) ctx.out.line(ruleLine('-', r.rule));
    for (const c of diff.changed) {
      ctx.out.line(`~ rule "${c.name}":`);
      for (const f of c.changes) ctx.out.line(`    ${f.field}: ${show(f.from)} → ${show(f.to)}`);
    }
    if (diff.pendingTimeoutSeconds) ctx.out.line(`~ pending_timeout_seconds: ${diff.pendingTimeoutSeconds.from ?? '(none)'} → ${diff.pendingTimeoutSeconds.to ?? '(none)'}`);
    if (diff.reordered) ctx.out.line('  (rules also reordered; order does not change verdicts)');
    ctx.out.line(`${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed`);
  },
});
