/**
 * `waiaas-ctl audit tail`: the latest entries of the audit log, oldest first, optionally of one wallet or one sign
 * request (AuditService.TailAudit, admin only). `--request` gives the whole story of a request.
 */
import { shortUri } from '../lib/agents.ts';
import { defineCommand, idArg, integer, positionals, str } from '../lib/command.ts';
import { auditEntryJson } from '../lib/convert.ts';
import { ellipsis } from '../lib/output.ts';

export default defineCommand({
  name: 'audit tail',
  summary: 'show the latest audit entries, oldest first',
  usage: '[-n N] [--wallet WALLET_ID] [--request SIGN_REQUEST_ID]',
  description:
    'Each entry: its seq, time, actor (an identity URI, shown without spiffe://waiaas/, or "system"), action,\n' +
    'the wallet and sign request it concerns, and its data (abridged here; in full with --json). See docs/audit.md\n' +
    'for the actions and what their data carries.',
  options: {
    count: { type: 'string', short: 'n', value: 'N', help: 'how many entries (1-10000; default 20)' },
    wallet: { type: 'string', value: 'WALLET_ID', help: 'only this wallet\'s entries' },
    request: { type: 'string', value: 'SIGN_REQUEST_ID', help: 'only this sign request\'s entries' },
  },
  examples: [
    'audit tail -n 50 --state .waiaas --identity admin',
    'audit tail --request req_01JD8Y0A1B2C3D4E5F6G7H8J9K',
    'audit tail --wallet wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P -n 200 --json | jq -r \'.entries[] | "\\(.seq) \\(.action)"\'',
  ],
  remote: true,
  json: true,
  parse(input) {
    positionals(input, []);
    const count = str(input, 'count');
    const wallet = str(input, 'wallet');
    const request = str(input, 'request');
    return {
      count: count === undefined ? 20 : integer(count, '-n', 1, 10_000),
      walletId: wallet === undefined ? '' : idArg(wallet, 'wlt_', '--wallet'),
      signRequestId: request === undefined ? '' : idArg(request, 'req_', '--request'),
    };
  },
  async run(o, ctx) {
    const { audit } = await ctx.clients();
    const { entries } = await audit.tailAudit({ count: o.count, walletId: o.walletId, signRequestId: o.signRequestId }, ctx.call());
    const rows = entries.map(auditEntryJson);
    if (ctx.json) {
      ctx.out.data({ entries: rows });
      return;
    }
    ctx.out.table(
      ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'WALLET', 'REQUEST', 'DATA'],
      rows.map((e) => [String(e.seq), e.time, shortUri(e.actor), e.action, e.walletId ?? '-', e.signRequestId ?? '-', ellipsis(JSON.stringify(e.data), 80)]),
      '(no entries)',
    );
  },
});
