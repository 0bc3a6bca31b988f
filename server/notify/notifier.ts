/**
 * The notifier: a transactional outbox and its delivery loop.
 *
 * Producers call `enqueue(event)` inside the `store.write` that makes the change the event reports, so the change and
 * its notification commit together or not at all: a crash can lose neither one without the other, and a restart
 * resumes delivery from the table. The signing path pays only for a few INSERTs in a transaction it is committing
 * anyway; it never waits for the network.
 *
 * A loop (`start`/`stop`/`kick`) delivers due rows. Each sink has its own small number of delivery slots, so a hung or
 * slow receiver fills its own slots and nobody else's; every request has a timeout; a failure is retried with
 * exponential backoff and jitter until `maxAttempts` or `maxAgeSeconds`, then given up with a warning. Delivery is at
 * least once: a row is marked delivered only after a 2xx, so a crash between the two re-sends it, and receivers
 * de-duplicate by the `x-waiaas-delivery` id. Order is not guaranteed (retries and parallel slots reorder); the body
 * carries the event time.
 *
 * Secrets (webhook secrets, ntfy tokens) never reach a log line, an error or the database: logs name sinks, never
 * their URLs (which can themselves carry credentials), response bodies are never read, and error texts are scrubbed.
 */
import { metrics } from '../metrics/metrics.ts';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { requireDeps } from '../deps.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/store.ts';
import type { NotifyEvent, NotifyEventType } from './events.ts';
import { sinkProblem, type NtfySink, type Sink, type WebhookSink } from './sinks.ts';

/** Dependencies and tuning of a Notifier. */
export interface NotifierDeps {
  store: Store;
  /** Where notifications go; may be empty (then `enqueue` does nothing). Names must be unique. */
  sinks: Sink[];
  log: Logger;
  clock?: () => Date;
  fetch?: typeof fetch;
  /** First retry delay; attempt n+1 waits about base × 2^(n−1), capped at `maxBackoffMs` (default 1000). */
  backoffBaseMs?: number;
  /** Longest retry delay (default 300000: 5 minutes). */
  maxBackoffMs?: number;
  /** Attempts per row before it is given up (default 20). */
  maxAttempts?: number;
  /** Age of a row after which it is given up (default 86400). */
  maxAgeSeconds?: number;
  /** How often the loop looks for due rows when nothing kicks it (default 500). */
  pollMs?: number;
  /** Timeout of one HTTP request, connection to response headers (default 5000). */
  requestTimeoutMs?: number;
  /** Deliveries in flight per sink (default 4): a hung receiver holds at most this many. */
  concurrencyPerSink?: number;
}

/** Defaults of the tuning knobs of NotifierDeps. */
export const NOTIFIER_DEFAULTS = Object.freeze({
  backoffBaseMs: 1000,
  maxBackoffMs: 300_000,
  maxAttempts: 20,
  maxAgeSeconds: 86_400,
  pollMs: 500,
  requestTimeoutMs: 5000,
  concurrencyPerSink: 4,
});

/**
 * The JSON body of a notification, as delivered to webhooks (and stored in `notifications.body`): snake_case, absent
 * fields omitted, `id` the outbox row id (equal to the `x-waiaas-delivery` header).
 */
export interface NotificationBody {
  id: number;
  type: NotifyEventType;
  time: string;
  wallet_id?: string;
  sign_request_id?: string;
  verdict?: string;
  rule?: string;
  summary?: string[];
  detail: string;
}

/** The JSON text delivered for `event` in outbox row `id`. Key order is fixed, so the text is reproducible. */
export function notificationBody(id: number, event: NotifyEvent): string {
  // In documentation order; JSON.stringify omits the fields that are undefined.
  const body: NotificationBody = {
    id,
    type: event.type,
    time: event.time,
    wallet_id: event.walletId,
    sign_request_id: event.signRequestId,
    verdict: event.verdict,
    rule: event.rule,
    summary: event.summary,
    detail: event.detail,
  };
  return JSON.stringify(body);
}

