/** `waiaas-ctl agents list`: every agent and owner principal, with its scope, status and valid certificates. */
import { shortUri } from '../lib/agents.ts';
import { defineCommand, positionals } from '../lib/command.ts';
import { principalJson } from '../lib/convert.ts';
import { ellipsis } from '../lib/output.ts';

export default defineCommand({
  name: 'agents list',
  summary: 'list agent and owner principals',
  usage: '',
  description:
    'Admins are not listed: an admin certificate may do everything an admin may. CERTS counts the certificates\n' +
    'issued to a principal that are neither expired nor revoked (--json lists their serials).',
  options: {},
  examples: ['agents list --state .waiaas --identity admin', 'agents list --json | jq -r \'.principals[] | select(.status == "ACTIVE") | .uri\''],
  remote: true,
  json: true,
  parse(input) {
    positionals(input, []);
    return {};
  },
  async run(_o, ctx) {
    const { agents } = await ctx.clients();
    const { principals } = await agents.listPrincipals({}, ctx.call());
    const rows = principals.map(principalJson);
    if (ctx.json) {
      ctx.out.data({ principals: rows });
      return;
    }
    const scope = (xs: string[]): string => (xs.includes('*') ? '*' : xs.length === 0 ? '-' : ellipsis(xs.join(','), 60));
    ctx.out.table(
      ['PRINCIPAL', 'ROLE', 'STATUS', 'WALLETS', 'CHAINS', 'OPERATIONS', 'RATE', 'CERTS', 'CREATED'],
      rows.map((p) => [
        shortUri(p.uri),
        p.role,
        p.status,
        scope(p.wallets),
        p.role === 'agent' ? scope(p.chains) : '-',
        p.role === 'agent' ? p.operations.join(',') : '-',
        p.rateLimitPerSecond === 0 ? 'default' : `${p.rateLimitPerSecond}/s`,
        String(p.certificateSerials.length),
        p.createTime ?? '-',
      ]),
      '(no principals)',
    );
  },
});
