/**
 * The configuration schema: the resolved `Config` type, the one `DEFAULT_CONFIG` object, and a table with one row per
 * TOML key. The loader, the environment overrides and the TOML template are all driven by that table, so adding a key
 * is one row here plus a field in the type, and nothing can accept a key the others do not know.
 */

/** Log levels accepted by `log.level` (pino's levels, without 'silent': an appliance always logs something). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `[server]`: the gRPC listener. */
export interface ServerSettings {
  /** `host:port` (IPv6 hosts in brackets); port 0 lets the OS pick a free port. */
  listen: string;
  /** Largest gRPC message accepted, in bytes. */
  maxMessageBytes: number;
  /** Seconds in-flight calls get after SIGTERM before they are cancelled. */
  shutdownGraceSeconds: number;
}

/** `[tls]`: mutual TLS. All paths are absolute once resolved. */
export interface TlsSettings {
  /** Server certificate chain, PEM. */
  certFile: string;
  /** Server private key, PEM; mode 0600 or 0400. */
  keyFile: string;
  /** CA bundle client certificates must chain to, PEM. */
  clientCaFile: string;
}

/** `[hsm]`: the PKCS#11 token holding the signing keys. */
export interface HsmSettings {
  /** Absolute path of the PKCS#11 module (shared library). */
  module: string;
  /** Label of the token to use (at most 32 bytes, the PKCS#11 limit). */
  tokenLabel: string;
  /** Absolute path of the file holding the user PIN; mode 0600 or 0400. */
  pinFile: string;
  /** Number of PKCS#11 sessions in the pool. */
  sessions: number;
}

/** `[store]`: the local database. */
export interface StoreSettings {
  /** Absolute path of the SQLite database (or ':memory:'). */
  path: string;
}

/** `[log]`. */
export interface LogSettings {
  /** Minimum level written. */
  level: LogLevel;
}

/** Every settable value, by section, in camelCase: what a TOML file or the environment can set. */
export interface ConfigValues {
  server: ServerSettings;
  tls: TlsSettings;
  hsm: HsmSettings;
  store: StoreSettings;
  log: LogSettings;
}

/** A partial ConfigValues: the shape of DEFAULT_CONFIG, of `loadConfig`'s `defaults` and of `renderConfigToml`'s input. */
export type ConfigDefaults = { [S in keyof ConfigValues]?: Partial<ConfigValues[S]> };

/** The resolved, validated configuration the server runs with. Paths are absolute. */
export interface Config extends ConfigValues {
  server: ServerSettings & {
    /** Host part of `listen`, without IPv6 brackets. */
    host: string;
    /** Port part of `listen`; 0 means "pick a free port". */
    port: number;
  };
  /** The absolute path of the configuration file the values came from, when there was one. */
  file: string | undefined;
}

/**
 * The defaults, in one place. Keys absent here are required: the TLS material and the PIN file because there is no
 * safe guess, and `hsm.module` because which HSM holds the keys must be an explicit choice, never a silent fallback to
 * a software token.
 */
export const DEFAULT_CONFIG: ConfigDefaults = deepFreeze({
  server: { listen: '127.0.0.1:7443', maxMessageBytes: 262_144, shutdownGraceSeconds: 10 },
  tls: {},
  hsm: { tokenLabel: 'waiaas', sessions: 4 },
  store: { path: 'waiaas.db' },
  log: { level: 'info' },
});

/** A configuration section name. */
export type SectionName = keyof ConfigValues;

/** How a key's value is read and checked. */
export type KeyKind = 'string' | 'integer' | 'path' | 'level';

/** One row of the schema table: one TOML key. */
export interface KeySpec {
  section: SectionName;
  /** The snake_case TOML key inside its section. */
  key: string;
  /** The camelCase property in ConfigValues[section]. */
  prop: string;
  kind: KeyKind;
  /** One or more comment lines for the TOML template; also the operator's documentation of the key. */
  doc: string;
  /** Inclusive bounds for integers. */
  min?: number;
  max?: number;
  /** A path that must exist when the configuration is loaded. */
  mustExist?: boolean;
  /** A path to a secret: must be a regular file with mode exactly 0600 or 0400. */
  secretFile?: boolean;
  /** Extra check; returns a reason (completing "<key> ...") when the value is unusable. */
  check?: (value: string) => string | undefined;
}

