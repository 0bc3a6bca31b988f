/**
 * Where the appliance is and which certificate to call it with, from the global options.
 *
 * Precedence, per setting: the flag (--address, --ca, --cert, --key) › --state DIR (a development state folder:
 * the address from DIR/config.toml's server.listen (a loopback or wildcard host dialled as localhost), DIR/ca.pem, DIR/<identity>.pem and DIR/<identity>.key, identity
 * `owner` unless --identity says otherwise) › the environment (WAIAAS_ADDRESS, WAIAAS_CA, WAIAAS_CERT, WAIAAS_KEY:
 * paths and an address only, never a secret) › the default address localhost:7443.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { choice, str, type OptionSpec, type ParsedInput } from './command.ts';
import { UsageError } from './errors.ts';

/** The global options of commands that call the appliance. */
export const CONNECTION_OPTIONS: Record<string, OptionSpec> = {
  address: { type: 'string', value: 'HOST:PORT', help: 'the appliance (env WAIAAS_ADDRESS; default localhost:7443)' },
  ca: { type: 'string', value: 'FILE', help: 'CA certificate that signed the appliance\'s certificate (env WAIAAS_CA)', complete: 'file' },
  cert: { type: 'string', value: 'FILE', help: 'your client certificate, owner or admin (env WAIAAS_CERT)', complete: 'file' },
  key: { type: 'string', value: 'FILE', help: 'its private key (env WAIAAS_KEY)', complete: 'file' },
  state: { type: 'string', value: 'DIR', help: 'a development state folder: address, CA and certificate from it', complete: 'dir' },
  identity: { type: 'string', value: 'ROLE', help: 'with --state: which certificate, owner (default), admin or agent', choices: ['owner', 'admin', 'agent'] },
  timeout: { type: 'string', value: 'DURATION', help: 'deadline of each call, e.g. 10s, 500ms, 2m (default 30s)' },
};

/** How to reach the appliance. */
export interface Connection {
  address: string;
  ca: string;
  cert: string;
  key: string;
  /** Deadline of each unary call, in milliseconds. */
  timeoutMs: number;
}

/** Parses "30s", "500ms", "2m", "1h" or a number of seconds into milliseconds. */
export function parseDuration(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  if (!m) throw new UsageError(`${what} must be a duration such as 30s, 500ms or 2m (got "${value}")`);
  const n = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (n <= 0 || n > 86_400_000) throw new UsageError(`${what} must be more than 0 and at most 24h`);
  return Math.round(n);
}

/** host:port for a listen address: a wildcard host is dialled as localhost (the development certificate's name). */
function dialAddress(listen: string, file: string): string {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen.trim());
  if (!m) throw new UsageError(`${file}: server.listen "${listen}" is not host:port`);
  const [, host, port] = m;
  if (port === '0') throw new UsageError(`${file} listens on port 0 (a port picked at start-up): give --address HOST:PORT`);
  // Wildcard and loopback hosts are dialled by name: the development server certificate is for localhost.
  const local = ['0.0.0.0', '[::]', '::', '127.0.0.1', '[::1]', '::1'].includes(host!);
  return `${local ? 'localhost' : host}:${port}`;
}

/** Reads the listen address of a development state folder. */
function stateAddress(dir: string): string {
  const file = join(dir, 'config.toml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`--state ${dir}: cannot read ${file} (is it a state folder made by \`node server/main.ts --dev-state\`?)`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${file}: not valid TOML (${(e as Error).message.split('\n')[0]})`);
  }
  const server = doc['server'] as Record<string, unknown> | undefined;
  const listen = server?.['listen'];
  return dialAddress(typeof listen === 'string' ? listen : '127.0.0.1:7443', file);
}

function readableFile(path: string, what: string): string {
  if (!existsSync(path)) throw new UsageError(`${what} ${path} does not exist`);
  if (!statSync(path).isFile()) throw new UsageError(`${what} ${path} is not a file`);
  return path;
}

/** Resolves the connection from the parsed global options and the environment. Throws UsageError. */
export function resolveConnection(input: ParsedInput, env: Record<string, string | undefined>): Connection {
  const state = str(input, 'state');
  const identity = choice(input, 'identity', ['owner', 'admin', 'agent'] as const);
  if (identity !== undefined && state === undefined) throw new UsageError('--identity needs --state DIR (otherwise choose the certificate with --cert and --key)');
  const timeoutText = str(input, 'timeout');
  const timeoutMs = timeoutText === undefined ? 30_000 : parseDuration(timeoutText, '--timeout');

  let fromState: Partial<Connection> = {};
  if (state !== undefined) {
    const dir = resolve(state);
    const role = identity ?? 'owner';
    fromState = { ca: join(dir, 'ca.pem'), cert: join(dir, `${role}.pem`), key: join(dir, `${role}.key`) };
    // The address comes from config.toml only when not given otherwise (its port may be 0 in tests).
    if (str(input, 'address') === undefined) fromState.address = stateAddress(dir);
  }
  const pick = (name: 'address' | 'ca' | 'cert' | 'key', envName: string): string | undefined => str(input, name) ?? fromState[name] ?? (env[envName] || undefined);

  const address = pick('address', 'WAIAAS_ADDRESS') ?? 'localhost:7443';
  if (!/^(\[[^\]]+\]|[^\s:/]+):\d{1,5}$/.test(address)) throw new UsageError(`--address must be HOST:PORT (got "${address}")`);
  const missing: string[] = [];
  const ca = pick('ca', 'WAIAAS_CA');
  const cert = pick('cert', 'WAIAAS_CERT');
  const key = pick('key', 'WAIAAS_KEY');
  if (ca === undefined) missing.push('--ca (or WAIAAS_CA)');
  if (cert === undefined) missing.push('--cert (or WAIAAS_CERT)');
  if (key === undefined) missing.push('--key (or WAIAAS_KEY)');
  if (missing.length > 0) {
    throw new UsageError(`no TLS files to call the appliance with: give ${missing.join(', ')}`, 'or --state DIR for a development state folder');
  }
  return {
    address,
    ca: readableFile(ca!, 'CA file'),
    cert: readableFile(cert!, 'certificate file'),
    key: readableFile(key!, 'key file'),
    timeoutMs,
  };
}
