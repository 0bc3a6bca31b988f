/**
 * Managing principals and their credentials (admin only): registering scoped agents and owners, issuing short-lived
 * client certificates from the appliance's CA, and revoking a principal or one certificate at once.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { requireDeps } from '../deps.ts';
import { issueCert } from '../devstate/pki.ts';
import { WaiaasError } from '../errors/error.ts';
import { checkWalletId } from '../ids.ts';
import type { Logger } from '../log.ts';
import { OPERATIONS, type Operation, type PrincipalRecord, type Principals } from './principals.ts';

/** Dependencies of the agent service. */
export interface AgentServiceDeps {
  principals: Principals;
  log: Logger;
  /** The CA that issues credentials; undefined when the appliance has none configured. */
  ca?: { certFile: string; keyFile: string } | undefined;
  clock?: () => Date;
}

const URI = /^spiffe:\/\/waiaas\/(agent|owner)\/([A-Za-z0-9._-]{1,64})$/;
const MIN_VALIDITY = 60;
const MAX_VALIDITY = 30 * 86_400;

/** Registers principals and issues and revokes their credentials. */
export class AgentService {
  private readonly deps: AgentServiceDeps & { clock: () => Date };

  constructor(deps: AgentServiceDeps) {
    requireDeps('AgentService', deps, ['principals', 'log']);
    this.deps = { clock: () => new Date(), ...deps };
  }

  /** Validates and stores a principal's scope. */
  async put(input: { uri: string; wallets: string[]; chains: string[]; operations: string[]; rateLimit: number }, by: string): Promise<PrincipalRecord> {
    const m = URI.exec(input.uri);
    if (!m) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'uri must be spiffe://waiaas/agent/<name> or spiffe://waiaas/owner/<name>', { metadata: { field: 'principal.uri' } });
    const role = m[1] as 'agent' | 'owner';
    const wallets = input.wallets.length === 0 ? [] : input.wallets;
    wallets.forEach((w, i) => {
      if (w !== '*') checkWalletId(w, `principal.wallets[${i}]`);
    });
    if (wallets.includes('*') && wallets.length > 1) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', '"*" stands alone', { metadata: { field: 'principal.wallets' } });
    const chains = input.chains.length === 0 ? ['*'] : input.chains;
    chains.forEach((c, i) => {
      if (!['*', 'solana', 'evm'].includes(c)) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'chains are solana, evm or *', { metadata: { field: `principal.chains[${i}]` } });
    });
    const operations = (role === 'owner' ? ['read'] : input.operations.length === 0 ? ['read', 'sign_transaction', 'sign_message', 'cancel_request'] : input.operations) as Operation[];
    operations.forEach((o, i) => {
      if (!OPERATIONS.includes(o)) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `operations are ${OPERATIONS.join(', ')}`, { metadata: { field: `principal.operations[${i}]` } });
    });
    if (input.rateLimit > 10_000) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'rate_limit_per_second is at most 10000', { metadata: { field: 'principal.rate_limit_per_second' } });
    const time = this.deps.clock().toISOString();
    await this.deps.principals.put({ uri: input.uri, role, wallets, chains, operations, rateLimit: input.rateLimit }, by, time);
    this.deps.log.info({ uri: input.uri, role, wallets, chains, operations, by }, 'principal registered');
    return this.deps.principals.get(input.uri)!;
  }

  /** Every principal with its valid certificates. */
  list(): { principal: PrincipalRecord; serials: string[] }[] {
    const now = this.deps.clock().toISOString();
    return this.deps.principals.list().map((p) => ({ principal: p, serials: this.deps.principals.certificates(p.uri, now).map((c) => c.serial) }));
  }

  /** Issues a client certificate for an active principal. The private key is returned once and kept nowhere. */
  async issue(uri: string, validSeconds: number, by: string): Promise<{ certPem: string; keyPem: string; caPem: string; serial: string; expireTime: Date }> {
    const ca = this.deps.ca;
    if (!ca) throw new WaiaasError('WAIAAS_CA_UNAVAILABLE');
    const p = this.deps.principals.get(uri);
    if (!p || p.status !== 'ACTIVE') throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'register the principal (PutPrincipal) before issuing it a credential', { metadata: { field: 'uri' } });
    const seconds = validSeconds === 0 ? 86_400 : validSeconds;
    if (seconds < MIN_VALIDITY || seconds > MAX_VALIDITY) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `valid_seconds must be ${MIN_VALIDITY}..${MAX_VALIDITY}`, { metadata: { field: 'valid_seconds' } });
    const caPem = readFileSync(ca.certFile, 'utf8');
    const issued = await issueCert({ certPem: caPem, keyPem: readFileSync(ca.keyFile, 'utf8') }, { commonName: uri.split('/').pop()!, usage: 'client', uris: [uri], days: seconds / 86_400 });
    const x = new X509Certificate(issued.certPem);
    const serial = x.serialNumber.toLowerCase();
    const expireTime = new Date(x.validTo);
    await this.deps.principals.addCertificate(serial, uri, this.deps.clock().toISOString(), expireTime.toISOString(), by, x.fingerprint256.replace(/:/g, '').toLowerCase());
    this.deps.log.info({ uri, serial, expireTime: expireTime.toISOString() }, 'credential issued');
    return { certPem: issued.certPem, keyPem: issued.keyPem, caPem, serial, expireTime };
  }

  /** Revokes a principal (and its certificates) or one certificate; effective on the next call. */
  async revoke(target: { uri: string; serial: string }, by: string): Promise<number> {
    if ((target.uri === '') === (target.serial === '')) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'give exactly one of uri or serial', { metadata: { field: 'uri' } });
    if (target.uri !== '' && !this.deps.principals.get(target.uri)) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'no such principal', { metadata: { field: 'uri' } });
    const n = await this.deps.principals.revoke(target.uri ? { uri: target.uri } : { serial: target.serial.toLowerCase().replace(/:/g, '') }, this.deps.clock().toISOString(), by);
    this.deps.log.warn({ ...target, by, certificates: n }, 'revoked');
    return n;
  }
}
