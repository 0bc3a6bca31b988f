/**
 * loadConfig: TOML file + `WAIAAS_<SECTION>__<KEY>` environment overrides over DEFAULT_CONFIG, in three steps —
 * load raw (parse the file, read the environment), validate (reject unknown keys, wrong types, secrets written inline),
 * then resolve (apply layers, expand ${CREDENTIALS_DIRECTORY}, make paths absolute, check files and ranges).
 * Everything wrong is a ConfigError naming the key and where it came from; no value of a secret is ever echoed.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError } from './errors.ts';
import {
  DEFAULT_CONFIG,
  KEYS,
  LOG_LEVELS,
  parseListen,
  SECTIONS,
  type Config,
  type ConfigDefaults,
  type KeySpec,
  type SectionName,
} from './schema.ts';

/** Options of loadConfig. */
export interface LoadConfigOptions {
  /** The TOML file; relative paths inside it (and in overrides) resolve against its directory. */
  file?: string;
  /** Environment to read overrides and CREDENTIALS_DIRECTORY from; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Defaults layered over DEFAULT_CONFIG and under the file (e.g. the dev state's choices). */
  defaults?: ConfigDefaults;
}

/** Prefix of environment overrides. */
export const ENV_PREFIX = 'WAIAAS_';

/** Where a value came from, for error messages. */
type Origin = { kind: 'default' } | { kind: 'file'; file: string } | { kind: 'env'; name: string };

/** A value and where it came from. */
interface Sourced {
  value: string | number;
  origin: Origin;
}

const SPEC_BY_PATH = new Map<string, KeySpec>(KEYS.map((k) => [`${k.section}.${k.key}`, k]));
const SECTION_NAMES = Object.keys(SECTIONS) as SectionName[];

/**
 * Key names that hold a secret. They are refused wherever they appear, with a message that points at the *_file key
 * instead, because a PIN in a config file ends up in backups, config management and `ps`-visible tooling.
 */
const SECRET_KEY = /^(?:pin|[a-z0-9]*_pin|password|passphrase|secret)$/i;

/**
 * Loads, validates and resolves the configuration. Layers, lowest first: DEFAULT_CONFIG, `opts.defaults`, the file,
 * the environment. Throws ConfigError on anything unusable.
 */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file === undefined ? undefined : path.resolve(opts.file);
  const baseDir = file === undefined ? process.cwd() : path.dirname(file);

  // 1. Load raw and validate each layer on its own.
  const layers: Map<KeySpec, Sourced>[] = [
    fromDefaults(DEFAULT_CONFIG),
    fromDefaults(opts.defaults ?? {}),
    file === undefined ? new Map() : fromFile(file),
    fromEnv(env),
  ];

  // 2. Resolve: the highest layer that sets a key wins.
  const out: Record<SectionName, Record<string, string | number>> = {
    server: {},
    tls: {},
    hsm: {},
    store: {},
    log: {},
  };
  for (const spec of KEYS) {
    let sourced: Sourced | undefined;
    for (const layer of layers) sourced = layer.get(spec) ?? sourced;
    const dotted = `${spec.section}.${spec.key}`;
    if (sourced === undefined) {
      throw new ConfigError(
        `missing required key "${dotted}" ${file === undefined ? '(no configuration file given)' : `in ${file}`}`,
        { key: dotted, file },
      );
    }
    out[spec.section][spec.prop] = resolveValue(spec, sourced, baseDir, env);
  }

  const server = out.server as unknown as Config['server'];
  const listen = parseListen(server.listen);
  if (typeof listen === 'string') throw new ConfigError(`"server.listen" ${listen}`, { key: 'server.listen', file });
  return {
    server: { ...server, host: listen.host, port: listen.port },
    tls: out.tls as unknown as Config['tls'],
    hsm: out.hsm as unknown as Config['hsm'],
    store: out.store as unknown as Config['store'],
    log: out.log as unknown as Config['log'],
    file,
  };
}

