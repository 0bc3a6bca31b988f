/**
 * The notifier against real HTTP receivers on 127.0.0.1 and a real SQLite file: signed webhook bodies and headers,
 * retries with backoff, giving up (client errors, max attempts, max age), a restart that loses nothing, a hung
 * receiver that delays no other sink and no store write, ntfy headers, and the enqueue contract.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NotifyEvent } from '../../server/notify/events.ts';
import { Notifier, ntfyMessage, signWebhook, verifyWebhookSignature, type NotifierDeps } from '../../server/notify/notifier.ts';
import type { Sink } from '../../server/notify/sinks.ts';
import { Store } from '../../server/store/store.ts';
import {
  approvalEvent,
  captureLogger,
  enqueue,
  freePort,
  Receiver,
  rows,
  SECRET,
  tempDb,
  TOKEN,
  waitUntil,
} from './helpers.ts';

let db: ReturnType<typeof tempDb>;
let store: Store;
/** Everything a test started, stopped/closed after it (notifiers first, then receivers, then the store). */
let notifiers: Notifier[];
let receivers: Receiver[];

beforeEach(() => {
  db = tempDb();
  store = Store.open(db.file);
  notifiers = [];
  receivers = [];
});

afterEach(async () => {
  for (const r of receivers) r.release();
  for (const n of notifiers) await n.stop();
  for (const r of receivers) await r.close();
  store.close();
  db.cleanup();
});

/** A started receiver, closed after the test. */
async function receiver(answer?: Parameters<typeof Receiver.start>[0], port?: number): Promise<Receiver> {
  const r = await Receiver.start(answer, port);
  receivers.push(r);
  return r;
}

/** A started notifier on `store` (fast polling and backoff), stopped after the test. */
function notifier(sinks: Sink[], opts: Partial<NotifierDeps> = {}, on: Store = store): Notifier {
  const n = new Notifier({ store: on, sinks, log: opts.log ?? captureLogger().log, pollMs: 50, backoffBaseMs: 50, ...opts });
  notifiers.push(n);
  n.start();
  return n;
}

