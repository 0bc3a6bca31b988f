/**
 * Honest readiness: the appliance is ready only while the HSM, the database and the audit log are usable, checked
 * again every few seconds, not just once at start-up.
 *
 * ReadinessMonitor runs named checks in rounds (all checks of a round concurrently, the next round `intervalMs` after
 * the previous one ended, so rounds never overlap). Each check must settle within its timeout; a check that rejects,
 * times out, or settles late fails. A check still running from an earlier round (hung) is not called again: it fails
 * with "still running" until its call settles, so a hung HSM never piles up calls. After each round the monitor
 * publishes `ready` and `failing` and calls `onChange` when the first round is done and, afterwards, only when `ready`
 * or the set of failing checks changed.
 *
 * What a timeout cannot do: a synchronous call that never returns (a PKCS#11 or SQLite call blocking the thread)
 * stops the whole event loop, timers included. Nothing in the process can report that; the liveness endpoint
 * (/healthz) stops answering, which is what the supervisor's liveness probe is for.
 *
 * The checks provided here:
 * - hsmCheck: `Hsm.ping()`: the login session exists and is logged in (logging in again if the token forgot).
 * - storeCheck: the database can take a write transaction and the disk can take writes; see storeCheck.
 * - auditCheck: a callback the audit log provides.
 */
import { constants } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Hsm } from '../../hsm/index.ts';
import type { Store } from '../store/store.ts';

/** One named readiness check. */
export interface ReadinessCheck {
  /** Short component name, reported in `failing` and by /readyz (e.g. 'hsm', 'store', 'audit'). */
  name: string;
  /** Resolves when the component is usable; rejects (with a message for the log) when not. `signal` aborts at the timeout. */
  check(signal: AbortSignal): Promise<void>;
  /** This check's timeout (default: the monitor's `timeoutMs`). */
  timeoutMs?: number;
}

/** The last result of one check. */
export interface CheckStatus {
  name: string;
  /** Counts for readiness: has passed at least once and has not failed `failureThreshold` rounds in a row. */
  ok: boolean;
  /** Result of the last round. */
  lastOk: boolean;
  /** Why the last round failed (for the log; /readyz shows names only). */
  error?: string;
  /** How long the last call took, in milliseconds (undefined while it has never settled). */
  durationMs?: number;
  consecutiveFailures: number;
}

/** What the monitor logs through (a pino Logger fits). */
export interface ReadinessLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Options of ReadinessMonitor. */
export interface ReadinessMonitorOptions {
  checks: ReadinessCheck[];
  /** Pause between the end of one round and the start of the next, in milliseconds. */
  intervalMs: number;
  /** Default per-check timeout in milliseconds (default: intervalMs, at most 2000). */
  timeoutMs?: number;
  /** Rounds in a row a check that has passed before must fail before it counts as failing (default 1: at once). */
  failureThreshold?: number;
  /** Called after the first round, then whenever `ready` or the set of failing checks changes. */
  onChange(ready: boolean, failing: string[]): void;
  /** Transitions are logged here (warn when not ready, with each failing check's error; info when ready). */
  log?: ReadinessLog;
  /** Monotonic milliseconds (tests). */
  now?: () => number;
}

interface CheckState {
  readonly check: ReadinessCheck;
  readonly timeoutMs: number;
  everOk: boolean;
  lastOk: boolean;
  error: string | undefined;
  durationMs: number | undefined;
  consecutiveFailures: number;
  /** Set while a call is running; cleared when it settles (even after its round gave up on it). */
  running: { since: number } | undefined;
}

/** Thrown by a check that did not settle within its timeout. */
export class CheckTimeoutError extends Error {
  override name = 'CheckTimeoutError';
}

/** Runs readiness checks periodically and reports transitions. */
export class ReadinessMonitor {
  /** True when every check passes (false until the first round is done). */
  ready = false;
  /** Names of the failing checks, in configuration order (every check until the first round is done). */
  failing: string[];

