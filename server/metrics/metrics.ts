/**
 * The appliance's metrics, and the functions the rest of the code calls to record them. One process-wide instance,
 * `metrics`, is what the server uses; tests build their own `new ApplianceMetrics()` to read exact values.
 *
 * Every recording function is cheap (a Map lookup and an addition), synchronous, and never throws: a metric must
 * never break a signing call. Label values come from closed sets (gRPC method names, status code names, payload
 * kinds, verdicts, states, curves, HSM error kinds, configured sink names, readiness check names).
 *
 * Nothing secret is ever a label or a value: no keys, addresses, wallet ids, request ids, PINs or URLs.
 *
 * See docs/observability.md for what each metric means and how to alert on it.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { readdirSync } from 'node:fs';
import { HSM_ERROR_KINDS, isHsmError, type Curve, type Hsm } from '../../hsm/index.ts';
import { Registry, type Counter, type Gauge, type Histogram } from './registry.ts';

/** Buckets of `waiaas_signing_seconds`: 0.5 ms to 5 s. */
export const SIGNING_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Buckets of `waiaas_store_write_seconds`: 0.5 ms to 5 s (the SQLite busy timeout is 5 s). */
export const STORE_WRITE_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** What became of one notification delivery attempt (or of the row, for gave_up). */
export type NotificationOutcome = 'delivered' | 'retry' | 'gave_up';

/** The label used for an HSM error that is not an HsmError (a bug, or a wrapper that threw something else). */
export const OTHER_HSM_ERROR = 'OTHER';

/** The fields of a sign request that label `waiaas_sign_requests_total`; a SignRequestRecord has them. */
export interface SignRequestLabels {
  /** Payload kind as recorded: solana_transaction, evm_transaction, evm_message, evm_typed_data, solana_message. */
  kind: string;
  /** INSTANT | NOTIFY | DELAY | APPROVAL | DENY; null/undefined (refused before the policy was evaluated) is 'none'. */
  verdict: string | null | undefined;
  /** The state the request just entered: PENDING | SIGNED | REFUSED | FAILED | CANCELLED | EXPIRED. */
  state: string;
}

/** What the metrics log through (a pino Logger fits). */
export interface MetricsLog {
  warn(obj: object, msg: string): void;
}

/** Options of ApplianceMetrics. */
export interface ApplianceMetricsOptions {
  /** Registry to register into (default: a new one). */
  registry?: Registry;
  /** Export process_* metrics (default true). */
  processMetrics?: boolean;
}

const GRPC_CODE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(GrpcStatus)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, code]) => [code, name]),
);
const GRPC_NAMES = new Set(GRPC_CODE_NAMES.values());

/** The gRPC status name of `code` ('OK', 'PERMISSION_DENIED', ...); anything unknown is 'UNKNOWN'. */
export function grpcCodeName(code: number | string): string {
  if (typeof code === 'number') return GRPC_CODE_NAMES.get(code) ?? 'UNKNOWN';
  return GRPC_NAMES.has(code) ? code : 'UNKNOWN';
}

/** The HsmErrorKind of `err` (looking through `cause` chains, e.g. a WaiaasError made by fromHsmError), else OTHER. */
export function hsmErrorKind(err: unknown): string {
  if (typeof err === 'string') return (HSM_ERROR_KINDS as readonly string[]).includes(err) ? err : OTHER_HSM_ERROR;
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== undefined && e !== null; depth++) {
    if (isHsmError(e)) return e.kind;
    e = e instanceof Error ? e.cause : undefined;
  }
  return OTHER_HSM_ERROR;
}

/** Starts a monotonic stopwatch; the returned function gives the seconds elapsed since. */
export function startTimer(): () => number {
  const t0 = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - t0) / 1e9;
}

const nonNegativeFinite = (n: number): boolean => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/** A count read from a source; 0 when there is none or it is not a finite positive number. A source that throws throws. */
function readCount(source: (() => number) | undefined): number {
  const v = source?.() ?? 0;
  return nonNegativeFinite(v) ? v : 0;
}

