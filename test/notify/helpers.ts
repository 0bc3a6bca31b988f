/**
 * Test helpers for the notifier: real HTTP receivers on 127.0.0.1 (node:http) whose answers a test scripts, a logger
 * that captures every line, a temporary SQLite store, and small polling waits. No mocks: the notifier talks to real
 * sockets and a real database file.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, type Logger } from '../../server/log.ts';
import type { NotifyEvent } from '../../server/notify/events.ts';
import type { Notifier } from '../../server/notify/notifier.ts';
import { Store } from '../../server/store/store.ts';

/** One request a receiver got. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** performance.now() when the body was complete. */
  at: number;
}

/** What a receiver does with request number `n` (0-based): answer with a status (and optional body), or never answer. */
export type Answer = number | { status: number; body?: string; headers?: Record<string, string> } | 'hang';

/** A real HTTP server on loopback that records requests and answers as scripted. */
export class Receiver {
  readonly received: Received[] = [];
  /** Responses of requests answered 'hang', still open. */
  readonly hanging: ServerResponse[] = [];
  private readonly server: Server;
  private answer: (r: Received, n: number) => Answer;

  private constructor(server: Server, answer: (r: Received, n: number) => Answer) {
    this.server = server;
    this.answer = answer;
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: performance.now() };
        const n = this.received.length;
        this.received.push(r);
        const a = this.answer(r, n);
        if (a === 'hang') {
          this.hanging.push(res);
          return;
        }
        const { status, body, headers } = typeof a === 'number' ? { status: a, body: undefined, headers: undefined } : a;
        res.writeHead(status, headers);
        res.end(body ?? '');
      });
    });
  }

  /** Starts a receiver on 127.0.0.1 (`port` 0 picks a free one). Answers 200 unless told otherwise. */
  static async start(answer: (r: Received, n: number) => Answer = () => 200, port = 0): Promise<Receiver> {
    const server = createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return new Receiver(server, answer);
  }

  /** Changes the script for the following requests. */
  setAnswer(answer: (r: Received, n: number) => Answer): void {
    this.answer = answer;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The URL of `pathname` on this receiver. */
  url(pathname = '/hook'): string {
    return `http://127.0.0.1:${this.port}${pathname}`;
  }

  /** Answers every hanging request with `status`. */
  release(status = 200): void {
    for (const res of this.hanging.splice(0)) if (!res.destroyed) res.writeHead(status).end();
  }

  /** Waits until at least `n` requests have arrived. */
  async waitFor(n: number, timeoutMs = 10_000): Promise<Received[]> {
    await waitUntil(() => this.received.length >= n, timeoutMs, `${n} requests (got ${this.received.length})`);
    return this.received;
  }

  /** Stops listening and drops every connection (hanging ones included). */
  async close(): Promise<void> {
    for (const res of this.hanging.splice(0)) res.destroy();
    this.server.closeAllConnections();
    this.server.close();
    if (this.server.listening) await once(this.server, 'close');
  }
}

/** A port that was free a moment ago (for a receiver that is "down" now and comes up later on the same port). */
export async function freePort(): Promise<number> {
  const r = await Receiver.start();
  const port = r.port;
  await r.close();
  return port;
}

/** Polls `cond` every 5 ms until it holds; fails with `what` after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A logger at trace level writing into `lines` (raw JSON text, to search for secrets). */
export function captureLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'trace', destination: { write: (s: string) => void lines.push(s) } }), lines };
}

/** A temporary folder and a database path inside it; `cleanup` removes both. */
export function tempDb(): { dir: string; file: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'waiaas-notify-'));
  return { dir, file: path.join(dir, 'signer.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An outbox row, as stored. */
export interface NotificationRow {
  id: number;
  sink: string;
  event_type: string;
  body: string;
  create_time: string;
  attempts: number;
  next_attempt_ms: number;
  delivered_time: string | null;
  gave_up: number;
  last_error: string | null;
}

/** Every outbox row, by id. */
export function rows(store: Store): NotificationRow[] {
  return store.db.prepare('SELECT * FROM notifications ORDER BY id').all() as NotificationRow[];
}

/** Enqueues `event` the way producers must (inside a store write), then kicks the loop after the commit. */
export async function enqueue(store: Store, notifier: Notifier, event: NotifyEvent): Promise<void> {
  await store.write(() => notifier.enqueue(event));
  notifier.kick();
}

/** A complete sample event. */
export function approvalEvent(overrides: Partial<NotifyEvent> = {}): NotifyEvent {
  return {
    type: 'sign_request.pending_approval',
    time: '2030-01-02T03:04:05.000Z',
    walletId: 'wlt_alpha',
    signRequestId: 'sr_123',
    verdict: 'APPROVAL',
    rule: 'big-transfers',
    summary: ['send 5 SOL to 9xQe…', 'fee 0.000005 SOL'],
    detail: "waits for the approval of the wallet's owners (rule big-transfers)",
    ...overrides,
  };
}

/** A webhook secret for tests: long enough, and recognisable in any output. */
export const SECRET = 'whsec-TEST-SECRET-0123456789abcdef';
/** An ntfy token for tests. */
export const TOKEN = 'tk_TEST-NTFY-TOKEN-9876543210';