  readonly #states: CheckState[];
  readonly #intervalMs: number;
  readonly #threshold: number;
  readonly #onChange: (ready: boolean, failing: string[]) => void;
  readonly #log: ReadinessLog | undefined;
  readonly #now: () => number;
  #reported = false;
  #running = false;
  /** Set by stop() until the next start(): rounds then change nothing and call nothing. */
  #stopped = false;
  /** Incremented by every stop(), so that a round that was running across a stop() is discarded. */
  #stops = 0;
  /** Incremented by every start(), so that a tick chain from before a stop()/start() ends instead of running twice. */
  #generation = 0;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<boolean> | undefined;
  #first: Promise<void> | undefined;

  constructor(options: ReadinessMonitorOptions) {
    const { checks, intervalMs } = options;
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new RangeError('ReadinessMonitor: intervalMs must be a positive number');
    const timeoutMs = options.timeoutMs ?? Math.min(intervalMs, 2000);
    const names = new Set<string>();
    for (const c of checks) {
      if (typeof c.name !== 'string' || c.name.length === 0) throw new Error('ReadinessMonitor: every check needs a name');
      if (names.has(c.name)) throw new Error(`ReadinessMonitor: two checks are named "${c.name}"`);
      if (typeof c.check !== 'function') throw new Error(`ReadinessMonitor: check "${c.name}" has no check function`);
      names.add(c.name);
      const t = c.timeoutMs ?? timeoutMs;
      if (!Number.isFinite(t) || t <= 0) throw new RangeError(`ReadinessMonitor: check "${c.name}" needs a positive timeout`);
    }
    const threshold = options.failureThreshold ?? 1;
    if (!Number.isInteger(threshold) || threshold < 1) throw new RangeError('ReadinessMonitor: failureThreshold must be an integer of at least 1');
    this.#states = checks.map((check) => ({
      check,
      timeoutMs: check.timeoutMs ?? timeoutMs,
      everOk: false,
      lastOk: false,
      error: 'not checked yet',
      durationMs: undefined,
      consecutiveFailures: 0,
      running: undefined,
    }));
    this.#intervalMs = intervalMs;
    this.#threshold = threshold;
    this.#onChange = options.onChange;
    this.#log = options.log;
    this.#now = options.now ?? (() => performance.now());
    this.failing = checks.map((c) => c.name);
  }

  /** Names of the checks, in configuration order. */
  get names(): string[] {
    return this.#states.map((s) => s.check.name);
  }

  /** The last result of every check. */
  status(): CheckStatus[] {
    return this.#states.map((s) => ({
      name: s.check.name,
      ok: this.#counts(s),
      lastOk: s.lastOk,
      ...(s.error === undefined ? {} : { error: s.error }),
      ...(s.durationMs === undefined ? {} : { durationMs: s.durationMs }),
      consecutiveFailures: s.consecutiveFailures,
    }));
  }

  /**
   * Starts the rounds: the first one at once (the returned promise resolves when it is done, so the caller can wait
   * for an honest first answer before serving), then one every `intervalMs`. Idempotent while running.
   */
  start(): Promise<void> {
    if (this.#running && this.#first !== undefined) return this.#first;
    this.#running = true;
    this.#stopped = false;
    this.#first = this.#tick(++this.#generation);
    return this.#first;
  }

  /**
   * Stops the rounds. A round in progress finishes but changes nothing and calls nothing, and so does any round
   * asked for with check() until start() is called again: a server that is draining never flips back to SERVING.
   */
  stop(): void {
    this.#running = false;
    this.#stopped = true;
    this.#stops++;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Runs one round now (or joins the one in progress) and resolves with `ready`. Works before start() (a one-off
   * check); after stop() the round runs but changes nothing. Use it to re-check at once when a component reports a
   * change (e.g. `hsm.onHealthChange(() => void monitor.check())`).
   */
  check(): Promise<boolean> {
    this.#round ??= this.#runRound().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  async #tick(generation: number): Promise<void> {
    try {
      await this.check();
    } catch (err) {
      this.#log?.error({ err }, 'readiness round failed');
    }
    if (!this.#running || generation !== this.#generation) return;
    this.#timer = setTimeout(() => void this.#tick(generation), this.#intervalMs);
    this.#timer.unref();
  }

  #counts(s: CheckState): boolean {
    return s.everOk && s.consecutiveFailures < this.#threshold;
  }

  async #runRound(): Promise<boolean> {
    const stops = this.#stops;
    const results = await Promise.all(this.#states.map((s) => this.#runCheck(s)));
    // A round after or across stop() changes nothing: the server may be draining and must not flip back to SERVING.
    if (this.#stopped || stops !== this.#stops) return this.ready;
    results.forEach((r, i) => {
      const s = this.#states[i] as CheckState;
      s.lastOk = r.ok;
      s.error = r.error;
      if (r.durationMs !== undefined) s.durationMs = r.durationMs;
      if (r.ok) {
        s.everOk = true;
        s.consecutiveFailures = 0;
      } else {
        s.consecutiveFailures++;
      }
    });
    const failing = this.#states.filter((s) => !this.#counts(s)).map((s) => s.check.name);
    const ready = failing.length === 0;
    const changed = !this.#reported || ready !== this.ready || failing.join('\n') !== this.failing.join('\n');
    this.ready = ready;
    this.failing = failing;
    if (changed) {
      this.#reported = true;
      if (this.#log !== undefined) {
        if (ready) this.#log.info({ checks: this.names }, 'ready: every readiness check passes');
        else {
          const errors = Object.fromEntries(this.#states.filter((s) => failing.includes(s.check.name)).map((s) => [s.check.name, s.error ?? 'failing']));
          this.#log.warn({ failing, errors }, 'not ready: readiness checks failing');
        }
      }
      try {
        this.#onChange(ready, [...failing]);
      } catch (err) {
        this.#log?.error({ err }, 'readiness onChange callback threw');
      }
    }
    return ready;
  }

  async #runCheck(s: CheckState): Promise<{ ok: boolean; error?: string; durationMs?: number }> {
    if (s.running !== undefined) {
      return { ok: false, error: `still running after ${Math.round(this.#now() - s.running.since)} ms (timeout ${s.timeoutMs} ms)` };
    }
    const since = this.#now();
    const running = { since };
    s.running = running;
    const abort = new AbortController();
    // A check that throws synchronously is a failed check, not a failed round.
    const call = Promise.resolve().then(() => s.check.check(abort.signal));
    const settled = (): void => {
      if (s.running === running) s.running = undefined;
    };
    call.then(settled, settled);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new CheckTimeoutError(`no answer within ${s.timeoutMs} ms`);
        abort.abort(err);
        reject(err);
      }, s.timeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([call, timeout]);
      const durationMs = this.#now() - since;
      // A check that blocked the event loop settles "in time" by the timer's reckoning but late by the clock.
      if (durationMs > s.timeoutMs) return { ok: false, error: `took ${Math.round(durationMs)} ms (timeout ${s.timeoutMs} ms)`, durationMs };
      return { ok: true, durationMs };
    } catch (err) {
      const timedOut = err instanceof CheckTimeoutError;
      return { ok: false, error: describe(err), ...(timedOut ? {} : { durationMs: this.#now() - since }) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A one-line description of a check failure for the log (the message and, when present, its code or kind). */
function describe(err: unknown): string {
  if (err instanceof Error) {
    const tag = (err as { code?: unknown; kind?: unknown }).code ?? (err as { kind?: unknown }).kind;
    return typeof tag === 'string' && !err.message.includes(tag) ? `${err.message} (${tag})` : err.message;
  }
  return String(err);
}

/** The HSM is usable: `Hsm.ping()` (login session alive and logged in; it logs in again if the token forgot). */
export function hsmCheck(hsm: Pick<Hsm, 'ping'>, options: { name?: string; timeoutMs?: number } = {}): ReadinessCheck {
  return { name: options.name ?? 'hsm', ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), check: () => hsm.ping() };
}

/** The audit log is usable, as its own callback says. */
export function auditCheck(check: () => Promise<void> | void, options: { name?: string; timeoutMs?: number } = {}): ReadinessCheck {
  return { name: options.name ?? 'audit', ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), check: async () => check() };
}

/** Free space below which the store check fails by default: 64 MiB. */
export const DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024;

/** Options of storeCheck. */
export interface StoreCheckOptions {
  name?: string;
  timeoutMs?: number;
  /** Fail when the database's file system has fewer bytes available than this (default 64 MiB; 0 turns it off). */
  minFreeBytes?: number;
  /** Replaceable for tests: free space of the file system holding `dir`. */
  statfs?: (dir: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>;
  /** Replaceable for tests: rejects when `path` is not writable. */
  access?: (path: string) => Promise<void>;
}

/** Pages the database must still be able to grow by before it counts as full under max_page_count. */
const MIN_FREE_PAGES = 64;

/**
 * The database is usable for writing. In order:
 *
 * 1. The connection is open and not read-only.
 * 2. `store.write(() => store.ping())`: one transaction through the group-commit queue, as the signing path writes.
 *    Store.write opens it with BEGIN IMMEDIATE, so this takes the write lock: it fails when another process holds
 *    the lock past busy_timeout (SQLITE_BUSY), when the connection is closed, or when the queue is stuck (timeout).
 * 3. `page_count` is at least 64 pages below `max_page_count` (SQLite's own "database full").
 * 4. The database file, its folder and its -wal file (when present) pass access(W_OK): fails on a read-only
 *    mount (EROFS, even for root) or a permission change (EACCES).
 * 5. The file system has at least `minFreeBytes` available (statfs): fails before SQLITE_FULL would.
 *
 * Why not `BEGIN IMMEDIATE; ROLLBACK` alone: measured with better-sqlite3 on SQLite in WAL mode, BEGIN IMMEDIATE and
 * an empty COMMIT both succeed on a connection opened read-only and on a file system with 0 bytes free (neither
 * writes a page); only a real page write fails (SQLITE_READONLY / SQLITE_FULL). A real write every few seconds
 * would need a table of its own (a migration), so steps 4 and 5 look at the file system instead.
 *
 * Not caught: a disk that accepts writes but fails them later (I/O errors at fsync). The signing path fails closed
 * on those (nothing is signed that cannot be recorded). A one-row probe table written each round would catch them.
 */
export function storeCheck(store: Pick<Store, 'write' | 'ping' | 'path' | 'db'>, options: StoreCheckOptions = {}): ReadinessCheck {
  const minFree = options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
  const stat = options.statfs ?? ((dir: string) => statfs(dir));
  const writable = options.access ?? ((p: string) => access(p, constants.W_OK));
  const inMemory = store.path === ':memory:' || store.path === '';
  const file = inMemory ? '' : resolve(store.path);
  const exists = (p: string): Promise<boolean> => access(p, constants.F_OK).then(() => true, () => false);
  const notWritable = (what: string, err: unknown): Error => {
    const code = (err as { code?: unknown }).code;
    return new Error(`${what} is not writable${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err });
  };
  return {
    name: options.name ?? 'store',
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    check: async () => {
      const db = store.db;
      if (!db.open) throw new Error('the database connection is closed');
      if (db.readonly) throw new Error('the database connection is read-only');
      await store.write(() => store.ping());
      const pages = Number(db.pragma('page_count', { simple: true }));
      const maxPages = Number(db.pragma('max_page_count', { simple: true }));
      if (maxPages - pages < MIN_FREE_PAGES) throw new Error(`the database is full: ${pages} of at most ${maxPages} pages (max_page_count)`);
      if (inMemory) return;
      const dir = dirname(file);
      for (const [what, p] of [['the database file', file], ['the database folder', dir], ['the database WAL file', `${file}-wal`]] as const) {
        if (p.endsWith('-wal') && !(await exists(p))) continue;
        try {
          await writable(p);
        } catch (err) {
          throw notWritable(`${what} ${p}`, err);
        }
      }
      if (minFree > 0) {
        const s = await stat(dir);
        const free = Number(s.bavail) * Number(s.bsize);
        if (free < minFree) {
          throw new Error(`the database file system has ${Math.floor(free / 1048576)} MiB available, below the ${Math.floor(minFree / 1048576)} MiB minimum`);
        }
      }
    },
  };
}
