/**
 * The observability listener: /metrics, /healthz and /readyz on loopback, nothing else; non-loopback addresses only
 * when explicitly allowed; requests naming a foreign Host refused (DNS rebinding).
 */
import { request } from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import { Registry } from '../../server/metrics/registry.ts';
import { isLoopbackAddress, MetricsListenError, startMetricsServer, type MetricsServer, type ReadinessSource } from '../../server/metrics/server.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, opts: { method?: string; host?: string; address?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: opts.address ?? '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.host === undefined ? {} : { host: opts.host }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const logs: { level: string; msg: string; obj: object }[] = [];
const log = {
  info: (obj: object, msg: string) => logs.push({ level: 'info', msg, obj }),
  warn: (obj: object, msg: string) => logs.push({ level: 'warn', msg, obj }),
  error: (obj: object, msg: string) => logs.push({ level: 'error', msg, obj }),
};

describe('startMetricsServer', () => {
  const open: MetricsServer[] = [];
  afterEach(async () => {
    while (open.length > 0) await open.pop()!.close();
    logs.length = 0;
  });
  const start = async (o: Partial<Parameters<typeof startMetricsServer>[0]> = {}): Promise<MetricsServer> => {
    const registry = new Registry();
    registry.counter('demo_total', 'Demo.').inc(3);
    const s = await startMetricsServer({ listen: '127.0.0.1:0', registry, log, readiness: { ready: true, failing: [] }, ...o });
    open.push(s);
    return s;
  };

  test('GET /metrics answers the text exposition with its content type', async () => {
    const s = await start();
    expect(s.host).toBe('127.0.0.1');
    expect(s.port).toBeGreaterThan(0);
    const r = await get(s.port, '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.body).toBe('# HELP demo_total Demo.\n# TYPE demo_total counter\ndemo_total 3\n');
    expect((await get(s.port, '/metrics?name[]=x')).status).toBe(200);
    expect(logs.some((l) => l.msg === 'metrics listening')).toBe(true);
  });

  test('HEAD answers the headers without a body', async () => {
    const s = await start();
    const r = await get(s.port, '/metrics', { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
    expect(Number(r.headers['content-length'])).toBeGreaterThan(0);
  });

  test('GET /healthz is 200 while the process answers', async () => {
    const s = await start({ readiness: { ready: false, failing: ['hsm'] } });
    const r = await get(s.port, '/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok\n');
  });

  test('GET /readyz follows the readiness source: 200 when ready, 503 naming the failing components', async () => {
    const state: { ready: boolean; failing: string[] } = { ready: true, failing: [] };
    const s = await start({ readiness: state as ReadinessSource });
    let r = await get(s.port, '/readyz');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ ready: true, failing: [] });
    state.ready = false;
    state.failing = ['hsm', 'audit'];
    r = await get(s.port, '/readyz');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({ ready: false, failing: ['hsm', 'audit'] });
  });

  test('without a readiness source /readyz is 503: nothing vouches for readiness', async () => {
    const registry = new Registry();
    const s = await startMetricsServer({ listen: '127.0.0.1:0', registry, log });
    open.push(s);
    const r = await get(s.port, '/readyz');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({ ready: false, failing: ['readiness'] });
  });

  test('other paths are 404, other methods 405', async () => {
    const s = await start();
    expect((await get(s.port, '/')).status).toBe(404);
    expect((await get(s.port, '/metrics/extra')).status).toBe(404);
    const post = await get(s.port, '/metrics', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  test('a Host header that is not loopback is refused (DNS rebinding); loopback names are fine', async () => {
    const s = await start();
    expect((await get(s.port, '/metrics', { host: 'evil.example:80' })).status).toBe(421);
    expect((await get(s.port, '/readyz', { host: `attacker.example:${s.port}` })).status).toBe(421);
    expect((await get(s.port, '/metrics', { host: `localhost:${s.port}` })).status).toBe(200);
    expect((await get(s.port, '/metrics', { host: `127.0.0.1:${s.port}` })).status).toBe(200);
    expect((await get(s.port, '/metrics', { host: `[::1]:${s.port}` })).status).toBe(200);
  });

  test('a failing render is a 500 and an error log line, and the listener keeps serving', async () => {
    let fail = true;
    const s = await start({
      registry: {
        render: () => {
          if (fail) throw new Error('boom');
          return '';
        },
      },
    });
    expect((await get(s.port, '/metrics')).status).toBe(500);
    expect(logs.some((l) => l.level === 'error' && l.msg === 'cannot render metrics')).toBe(true);
    fail = false;
    expect((await get(s.port, '/metrics')).status).toBe(200);
  });

  test('a non-loopback listen address is refused unless explicitly allowed', async () => {
    const registry = new Registry();
    await expect(startMetricsServer({ listen: '0.0.0.0:0', registry, log })).rejects.toThrow(MetricsListenError);
    await expect(startMetricsServer({ listen: '[::]:0', registry, log })).rejects.toThrow(/not loopback.*no authentication/);
    await expect(startMetricsServer({ listen: '10.1.2.3:9464', registry, log })).rejects.toThrow(/not loopback/);
    await expect(startMetricsServer({ listen: 'metrics.example.com:9464', registry, log })).rejects.toThrow(/not loopback/);
    const s = await startMetricsServer({ listen: '0.0.0.0:0', registry, log, allowNonLoopback: true });
    open.push(s);
    expect(s.host).toBe('0.0.0.0');
    // Allowed on purpose: the Host check is off too (the operator scrapes by name through a proxy).
    expect((await get(s.port, '/healthz', { host: 'metrics.internal:9464' })).status).toBe(200);
  });

  test('a malformed listen address is refused', async () => {
    const registry = new Registry();
    await expect(startMetricsServer({ listen: '127.0.0.1', registry, log })).rejects.toThrow(/must be host:port/);
    await expect(startMetricsServer({ listen: '::1:9464', registry, log })).rejects.toThrow(MetricsListenError);
  });

  test('localhost is accepted and lands on a loopback address', async () => {
    const s = await start({ listen: 'localhost:0' });
    expect(isLoopbackAddress(s.host)).toBe(true);
    expect((await get(s.port, '/healthz', { address: s.host })).status).toBe(200);
  });

  test('close() stops listening', async () => {
    const s = await start();
    await get(s.port, '/metrics');
    await open.pop()!.close();
    await expect(get(s.port, '/metrics')).rejects.toThrow(/ECONNREFUSED/);
  });

  test('a port in use is an error', async () => {
    const s = await start();
    await expect(startMetricsServer({ listen: `127.0.0.1:${s.port}`, registry: new Registry(), log })).rejects.toThrow(/EADDRINUSE/);
  });

  test('isLoopbackAddress', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', 'localhost', '']) expect(isLoopbackAddress(a), a).toBe(false);
  });
});