/** `hex(HMAC-SHA256(secret, timestamp + "." + body))`: the value after `v1=` in `x-waiaas-signature`. */
export function signWebhook(secret: string, timestamp: string, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** Options of verifyWebhookSignature. */
export interface VerifyWebhookOptions {
  /** The shared secret (the content of the sink's secret_file). */
  secret: string;
  /** The `x-waiaas-timestamp` header. */
  timestamp: string;
  /** The raw request body, exactly as received (do not re-serialize parsed JSON). */
  body: string | Uint8Array;
  /** The `x-waiaas-signature` header: `v1=<hex>`, possibly several comma-separated. */
  signature: string;
  /** The receiver's current time in Unix seconds. */
  nowSeconds: number;
  /** Largest accepted difference between `timestamp` and `nowSeconds` (default 300). */
  toleranceSeconds?: number;
}

/**
 * For webhook receivers: true when `signature` is a valid `v1=` HMAC of `timestamp.body` under `secret` and the
 * timestamp is within `toleranceSeconds` of `nowSeconds`. The timestamp bound stops a captured request from being
 * replayed later; within the window, de-duplicate by `x-waiaas-delivery`. Comparison is constant-time.
 */
export function verifyWebhookSignature(opts: VerifyWebhookOptions): boolean {
  const tolerance = opts.toleranceSeconds ?? 300;
  if (typeof opts.secret !== 'string' || opts.secret.length === 0) return false;
  if (typeof opts.timestamp !== 'string' || !/^\d{1,12}$/.test(opts.timestamp)) return false;
  if (!Number.isFinite(opts.nowSeconds) || !(tolerance >= 0)) return false;
  if (Math.abs(opts.nowSeconds - Number(opts.timestamp)) > tolerance) return false;
  if (typeof opts.signature !== 'string') return false;
  const expected = Buffer.from(signWebhook(opts.secret, opts.timestamp, opts.body), 'hex');
  let ok = false;
  for (const part of opts.signature.split(',')) {
    const m = /^\s*v1=([0-9a-fA-F]{64})\s*$/.exec(part);
    if (m === null) continue;
    // Both 32 bytes: timingSafeEqual's length precondition holds, and the time taken does not depend on the content.
    if (timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected)) ok = true;
  }
  return ok;
}

/** What an ntfy topic receives for one notification. */
export interface NtfyMessage {
  title: string;
  /** ntfy priority name. */
  priority: 'high' | 'default';
  /** ntfy tags (emoji short codes are shown as emoji). */
  tags: string[];
  /** The message text: the detail, then one line per summary item, then the ids. */
  text: string;
}

/** Titles by event type; `{w}` is replaced by the wallet id. */
const NTFY_TITLES: Readonly<Record<NotifyEventType, string>> = {
  'sign_request.signed_with_notice': 'WAIaaS: signed with notice for {w}',
  'sign_request.pending_delay': 'WAIaaS: delayed request for {w}',
  'sign_request.pending_approval': 'WAIaaS: approval needed for {w}',
  'sign_request.approval_downgraded': 'WAIaaS: approval downgraded to a delay for {w}',
  'sign_request.denied': 'WAIaaS: request denied for {w}',
  'sign_request.expired': 'WAIaaS: request expired for {w}',
  'sign_request.rejected': 'WAIaaS: request rejected for {w}',
  'wallet.frozen': 'WAIaaS: wallet {w} frozen',
  'wallet.unfrozen': 'WAIaaS: wallet {w} unfrozen',
  'appliance.frozen': 'WAIaaS: appliance frozen',
  'appliance.unfrozen': 'WAIaaS: appliance unfrozen',
};

/** Events an owner should see at once (ntfy priority high); the rest are informational. */
const HIGH_PRIORITY: ReadonlySet<string> = new Set(['sign_request.pending_approval', 'sign_request.denied', 'wallet.frozen', 'appliance.frozen']);