/** The appliance's metrics on one registry. */
export class ApplianceMetrics {
  /** Where the metrics live; give it to startMetricsServer. */
  readonly registry: Registry;

  readonly #rpc: Counter<'method' | 'code'>;
  readonly #signRequests: Counter<'kind' | 'verdict' | 'state'>;
  readonly #signing: Histogram<'curve'>;
  readonly #hsmErrors: Counter<'kind'>;
  #hsmReinitCount = 0;
  #hsmReinitSource: (() => number) | undefined;
  #auditWriteCount = 0;
  #auditWritesSource: (() => number) | undefined;
  readonly #storeWrite: Histogram;
  readonly #notifications: Counter<'sink' | 'outcome'>;
  readonly #ready: Gauge;
  readonly #checks: Gauge<'check'>;
  #pending: (() => number) | undefined;
  #log: MetricsLog | undefined;

  constructor(options: ApplianceMetricsOptions = {}) {
    this.registry = options.registry ?? new Registry({ onCollectError: (metric, err) => this.#log?.warn({ metric, err }, 'a metric could not be read') });
    const r = this.registry;
    this.#rpc = r.counter('waiaas_rpc_requests_total', 'gRPC calls handled by the API services, by full method name and status code name.', ['method', 'code']);
    this.#signRequests = r.counter(
      'waiaas_sign_requests_total',
      'Sign requests entering a state (PENDING, SIGNED, REFUSED, FAILED, CANCELLED, EXPIRED), by payload kind and policy verdict (none when refused before evaluation).',
      ['kind', 'verdict', 'state'],
    );
    this.#signing = r.histogram(
      'waiaas_signing_seconds',
      'Latency of successful HSM signatures as the signer sees them: session wait, C_Sign and the signature check.',
      SIGNING_BUCKETS,
      ['curve'],
    );
    this.#hsmErrors = r.counter('waiaas_hsm_errors_total', 'Failed HSM operations (sign, key generation) by HsmError kind (OTHER: not an HsmError).', ['kind']);
    r.counterFunc('waiaas_hsm_reinitializations_total', 'Successful HSM re-initialisations (recoveries after the token or its sessions failed).', () => {
      return this.#hsmReinitCount + readCount(this.#hsmReinitSource);
    });
    this.#pending = undefined;
    r.gaugeFunc('waiaas_pending_requests', 'Sign requests waiting in PENDING (delay or owner approval), read at scrape time.', () => this.#pending?.());
    r.counterFunc('waiaas_audit_writes_total', 'Records written to the audit log.', () => this.#auditWriteCount + readCount(this.#auditWritesSource));
    this.#storeWrite = r.histogram('waiaas_store_write_seconds', 'Duration of one store write transaction (group commit, fsync included).', STORE_WRITE_BUCKETS);
    this.#notifications = r.counter('waiaas_notifications_total', 'Owner notification delivery outcomes by sink: delivered, retry (attempt failed, will retry), gave_up.', ['sink', 'outcome']);
    this.#ready = r.gauge('waiaas_ready', '1 when the appliance is ready (HSM, database and audit log usable; gRPC health SERVING), else 0.');
    this.#checks = r.gauge('waiaas_readiness_check_ok', '1 when the readiness check passes, else 0, by check name.', ['check']);

    for (const kind of [...HSM_ERROR_KINDS, OTHER_HSM_ERROR]) this.#hsmErrors.init({ kind });
    for (const curve of ['ed25519', 'secp256k1']) this.#signing.init({ curve });

    if (options.processMetrics ?? true) registerProcessMetrics(r);
  }

  /** Sends warnings about metrics that could not be read at scrape time (a throwing pending-count source) to `log`. */
  setLogger(log: MetricsLog | undefined): void {
    this.#log = log;
  }

  /**
   * One gRPC call finished. `method` is the full name (`waiaas.v1.SignerService/SignEvmTransaction`), `code` the
   * status (number or name; 0/'OK' for success). Call it once per call, refused ones included (bind.ts's `done` hook).
   */
  rpc(method: string, code: number | string): void {
    this.#rpc.inc({ method: String(method), code: grpcCodeName(code) });
  }

  /**
   * A sign request entered a state (count each entry once): PENDING when recorded pending, then SIGNED / FAILED /
   * CANCELLED / EXPIRED when it leaves; REFUSED when denied or rejected at once; SIGNED or FAILED for INSTANT/NOTIFY.
   * SIGNING is not counted (it is transient). Pass the stored record, or `{ kind, verdict, state }`.
   */
  signRequest(r: SignRequestLabels): void {
    this.#signRequests.inc({ kind: String(r.kind), verdict: r.verdict === null || r.verdict === undefined || r.verdict === '' ? 'none' : String(r.verdict), state: String(r.state) });
  }

  /** A successful HSM signature on `curve` took `seconds` (ignored unless finite and not negative). */
  signed(curve: Curve | string, seconds: number): void {
    if (nonNegativeFinite(seconds)) this.#signing.observe({ curve: String(curve) }, seconds);
  }

  /** An HSM operation failed: pass the error (an HsmError, or anything wrapping one as `cause`) or an HsmErrorKind. */
  hsmError(errOrKind: unknown): void {
    this.#hsmErrors.inc({ kind: hsmErrorKind(errOrKind) });
  }

  /** The HSM layer re-initialised successfully after a failure (push style; see setHsmReinitializationsSource). */
  hsmReinitialized(): void {
    this.#hsmReinitCount++;
  }

  /**
   * Pull style for `waiaas_hsm_reinitializations_total`: a count kept by the HSM layer (e.g. `() =>
   * hsm.reinitializations`), read at scrape time and added to the pushed count. Wire one style, not both.
   */
  setHsmReinitializationsSource(read: (() => number) | undefined): void {
    this.#hsmReinitSource = read;
  }

  /** `count` records (default 1) were written (committed) to the audit log (push style; see setAuditWritesSource). */
  auditWrite(count = 1): void {
    if (nonNegativeFinite(count)) this.#auditWriteCount += count;
  }

  /**
   * Pull style for `waiaas_audit_writes_total`: a committed count read at scrape time and added to the pushed count,
   * e.g. `() => store.audit.head().seq` (entries in the log: exact, no call on the write path; it only goes down if
   * the log is cut, which a verification then reports). Wire one style, not both.
   */
  setAuditWritesSource(read: (() => number) | undefined): void {
    this.#auditWritesSource = read;
  }

  /** One store write transaction (a group-commit batch) took `seconds`. */
  storeWrite(seconds: number): void {
    if (nonNegativeFinite(seconds)) this.#storeWrite.observe(seconds);
  }

  /** One notification delivery outcome for the sink named `sink` (its configured name, never its URL). */
  notification(sink: string, outcome: NotificationOutcome): void {
    this.#notifications.inc({ sink: String(sink), outcome });
  }

  /** Exports the sinks' series at zero before their first event (so rate() works from the start). */
  initSinks(sinks: readonly string[]): void {
    for (const sink of sinks) for (const outcome of ['delivered', 'retry', 'gave_up'] as const) this.#notifications.init({ sink, outcome });
  }

  /**
   * Readiness changed: sets `waiaas_ready`, and `waiaas_readiness_check_ok` for every name in `checks` (1 unless it
   * is in `failing`) and for every name in `failing` (0). Give it ReadinessMonitor's onChange arguments.
   */
  setReady(ready: boolean, failing: readonly string[] = [], checks: readonly string[] = []): void {
    this.#ready.set(ready ? 1 : 0);
    const bad = new Set(failing);
    for (const check of new Set([...checks, ...failing])) this.#checks.set({ check }, bad.has(check) ? 0 : 1);
  }

  /**
   * Where `waiaas_pending_requests` comes from: called at every scrape (keep it cheap: an indexed COUNT). No sample
   * is exported while it is unset, returns undefined, or throws.
   */
  setPendingSource(read: (() => number) | undefined): void {
    this.#pending = read;
  }

  /**
   * Runs one HSM signature: on success records its latency under `curve`; on failure counts the error by kind and
   * rethrows it unchanged.
   */
  async timeHsmSign<T>(curve: Curve | string, sign: () => Promise<T>): Promise<T> {
    const elapsed = startTimer();
    let result: T;
    try {
      result = await sign();
    } catch (err) {
      this.hsmError(err);
      throw err;
    }
    this.signed(curve, elapsed());
    return result;
  }

  /** Runs another HSM operation (key generation): counts its failure by kind and rethrows it unchanged. */
  async countHsmErrors<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      this.hsmError(err);
      throw err;
    }
  }