function webhook(r: Receiver, name = 'ops'): Sink {
  return { kind: 'webhook', name, url: r.url(), secret: SECRET };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe('webhook delivery', () => {
  it('delivers each event as signed snake_case JSON with event, delivery, timestamp and signature headers', async () => {
    const r = await receiver();
    const n = notifier([webhook(r)]);
    const frozen: NotifyEvent = { type: 'wallet.frozen', time: '2030-01-02T03:04:06.000Z', walletId: 'wlt_alpha', detail: 'frozen by owner' };
    await enqueue(store, n, approvalEvent());
    await enqueue(store, n, frozen);
    const got = await r.waitFor(2);
    const byType = new Map(got.map((g) => [g.headers['x-waiaas-event'], g]));

    const a = byType.get('sign_request.pending_approval')!;
    expect(a.method).toBe('POST');
    expect(a.url).toBe('/hook');
    expect(a.headers['content-type']).toBe('application/json');
    const body = JSON.parse(a.body);
    expect(body).toEqual({
      id: Number(a.headers['x-waiaas-delivery']),
      type: 'sign_request.pending_approval',
      time: '2030-01-02T03:04:05.000Z',
      wallet_id: 'wlt_alpha',
      sign_request_id: 'sr_123',
      verdict: 'APPROVAL',
      rule: 'big-transfers',
      summary: ['send 5 SOL to 9xQe…', 'fee 0.000005 SOL'],
      detail: "waits for the approval of the wallet's owners (rule big-transfers)",
    });
    expect(Object.keys(body)[0]).toBe('id');

    // Absent fields are omitted, not null.
    const f = byType.get('wallet.frozen')!;
    expect(JSON.parse(f.body)).toEqual({ id: Number(f.headers['x-waiaas-delivery']), type: 'wallet.frozen', time: frozen.time, wallet_id: 'wlt_alpha', detail: 'frozen by owner' });

    for (const g of got) {
      const timestamp = String(g.headers['x-waiaas-timestamp']);
      const signature = String(g.headers['x-waiaas-signature']);
      expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
      expect(Math.abs(Number(timestamp) - nowSeconds())).toBeLessThanOrEqual(5);
      expect(verifyWebhookSignature({ secret: SECRET, timestamp, body: g.body, signature, nowSeconds: nowSeconds() })).toBe(true);
      expect(verifyWebhookSignature({ secret: SECRET, timestamp, body: Buffer.from(g.body), signature, nowSeconds: nowSeconds() })).toBe(true);
      // Tampered body, other secret, old or future timestamp, re-used signature under a new timestamp: all refused.
      expect(verifyWebhookSignature({ secret: SECRET, timestamp, body: g.body.replace('wlt_alpha', 'wlt_bravo'), signature, nowSeconds: nowSeconds() })).toBe(false);
      expect(verifyWebhookSignature({ secret: `${SECRET}x`, timestamp, body: g.body, signature, nowSeconds: nowSeconds() })).toBe(false);
      expect(verifyWebhookSignature({ secret: SECRET, timestamp, body: g.body, signature, nowSeconds: Number(timestamp) + 301 })).toBe(false);
      expect(verifyWebhookSignature({ secret: SECRET, timestamp, body: g.body, signature, nowSeconds: Number(timestamp) - 301 })).toBe(false);
      expect(verifyWebhookSignature({ secret: SECRET, timestamp, body: g.body, signature, nowSeconds: Number(timestamp) + 30, toleranceSeconds: 10 })).toBe(false);
      expect(verifyWebhookSignature({ secret: SECRET, timestamp: String(Number(timestamp) + 1), body: g.body, signature, nowSeconds: nowSeconds() })).toBe(false);
    }

    await waitUntil(() => rows(store).every((row) => row.delivered_time !== null));
    for (const row of rows(store)) {
      expect(row).toMatchObject({ sink: 'ops', attempts: 1, gave_up: 0, last_error: null });
      // The stored body is exactly what was delivered.
      expect(got.some((g) => g.body === row.body)).toBe(true);
    }
  });

  it('verifyWebhookSignature accepts one of several v1 signatures and refuses malformed input', () => {
    const ts = '1900000000';
    const body = '{"id":1}';
    const good = `v1=${signWebhook(SECRET, ts, body)}`;
    const other = `v1=${signWebhook('another-secret-0123456789', ts, body)}`;
    const verify = (signature: string, timestamp = ts): boolean =>
      verifyWebhookSignature({ secret: SECRET, timestamp, body, signature, nowSeconds: 1900000000 });
    expect(verify(good)).toBe(true);
    expect(verify(`${other}, ${good}`)).toBe(true);
    expect(verify(other)).toBe(false);
    expect(verify(good.toUpperCase().replace('V1=', 'v1='))).toBe(true);
    expect(verify(good.slice(0, -2))).toBe(false);
    expect(verify(good.replace('v1=', 'v2='))).toBe(false);
    expect(verify('')).toBe(false);
    expect(verify(good, '1900000000.5')).toBe(false);
    expect(verify(good, '-1')).toBe(false);
    expect(verifyWebhookSignature({ secret: '', timestamp: ts, body, signature: good, nowSeconds: 1900000000 })).toBe(false);
  });

  it('retries 500s with exponential backoff until a 200, counting attempts', async () => {
    const r = await receiver((_, i) => (i < 2 ? 500 : 200));
    const n = notifier([webhook(r)], { backoffBaseMs: 100 });
    await enqueue(store, n, approvalEvent());
    const got = await r.waitFor(3);
    await waitUntil(() => rows(store)[0]?.delivered_time !== null);
    const row = rows(store)[0]!;
    expect(row).toMatchObject({ attempts: 3, gave_up: 0, last_error: null });
    // Same delivery id each time, so the receiver can de-duplicate.
    expect(new Set(got.map((g) => g.headers['x-waiaas-delivery']))).toEqual(new Set([String(row.id)]));
    // Backoff: about base, then about 2 × base (up to 20% jitter below).
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(80 - 2);
    expect(got[2]!.at - got[1]!.at).toBeGreaterThanOrEqual(160 - 2);
    // Every attempt is signed afresh and verifies.
    for (const g of got) {
      expect(verifyWebhookSignature({ secret: SECRET, timestamp: String(g.headers['x-waiaas-timestamp']), body: g.body, signature: String(g.headers['x-waiaas-signature']), nowSeconds: nowSeconds() })).toBe(true);
    }
    await new Promise((res) => setTimeout(res, 150));
    expect(r.received).toHaveLength(3); // nothing after the 200
  });

  it('retries 408, 429 (honouring Retry-After) and connection failures, and records the last error', async () => {
    const r = await receiver((_, i) => (i === 0 ? 408 : i === 1 ? { status: 429, headers: { 'retry-after': '1' } } : 200));
    const n = notifier([webhook(r)], { backoffBaseMs: 20 });
    await enqueue(store, n, approvalEvent());
    const got = await r.waitFor(3);
    await waitUntil(() => rows(store)[0]?.delivered_time !== null);
    expect(rows(store)[0]).toMatchObject({ attempts: 3 });
    // Retry-After: 1 s outweighs the 40 ms backoff (less at most 20% jitter).
    expect(got[2]!.at - got[1]!.at).toBeGreaterThanOrEqual(800 - 2);

    const down = await freePort();
    const n2 = notifier([{ kind: 'webhook', name: 'down', url: `http://127.0.0.1:${down}/hook`, secret: SECRET }], { backoffBaseMs: 10_000 });
    await enqueue(store, n2, approvalEvent());
    await waitUntil(() => rows(store).some((row) => row.sink === 'down' && row.attempts === 1));
    const row = rows(store).find((x) => x.sink === 'down')!;
    expect(row).toMatchObject({ gave_up: 0, delivered_time: null });
    expect(row.last_error).toMatch(/ECONNREFUSED/);
    expect(row.next_attempt_ms).toBeGreaterThan(Date.now() + 5000); // 10 s base, at most 20% jitter
  });

  it('gives up at once on a 400, logging a warning with the sink name and row id', async () => {
    const r = await receiver(() => ({ status: 400, body: 'bad request' }));
    const { log, lines } = captureLogger();
    const n = notifier([webhook(r, 'strict')], { log });
    await enqueue(store, n, approvalEvent());
    await waitUntil(() => rows(store)[0]?.gave_up === 1);
    const row = rows(store)[0]!;
    expect(row).toMatchObject({ attempts: 1, gave_up: 1, delivered_time: null });
    expect(row.last_error).toMatch('HTTP 400');
    await new Promise((res) => setTimeout(res, 150));
    expect(r.received).toHaveLength(1);
    const warn = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'notification given up');
    expect(warn).toMatchObject({ level: 'warn', sink: 'strict', notificationId: row.id, attempts: 1, component: 'notify' });
    expect(JSON.stringify(warn)).not.toContain(r.url()); // sinks are named, URLs are not logged
  });

  it('gives up after max attempts', async () => {
    const r = await receiver(() => 503);
    const n = notifier([webhook(r)], { maxAttempts: 3, backoffBaseMs: 10 });
    await enqueue(store, n, approvalEvent());
    await waitUntil(() => rows(store)[0]?.gave_up === 1);
    expect(rows(store)[0]).toMatchObject({ attempts: 3, gave_up: 1, delivered_time: null });
    expect(rows(store)[0]!.last_error).toMatch(/HTTP 503.*max 3/);
    await new Promise((res) => setTimeout(res, 100));
    expect(r.received).toHaveLength(3);
  });

  it('gives up a row older than max age without sending it again', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const r = await receiver(() => 500);
    const n = notifier([webhook(r)], { clock: () => new Date(now), maxAgeSeconds: 60, backoffBaseMs: 1000 });
    await enqueue(store, n, approvalEvent());
    await r.waitFor(1);
    await waitUntil(() => rows(store)[0]?.attempts === 1);
    now += 61_000; // the retry is due, but the row is now too old
    n.kick();
    await waitUntil(() => rows(store)[0]?.gave_up === 1);
    expect(rows(store)[0]!.last_error).toMatch(/older than 60 s \(last error: HTTP 500\)/);
    expect(r.received).toHaveLength(1);
  });

  it('gives up at once when the next retry would be past max age', async () => {
    const r = await receiver(() => 500);
    const n = notifier([webhook(r)], { maxAgeSeconds: 1, backoffBaseMs: 5000 });
    await enqueue(store, n, approvalEvent());
    await waitUntil(() => rows(store)[0]?.gave_up === 1);
    expect(rows(store)[0]).toMatchObject({ attempts: 1 });
    expect(rows(store)[0]!.last_error).toMatch('past the maximum age');
  });

  it('does not follow redirects (the signed body goes to the configured URL only)', async () => {
    const elsewhere = await receiver();
    const r = await receiver(() => ({ status: 302, headers: { location: elsewhere.url() } }));
    const n = notifier([webhook(r)], { backoffBaseMs: 10_000 });
    await enqueue(store, n, approvalEvent());
    await waitUntil(() => rows(store)[0]?.attempts === 1);
    expect(rows(store)[0]!.last_error).toMatch('HTTP 302 (redirects are not followed)');
    expect(elsewhere.received).toHaveLength(0);
  });

  it('retries a request that gets no answer within the request timeout', async () => {
    const r = await receiver(() => 'hang');
    const n = notifier([webhook(r)], { requestTimeoutMs: 200, backoffBaseMs: 10_000 });
    await enqueue(store, n, approvalEvent());
    await waitUntil(() => rows(store)[0]?.attempts === 1);
    expect(rows(store)[0]).toMatchObject({ gave_up: 0, delivered_time: null, last_error: 'no answer within 200 ms' });
  });
});

