/**
 * `waiaas-ctl agents revoke`: revokes a principal and every certificate issued to it, or one certificate by its
 * serial (AgentService.Revoke, admin only). It takes effect at once: the next call with a revoked certificate is
 * refused (exit 5 for its holder).
 */
import { principalUri, serialArg } from '../lib/agents.ts';
import { defineCommand, positionals, str } from '../lib/command.ts';
import { CtlError, EXIT, UsageError } from '../lib/errors.ts';

export default defineCommand({
  name: 'agents revoke',
  summary: 'revoke a principal (all its certificates) or one certificate',
  usage: 'URI | --serial HEX',
  args: ['URI?'],
  description:
    'With URI, the principal is marked REVOKED and all its certificates are revoked: it can no longer call the\n' +
    'appliance (agents put makes it active again, with new certificates). With --serial, only that certificate is\n' +
    'revoked (the serial printed by agents issue; colons allowed). A serial that matches no unrevoked certificate\n' +
    'exits 4.',
  options: { serial: { type: 'string', value: 'HEX', help: 'revoke only the certificate with this serial number' } },
  examples: [
    'agents revoke agent/trader-1 --state .waiaas --identity admin',
    'agents revoke --serial 5f0c3a9e1b7d4c2a8e6f0b1d3c5a7e9f --json',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { URI } = positionals(input, ['URI?']);
    const serial = str(input, 'serial');
    if ((URI === undefined) === (serial === undefined)) throw new UsageError('give a principal URI or --serial HEX (one of them)');
    return URI !== undefined ? { uri: principalUri(URI, 'URI').uri, serial: '' } : { uri: '', serial: serialArg(serial!) };
  },
  async run(o, ctx) {
    const { agents } = await ctx.clients();
    const { revokedCertificates } = await agents.revoke({ uri: o.uri, serial: o.serial }, ctx.call());
    if (o.serial && revokedCertificates === 0) {
      throw new CtlError(`no unrevoked certificate has serial ${o.serial} (unknown, or already revoked)`, EXIT.NOT_FOUND, 'see the serials of valid certificates with: waiaas-ctl agents list --json');
    }
    if (ctx.json) {
      ctx.out.data({ uri: o.uri || null, serial: o.serial || null, revokedCertificates });
      return;
    }
    if (o.uri) ctx.out.line(`revoked ${o.uri} and ${revokedCertificates} certificate(s) issued to it`);
    else ctx.out.line(`revoked certificate ${o.serial}`);
  },
});
