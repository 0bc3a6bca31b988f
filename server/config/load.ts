/**
 * loadConfig: TOML file + `WAIAAS_<SECTION>__<KEY>` environment overrides over DEFAULT_CONFIG, in three steps —
 * load raw (parse the file, read the environment), validate (reject unknown keys, wrong types, secrets written inline),
 * then resolve (apply layers, expand ${CREDENTIALS_DIRECTORY}, make paths absolute, check files and ranges).
 * Lists of tables (`[[notify.webhooks]]`, the LISTS table) are layered whole: the highest layer that sets a list
 * replaces it, and only the file (or code defaults) can set one, because an entry spread over numbered environment
 * variables is easy to get half right. Everything wrong is a ConfigError naming the key and where it came from; no
 * value of a secret is ever echoed.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError } from './errors.ts';
import {
  checkHttpUrl,
  DEFAULT_CONFIG,
  KEYS,
  LISTS,
  LOG_LEVELS,
  parseListen,
  SECTIONS,
  type Config,
  type ConfigDefaults,
  type KeySpec,
  type ListSpec,
  type SectionName,
  type ValueSpec,
} from './schema.ts';
import { readSecretFile } from './secret-file.ts';

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

/** A list of tables and where it came from; each entry maps a field's TOML key to its raw value. */
interface SourcedList {
  entries: Record<string, unknown>[];
  origin: Origin;
}

/** What one layer (defaults, file, environment) sets. */
interface Layer {
  keys: Map<KeySpec, Sourced>;
  lists: Map<ListSpec, SourcedList>;
}

const SPEC_BY_PATH = new Map<string, KeySpec>(KEYS.map((k) => [`${k.section}.${k.key}`, k]));
const LIST_BY_PATH = new Map<string, ListSpec>(LISTS.map((l) => [`${l.section}.${l.key}`, l]));
const SECTION_NAMES = Object.keys(SECTIONS) as SectionName[];

/**
 * Key names that hold a secret. They are refused wherever they appear, with a message that points at the *_file key
 * instead, because a PIN or token in a config file ends up in backups, config management and `ps`-visible tooling.
 */
const SECRET_KEY = /^(?:pin|[a-z0-9]*_pin|password|passphrase|secret|token|[a-z0-9]*_token)$/i;

/** Which *_file key to use instead of an inline secret found under `section`. */
function secretFileHint(section: string | undefined): string {
  if (section === 'notify') return 'set secret_file (in [[notify.webhooks]]) or token_file (in [[notify.ntfy]]) to its path';
  return 'set hsm.pin_file to its path';
}

/**
 * Loads, validates and resolves the configuration. Layers, lowest first: DEFAULT_CONFIG, `opts.defaults`, the file,
 * the environment. Throws ConfigError on anything unusable.
 */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file === undefined ? undefined : path.resolve(opts.file);
  const baseDir = file === undefined ? process.cwd() : path.dirname(file);

  // 1. Load raw and validate each layer on its own.
  const layers: Layer[] = [
    fromDefaults(DEFAULT_CONFIG),
    fromDefaults(opts.defaults ?? {}),
    file === undefined ? { keys: new Map(), lists: new Map() } : fromFile(file),
    { keys: fromEnv(env), lists: new Map() },
  ];

  // 2. Resolve: the highest layer that sets a key (or a whole list) wins.
  const out: Record<SectionName, Record<string, unknown>> = {
    server: {},
    tls: {},
    hsm: {},
    store: {},
    log: {},
    metrics: {},
    health: {},
    control: {},
    notify: {},
  };
  for (const spec of KEYS) {
    let sourced: Sourced | undefined;
    for (const layer of layers) sourced = layer.keys.get(spec) ?? sourced;
    const dotted = `${spec.section}.${spec.key}`;
    if (sourced === undefined) {
      throw new ConfigError(
        `missing required key "${dotted}" ${file === undefined ? '(no configuration file given)' : `in ${file}`}`,
        { key: dotted, file },
      );
    }
    out[spec.section][spec.prop] = resolveValue(spec, dotted, sourced, baseDir, env);
  }
  /** Values of `unique` fields already used, per section, with the key that used them (for the error message). */
  const used = new Map<string, string>();
  for (const list of LISTS) {
    let sourced: SourcedList | undefined;
    for (const layer of layers) sourced = layer.lists.get(list) ?? sourced;
    out[list.section][list.prop] = (sourced?.entries ?? []).map((entry, i) =>
      resolveEntry(list, i, entry, sourced!.origin, baseDir, env, used),
    );
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
    metrics: out.metrics as unknown as Config['metrics'],
    health: out.health as unknown as Config['health'],
    control: out.control as unknown as Config['control'],
    notify: out.notify as unknown as Config['notify'],
    file,
  };
}