describe('restart', () => {
  it('loses nothing: rows enqueued while the receiver is down are delivered by a new Store + Notifier on the same file', async () => {
    const port = await freePort();
    const sink: Sink = { kind: 'webhook', name: 'ops', url: `http://127.0.0.1:${port}/hook`, secret: SECRET };

    // First run: the receiver is down; attempts fail and are recorded.
    const first = notifier([sink]);
    await enqueue(store, first, approvalEvent());
    await waitUntil(() => (rows(store)[0]?.attempts ?? 0) >= 1);
    // A second event committed but never attempted (as if the process died right after the commit).
    await first.stop();
    await store.write(() => first.enqueue(approvalEvent({ type: 'sign_request.denied', signRequestId: 'sr_456' })));
    const before = rows(store);
    expect(before.map((x) => x.delivered_time)).toEqual([null, null]);
    store.close();

    // Second run: new store and notifier on the same file, receiver up on the same port.
    store = Store.open(db.file);
    const r = await receiver(undefined, port);
    notifier([sink], {}, store);
    const got = await r.waitFor(2);
    await waitUntil(() => rows(store).every((x) => x.delivered_time !== null));
    expect(new Set(got.map((g) => Number(g.headers['x-waiaas-delivery'])))).toEqual(new Set(before.map((x) => x.id)));
    for (const g of got) expect(JSON.parse(g.body).id).toBe(Number(g.headers['x-waiaas-delivery']));
    expect(rows(store)[0]!.attempts).toBeGreaterThanOrEqual(2);
    expect(rows(store)[1]!.attempts).toBe(1);
  });

  it('gives up, with a warning, rows whose sink is no longer configured', async () => {
    const r = await receiver();
    const gone = new Notifier({ store, sinks: [webhook(r, 'gone'), webhook(r, 'kept')], log: captureLogger().log });
    await store.write(() => gone.enqueue(approvalEvent()));
    const { log, lines } = captureLogger();
    notifier([webhook(r, 'kept')], { log });
    await waitUntil(() => rows(store).every((x) => x.delivered_time !== null || x.gave_up === 1));
    expect(rows(store).map((x) => [x.sink, x.gave_up, x.delivered_time !== null])).toEqual([
      ['gone', 1, false],
      ['kept', 0, true],
    ]);
    expect(lines.map((l) => JSON.parse(l)).find((l) => l.sink === 'gone')).toMatchObject({ level: 'warn', count: 1 });
  });
});