/** Section comments for the TOML template, in the order sections are written. */
export const SECTIONS: Readonly<Record<SectionName, string>> = {
  server: 'The gRPC listener (mutual TLS only).',
  tls: 'Mutual TLS material. Relative paths are relative to this file.',
  hsm: 'The PKCS#11 token holding the signing keys. The PIN itself is never written here: only the path of a file holding it.',
  store: 'Local database: wallets, policies, audit records.',
  log: 'JSON lines on stdout.',
};

/** The schema table: every key the configuration accepts, in template order. */
export const KEYS: readonly KeySpec[] = [
  {
    section: 'server',
    key: 'listen',
    prop: 'listen',
    kind: 'string',
    doc: 'host:port to listen on (IPv6 in brackets, e.g. "[::1]:7443"); port 0 picks a free port.',
    check: (v) => {
      const r = parseListen(v);
      return typeof r === 'string' ? r : undefined;
    },
  },
  {
    section: 'server',
    key: 'max_message_bytes',
    prop: 'maxMessageBytes',
    kind: 'integer',
    min: 1024,
    max: 16 * 1024 * 1024,
    doc: 'Largest gRPC message accepted, in bytes (1024 to 16777216).',
  },
  {
    section: 'server',
    key: 'shutdown_grace_seconds',
    prop: 'shutdownGraceSeconds',
    kind: 'integer',
    min: 0,
    max: 3600,
    doc: 'On SIGTERM, in-flight calls get this many seconds to finish before they are cancelled.',
  },
  {
    section: 'tls',
    key: 'cert_file',
    prop: 'certFile',
    kind: 'path',
    mustExist: true,
    doc: 'Server certificate chain (PEM): leaf first.',
  },
  {
    section: 'tls',
    key: 'key_file',
    prop: 'keyFile',
    kind: 'path',
    mustExist: true,
    secretFile: true,
    doc: 'Server private key (PEM). Must be mode 0600 or 0400.',
  },
  {
    section: 'tls',
    key: 'client_ca_file',
    prop: 'clientCaFile',
    kind: 'path',
    mustExist: true,
    doc: 'CA certificate(s) (PEM) every client certificate must chain to.',
  },
  {
    section: 'hsm',
    key: 'module',
    prop: 'module',
    kind: 'path',
    mustExist: true,
    doc: 'PKCS#11 module (shared library) of the HSM.',
  },
  {
    section: 'hsm',
    key: 'token_label',
    prop: 'tokenLabel',
    kind: 'string',
    doc: 'Label of the token holding the keys.',
    check: (v) =>
      v.length === 0
        ? 'must not be empty'
        : Buffer.byteLength(v, 'utf8') > 32
          ? 'must be at most 32 bytes (the PKCS#11 label size)'
          : undefined,
  },
  {
    section: 'hsm',
    key: 'pin_file',
    prop: 'pinFile',
    kind: 'path',
    mustExist: true,
    secretFile: true,
    doc:
      'File holding the user PIN (mode 0600 or 0400). ${CREDENTIALS_DIRECTORY} is expanded, for systemd\n' +
      'LoadCredential=, e.g. pin_file = "${CREDENTIALS_DIRECTORY}/hsm-pin".',
  },
  {
    section: 'hsm',
    key: 'sessions',
    prop: 'sessions',
    kind: 'integer',
    min: 1,
    max: 64,
    doc: 'PKCS#11 sessions in the pool (1 to 64): how many signatures can run at once.',
  },
  {
    section: 'store',
    key: 'path',
    prop: 'path',
    kind: 'path',
    doc: 'SQLite database file; created when missing.',
  },
  {
    section: 'log',
    key: 'level',
    prop: 'level',
    kind: 'level',
    doc: `Minimum level: ${LOG_LEVELS.join(' | ')}.`,
  },
];

/**
 * Splits a `host:port` listen address. IPv6 hosts must be bracketed so the port is never ambiguous. Returns a reason
 * string when the address is unusable, so the caller can name the key it came from.
 */
export function parseListen(listen: string): { host: string; port: number } | string {
  const m = /^(?:\[([0-9A-Fa-f:.%\w-]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(listen);
  if (!m) return 'must be host:port (IPv6 hosts in brackets, e.g. "[::1]:7443")';
  const port = Number(m[3]);
  if (port > 65535) return 'port must be 0-65535';
  const host = m[1] ?? m[2] ?? '';
  return { host, port };
}

/** Freezes an object and everything below it, so a shared defaults object cannot be changed by one caller for all. */
function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