/** Reads a ConfigDefaults object (already camelCase and typed by TypeScript; still checked at resolve time). */
function fromDefaults(defaults: ConfigDefaults): Map<KeySpec, Sourced> {
  const m = new Map<KeySpec, Sourced>();
  for (const spec of KEYS) {
    const section = defaults[spec.section] as Record<string, unknown> | undefined;
    const v = section?.[spec.prop];
    if (typeof v === 'string' || typeof v === 'number') m.set(spec, { value: v, origin: { kind: 'default' } });
  }
  return m;
}

/** Parses and structurally validates the TOML file: known sections and keys only, right types, no inline secrets. */
function fromFile(file: string): Map<KeySpec, Sourced> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `cannot read configuration file ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(e))}`,
      { file, cause: e },
    );
  }

  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    // The parser's message carries a code frame of the offending line, which could be a secret: keep the first line.
    const first = e instanceof Error ? (e.message.split('\n')[0] ?? '') : 'parse error';
    const at = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : '';
    throw new ConfigError(`invalid TOML in ${file}${at}: ${first.replace(/^Invalid TOML document: /, '')}`, { file });
  }

  rejectInlineSecrets(doc, [], file);

  const m = new Map<KeySpec, Sourced>();
  for (const [sectionName, section] of Object.entries(doc)) {
    if (!(SECTION_NAMES as string[]).includes(sectionName)) throw unknownKey(sectionName, file);
    if (!isTable(section)) {
      throw new ConfigError(`"${sectionName}" in ${file} must be a table ([${sectionName}]), not ${typeName(section)}`, {
        key: sectionName,
        file,
      });
    }
    for (const [key, value] of Object.entries(section)) {
      const dotted = `${sectionName}.${key}`;
      const spec = SPEC_BY_PATH.get(dotted);
      if (spec === undefined) throw unknownKey(dotted, file);
      const expected = spec.kind === 'integer' ? 'integer' : 'string';
      const ok = expected === 'integer' ? typeof value === 'number' && Number.isInteger(value) : typeof value === 'string';
      if (!ok) {
        throw new ConfigError(`"${dotted}" in ${file} must be ${article(expected)}, not ${typeName(value)}`, {
          key: dotted,
          file,
        });
      }
      m.set(spec, { value: value as string | number, origin: { kind: 'file', file } });
    }
  }
  return m;
}

/** Reads `WAIAAS_<SECTION>__<KEY>` overrides; any other `WAIAAS_*__*` variable is a mistake and an error. */
function fromEnv(env: Record<string, string | undefined>): Map<KeySpec, Sourced> {
  const m = new Map<KeySpec, Sourced>();
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const rest = name.slice(ENV_PREFIX.length);
    const sep = rest.indexOf('__');
    if (sep < 0) continue; // WAIAAS_FOO without "__" is not a config override; other parts of the server may use it.
    const section = rest.slice(0, sep).toLowerCase();
    const key = rest.slice(sep + 2).toLowerCase();
    const dotted = `${section}.${key}`;
    if (SECRET_KEY.test(key)) {
      throw new ConfigError(
        `environment variable ${name} is not allowed: secrets are never taken from the environment ` +
          '(it leaks to child processes and /proc); put the PIN in a file with mode 0600 and set hsm.pin_file',
        { key: name },
      );
    }
    const spec = rest === rest.toUpperCase() ? SPEC_BY_PATH.get(dotted) : undefined;
    if (spec === undefined) {
      const hint = suggest(dotted);
      throw new ConfigError(
        `unknown environment variable ${name}: no configuration key "${dotted}"` +
          (hint ? ` (did you mean ${envName(hint)}?)` : ''),
        { key: name },
      );
    }
    const origin: Origin = { kind: 'env', name };
    if (spec.kind === 'integer') {
      if (!/^-?\d+$/.test(raw.trim())) {
        throw new ConfigError(`${name} (sets "${dotted}") must be an integer, got "${raw}"`, { key: dotted });
      }
      m.set(spec, { value: Number(raw.trim()), origin });
    } else {
      m.set(spec, { value: raw, origin });
    }
  }
  return m;
}

