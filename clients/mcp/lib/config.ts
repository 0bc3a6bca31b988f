/**
 * Configuration of the MCP server, from the environment, and the check that it holds an agent's credentials.
 *
 * The environment holds the appliance's address and file PATHS only (WAIAAS_ADDRESS, WAIAAS_CA, WAIAAS_CERT,
 * WAIAAS_KEY), never a secret itself. The server refuses to start unless the certificate's identity URI is
 * `spiffe://waiaas/agent/<name>`: a model must never hold owner or admin powers (setting policies, approving its own
 * requests, issuing credentials), so an owner's or admin's certificate is refused before any call is made.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Where the appliance is and which agent credentials to call it with. */
export interface McpConfig {
  /** host:port of the appliance. */
  address: string;
  /** CA certificate that signed the appliance's certificate (PEM file). */
  ca: string;
  /** The agent's client certificate (PEM file). */
  cert: string;
  /** Its private key (PEM file). */
  key: string;
}

/** The default address, as waiaas-ctl's. */
export const DEFAULT_ADDRESS = 'localhost:7443';

/** A configuration problem: the server does not start, and says why on stderr. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the configuration from the environment. Throws ConfigError naming each missing variable. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): McpConfig {
  const missing = (['WAIAAS_CA', 'WAIAAS_CERT', 'WAIAAS_KEY'] as const).filter((n) => !env[n]?.trim());
  if (missing.length) {
    throw new ConfigError(
      `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set. Set WAIAAS_CA (the CA certificate that signed the appliance's ` +
        'certificate), WAIAAS_CERT and WAIAAS_KEY (the agent\'s client certificate and private key) to PEM file paths, and ' +
        `WAIAAS_ADDRESS to the appliance's host:port (default ${DEFAULT_ADDRESS}).`,
    );
  }
  const address = env.WAIAAS_ADDRESS?.trim() || DEFAULT_ADDRESS;
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address)) throw new ConfigError(`WAIAAS_ADDRESS must be host:port (got "${address}")`);
  return { address, ca: resolve(env.WAIAAS_CA!.trim()), cert: resolve(env.WAIAAS_CERT!.trim()), key: resolve(env.WAIAAS_KEY!.trim()) };
}

/** The identity a certificate carries. */
export interface CertificateIdentity {
  role: string;
  name: string;
  /** The whole identity URI, e.g. `spiffe://waiaas/agent/trader-1`. */
  uri: string;
  /** When the certificate expires. */
  validTo: Date;
  /** Hex serial number. */
  serial: string;
}

const IDENTITY_URI = /^spiffe:\/\/waiaas\/(agent|owner|admin)\/([A-Za-z0-9._-]{1,64})$/;

/**
 * Reads the identity URI (`spiffe://waiaas/<role>/<name>`) from a certificate's subjectAltName, as the appliance does:
 * exactly one such URI, well formed. Throws ConfigError otherwise.
 */
export function certificateIdentity(pem: string | Buffer): CertificateIdentity {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (e) {
    throw new ConfigError(`the certificate is not a PEM X.509 certificate (${(e as Error).message})`);
  }
  const uris = (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4).replace(/^"(.*)"$/, '$1'))
    .filter((u) => u.startsWith('spiffe://waiaas/'));
  if (uris.length !== 1) throw new ConfigError(`the certificate must carry exactly one spiffe://waiaas/<role>/<name> URI in its subjectAltName (it carries ${uris.length})`);
  const m = IDENTITY_URI.exec(uris[0]!);
  if (!m) throw new ConfigError(`the certificate's identity URI ${uris[0]} is malformed`);
  return { role: m[1]!, name: m[2]!, uri: uris[0]!, validTo: new Date(cert.validTo), serial: cert.serialNumber };
}

/** The agent credentials, read and checked. */
export interface AgentCredentials {
  identity: CertificateIdentity;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

function readPem(path: string, variable: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`${variable}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * Reads the CA, certificate and key files and checks them: the certificate must be an AGENT's (an owner's or admin's
 * is refused), unexpired, and the key must be its private key. Throws ConfigError saying what to fix.
 */
export function loadAgentCredentials(config: McpConfig, now: Date = new Date()): AgentCredentials {
  const ca = readPem(config.ca, 'WAIAAS_CA');
  const cert = readPem(config.cert, 'WAIAAS_CERT');
  const key = readPem(config.key, 'WAIAAS_KEY');
  let identity: CertificateIdentity;
  try {
    identity = certificateIdentity(cert);
  } catch (e) {
    throw new ConfigError(`WAIAAS_CERT (${config.cert}): ${(e as Error).message}`);
  }
  if (identity.role !== 'agent') {
    throw new ConfigError(
      `WAIAAS_CERT (${config.cert}) identifies ${identity.uri}, an ${identity.role === 'admin' ? 'admin' : 'owner'}. ` +
        'This MCP server hands its powers to a model, so it runs only with an agent\'s certificate (spiffe://waiaas/agent/<name>): ' +
        'owners and admins set policies and approve requests, and a model must never be able to do that. ' +
        'Have the admin register and issue an agent credential (waiaas-ctl agents put agent/<name> …, then waiaas-ctl agents issue ' +
        'agent/<name> --out DIR) and point WAIAAS_CERT and WAIAAS_KEY at DIR/<name>.pem and DIR/<name>.key.',
    );
  }
  if (identity.validTo.getTime() <= now.getTime()) {
    throw new ConfigError(`WAIAAS_CERT (${config.cert}) expired at ${identity.validTo.toISOString()}: issue a new agent credential.`);
  }
  let matches: boolean;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw new ConfigError(`WAIAAS_KEY (${config.key}) is not a PEM private key (${(e as Error).message})`);
  }
  if (!matches) throw new ConfigError(`WAIAAS_KEY (${config.key}) is not the private key of WAIAAS_CERT (${config.cert})`);
  try {
    new X509Certificate(ca);
  } catch (e) {
    throw new ConfigError(`WAIAAS_CA (${config.ca}) is not a PEM X.509 certificate (${(e as Error).message})`);
  }
  return { identity, ca, cert, key };
}
