/**
 * The configuration schema: the resolved `Config` type, the one `DEFAULT_CONFIG` object, a table with one row per
 * TOML key (`KEYS`) and a table with one row per list of tables (`LISTS`, e.g. `[[notify.webhooks]]`, each row
 * listing the fields of one entry). The loader, the environment overrides and the TOML template are all driven by
 * those tables, so adding a key is one row here plus a field in the type, and nothing can accept a key the others do
 * not know.
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
  /** CA certificate used to issue client credentials (AgentService.IssueCredential); '' = issuing is off. */
  caCertFile: string;
  /** That CA's private key (mode 0600/0400); '' = issuing is off. */
  caKeyFile: string;
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

/** One `[[notify.webhooks]]` entry: a receiver of signed JSON POSTs. */
export interface WebhookSettings {
  /** Unique among all sinks ([a-z0-9_-]); the outbox records deliveries by it, so renaming a sink drops its backlog. */
  name: string;
  /** http(s) URL the events are POSTed to. */
  url: string;
  /** Absolute path of the file holding the HMAC secret (mode 0600 or 0400, at least 16 bytes). */
  secretFile: string;
}

/** One `[[notify.ntfy]]` entry: an ntfy-style topic. */
export interface NtfySettings {
  /** Unique among all sinks ([a-z0-9_-]). */
  name: string;
  /** The full topic URL, e.g. https://ntfy.example.com/waiaas-alerts. */
  url: string;
  /** Absolute path of the file holding the access token sent as `Authorization: Bearer` (mode 0600 or 0400). */
  tokenFile?: string;
}

/** `[metrics]`: the Prometheus endpoint (see docs/observability.md). */
export interface MetricsSettings {
  /** host:port on loopback for /metrics, /healthz, /readyz; '' turns it off. */
  listen: string;
}

/** `[health]`: the readiness monitor (see docs/observability.md). */
export interface HealthSettings {
  intervalSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  storeMinFreeMb: number;
}

/** `[control]`: owner control timings (see docs/owners.md). */
export interface ControlSettings {
  /** For a wallet without owners, APPROVAL verdicts become DELAY of this many seconds. */
  noOwnerDelaySeconds: number;
  /** An admin's unfreeze of the whole appliance takes effect after this many seconds. */
  applianceUnfreezeDelaySeconds: number;
}

/** `[notify]`: owner notifications (see docs/notifications.md). */
export interface NotifySettings {
  webhooks: WebhookSettings[];
  ntfy: NtfySettings[];
  /** Delivery attempts per notification and sink before it is given up. */
  maxAttempts: number;
  /** Age in seconds after which an undelivered notification is given up. */
  maxAgeSeconds: number;
}

/** Every settable value, by section, in camelCase: what a TOML file or the environment can set. */
export interface ConfigValues {
  server: ServerSettings;
  tls: TlsSettings;
  hsm: HsmSettings;
  store: StoreSettings;
  log: LogSettings;
  metrics: MetricsSettings;
  health: HealthSettings;
  control: ControlSettings;
  notify: NotifySettings;
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
  tls: { caCertFile: '', caKeyFile: '' },
  hsm: { tokenLabel: 'waiaas', sessions: 4 },
  store: { path: 'waiaas.db' },
  log: { level: 'info' },
  metrics: { listen: '127.0.0.1:9464' },
  health: { intervalSeconds: 5, timeoutSeconds: 2, failureThreshold: 1, storeMinFreeMb: 64 },
  control: { noOwnerDelaySeconds: 3600, applianceUnfreezeDelaySeconds: 3600 },
  notify: { webhooks: [], ntfy: [], maxAttempts: 20, maxAgeSeconds: 86_400 },
});

/** A configuration section name. */
export type SectionName = keyof ConfigValues;

/**
 * How a key's value is read and checked. 'url' is a string checked like 'string' but never echoed in errors: a
 * webhook URL often carries a credential in its path (Slack, Discord), so a message names the key, not the value.
 */
export type KeyKind = 'string' | 'integer' | 'path' | 'level' | 'url';