describe('isolation', () => {
  it('a receiver that never answers delays neither another sink nor the store write that enqueues', async () => {
    const hung = await receiver(() => 'hang');
    const fine = await receiver();
    const n = notifier([webhook(hung, 'hung'), webhook(fine, 'fine')], { requestTimeoutMs: 30_000 });

    await enqueue(store, n, approvalEvent({ signRequestId: 'sr_1' }));
    await fine.waitFor(1);
    await hung.waitFor(1);
    expect(hung.hanging).toHaveLength(1); // still hanging when the other sink got its event

    // The next store write (the signing path's) commits while the hung request is still open.
    await enqueue(store, n, approvalEvent({ signRequestId: 'sr_2' }));
    expect(hung.hanging.length).toBeGreaterThanOrEqual(1);
    const got = await fine.waitFor(2);
    expect(got.map((g) => JSON.parse(g.body).sign_request_id)).toEqual(['sr_1', 'sr_2']);
    await hung.waitFor(2);
    expect(hung.hanging).toHaveLength(2);
    const byId = (sink: string): (string | null)[] => rows(store).filter((x) => x.sink === sink).map((x) => x.delivered_time);
    await waitUntil(() => byId('fine').every((t) => t !== null));
    expect(byId('hung')).toEqual([null, null]);

    // Released, the hung sink's rows are delivered too.
    hung.release(200);
    await waitUntil(() => byId('hung').every((t) => t !== null));
  });

  it('holds at most concurrencyPerSink requests open on a hung receiver; stop() waits for them (bounded) and keeps the rows', async () => {
    const hung = await receiver(() => 'hang');
    const n = notifier([webhook(hung, 'hung')], { concurrencyPerSink: 2, requestTimeoutMs: 300 });
    for (let i = 0; i < 4; i++) await store.write(() => n.enqueue(approvalEvent({ signRequestId: `sr_${i}` })));
    n.kick();
    await hung.waitFor(2);
    await new Promise((res) => setTimeout(res, 100));
    expect(hung.received).toHaveLength(2);
    await n.stop(); // bounded by the request timeout
    const after = rows(store);
    expect(after.every((x) => x.delivered_time === null && x.gave_up === 0)).toBe(true);
    // The two open requests timed out and were recorded before stop() resolved; the other two were never sent.
    expect(after.map((x) => x.attempts).sort()).toEqual([0, 0, 1, 1]);
    expect(after.filter((x) => x.attempts === 1).every((x) => x.last_error === 'no answer within 300 ms')).toBe(true);
  });
});