  /** The text exposition of every metric. */
  render(): string {
    return this.registry.render();
  }
}

/** The process-wide metrics the server records into and exports. */
export const metrics = new ApplianceMetrics();

/** What observeSignRequests subscribes to; the signer's SignRequestEvents fits. */
export interface SignRequestEventSource {
  subscribe(id: string, fn: (record: SignRequestLabels & { id: string }) => void): () => void;
}

/** Ids remembered by observeSignRequests to count each state once (about 130 bytes each). */
const REMEMBERED_REQUESTS = 20_000;

/**
 * Counts `waiaas_sign_requests_total` from the signer's change events (published after each commit): every state a
 * request enters, once, SIGNING excepted. A record published again in the same state (an approval vote on a
 * PENDING request) is not counted twice; the last REMEMBERED_REQUESTS ids are remembered for that. Outcomes that
 * publish no event (refusals answered at once: malformed, frozen, DENY) must be counted with `metrics.signRequest`
 * where they happen. Returns the unsubscribe function.
 */
export function observeSignRequests(events: SignRequestEventSource, m: ApplianceMetrics = metrics, remember = REMEMBERED_REQUESTS): () => void {
  const last = new Map<string, string>();
  return events.subscribe('*', (rec) => {
    if (rec.state === 'SIGNING' || last.get(rec.id) === rec.state) return;
    last.delete(rec.id);
    last.set(rec.id, rec.state);
    if (last.size > remember) {
      const oldest = last.keys().next().value;
      if (oldest !== undefined) last.delete(oldest);
    }
    m.signRequest(rec);
  });
}