/** How one value is read and checked: what a TOML key and a field of a list entry have in common. */
export interface ValueSpec {
  kind: KeyKind;
  /** Inclusive bounds for integers. */
  min?: number;
  max?: number;
  /** A path that must exist when the configuration is loaded. */
  mustExist?: boolean;
  /** A path that may be left empty (""), meaning the feature it enables is off. */
  optional?: boolean;
  /** A path to a secret: must be a regular file with mode exactly 0600 or 0400. */
  secretFile?: boolean;
  /**
   * For secret files whose content is checked at load time (webhook secrets, tokens): the fewest bytes the secret
   * must have, once one trailing newline is removed. The content is read, checked and dropped, never kept.
   */
  minBytes?: number;
  /** Extra check; returns a reason (completing "<key> ...") when the value is unusable. */
  check?: (value: string) => string | undefined;
}

/** One row of the schema table: one TOML key. */
export interface KeySpec extends ValueSpec {
  section: SectionName;
  /** The snake_case TOML key inside its section. */
  key: string;
  /** The camelCase property in ConfigValues[section]. */
  prop: string;
  /** One or more comment lines for the TOML template; also the operator's documentation of the key. */
  doc: string;
}

/** One field of the entries of a list of tables. */
export interface FieldSpec extends ValueSpec {
  /** The snake_case TOML key inside the entry. */
  key: string;
  /** The camelCase property of the resolved entry. */
  prop: string;
  /** Comment line(s) for the TOML template. */
  doc: string;
  /** Every entry must set it. */
  required: boolean;
  /** The value the template's commented example shows. */
  example: string;
  /**
   * The value must be unique across every entry of every list of the same section (sink names: the outbox keys
   * deliveries by them, so two sinks with one name would share, and lose, each other's backlog).
   */
  unique?: boolean;
}

/** One row of the list table: an array of tables (`[[section.key]]`), written only in the file, never from the environment. */
export interface ListSpec {
  section: SectionName;
  /** The snake_case key inside its section: `[[<section>.<key>]]`. */
  key: string;
  /** The camelCase property in ConfigValues[section] (an array of entries). */
  prop: string;
  /** Comment line(s) for the TOML template. */
  doc: string;
  fields: readonly FieldSpec[];
}

/** Section comments for the TOML template, in the order sections are written. */
export const SECTIONS: Readonly<Record<SectionName, string>> = {
  server: 'The gRPC listener (mutual TLS only).',
  tls: 'Mutual TLS material. Relative paths are relative to this file.',
  hsm: 'The PKCS#11 token holding the signing keys. The PIN itself is never written here: only the path of a file holding it.',
  store: 'Local database: wallets, policies, audit records.',
  log: 'JSON lines on stdout.',
  metrics: 'Prometheus metrics, liveness and readiness over plain HTTP on loopback only (see docs/observability.md).',
  health: 'The readiness monitor: SERVING only while the HSM, the database and the audit log are usable.',
  control: 'Owner control (see docs/owners.md).',
  notify:
    'Owner notifications (NOTIFY, DELAY, APPROVAL, denials, freezes, expiries): signed webhooks and ntfy topics.\n' +
    'Delivered at least once, retried with backoff; see docs/notifications.md.',
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
    section: 'tls',
    key: 'ca_cert_file',
    prop: 'caCertFile',
    kind: 'path',
    optional: true,
    mustExist: true,
    doc: 'CA certificate (PEM) the appliance issues agent and owner credentials with ("" = issuing is off).',
  },
  {
    section: 'tls',
    key: 'ca_key_file',
    prop: 'caKeyFile',
    kind: 'path',
    optional: true,
    mustExist: true,
    secretFile: true,
    doc: 'That CA\'s private key (PEM), mode 0600 or 0400 ("" = issuing is off).',
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
  {
    section: 'metrics',
    key: 'listen',
    prop: 'listen',
    kind: 'string',
    doc: 'host:port for /metrics, /healthz and /readyz; loopback only (the endpoint has no TLS); "" turns it off.',
    check: (v) => {
      if (v === '') return undefined;
      const r = parseListen(v);
      return typeof r === 'string' ? r : undefined;
    },
  },
  { section: 'health', key: 'interval_seconds', prop: 'intervalSeconds', kind: 'integer', min: 1, max: 3600, doc: 'Seconds between readiness checks.' },
  { section: 'health', key: 'timeout_seconds', prop: 'timeoutSeconds', kind: 'integer', min: 1, max: 600, doc: 'A check that takes longer fails.' },
  { section: 'health', key: 'failure_threshold', prop: 'failureThreshold', kind: 'integer', min: 1, max: 100, doc: 'Consecutive failures before NOT_SERVING.' },
  { section: 'health', key: 'store_min_free_mb', prop: 'storeMinFreeMb', kind: 'integer', min: 0, max: 1_000_000, doc: 'Free disk space (MiB) below which the database counts as unusable.' },
  {
    section: 'control',
    key: 'no_owner_delay_seconds',
    prop: 'noOwnerDelaySeconds',
    kind: 'integer',
    min: 0,
    max: 30 * 86_400,
    doc: 'For a wallet without owners, an APPROVAL verdict becomes a DELAY of this many seconds (during which it can be frozen).',
  },
  {
    section: 'control',
    key: 'appliance_unfreeze_delay_seconds',
    prop: 'applianceUnfreezeDelaySeconds',
    kind: 'integer',
    min: 0,
    max: 30 * 86_400,
    doc: "An admin's unfreeze of the whole appliance takes effect after this many seconds (anyone may freeze again before).",
  },
  {
    section: 'notify',
    key: 'max_attempts',
    prop: 'maxAttempts',
    kind: 'integer',
    min: 1,
    max: 1000,
    doc: 'Delivery attempts per notification and sink before it is given up (1 to 1000).',
  },
  {
    section: 'notify',
    key: 'max_age_seconds',
    prop: 'maxAgeSeconds',
    kind: 'integer',
    min: 60,
    max: 30 * 86_400,
    doc: 'An undelivered notification older than this many seconds is given up (60 to 2592000).',
  },
];

