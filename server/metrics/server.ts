/**
 * The observability listener: plain HTTP, separate from the gRPC port, loopback only unless explicitly allowed.
 *
 *   GET /metrics  Prometheus text exposition 0.0.4
 *   GET /healthz  liveness: 200 whenever the process answers (the event loop is not stuck)
 *   GET /readyz   readiness: 200 {"ready":true,"failing":[]} or 503 {"ready":false,"failing":["hsm"]}
 *
 * Why loopback only: this listener has no TLS and no authentication (the gRPC port requires mutual TLS for
 * everything, health included). Metrics tell whoever can read them how busy each method is, which sinks exist, how
 * often requests are denied, and /readyz tells the moment the HSM or the database is unusable. Scrape it from the
 * same host (a Prometheus agent or an authenticating, TLS-terminating reverse proxy next to the appliance). Binding
 * another address needs `allowNonLoopback: true`, meaning the operator has put the port behind a firewall or proxy.
 *
 * While loopback only, requests whose Host header is not a loopback name or address are refused (421), so that a web
 * page in a browser on the same machine cannot read the endpoints through DNS rebinding.
 *
 * /readyz reports the readiness source's cached state (the monitor's last round); a request never triggers an HSM or
 * database call, so scraping it as often as you like costs nothing to the signing path.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { parseListen } from '../config/index.ts';
import { CONTENT_TYPE } from './registry.ts';

/** What /readyz reports; a ReadinessMonitor is one. */
export interface ReadinessSource {
  readonly ready: boolean;
  /** Names of the failing components (empty when ready). */
  readonly failing: readonly string[];
}

/** What the listener logs through (a pino Logger fits). */
export interface MetricsServerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Options of startMetricsServer. */
export interface MetricsServerOptions {
  /** `host:port`, e.g. '127.0.0.1:9464' (IPv6 in brackets: '[::1]:9464'); port 0 picks a free port. */
  listen: string;
  /** What /metrics renders: a Registry, or ApplianceMetrics. */
  registry: { render(): string };
  /** What /readyz reports. Without it /readyz answers 503 with failing ["readiness"]: nothing vouches for readiness. */
  readiness?: ReadinessSource;
  log: MetricsServerLog;
  /**
   * Allow a listen address that is not loopback. The endpoints are unauthenticated and unencrypted: set this only
   * when the port is reachable solely by the scraper (firewall, private network, authenticating proxy).
   */
  allowNonLoopback?: boolean;
}

/** A running observability listener. */
export interface MetricsServer {
  host: string;
  port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** Thrown for a listen address that is invalid, or not loopback without allowNonLoopback. */
export class MetricsListenError extends Error {
  override name = 'MetricsListenError';
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  if (isIP(a) === 4) return a.startsWith('127.');
  if (isIP(a) === 6) {
    if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
    return mapped !== null && (mapped[1] as string).startsWith('127.');
  }
  return false;
}

/** True for a loopback address or the name localhost (the Host header's hostname part, IPv6 without brackets). */
function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || isLoopbackAddress(h);
}

/** The hostname part of a Host header ('127.0.0.1:9464' → '127.0.0.1', '[::1]:9464' → '::1'). */
function hostOf(header: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(header);
  if (m) return m[1] as string;
  const i = header.lastIndexOf(':');
  return i >= 0 && header.indexOf(':') === i ? header.slice(0, i) : header;
}

/** Starts the listener; resolves once it is listening. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const parsed = parseListen(opts.listen);
  if (typeof parsed === 'string') throw new MetricsListenError(`metrics listen address ${JSON.stringify(opts.listen)} ${parsed}`);
  const allowAny = opts.allowNonLoopback === true;
  if (!allowAny && !isLoopbackName(parsed.host)) {
    throw new MetricsListenError(
      `metrics listen address ${opts.listen} is not loopback: the metrics and health endpoints have no authentication ` +
        'and no TLS; listen on 127.0.0.1 or [::1] and scrape from the same host (or through an authenticating proxy), ' +
        'or allow a non-loopback address explicitly',
    );
  }
  const { log, registry } = opts;
  const readiness = opts.readiness;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const send = (code: number, type: string, body: string, headers: Record<string, string> = {}): void => {
      res.writeHead(code, {
        'Content-Type': type,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Content-Length': String(Buffer.byteLength(body)),
        ...headers,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const text = 'text/plain; charset=utf-8';
    if (!allowAny && !isLoopbackName(hostOf(req.headers.host ?? ''))) {
      send(421, text, 'misdirected request: use a loopback address or localhost\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, text, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      send(400, text, 'bad request\n');
      return;
    }
    switch (path) {
      case '/metrics': {
        let body: string;
        try {
          body = registry.render();
        } catch (err) {
          log.error({ err }, 'cannot render metrics');
          send(500, text, 'cannot render metrics\n');
          return;
        }
        send(200, CONTENT_TYPE, body);
        return;
      }
      case '/healthz':
        send(200, text, 'ok\n');
        return;
      case '/readyz': {
        const ready = readiness?.ready === true;
        const failing = readiness === undefined ? ['readiness'] : [...readiness.failing];
        send(ready ? 200 : 503, 'application/json', `${JSON.stringify({ ready, failing: ready ? [] : failing })}\n`);
        return;
      }
      default:
        send(404, text, 'not found: try /metrics, /healthz or /readyz\n');
    }
  };

  const server = createServer({ maxHeaderSize: 8192, requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, handle);
  server.maxConnections = 64;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host: parsed.host, port: parsed.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  // "localhost" is resolved by the system: make sure it really gave a loopback address.
  if (!allowAny && !isLoopbackAddress(address.address)) {
    await close();
    throw new MetricsListenError(`metrics listen address ${opts.listen} resolved to ${address.address}, which is not loopback`);
  }
  server.on('error', (err) => log.error({ err }, 'metrics listener error'));
  log.info({ host: address.address, port: address.port }, 'metrics listening');
  return { host: address.address, port: address.port, close };
}