describe('ntfy delivery', () => {
  it('posts text with Title, Priority, Tags and the bearer token', async () => {
    const r = await receiver();
    const n = notifier([
      { kind: 'ntfy', name: 'phone', url: r.url('/waiaas-alerts'), token: TOKEN },
      { kind: 'ntfy', name: 'public', url: r.url('/waiaas-public') },
    ]);
    await enqueue(store, n, approvalEvent());
    await enqueue(store, n, approvalEvent({ type: 'sign_request.pending_delay', verdict: 'DELAY', summary: undefined, detail: 'will be signed after 600 s unless an owner vetoes it' }));
    const got = await r.waitFor(4);
    const find = (url: string, title: string) => got.find((g) => g.url === url && g.headers['title'] === title)!;

    const approval = find('/waiaas-alerts', 'WAIaaS: approval needed for wlt_alpha');
    expect(approval.method).toBe('POST');
    expect(approval.headers['priority']).toBe('high');
    expect(approval.headers['tags']).toBe('waiaas,raising_hand');
    expect(approval.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(approval.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(approval.body).toBe(
      "waits for the approval of the wallet's owners (rule big-transfers)\n- send 5 SOL to 9xQe…\n- fee 0.000005 SOL\nrequest: sr_123\nrule: big-transfers",
    );
    const delay = find('/waiaas-alerts', 'WAIaaS: delayed request for wlt_alpha');
    expect(delay.headers['priority']).toBe('default');
    expect(delay.body.split('\n')[0]).toBe('will be signed after 600 s unless an owner vetoes it');

    const open = find('/waiaas-public', 'WAIaaS: approval needed for wlt_alpha');
    expect(open.headers['authorization']).toBeUndefined();
    await waitUntil(() => rows(store).every((x) => x.delivered_time !== null));
  });

  it('maps every event type to a title and a priority', () => {
    const m = (type: NotifyEvent['type'], walletId?: string) =>
      ntfyMessage({ id: 1, type, time: 't', detail: 'd', ...(walletId ? { wallet_id: walletId } : {}) });
    expect(m('wallet.frozen', 'wlt_a')).toMatchObject({ title: 'WAIaaS: wallet wlt_a frozen', priority: 'high' });
    expect(m('appliance.frozen')).toMatchObject({ title: 'WAIaaS: appliance frozen', priority: 'high' });
    expect(m('sign_request.denied', 'wlt_a')).toMatchObject({ title: 'WAIaaS: request denied for wlt_a', priority: 'high' });
    expect(m('sign_request.expired', 'wlt_a')).toMatchObject({ priority: 'default' });
    expect(m('wallet.unfrozen', 'wlt_a').priority).toBe('default');
    expect(m('sign_request.pending_approval').title).toBe('WAIaaS: approval needed');
  });
});

describe('enqueue', () => {
  it('writes one row per sink in the caller transaction, and nothing when that transaction rolls back', async () => {
    const r = await receiver();
    const n = new Notifier({ store, sinks: [webhook(r, 'a'), { kind: 'ntfy', name: 'b', url: r.url('/t') }], log: captureLogger().log });
    await expect(
      store.write(() => {
        n.enqueue(approvalEvent());
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(rows(store)).toHaveLength(0);

    const before = Date.now();
    await store.write(() => n.enqueue(approvalEvent()));
    const all = rows(store);
    expect(all.map((x) => x.sink)).toEqual(['a', 'b']);
    for (const row of all) {
      expect(row).toMatchObject({ event_type: 'sign_request.pending_approval', attempts: 0, gave_up: 0, delivered_time: null });
      expect(JSON.parse(row.body).id).toBe(row.id);
      expect(row.next_attempt_ms).toBeGreaterThanOrEqual(before);
      expect(row.next_attempt_ms).toBeLessThanOrEqual(Date.now());
    }
    expect(r.received).toHaveLength(0); // not started: nothing is sent
  });

  it('refuses to run outside a transaction, and does nothing without sinks', () => {
    const n = new Notifier({ store, sinks: [{ kind: 'ntfy', name: 'b', url: 'http://127.0.0.1:9/t' }], log: captureLogger().log });
    expect(() => n.enqueue(approvalEvent())).toThrow('inside store.write');
    const none = new Notifier({ store, sinks: [], log: captureLogger().log });
    none.enqueue(approvalEvent());
    expect(rows(store)).toHaveLength(0);
  });

  it('checks its wiring', () => {
    const log = captureLogger().log;
    expect(() => new Notifier({ sinks: [], log } as unknown as NotifierDeps)).toThrow('missing dependencies: store');
    expect(() => new Notifier({ store, log } as unknown as NotifierDeps)).toThrow('missing dependencies: sinks');
    expect(() => new Notifier({ store, sinks: [] } as unknown as NotifierDeps)).toThrow('missing dependencies: log');
    expect(() => new Notifier({ store, sinks: [], log, backoffBaseMs: 0 })).toThrow('backoffBaseMs');
    expect(() => new Notifier({ store, sinks: [], log, maxAttempts: 1.5 })).toThrow('maxAttempts');
    const ntfy: Sink = { kind: 'ntfy', name: 'x', url: 'http://127.0.0.1:9/t' };
    expect(() => new Notifier({ store, sinks: [ntfy, { ...ntfy }], log })).toThrow('two sinks are named "x"');
    expect(() => new Notifier({ store, sinks: [{ ...ntfy, url: 'ftp://h/t' }], log })).toThrow('http or https');
    expect(() => new Notifier({ store, sinks: [{ ...ntfy, name: 'Bad Name' }], log })).toThrow('sink name');
  });
});
