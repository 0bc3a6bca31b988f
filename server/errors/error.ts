/**
 * One base error for the whole server: a stable reason from the registry, a short message safe to show the caller,
 * string metadata for ErrorInfo, and an optional cause that stays in the server log (never sent to the caller).
 */
import { REASONS, type Reason } from './reasons.ts';

/** Options of a WaiaasError. */
export interface WaiaasErrorOptions {
  /** Key/value context for the caller (ErrorInfo.metadata). Must never hold secrets. */
  metadata?: Record<string, string>;
  /** The underlying error; logged server-side, never returned. */
  cause?: unknown;
}

/** An error with a registered reason; the gRPC layer maps it to a status in exactly one place. */
export class WaiaasError extends Error {
  override name = 'WaiaasError';
  readonly reason: Reason;
  readonly metadata: Record<string, string>;

  constructor(reason: Reason, message?: string, options: WaiaasErrorOptions = {}) {
    super(message ?? REASONS[reason].doc, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.metadata = options.metadata ?? {};
  }

  /** The gRPC status code of this error's reason. */
  get code(): number {
    return REASONS[this.reason].code;
  }
}

/** True when `e` is a WaiaasError with the given reason (or any reason when none is given). */
export function isWaiaasError(e: unknown, reason?: Reason): e is WaiaasError {
  return e instanceof WaiaasError && (reason === undefined || e.reason === reason);
}