/** Resolves entry `i` of a list: every field checked like a key, required fields present, unique fields unique. */
function resolveEntry(
  list: ListSpec,
  i: number,
  entry: Record<string, unknown>,
  origin: Origin,
  baseDir: string,
  env: Record<string, string | undefined>,
  used: Map<string, string>,
): Record<string, string | number> {
  const file = origin.kind === 'file' ? origin.file : undefined;
  const out: Record<string, string | number> = {};
  for (const field of list.fields) {
    const dotted = `${list.section}.${list.key}[${i}].${field.key}`;
    const value = entry[field.key];
    if (value === undefined) {
      if (!field.required) continue;
      throw new ConfigError(
        `missing required key "${dotted}" ${file === undefined ? '(default)' : `in ${file}`}: every [[${list.section}.${list.key}]] needs ${field.key}`,
        { key: dotted, file },
      );
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new ConfigError(`${where(dotted, origin)} must be ${article(expectedType(field))}, not ${typeName(value)}`, { key: dotted, file });
    }
    const resolved = resolveValue(field, dotted, { value, origin }, baseDir, env);
    if (field.unique) {
      const slot = `${list.section}.${field.key}=${String(resolved)}`;
      const previous = used.get(slot);
      if (previous !== undefined) {
        throw new ConfigError(
          `${where(dotted, origin)} is "${String(resolved)}", which ${previous} already uses: every ${field.key} in [${list.section}] must be unique`,
          { key: dotted, file },
        );
      }
      used.set(slot, `"${dotted}"`);
    }
    out[field.prop] = resolved;
  }
  return out;
}

/** Reads a ConfigDefaults object (already camelCase and typed by TypeScript; still checked at resolve time). */
function fromDefaults(defaults: ConfigDefaults): Layer {
  const keys = new Map<KeySpec, Sourced>();
  for (const spec of KEYS) {
    const section = defaults[spec.section] as Record<string, unknown> | undefined;
    const v = section?.[spec.prop];
    if (typeof v === 'string' || typeof v === 'number') keys.set(spec, { value: v, origin: { kind: 'default' } });
  }
  const lists = new Map<ListSpec, SourcedList>();
  for (const list of LISTS) {
    const v = (defaults[list.section] as Record<string, unknown> | undefined)?.[list.prop];
    if (!Array.isArray(v)) continue;
    // camelCase entries to TOML keys, so defaults and the file go through the same resolveEntry.
    const entries = v.map((e: Record<string, unknown>) => {
      const raw: Record<string, unknown> = {};
      for (const f of list.fields) if (e[f.prop] !== undefined) raw[f.key] = e[f.prop];
      return raw;
    });
    lists.set(list, { entries, origin: { kind: 'default' } });
  }
  return { keys, lists };
}

/** Parses and structurally validates the TOML file: known sections and keys only, right types, no inline secrets. */
function fromFile(file: string): Layer {
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
  const lists = new Map<ListSpec, SourcedList>();
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
      const list = LIST_BY_PATH.get(dotted);
      if (list !== undefined) {
        lists.set(list, { entries: listEntries(list, value, file), origin: { kind: 'file', file } });
        continue;
      }
      const spec = SPEC_BY_PATH.get(dotted);
      if (spec === undefined) throw unknownKey(dotted, file);
      checkType(spec, dotted, value, file);
      m.set(spec, { value: value as string | number, origin: { kind: 'file', file } });
    }
  }
  return { keys: m, lists };
}

