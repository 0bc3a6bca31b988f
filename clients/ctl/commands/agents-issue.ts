/**
 * `waiaas-ctl agents issue`: has the appliance's CA issue a short-lived client certificate to a registered principal
 * (AgentService.IssueCredential, admin only) and writes it to a folder: DIR/<name>.pem, DIR/<name>.key (mode 0600)
 * and DIR/ca.pem. The appliance keeps no copy of the key; this command never prints it and never overwrites a file.
 */
import { resolve } from 'node:path';
import { credentialFiles, makeCredentialDir, principalUri, validSeconds, writeCredential } from '../lib/agents.ts';
import { defineCommand, positionals, required, str } from '../lib/command.ts';
import { iso } from '../lib/convert.ts';

export default defineCommand({
  name: 'agents issue',
  summary: 'issue a client certificate to a principal and write it to a folder',
  usage: 'URI --out DIR [--valid DURATION]',
  args: ['URI'],
  description:
    'Writes DIR/<name>.pem (the certificate), DIR/<name>.key (its private key, mode 0600) and DIR/ca.pem (the CA\n' +
    'the appliance\'s certificate chains to), and prints the serial and expiry. DIR is made (mode 0700) if needed;\n' +
    'an existing certificate or key file is never overwritten (exit 2, and nothing is issued). The appliance keeps\n' +
    'no copy of the key and this command never prints it: connect with --cert DIR/<name>.pem --key DIR/<name>.key\n' +
    '--ca DIR/ca.pem. The principal must be registered first (agents put). Revoke with agents revoke.',
  options: {
    out: { type: 'string', value: 'DIR', help: 'the folder to write the certificate, key and CA into', complete: 'dir' },
    valid: { type: 'string', value: 'DURATION', help: 'validity: 90m, 24h (default), 7d … (1m to 30d)' },
  },
  examples: [
    'agents issue agent/trader-1 --out ~/.waiaas/trader-1 --valid 24h --state .waiaas --identity admin',
    'agents issue spiffe://waiaas/owner/alice --out ./alice --valid 7d --json | jq -r .serial',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { URI } = positionals(input, ['URI']);
    const p = principalUri(URI!, 'URI');
    const valid = str(input, 'valid');
    const files = credentialFiles(resolve(required(input, 'out')), p.name);
    return { ...p, validSeconds: valid === undefined ? 86_400 : validSeconds(valid), files };
  },
  async run(o, ctx) {
    const { agents } = await ctx.clients();
    makeCredentialDir(o.files.dir);
    const c = await agents.issueCredential({ uri: o.uri, validSeconds: o.validSeconds }, ctx.call());
    const caFile = writeCredential(o.files, o.name, { certPem: c.certificatePem, keyPem: c.privateKeyPem, caPem: c.caPem, serial: c.serial });
    const expireTime = iso(c.expireTime);
    if (ctx.json) {
      ctx.out.data({ uri: o.uri, serial: c.serial, expireTime, certFile: o.files.cert, keyFile: o.files.key, caFile });
      return;
    }
    ctx.out.kv([
      ['principal', o.uri],
      ['serial', c.serial],
      ['expires', expireTime ?? '-'],
      ['certificate', o.files.cert],
      ['key', `${o.files.key} (mode 0600)`],
      ['ca', caFile],
    ]);
    if (caFile !== o.files.ca) ctx.note(`waiaas-ctl: note: ${o.files.ca} holds another CA certificate; this appliance's is in ${caFile}`);
  },
});