/** One ntfy emoji tag per event type. */
const NTFY_TAGS: Readonly<Record<NotifyEventType, string>> = {
  'sign_request.signed_with_notice': 'memo',
  'sign_request.pending_delay': 'hourglass',
  'sign_request.pending_approval': 'raising_hand',
  'sign_request.approval_downgraded': 'hourglass',
  'sign_request.denied': 'no_entry',
  'sign_request.expired': 'wastebasket',
  'sign_request.rejected': 'x',
  'wallet.frozen': 'ice_cube',
  'wallet.unfrozen': 'unlock',
  'appliance.frozen': 'rotating_light',
  'appliance.unfrozen': 'unlock',
};

/** The ntfy message for a notification body. Header values are kept to printable ASCII (HTTP headers are bytes). */
export function ntfyMessage(body: NotificationBody): NtfyMessage {
  const template = NTFY_TITLES[body.type] ?? `WAIaaS: ${body.type}{w}`;
  const wallet = body.wallet_id ?? '';
  const title = template.replace(' for {w}', wallet ? ` for ${wallet}` : '').replace('{w}', wallet).replace(/[^\x20-\x7e]/g, '?');
  const lines = [body.detail];
  for (const s of body.summary ?? []) lines.push(`- ${s}`);
  if (body.sign_request_id) lines.push(`request: ${body.sign_request_id}`);
  if (body.rule) lines.push(`rule: ${body.rule}`);
  return {
    title,
    priority: HIGH_PRIORITY.has(body.type) ? 'high' : 'default',
    tags: ['waiaas', NTFY_TAGS[body.type] ?? 'bell'],
    text: lines.join('\n'),
  };
}

/** An outbox row as the loop reads it. */
interface OutboxRow {
  id: number;
  sink: string;
  event_type: string;
  body: string;
  create_time: string;
  attempts: number;
  last_error: string | null;
}

/** The result of one delivery attempt. */
type Outcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; error: string; retryAfterMs?: number }
  | { kind: 'permanent'; error: string }
  /** Aborted by stop(): not the receiver's fault, so not counted; the next start sends it again. */
  | { kind: 'stopped' };

/** Longest last_error kept. */
const MAX_ERROR_CHARS = 300;

/**
 * The outbox writer and delivery loop. Satisfies the signer's `Notifications` interface (`enqueue` + `kick`).
 * One Notifier per Store; construct it with the store it writes into.
 */
export class Notifier {
  private readonly store: Store;
  private readonly sinks: readonly Sink[];
  private readonly sinkByName: ReadonlyMap<string, Sink>;
  private readonly log: Logger;
  private readonly clock: () => Date;
  private readonly fetch: typeof fetch;
  private readonly backoffBaseMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxAttempts: number;
  private readonly maxAgeMs: number;
  private readonly pollMs: number;
  private readonly requestTimeoutMs: number;
  private readonly concurrencyPerSink: number;
  /** Every secret of every sink, to scrub from error texts (defence in depth). */
  private readonly secrets: readonly string[];

  private readonly sql: {
    insert: Database.Statement;
    setBody: Database.Statement;
    due: Database.Statement;
    nextDue: Database.Statement;
    delivered: Database.Statement;
    retry: Database.Statement;
    giveUp: Database.Statement;
    orphans: Database.Statement;
  };

  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private kickScheduled = false;
  /** Row ids being delivered (until their outcome is committed), so no row is sent twice at once. */
  private readonly inFlight = new Set<number>();
  /** Deliveries in flight per sink name. */
  private readonly busy = new Map<string, number>();
  /** Promises of every in-flight delivery, for stop(). */
  private readonly pending = new Set<Promise<void>>();
  /** Aborted by stop() when in-flight deliveries outlast the grace period. */
  private stopController = new AbortController();

