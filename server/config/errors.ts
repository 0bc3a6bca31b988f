/**
 * ConfigError: the one error type configuration loading throws. Its message is written for the operator who has to
 * fix the file, so it names the key and the file; it never contains the value of a secret.
 */

/** Where a configuration problem was found. */
export interface ConfigErrorOptions {
  /**
   * The offending key as a dotted TOML path (`server.listen`), or the environment variable name when the problem is
   * an environment override (`WAIAAS_SERVER__LISTN`). Absent for whole-file problems (unreadable file, TOML syntax).
   */
  key?: string;
  /** The configuration file the problem is in; absent when it came from the environment or defaults. */
  file?: string;
  /** The underlying error (I/O, TOML parser); kept for logs, never holds a secret value. */
  cause?: unknown;
}

/**
 * A configuration that cannot be used. The server's main prints `message` and exits with status 2, so the message
 * must stand on its own.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  /** The dotted key path or environment variable name at fault, when there is one. */
  readonly key: string | undefined;
  /** The configuration file at fault, when there is one. */
  readonly file: string | undefined;

  constructor(message: string, options: ConfigErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.key = options.key;
    this.file = options.file;
  }
}

/** True when `e` is a ConfigError. */
export function isConfigError(e: unknown): e is ConfigError {
  return e instanceof ConfigError;
}