/** The HSM operations the signer and the wallet service use. */
export type SigningHsm = Pick<Hsm, 'signEd25519' | 'signSecp256k1' | 'generateKey' | 'capabilities' | 'tokenLabel'>;

/**
 * Wraps the HSM for the signer and the wallet service: each signature's latency goes to `waiaas_signing_seconds`,
 * each failed signature or key generation to `waiaas_hsm_errors_total`. Errors and results pass through unchanged.
 * Give the wrapper to createSigner and WalletService; keep the Hsm itself for ping, getKey and close.
 */
export function instrumentHsm(hsm: SigningHsm, m: ApplianceMetrics = metrics): SigningHsm {
  return {
    get tokenLabel() {
      return hsm.tokenLabel;
    },
    get capabilities() {
      return hsm.capabilities;
    },
    signEd25519: (keyId, message) => m.timeHsmSign('ed25519', () => hsm.signEd25519(keyId, message)),
    signSecp256k1: (keyId, digest) => m.timeHsmSign('secp256k1', () => hsm.signSecp256k1(keyId, digest)),
    generateKey: (curve, label) => m.countHsmErrors(() => hsm.generateKey(curve, label)),
  };
}

/** process_cpu_seconds_total, process_resident_memory_bytes, process_start_time_seconds and (Linux) process_open_fds. */
function registerProcessMetrics(r: Registry): void {
  r.counterFunc('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
  r.gaugeFunc('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss());
  const start = Math.round(performance.timeOrigin) / 1000;
  r.gaugeFunc('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', () => start);
  let hasProcFd = true;
  try {
    readdirSync('/proc/self/fd');
  } catch {
    hasProcFd = false;
  }
  if (hasProcFd) {
    // The listing itself holds one descriptor open while it reads the folder.
    r.gaugeFunc('process_open_fds', 'Number of open file descriptors.', () => readdirSync('/proc/self/fd').length - 1);
  }
}