  /** Checks the wiring and the sinks; throws (without quoting any secret) when something is missing or wrong. */
  constructor(deps: NotifierDeps) {
    requireDeps('Notifier', deps, ['store', 'sinks', 'log']);
    if (!Array.isArray(deps.sinks)) throw new Error('Notifier: sinks must be an array');
    const byName = new Map<string, Sink>();
    for (const sink of deps.sinks) {
      const problem = sinkProblem(sink);
      if (problem !== undefined) throw new Error(`Notifier: ${problem}`);
      if (byName.has(sink.name)) throw new Error(`Notifier: two sinks are named "${sink.name}"; names must be unique`);
      byName.set(sink.name, sink);
    }
    this.store = deps.store;
    this.sinks = [...deps.sinks];
    this.sinkByName = byName;
    this.log = deps.log.child({ component: 'notify' });
    this.clock = deps.clock ?? (() => new Date());
    // Called as a plain function: some fetch implementations refuse to run with another object as `this`.
    const fetchImpl = deps.fetch ?? globalThis.fetch;
    this.fetch = (input, init) => fetchImpl(input, init);
    const num = (name: keyof typeof NOTIFIER_DEFAULTS, integer: boolean): number => {
      const v = deps[name] ?? NOTIFIER_DEFAULTS[name];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
        throw new Error(`Notifier: ${name} must be a positive ${integer ? 'integer' : 'number'}`);
      }
      return v;
    };
    this.backoffBaseMs = num('backoffBaseMs', false);
    this.maxBackoffMs = num('maxBackoffMs', false);
    this.maxAttempts = num('maxAttempts', true);
    this.maxAgeMs = num('maxAgeSeconds', false) * 1000;
    this.pollMs = num('pollMs', false);
    this.requestTimeoutMs = num('requestTimeoutMs', false);
    this.concurrencyPerSink = num('concurrencyPerSink', true);
    this.secrets = this.sinks
      .map((s) => (s.kind === 'webhook' ? s.secret : s.token))
      .filter((s): s is string => typeof s === 'string' && s.length > 0);