/** Sink names: they appear in logs and the outbox, so keep them short and plain. */
const SINK_NAME = /^[a-z0-9_-]{1,64}$/;

const sinkName: FieldSpec = {
  key: 'name',
  prop: 'name',
  kind: 'string',
  required: true,
  unique: true,
  example: 'ops',
  doc: 'Unique name of this sink (a-z, 0-9, _ and -), used in logs and the outbox.',
  check: (v) => (SINK_NAME.test(v) ? undefined : 'must be 1 to 64 characters a-z, 0-9, _ or -'),
};

/** The list table: every array of tables the configuration accepts, in template order. */
export const LISTS: readonly ListSpec[] = [
  {
    section: 'notify',
    key: 'webhooks',
    prop: 'webhooks',
    doc:
      'A webhook: each event is POSTed as JSON, signed with HMAC-SHA256 (header x-waiaas-signature).\n' +
      'Repeat the [[notify.webhooks]] block for more receivers.',
    fields: [
      sinkName,
      {
        key: 'url',
        prop: 'url',
        kind: 'url',
        required: true,
        example: 'https://hooks.example.com/waiaas',
        doc: 'http(s) URL the events are POSTed to.',
      },
      {
        key: 'secret_file',
        prop: 'secretFile',
        kind: 'path',
        required: true,
        mustExist: true,
        secretFile: true,
        minBytes: 16,
        example: '${CREDENTIALS_DIRECTORY}/webhook-ops',
        doc: 'File holding the signing secret: mode 0600 or 0400, at least 16 bytes (e.g. openssl rand -hex 32).',
      },
    ],
  },
  {
    section: 'notify',
    key: 'ntfy',
    prop: 'ntfy',
    doc: 'An ntfy topic: each event is POSTed as a short text with Title, Priority and Tags headers.',
    fields: [
      { ...sinkName, example: 'phone' },
      {
        key: 'url',
        prop: 'url',
        kind: 'url',
        required: true,
        example: 'https://ntfy.example.com/waiaas-alerts',
        doc: 'Full topic URL (server and topic).',
        check: (v) => (new URL(v).pathname.replace(/\/+$/, '') === '' ? 'must name a topic (https://server/topic)' : undefined),
      },
      {
        key: 'token_file',
        prop: 'tokenFile',
        kind: 'path',
        required: false,
        mustExist: true,
        secretFile: true,
        minBytes: 1,
        example: '${CREDENTIALS_DIRECTORY}/ntfy-token',
        doc: 'File holding an access token, sent as Authorization: Bearer (mode 0600 or 0400).',
      },
    ],
  },
];

/**
 * Why `url` cannot be used as a notification URL, or undefined when it can: http or https only, with a host, and no
 * user:password@ part (credentials belong in secret_file / token_file, not in a file anyone may read). The reason
 * never repeats the URL.
 */
export function checkHttpUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `must use http or https, not ${u.protocol.slice(0, 16)}`;
  if (u.hostname === '') return 'must name a host';
  if (u.username !== '' || u.password !== '') {
    return 'must not contain credentials (user:password@); put a token in a file and use token_file or secret_file';
  }
  return undefined;
}

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