/** Checks one value against its spec and returns its resolved form (paths absolute, files checked). */
function resolveValue(
  spec: KeySpec,
  { value, origin }: Sourced,
  baseDir: string,
  env: Record<string, string | undefined>,
): string | number {
  const dotted = `${spec.section}.${spec.key}`;
  const file = origin.kind === 'file' ? origin.file : undefined;
  const where =
    origin.kind === 'file'
      ? `"${dotted}" in ${origin.file}`
      : origin.kind === 'env'
        ? `${origin.name} (sets "${dotted}")`
        : `"${dotted}" (default)`;
  const fail = (reason: string): never => {
    throw new ConfigError(`${where} ${reason}`, { key: dotted, file });
  };

  if (spec.kind === 'integer') {
    if (typeof value !== 'number' || !Number.isInteger(value)) return fail('must be an integer');
    if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
      return fail(`must be between ${spec.min} and ${spec.max}, got ${value}`);
    }
    return value;
  }
  if (typeof value !== 'string') return fail('must be a string');
  if (spec.kind === 'level') {
    if (!(LOG_LEVELS as readonly string[]).includes(value)) return fail(`must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`);
    return value;
  }
  if (spec.kind === 'string') {
    const reason = spec.check?.(value);
    if (reason !== undefined) fail(`${reason}, got "${value}"`);
    return value;
  }

  // A path.
  if (value.length === 0) return fail('must not be empty');
  if (spec.section === 'store' && value === ':memory:') return value;
  let p = value;
  if (p.includes('${CREDENTIALS_DIRECTORY}')) {
    const dir = env['CREDENTIALS_DIRECTORY'];
    if (!dir) {
      return fail(
        'uses ${CREDENTIALS_DIRECTORY}, but CREDENTIALS_DIRECTORY is not set (it is set by systemd for units with LoadCredential=)',
      );
    }
    p = p.replaceAll('${CREDENTIALS_DIRECTORY}', dir);
  }
  if (/\$\{[^}]*\}/.test(p)) return fail('may only use ${CREDENTIALS_DIRECTORY}; no other variables are expanded');
  p = path.resolve(baseDir, p);

  if (spec.mustExist) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return fail(code === 'ENOENT' ? `names ${p}, which does not exist` : `names ${p}, which cannot be read (${code})`);
    }
    if (!st.isFile()) return fail(`names ${p}, which is not a regular file`);
    const mode = st.mode & 0o777;
    if (spec.secretFile && mode !== 0o600 && mode !== 0o400) {
      // Exactly 0600 or 0400, as hsm/pin-file.ts requires too: a secret readable by group/other has already leaked.
      return fail(
        `names ${p}, which has mode ${mode.toString(8).padStart(4, '0')}: it holds a secret and must be mode 0600 ` +
          `or 0400, readable by its owner only (chmod 600 ${p})`,
      );
    }
  }
  return p;
}

/** Rejects any key that looks like an inline secret, anywhere in the document, without echoing its value. */
function rejectInlineSecrets(node: Record<string, unknown>, at: string[], file: string): void {
  for (const [key, value] of Object.entries(node)) {
    const here = [...at, key];
    if (SECRET_KEY.test(key)) {
      const dotted = here.join('.');
      throw new ConfigError(
        `"${dotted}" in ${file} is not allowed: a PIN or password must never be written in the configuration file. ` +
          'Put it in a file readable only by the service (mode 0600 or 0400) and set hsm.pin_file to its path.',
        { key: dotted, file },
      );
    }
    if (isTable(value)) rejectInlineSecrets(value, here, file);
    else if (Array.isArray(value)) for (const v of value) if (isTable(v)) rejectInlineSecrets(v, here, file);
  }
}

function unknownKey(dotted: string, file: string): ConfigError {
  const hint = suggest(dotted);
  return new ConfigError(`unknown key "${dotted}" in ${file}${hint ? ` (did you mean "${hint}"?)` : ''}`, {
    key: dotted,
    file,
  });
}

/** The closest known key (or section) within edit distance 2, for typo hints. */
function suggest(dotted: string): string | undefined {
  const candidates = dotted.includes('.') ? [...SPEC_BY_PATH.keys()] : SECTION_NAMES;
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(dotted, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The environment variable that overrides a dotted key. */
export function envName(dotted: string): string {
  return ENV_PREFIX + dotted.toUpperCase().replace('.', '__');
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date-time';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a float';
  if (typeof v === 'object' && v !== null) return 'a table';
  if (typeof v === 'boolean') return 'a boolean';
  return article(typeof v);
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}
