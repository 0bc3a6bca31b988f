/**
 * The one error type hsm/ throws, with a closed set of kinds so callers can switch on it exhaustively, and the
 * translation from PKCS#11 return values (CKR_*) to those kinds.
 *
 * Messages are built only from fixed text, file paths, labels and CKR names: never from the PIN, never from the
 * message of a wrapped error (which a fault-injecting wrapper or a vendor library could fill with anything). The
 * wrapped error stays available as `cause` for the server log.
 */
import { ckrName, errorCode } from './pkcs11.ts';

/**
 * What went wrong, closed:
 * - UNAVAILABLE: device, session, login or general failure; retrying later may succeed.
 * - TOKEN_NOT_FOUND: no initialised token with the configured label.
 * - LOGIN_FAILED: the PIN (or the PIN file) was refused.
 * - CURVE_UNSUPPORTED: the token cannot do this curve.
 * - KEY_NOT_FOUND: no key pair with this CKA_ID and curve.
 * - KEY_NOT_PROTECTED: the private key's protection attributes could not be confirmed.
 * - INVALID_INPUT: the caller's arguments are wrong (e.g. a digest that is not 32 bytes).
 */
export type HsmErrorKind =
  | 'UNAVAILABLE'
  | 'TOKEN_NOT_FOUND'
  | 'LOGIN_FAILED'
  | 'CURVE_UNSUPPORTED'
  | 'KEY_NOT_FOUND'
  | 'KEY_NOT_PROTECTED'
  | 'INVALID_INPUT';

/** Every HsmErrorKind, e.g. for exhaustiveness checks in tests. */
export const HSM_ERROR_KINDS: readonly HsmErrorKind[] = [
  'UNAVAILABLE', 'TOKEN_NOT_FOUND', 'LOGIN_FAILED', 'CURVE_UNSUPPORTED', 'KEY_NOT_FOUND', 'KEY_NOT_PROTECTED',
  'INVALID_INPUT',
];

/**
 * Why an UNAVAILABLE error was raised by the layer itself rather than reported by the token:
 * - timeout: a PKCS#11 call did not return within its bound (the session it held is never reused).
 * - unhealthy: refused without touching the token, because the HSM is unhealthy and re-initialising.
 * - closed: the Hsm was closed.
 * - token-gone: the token is no longer in its slot (or no longer answers for its label).
 */
export type HsmUnavailableReason = 'timeout' | 'unhealthy' | 'closed' | 'token-gone';

/** Options of an HsmError. */
export interface HsmErrorOptions {
  /** The PKCS#11 return value's name, e.g. 'CKR_DEVICE_REMOVED', when the failure came from the token. */
  ckr?: string;
  /** The underlying error, for the server log. */
  cause?: unknown;
  /** For UNAVAILABLE errors the layer raises itself: why. */
  reason?: HsmUnavailableReason;
}

/** An error from the HSM layer. */
export class HsmError extends Error {
  override name = 'HsmError';
  readonly kind: HsmErrorKind;
  /** The PKCS#11 return value's name (e.g. 'CKR_DEVICE_REMOVED') when known. */
  readonly ckr: string | undefined;
  /** Set on UNAVAILABLE errors the layer raises itself (a timeout, a refusal while unhealthy, …). */
  readonly reason: HsmUnavailableReason | undefined;

  constructor(kind: HsmErrorKind, message: string, options: HsmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.ckr = options.ckr;
    this.reason = options.reason;
  }

  /** True when trying again later may succeed (only UNAVAILABLE). */
  get retryable(): boolean {
    return this.kind === 'UNAVAILABLE';
  }
}

/** True when `e` is an HsmError (of `kind`, when given). */
export function isHsmError(e: unknown, kind?: HsmErrorKind): e is HsmError {
  return e instanceof HsmError && (kind === undefined || e.kind === kind);
}

// Default kinds by CKR name; everything not listed is UNAVAILABLE. Call sites override per operation (e.g. a
// CKR_ATTRIBUTE_SENSITIVE while reading protection attributes is KEY_NOT_PROTECTED).
const DEFAULT_KIND: Record<string, HsmErrorKind> = {
  CKR_PIN_INCORRECT: 'LOGIN_FAILED',
  CKR_PIN_INVALID: 'LOGIN_FAILED',
  CKR_PIN_LEN_RANGE: 'LOGIN_FAILED',
  CKR_PIN_EXPIRED: 'LOGIN_FAILED',
  CKR_PIN_LOCKED: 'LOGIN_FAILED',
  CKR_USER_PIN_NOT_INITIALIZED: 'LOGIN_FAILED',
  CKR_USER_TYPE_INVALID: 'LOGIN_FAILED',
  CKR_KEY_HANDLE_INVALID: 'KEY_NOT_FOUND',
  CKR_OBJECT_HANDLE_INVALID: 'KEY_NOT_FOUND',
  CKR_CURVE_NOT_SUPPORTED: 'CURVE_UNSUPPORTED',
  CKR_DOMAIN_PARAMS_INVALID: 'CURVE_UNSUPPORTED',
  CKR_DATA_LEN_RANGE: 'INVALID_INPUT',
  CKR_DATA_INVALID: 'INVALID_INPUT',
};

/** The CKR name carried by an error from the PKCS#11 boundary, if any. */
export function ckrOf(e: unknown): string | undefined {
  if (e instanceof HsmError) return e.ckr;
  const code = errorCode(e);
  return code === undefined ? undefined : ckrName(code);
}

/**
 * Turns anything thrown at the PKCS#11 boundary into an HsmError: `${what}: ${CKR name}`. HsmErrors pass through
 * unchanged. `kinds` overrides the default kind per CKR name for this operation.
 */
export function toHsmError(e: unknown, what: string, kinds: Partial<Record<string, HsmErrorKind>> = {}): HsmError {
  if (e instanceof HsmError) return e;
  const ckr = ckrOf(e);
  if (ckr === undefined) {
    // Not a Cryptoki return value: the module failed to load, a native error, or a bug. Retryable at best.
    const detail = e instanceof Error && e.name !== 'Error' ? ` (${e.name})` : '';
    return new HsmError('UNAVAILABLE', `${what}: PKCS#11 call failed${detail}`, { cause: e });
  }
  const kind = kinds[ckr] ?? DEFAULT_KIND[ckr] ?? 'UNAVAILABLE';
  return new HsmError(kind, `${what}: ${ckr}`, { ckr, cause: e });
}
