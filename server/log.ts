/**
 * The server's logger: pino writing JSON lines (stdout by default), with redaction of secret-bearing fields as a
 * safety net and error serialization that keeps `cause` chains. Redaction is the last line of defence, not the
 * policy: code must still never pass a PIN, key or webhook secret to the logger.
 */
import pino from 'pino';

/** The logger type every module takes; a child logger (`log.child({...})`) is one too. */
export type Logger = pino.Logger;

/** Options of createLogger. */
export interface CreateLoggerOptions {
  /** Minimum level: trace | debug | info | warn | error | fatal (or 'silent' in tests). */
  level: string;
  /** Where lines go: a stream, or a file descriptor number. Defaults to stdout (fd 1). */
  destination?: pino.DestinationStream | number;
}

/** Written in place of every redacted value. */
export const REDACTED = '[REDACTED]';

/**
 * Field paths whose values are replaced by REDACTED: top-level and one level down (`*.x`), plus the usual nested
 * places (request headers, error objects). pino's wildcard matches one level only, so deeper nesting must be listed.
 */
export const REDACT_PATHS: readonly string[] = [
  'pin',
  '*.pin',
  'soPin',
  '*.soPin',
  'userPin',
  '*.userPin',
  'so_pin',
  '*.so_pin',
  'user_pin',
  '*.user_pin',
  'password',
  '*.password',
  'passphrase',
  '*.passphrase',
  'privateKey',
  '*.privateKey',
  'private_key',
  '*.private_key',
  'keyPem',
  '*.keyPem',
  'key_pem',
  '*.key_pem',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'webhookSecret',
  '*.webhookSecret',
  'webhook_secret',
  '*.webhook_secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'metadata.authorization',
  '*.metadata.authorization',
];

/**
 * Serializes an Error with its stack, own properties and the whole `cause` chain (pino's errWithCause), and also keeps
 * a cause that is not an Error (a string or object thrown by a native addon) rather than dropping it.
 */
export function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.errWithCause(err as Error) as unknown;
  if (err instanceof Error && out !== null && typeof out === 'object') {
    let src: unknown = err;
    let dst = out as Record<string, unknown>;
    // Walk both chains together to the first cause errWithCause did not keep.
    while (src instanceof Error && dst.cause !== undefined && typeof dst.cause === 'object') {
      src = src.cause;
      dst = dst.cause as Record<string, unknown>;
    }
    if (src instanceof Error && src.cause !== undefined && !(src.cause instanceof Error) && dst.cause === undefined) {
      dst.cause = typeof src.cause === 'object' ? src.cause : String(src.cause);
    }
  }
  return out;
}

/**
 * Creates the root logger. Lines carry `service: 'waiaas-signerd'`, an ISO-8601 `time`, and pid/hostname; `err` and
 * `error` fields are serialized with their cause chains; secret-bearing fields are censored.
 */
export function createLogger(opts: CreateLoggerOptions): Logger {
  const destination =
    opts.destination === undefined
      ? pino.destination({ dest: 1, sync: true })
      : typeof opts.destination === 'number'
        ? pino.destination({ dest: opts.destination, sync: true })
        : opts.destination;
  return pino(
    {
      level: opts.level,
      base: { service: 'waiaas-signerd', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      serializers: { err: serializeError, error: serializeError },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
