/**
 * Errors and exit codes of waiaas-ctl, and the ONE error handler: every failure, local or from the appliance, ends
 * in `reportError`, which prints one line to stderr (a JSON line with --json) and returns the exit code.
 *
 * Exit codes (documented in clients/ctl/README.md):
 *   0 ok · 1 unexpected error · 2 usage error (bad flags, or a local file problem) · 3 invalid input refused by the
 *   server · 4 not found · 5 permission denied / policy denied · 6 failed precondition · 7 unavailable ·
 *   8 audit chain broken (`audit verify` found a bad entry: a result, printed on stdout, not an error line) ·
 *   130 interrupted by Ctrl-C.
 *
 * Nothing secret ever reaches an error message: key-file errors name the file, never its contents.
 */
import type { WaiaasClientError } from '../../ts/src/errors.ts';

/** gRPC status codes (the standard numbering; kept here so that starting the CLI does not load grpc-js). */
const status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** The exit codes. */
export const EXIT = {
  OK: 0,
  UNEXPECTED: 1,
  USAGE: 2,
  INVALID: 3,
  NOT_FOUND: 4,
  DENIED: 5,
  PRECONDITION: 6,
  UNAVAILABLE: 7,
  /** `audit verify`: the chain (on the appliance, or in an export file) is broken, or a recorded head is not in it. */
  CHAIN_BROKEN: 8,
  /** Ctrl-C (128 + SIGINT), as shells report it. */
  INTERRUPTED: 130,
} as const;

/** An exit code. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI detected itself, with the exit code it maps to. */
export class CtlError extends Error {
  override name = 'CtlError';
  readonly exitCode: ExitCode;
  /** Extra lines printed after the error line (e.g. "see waiaas-ctl wallets create --help"). */
  readonly hint: string | undefined;

  constructor(message: string, exitCode: ExitCode = EXIT.UNEXPECTED, hint?: string) {
    super(message);
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** Bad flags, arguments or local files (exit 2). */
export class UsageError extends CtlError {
  override name = 'UsageError';
  constructor(message: string, hint?: string) {
    super(message, EXIT.USAGE, hint);
  }
}

/** gRPC status code → name, e.g. 3 → INVALID_ARGUMENT. */
export function statusName(code: number): string {
  return Object.entries(status).find(([, c]) => c === code)?.[0] ?? `CODE_${code}`;
}

/** The exit code for a failed call to the appliance. */
export function exitCodeForStatus(code: number, reason: string): ExitCode {
  switch (code) {
    case status.INVALID_ARGUMENT:
    case status.OUT_OF_RANGE:
      return EXIT.INVALID;
    case status.RESOURCE_EXHAUSTED:
      // Too large a request is bad input; a rate limit is the appliance saying "not now".
      return reason === 'WAIAAS_RATE_LIMITED' ? EXIT.UNAVAILABLE : EXIT.INVALID;
    case status.NOT_FOUND:
      return EXIT.NOT_FOUND;
    case status.PERMISSION_DENIED:
    case status.UNAUTHENTICATED:
      return EXIT.DENIED;
    case status.FAILED_PRECONDITION:
    case status.ALREADY_EXISTS:
    case status.ABORTED:
      return EXIT.PRECONDITION;
    case status.DEADLINE_EXCEEDED:
      // A sign request that expired is a state, not a network problem.
      return reason === 'WAIAAS_SIGN_REQUEST_EXPIRED' ? EXIT.PRECONDITION : EXIT.UNAVAILABLE;
    case status.UNAVAILABLE:
      return EXIT.UNAVAILABLE;
    default:
      return EXIT.UNEXPECTED;
  }
}

function isClientError(err: unknown): err is WaiaasClientError {
  return err instanceof Error && err.name === 'WaiaasClientError' && typeof (err as { code?: unknown }).code === 'number';
}

/** What the error handler prints. */
export interface ErrorReport {
  exitCode: ExitCode;
  message: string;
  /** gRPC status name, for errors from the appliance. */
  code?: string;
  /** The appliance's WAIAAS_… reason, when it gave one. */
  reason?: string;
  metadata?: Record<string, string>;
  hint?: string;
}

/** Turns any thrown value into what is reported. `address` is the appliance's, for network errors. */
export function describeError(err: unknown, address?: string): ErrorReport {
  if (err instanceof CtlError) return { exitCode: err.exitCode, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  if (isClientError(err)) {
    const exitCode = exitCodeForStatus(err.code, err.reason);
    let message = err.message;
    let hint: string | undefined;
    if (err.code === status.UNAVAILABLE && err.reason === '') {
      message = `cannot reach the appliance${address ? ` at ${address}` : ''}: ${err.message}`;
      hint = 'is it running, and do --address, --ca, --cert and --key (or --state) point at it?';
    } else if (err.code === status.UNIMPLEMENTED) {
      message = `the appliance${address ? ` at ${address}` : ''} does not implement this call (${err.message})`;
      hint = 'the appliance may be older than this waiaas-ctl';
    } else if (err.code === status.DEADLINE_EXCEEDED && err.reason === '') {
      message = `no answer from the appliance${address ? ` at ${address}` : ''} in time (${err.message}); raise --timeout`;
    }
    return {
      exitCode,
      message,
      code: statusName(err.code),
      ...(err.reason ? { reason: err.reason } : {}),
      ...(Object.keys(err.metadata).length > 0 ? { metadata: err.metadata } : {}),
      ...(hint ? { hint } : {}),
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: EXIT.UNEXPECTED, message: `unexpected error: ${message}` };
}

/**
 * The one error handler: writes the error to stderr and returns the exit code. With `json`, the line is
 * `{"error": {message, exitCode, code?, reason?, metadata?}}`.
 */
export function reportError(err: unknown, opts: { json: boolean; address?: string; write: (s: string) => void; debug?: boolean }): ExitCode {
  const r = describeError(err, opts.address);
  if (opts.json) {
    opts.write(`${JSON.stringify({ error: r })}\n`);
  } else {
    const tags: string[] = [];
    if (r.reason) tags.push(r.reason);
    else if (r.code) tags.push(r.code);
    for (const [k, v] of Object.entries(r.metadata ?? {})) tags.push(`${k}=${v}`);
    opts.write(`waiaas-ctl: error: ${r.message}${tags.length > 0 ? ` [${tags.join(', ')}]` : ''}\n`);
    if (r.hint) opts.write(`waiaas-ctl: ${r.hint}\n`);
  }
  if (opts.debug && err instanceof Error && !(err instanceof CtlError) && err.stack) opts.write(`${err.stack}\n`);
  return r.exitCode;
}