/** The entries of a `[[section.key]]` list in the file: an array of tables with known fields of the right types. */
function listEntries(list: ListSpec, value: unknown, file: string): Record<string, unknown>[] {
  const dotted = `${list.section}.${list.key}`;
  if (!Array.isArray(value) || !value.every(isTable)) {
    throw new ConfigError(
      `"${dotted}" in ${file} must be an array of tables, written as [[${dotted}]] blocks, not ${typeName(value)}`,
      { key: dotted, file },
    );
  }
  const fields = new Map(list.fields.map((f) => [f.key, f]));
  return value.map((entry, i) => {
    for (const [key, v] of Object.entries(entry)) {
      const at = `${dotted}[${i}].${key}`;
      const field = fields.get(key);
      if (field === undefined) {
        const hint = closest(key, [...fields.keys()]);
        throw new ConfigError(
          `unknown key "${at}" in ${file}${hint ? ` (did you mean "${hint}"?)` : ''}; ` +
            `each [[${dotted}]] takes ${[...fields.keys()].join(', ')}`,
          { key: at, file },
        );
      }
      checkType(field, at, v, file);
    }
    return entry;
  });
}

/** The TOML type a value of this spec is written as. */
function expectedType(spec: ValueSpec): string {
  return spec.kind === 'integer' ? 'integer' : 'string';
}

/** Throws unless `value`, read from the file, has the TOML type `spec` expects. */
function checkType(spec: ValueSpec, dotted: string, value: unknown, file: string): void {
  const expected = expectedType(spec);
  const ok = expected === 'integer' ? typeof value === 'number' && Number.isInteger(value) : typeof value === 'string';
  if (!ok) {
    throw new ConfigError(`"${dotted}" in ${file} must be ${article(expected)}, not ${typeName(value)}`, {
      key: dotted,
      file,
    });
  }
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
          `(it leaks to child processes and /proc); put the secret in a file with mode 0600 and ${secretFileHint(section)}`,
        { key: name },
      );
    }
    const list = LIST_BY_PATH.get(`${section}.${key.split('__')[0] ?? ''}`);
    if (list !== undefined) {
      throw new ConfigError(
        `environment variable ${name} is not allowed: [[${list.section}.${list.key}]] is a list of tables and is set ` +
          'only in the configuration file; environment overrides exist for single keys only',
        { key: name },
      );
    }
    const spec = rest === rest.toUpperCase() ? SPEC_BY_PATH.get(dotted) : undefined;
    if (spec === undefined) {
      const hint = closest(dotted, [...SPEC_BY_PATH.keys()]); // lists cannot come from the environment: never suggest one
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

/** How an error message names a value: the key and where it was set. */
function where(dotted: string, origin: Origin): string {
  return origin.kind === 'file'
    ? `"${dotted}" in ${origin.file}`
    : origin.kind === 'env'
      ? `${origin.name} (sets "${dotted}")`
      : `"${dotted}" (default)`;
}

/** Checks one value (at key path `dotted`) against its spec and returns its resolved form (paths absolute, files checked). */
function resolveValue(
  spec: ValueSpec,
  dotted: string,
  { value, origin }: Sourced,
  baseDir: string,
  env: Record<string, string | undefined>,
): string | number {
  const file = origin.kind === 'file' ? origin.file : undefined;
  const fail = (reason: string): never => {
    throw new ConfigError(`${where(dotted, origin)} ${reason}`, { key: dotted, file });
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
  if (spec.kind === 'url') {
    // Never echoed: the URL itself may be a credential.
    const reason = checkHttpUrl(value) ?? spec.check?.(value);
    if (reason !== undefined) fail(reason);
    return value;
  }

  // A path.
  if (value.length === 0) return spec.optional ? '' : fail('must not be empty');
  if (dotted === 'store.path' && value === ':memory:') return value;
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
    if (spec.secretFile && spec.minBytes !== undefined) {
      // Read, check and drop: a short or malformed secret stops the server now, not at the first delivery.
      const r = readSecretFile(p, spec.minBytes);
      if (!r.ok) return fail(`names ${p}, which ${r.reason}`);
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
        `"${dotted}" in ${file} is not allowed: a secret (PIN, password, token) must never be written in the ` +
          `configuration file. Put it in a file readable only by the service (mode 0600 or 0400) and ${secretFileHint(at[0] ?? key)}.`,
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
  return closest(dotted, dotted.includes('.') ? [...SPEC_BY_PATH.keys(), ...LIST_BY_PATH.keys()] : SECTION_NAMES);
}

/** The candidate within edit distance 2 of `s`, if any. */
function closest(s: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(s, c);
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