    const db = this.store.db;
    const undelivered = 'delivered_time IS NULL AND gave_up = 0'; // matches the partial index notifications_due
    this.sql = {
      insert: db.prepare(`INSERT INTO notifications (sink, event_type, body, create_time, next_attempt_ms) VALUES (?, ?, '{}', ?, ?)`),
      setBody: db.prepare('UPDATE notifications SET body = ? WHERE id = ?'),
      due: db.prepare(
        `SELECT id, sink, event_type, body, create_time, attempts, last_error FROM notifications
         WHERE ${undelivered} AND next_attempt_ms <= ? AND sink = ? ORDER BY next_attempt_ms, id LIMIT ?`,
      ),
      nextDue: db.prepare(`SELECT MIN(next_attempt_ms) AS t FROM notifications WHERE ${undelivered} AND next_attempt_ms > ?`),
      delivered: db.prepare('UPDATE notifications SET delivered_time = ?, attempts = ?, last_error = NULL WHERE id = ?'),
      retry: db.prepare('UPDATE notifications SET attempts = ?, next_attempt_ms = ?, last_error = ? WHERE id = ?'),
      giveUp: db.prepare('UPDATE notifications SET gave_up = 1, attempts = ?, last_error = ? WHERE id = ?'),
      orphans: db.prepare(
        `SELECT id, sink FROM notifications WHERE ${undelivered} AND sink NOT IN (SELECT value FROM json_each(?)) ORDER BY id`,
      ),
    };
  }

  /**
   * Files `event` for every sink: one outbox row each, due now.
   *
   * Contract: call it INSIDE the `store.write(() => ...)` op that makes the change the event reports (it runs its SQL
   * synchronously in the caller's transaction, so the notification commits with the change or not at all), and call
   * `kick()` after that write has resolved, so delivery starts at once instead of at the next poll. It throws when no
   * transaction is open, because a notification committed on its own could report a change that was rolled back. It
   * never touches the network. With no sinks it does nothing.
   */
  enqueue(event: NotifyEvent): void {
    if (this.sinks.length === 0) return;
    if (!this.store.db.inTransaction) {
      throw new Error('Notifier.enqueue must be called inside store.write(...), in the transaction of the change it reports');
    }
    const now = this.clock();
    const createTime = now.toISOString();
    for (const sink of this.sinks) {
      const id = Number(this.sql.insert.run(sink.name, event.type, createTime, now.getTime()).lastInsertRowid);
      // The body carries its own row id, known only after the INSERT; same transaction, so nobody sees the placeholder.
      this.sql.setBody.run(notificationBody(id, event), id);
    }
  }

  /**
   * Starts the delivery loop (idempotent). Rows left undelivered by a previous run are picked up; rows of sinks that
   * are no longer configured are given up with a warning, since nothing could ever deliver them.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.stopController.signal.aborted) this.stopController = new AbortController();
    void this.giveUpOrphans();
    this.kick();
  }

  /**
   * Wakes the loop now instead of at the next poll; call it after the store write that enqueued has resolved. Cheap
   * and safe to call often: kicks before the loop runs are merged, and nothing runs on the caller's stack.
   */
  kick(): void {
    if (!this.running || this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.tick();
    });
  }

  /**
   * Stops the loop: no new deliveries start; in-flight ones get up to the request timeout to finish and record their
   * outcome, then are aborted (an aborted delivery is not counted as an attempt). Undelivered rows stay in the table
   * for the next start. Resolves when nothing is in flight.
   */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const all = Promise.allSettled([...this.pending]);
    let grace: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      all.then(() => true),
      new Promise<boolean>((resolve) => {
        grace = setTimeout(() => resolve(false), this.requestTimeoutMs + 1000);
      }),
    ]);
    clearTimeout(grace);
    if (!finished) {
      // Only a fetch that ignores its timeout signal gets here; abort it and wait for the (quick) bookkeeping.
      this.stopController.abort();
      await all;
    }
  }

  // --- the loop ----------------------------------------------------------------------------------------------

  /** One pass: start deliveries for due rows, per sink up to its free slots, then sleep until the next due row. */
  private tick(): void {
    if (!this.running) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    let wake = this.pollMs;
    try {
      const nowMs = this.clock().getTime();
      for (const sink of this.sinks) {
        const busy = this.busy.get(sink.name) ?? 0;
        let free = this.concurrencyPerSink - busy;
        if (free <= 0) continue;
        // In-flight rows of this sink are still due in the table; ask for enough rows to skip them.
        const rows = this.sql.due.all(nowMs, sink.name, free + busy) as OutboxRow[];
        for (const row of rows) {
          if (free <= 0) break;
          if (this.inFlight.has(row.id)) continue;
          free--;
          this.launch(sink, row);
        }
      }
      // Rows due now but not started (slots full) start when a slot frees: each delivery kicks when it ends.
      const next = (this.sql.nextDue.get(nowMs) as { t: number | null }).t;
      if (next !== null) wake = Math.max(0, Math.min(wake, next - nowMs));
    } catch (err) {
      // The database failed (closed, I/O): nothing is lost (rows stay in the table); try again at the next poll.
      this.log.error({ err }, 'cannot read the notification outbox');
    }
    this.timer = setTimeout(() => this.tick(), wake);
    // The loop alone must not keep the process alive; in-flight requests and stop() do.
    this.timer.unref();
  }

  /** Runs one row's delivery in the background, keeping the slot and the row reserved until its outcome is committed. */
  private launch(sink: Sink, row: OutboxRow): void {
    this.inFlight.add(row.id);
    this.busy.set(sink.name, (this.busy.get(sink.name) ?? 0) + 1);
    const p = this.process(sink, row)
      .catch((err: unknown) => {
        // Only the store can throw here (the outcome could not be recorded); the row stays due and is retried.
        this.log.error({ err, sink: sink.name, notificationId: row.id }, 'cannot record a notification delivery');
      })
      .finally(() => {
        this.inFlight.delete(row.id);
        this.busy.set(sink.name, (this.busy.get(sink.name) ?? 1) - 1);
        this.pending.delete(p);
        this.kick();
      });
    this.pending.add(p);
  }

  /** Delivers one row (or gives it up when too old) and commits the outcome. */
  private async process(sink: Sink, row: OutboxRow): Promise<void> {
    const createdMs = Date.parse(row.create_time);
    const ctx = { sink: sink.name, notificationId: row.id, eventType: row.event_type };
    if (this.clock().getTime() - createdMs >= this.maxAgeMs) {
      const why = `older than ${this.maxAgeMs / 1000} s${row.last_error ? ` (last error: ${row.last_error})` : ''}`;
      await this.giveUp(ctx, row.attempts, why);
      return;
    }

    const outcome = await this.deliver(sink, row);
    if (outcome.kind === 'stopped') return;
    const attempts = row.attempts + 1;
    if (outcome.kind === 'delivered') {
      await this.store.write(() => this.sql.delivered.run(this.clock().toISOString(), attempts, row.id));
      metrics.notification(sink.name, 'delivered');
      this.log.debug({ ...ctx, attempts, status: outcome.status }, 'notification delivered');
      return;
    }
    if (outcome.kind === 'permanent') {
      await this.giveUp(ctx, attempts, outcome.error);
      return;
    }
    if (attempts >= this.maxAttempts) {
      await this.giveUp(ctx, attempts, `${outcome.error}; no attempts left (max ${this.maxAttempts})`);
      return;
    }
    const delay = this.backoff(attempts, outcome.retryAfterMs);
    const nextMs = this.clock().getTime() + delay;
    if (nextMs - createdMs >= this.maxAgeMs) {
      await this.giveUp(ctx, attempts, `${outcome.error}; the next attempt would be past the maximum age of ${this.maxAgeMs / 1000} s`);
      return;
    }
    await this.store.write(() => this.sql.retry.run(attempts, nextMs, outcome.error, row.id));
    metrics.notification(sink.name, 'retry');
    this.log.debug({ ...ctx, attempts, retryInMs: delay, error: outcome.error }, 'notification delivery failed; will retry');
  }

  /** Marks a row given up and says so in the log (sink name and row id; never the URL or a secret). */
  private async giveUp(ctx: { sink: string; notificationId: number; eventType: string }, attempts: number, error: string): Promise<void> {
    const text = this.scrub(error);
    await this.store.write(() => this.sql.giveUp.run(attempts, text, ctx.notificationId));
    metrics.notification(ctx.sink, 'gave_up');
    this.log.warn({ ...ctx, attempts, error: text }, 'notification given up');
  }

  /** At start: rows whose sink is gone can never be delivered; give them up once, loudly. */
  private async giveUpOrphans(): Promise<void> {
    try {
      const rows = this.sql.orphans.all(JSON.stringify([...this.sinkByName.keys()])) as { id: number; sink: string }[];
      if (rows.length === 0) return;
      await this.store.write(() => {
        for (const r of rows) this.sql.giveUp.run(0, 'the sink is no longer configured', r.id);
      });
      const bySink = new Map<string, number[]>();
      for (const r of rows) bySink.set(r.sink, [...(bySink.get(r.sink) ?? []), r.id]);
      for (const [sink, ids] of bySink) {
        this.log.warn({ sink, count: ids.length, notificationIds: ids.slice(0, 20) }, 'notifications given up: their sink is no longer configured');
      }
    } catch (err) {
      this.log.error({ err }, 'cannot check the notification outbox for removed sinks');
    }
  }

  /**
   * The delay before attempt `attempts + 1`: base × 2^(attempts−1), capped, at least what a Retry-After asked for (also
   * capped), minus up to 20% jitter so that many rows failing together do not retry in lock-step.
   */
  private backoff(attempts: number, retryAfterMs: number | undefined): number {
    const exp = Math.min(this.maxBackoffMs, this.backoffBaseMs * 2 ** Math.min(attempts - 1, 40));
    const wanted = Math.min(this.maxBackoffMs, Math.max(exp, retryAfterMs ?? 0));
    return Math.round(wanted * (1 - 0.2 * Math.random()));
  }

  // --- one HTTP attempt --------------------------------------------------------------------------------------

  /** Sends one row to its sink and classifies the answer. Never throws. */
  private async deliver(sink: Sink, row: OutboxRow): Promise<Outcome> {
    let request: { headers: Record<string, string>; body: string };
    try {
      request = sink.kind === 'webhook' ? this.webhookRequest(sink, row) : this.ntfyRequest(sink, row);
    } catch (err) {
      // A body that does not parse cannot get better by waiting.
      return { kind: 'permanent', error: `cannot build the request: ${this.describe(err)}` };
    }
    const signal = AbortSignal.any([AbortSignal.timeout(this.requestTimeoutMs), this.stopController.signal]);
    let res: Response;
    try {
      // Redirects are not followed: a redirect would send the signed body (or the bearer token) somewhere else.
      res = await this.fetch(sink.url, { method: 'POST', headers: request.headers, body: request.body, signal, redirect: 'manual' });
    } catch (err) {
      if (this.stopController.signal.aborted) return { kind: 'stopped' };
      return { kind: 'retry', error: this.describe(err) };
    }
    // The response body is never read: only the status matters, and a receiver that echoes our request (headers
    // included) must not get a secret into last_error or the log. Cancelling frees the connection.
    await res.body?.cancel().catch(() => undefined);
    const status = res.status;
    if (status >= 200 && status < 300) return { kind: 'delivered', status };
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return { kind: 'permanent', error: `HTTP ${status} (a client error is not retried)` };
    }
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(res.headers.get('retry-after'), this.clock().getTime()) : undefined;
    const note = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
    return retryAfterMs === undefined ? { kind: 'retry', error: `HTTP ${status}${note}` } : { kind: 'retry', error: `HTTP ${status}`, retryAfterMs };
  }

  /** The signed JSON POST of a webhook. The timestamp is taken now, at send time, so each attempt is signed afresh. */
  private webhookRequest(sink: WebhookSink, row: OutboxRow): { headers: Record<string, string>; body: string } {
    const timestamp = String(Math.floor(this.clock().getTime() / 1000));
    return {
      body: row.body,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'waiaas-signer',
        'x-waiaas-event': row.event_type,
        'x-waiaas-delivery': String(row.id),
        'x-waiaas-timestamp': timestamp,
        'x-waiaas-signature': `v1=${signWebhook(sink.secret, timestamp, row.body)}`,
      },
    };
  }

  /** The text POST of an ntfy topic. */
  private ntfyRequest(sink: NtfySink, row: OutboxRow): { headers: Record<string, string>; body: string } {
    const msg = ntfyMessage(JSON.parse(row.body) as NotificationBody);
    const headers: Record<string, string> = {
      'content-type': 'text/plain; charset=utf-8',
      'user-agent': 'waiaas-signer',
      title: msg.title,
      priority: msg.priority,
      tags: msg.tags.join(','),
    };
    if (sink.token !== undefined) headers['authorization'] = `Bearer ${sink.token}`;
    return { headers, body: msg.text };
  }

  /** A short, secret-free description of a failed request, for last_error and the log. */
  private describe(err: unknown): string {
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
      return `no answer within ${this.requestTimeoutMs} ms`;
    }
    let text = err instanceof Error ? err.message : String(err);
    const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
    if (cause && typeof cause === 'object') {
      if (typeof cause.code === 'string') text += ` (${cause.code})`;
      else if (typeof cause.message === 'string') text += ` (${cause.message})`;
    }
    return this.scrub(text);
  }

  /** Replaces every sink secret in `text` and bounds its length; the last line of defence for error texts. */
  private scrub(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('[REDACTED]');
    return out.length > MAX_ERROR_CHARS ? `${out.slice(0, MAX_ERROR_CHARS)}…` : out;
  }
}

/** A Retry-After header (seconds or an HTTP date) in milliseconds from `nowMs`, or undefined when absent or unusable. */
function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
