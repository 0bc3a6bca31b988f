/**
 * loadConfig against real files in a temporary folder: strictness (unknown keys, types, inline PINs), environment
 * overrides, path resolution, ${CREDENTIALS_DIRECTORY}, range checks, and the TOML template round trip.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, loadConfig, renderConfigToml, type Config } from '../../server/config/index.ts';

let dir: string;
let file: string;

/** A minimal valid file: the required keys, pointing at files that exist with the right modes. */
const BASE = `
[tls]
cert_file = "server.pem"
key_file = "server.key"
client_ca_file = "ca.pem"
[hsm]
module = "libfake.so"
pin_file = "hsm.pin"
`;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'waiaas-config-'));
  for (const [name, mode] of [
    ['server.pem', 0o644],
    ['server.key', 0o600],
    ['ca.pem', 0o644],
    ['libfake.so', 0o755],
    ['hsm.pin', 0o400],
  ] as const) {
    writeFileSync(path.join(dir, name), 'x');
    chmodSync(path.join(dir, name), mode);
  }
  file = path.join(dir, 'config.toml');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `toml` to the config file and loads it with `env` (empty by default, so the test's own env is ignored). */
function load(toml: string, env: Record<string, string | undefined> = {}): Config {
  writeFileSync(file, toml);
  return loadConfig({ file, env });
}

/** The ConfigError thrown by `fn` (fails the test when it returns or throws something else). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('loads a minimal file, applies defaults and resolves relative paths against the file', () => {
    const cwd = process.cwd();
    process.chdir(tmpdir()); // relative paths must not depend on the working directory
    try {
      const c = load(BASE);
      expect(c.file).toBe(file);
      expect(c.server).toEqual({
        listen: '127.0.0.1:7443',
        host: '127.0.0.1',
        port: 7443,
        maxMessageBytes: 262144,
        shutdownGraceSeconds: 10,
      });
      expect(c.tls).toEqual({
        certFile: path.join(dir, 'server.pem'),
        keyFile: path.join(dir, 'server.key'),
        clientCaFile: path.join(dir, 'ca.pem'),
        // Issuing credentials is off unless a CA key is configured.
        caCertFile: '',
        caKeyFile: '',
      });
      expect(c.hsm).toEqual({ module: path.join(dir, 'libfake.so'), tokenLabel: 'waiaas', pinFile: path.join(dir, 'hsm.pin'), sessions: 4 });
      expect(c.store.path).toBe(path.join(dir, 'waiaas.db'));
      expect(c.log.level).toBe('info');
    } finally {
      process.chdir(cwd);
    }
  });

  it('rejects an unknown key, naming the key path and the file', () => {
    const e = configError(() => load(`${BASE}\n[server]\nlistn = "127.0.0.1:1"\n`));
    expect(e.message).toMatch(`unknown key "server.listn" in ${file}`);
    expect(e.message).toMatch('did you mean "server.listen"');
    expect(e.key).toBe('server.listn');
    expect(e.file).toBe(file);
  });

  it('rejects unknown sections and nested unknown keys', () => {
    expect(configError(() => load(`${BASE}\n[srever]\nlisten = "x"\n`)).message).toMatch(`unknown key "srever" in ${file}`);
    const nested = configError(() => load(`${BASE}\n[server.tuning]\nthreads = 4\n`));
    expect(nested.message).toMatch(`unknown key "server.tuning" in ${file}`);
    expect(nested.key).toBe('server.tuning');
    const inline = configError(() => load(`${BASE}\n[store]\npath = "a.db"\nopts = { wal = true }\n`));
    expect(inline.key).toBe('store.opts');
  });

  it('rejects wrong types, naming the key and the expected type', () => {
    const e = configError(() => load(`${BASE.replace('[hsm]', '[hsm]\nsessions = "4"')}`));
    expect(e.message).toBe(`"hsm.sessions" in ${file} must be an integer, not a string`);
    expect(e.key).toBe('hsm.sessions');
    expect(configError(() => load(`[server]\nlisten = 7443\n${BASE}`)).message).toMatch('"server.listen" in ' + file + ' must be a string, not an integer');
    expect(configError(() => load(`[server]\nmax_message_bytes = 1.5\n${BASE}`)).message).toMatch('must be an integer, not a float');
    expect(configError(() => load(`server = 1\n${BASE}`)).message).toMatch('"server" in ' + file + ' must be a table');
  });

  it('rejects a PIN written in the file without echoing it, pointing at pin_file', () => {
    const secret = 'hunter2-very-secret-9876';
    for (const toml of [
      BASE.replace('[hsm]', `[hsm]\npin = "${secret}"`),
      `${BASE}\n[hsm.extra]\nuser_pin = "${secret}"\n`,
      BASE.replace('[hsm]', `[hsm]\nso_pin = ${secret.length}`),
    ]) {
      const e = configError(() => load(toml));
      expect(e.message).toMatch('pin_file');
      expect(e.message).not.toContain(secret);
      expect(e.message).not.toContain(String(secret.length));
      expect(e.key).toMatch(/^hsm\.(extra\.user_pin|pin|so_pin)$/);
    }
  });

  it('does not echo the offending line of a TOML syntax error', () => {
    const e = configError(() => load(`[hsm]\npin = 12ab-secret-34\n`));
    expect(e.message).toMatch(`invalid TOML in ${file} at line 2`);
    expect(e.message).not.toContain('secret');
  });

  it('names the key of a missing required value and of a missing file', () => {
    const e = configError(() => load(BASE.replace('cert_file = "server.pem"\n', '')));
    expect(e.message).toBe(`missing required key "tls.cert_file" in ${file}`);
    expect(e.key).toBe('tls.cert_file');
    const nofile = configError(() => load(BASE.replace('"ca.pem"', '"nope.pem"')));
    expect(nofile.key).toBe('tls.client_ca_file');
    expect(nofile.message).toMatch(`"tls.client_ca_file" in ${file} names ${path.join(dir, 'nope.pem')}, which does not exist`);
    expect(configError(() => loadConfig({ env: {} })).message).toMatch('missing required key "tls.cert_file" (no configuration file given)');
    expect(configError(() => loadConfig({ file: path.join(dir, 'absent.toml'), env: {} })).message).toMatch('no such file');
  });

  it('refuses secret files readable by group or others', () => {
    const loose = path.join(dir, 'loose.key');
    writeFileSync(loose, 'x');
    chmodSync(loose, 0o644);
    const e = configError(() => load(BASE.replace('"server.key"', '"loose.key"')));
    expect(e.key).toBe('tls.key_file');
    expect(e.message).toMatch('mode 0644');
    chmodSync(loose, 0o700); // no group/other bits, but not 0600 or 0400 either
    expect(configError(() => load(BASE.replace('"server.key"', '"loose.key"'))).message).toMatch('must be mode 0600 or 0400');
    expect(configError(() => load(BASE.replace('"hsm.pin"', '"loose.key"'))).key).toBe('hsm.pin_file');
  });

  it('validates listen, ranges and the log level', () => {
    const withServer = (line: string): string => `[server]\n${line}\n${BASE}`;
    expect(configError(() => load(withServer('listen = "localhost"'))).message).toMatch('must be host:port');
    expect(configError(() => load(withServer('listen = "127.0.0.1:65536"'))).message).toMatch('port must be 0-65535');
    expect(configError(() => load(withServer('listen = "::1:7443"'))).message).toMatch('IPv6 hosts in brackets');
    expect(load(withServer('listen = "[::1]:0"')).server).toMatchObject({ host: '::1', port: 0 });
    expect(load(withServer('listen = "0.0.0.0:65535"')).server).toMatchObject({ host: '0.0.0.0', port: 65535 });
    expect(configError(() => load(withServer('max_message_bytes = 1023'))).message).toMatch('between 1024 and 16777216');
    expect(load(withServer('max_message_bytes = 16777216')).server.maxMessageBytes).toBe(16777216);
    expect(configError(() => load(BASE.replace('[hsm]', '[hsm]\nsessions = 0'))).message).toMatch('between 1 and 64, got 0');
    expect(configError(() => load(BASE.replace('[hsm]', '[hsm]\nsessions = 65'))).key).toBe('hsm.sessions');
    expect(configError(() => load(BASE.replace('[hsm]', `[hsm]\ntoken_label = "${'x'.repeat(33)}"`))).message).toMatch('32 bytes');
    expect(configError(() => load(`${BASE}\n[log]\nlevel = "verbose"\n`)).message).toMatch('must be one of trace, debug');
  });

  it('applies WAIAAS_<SECTION>__<KEY> overrides, parsed to the key type, over the file', () => {
    const c = load(`[server]\nlisten = "127.0.0.1:1"\n${BASE}`, {
      WAIAAS_SERVER__LISTEN: '0.0.0.0:7443',
      WAIAAS_HSM__SESSIONS: '8',
      WAIAAS_LOG__LEVEL: 'debug',
      WAIAAS_STORE__PATH: 'state/signer.db',
      WAIAAS_SOMETHING_ELSE: 'ignored: no "__", not a config override',
    });
    expect(c.server).toMatchObject({ listen: '0.0.0.0:7443', host: '0.0.0.0', port: 7443 });
    expect(c.hsm.sessions).toBe(8);
    expect(c.log.level).toBe('debug');
    expect(c.store.path).toBe(path.join(dir, 'state/signer.db'));

    const bad = configError(() => load(BASE, { WAIAAS_HSM__SESSIONS: 'four' }));
    expect(bad.message).toMatch('WAIAAS_HSM__SESSIONS (sets "hsm.sessions") must be an integer');
    expect(configError(() => load(BASE, { WAIAAS_HSM__SESSIONS: '100' })).message).toMatch(
      'WAIAAS_HSM__SESSIONS (sets "hsm.sessions") must be between 1 and 64',
    );
  });

  it('rejects an unknown WAIAAS_*__* variable, naming it', () => {
    const e = configError(() => load(BASE, { WAIAAS_SERVER__LISTN: '1.2.3.4:1' }));
    expect(e.message).toMatch('unknown environment variable WAIAAS_SERVER__LISTN');
    expect(e.message).toMatch('did you mean WAIAAS_SERVER__LISTEN');
    expect(e.key).toBe('WAIAAS_SERVER__LISTN');
    expect(configError(() => load(BASE, { WAIAAS_NOPE__X: '1' })).key).toBe('WAIAAS_NOPE__X');
  });

  it('never takes a secret from the environment, and never echoes it', () => {
    const e = configError(() => load(BASE, { WAIAAS_HSM__PIN: 'env-secret-1234' }));
    expect(e.message).toMatch('WAIAAS_HSM__PIN is not allowed');
    expect(e.message).toMatch('pin_file');
    expect(e.message).not.toContain('env-secret-1234');
  });

  it('expands ${CREDENTIALS_DIRECTORY} (systemd LoadCredential) in paths', () => {
    const creds = path.join(dir, 'credentials');
    mkdirSync(creds, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(creds, 'hsm-pin'), '1234', { mode: 0o400 });
    const toml = BASE.replace('"hsm.pin"', '"${CREDENTIALS_DIRECTORY}/hsm-pin"');
    expect(load(toml, { CREDENTIALS_DIRECTORY: creds }).hsm.pinFile).toBe(path.join(creds, 'hsm-pin'));
    const unset = configError(() => load(toml));
    expect(unset.key).toBe('hsm.pin_file');
    expect(unset.message).toMatch('CREDENTIALS_DIRECTORY is not set');
    expect(configError(() => load(BASE.replace('"hsm.pin"', '"${HOME}/pin"'))).message).toMatch('only use ${CREDENTIALS_DIRECTORY}');
  });

  it('layers opts.defaults between DEFAULT_CONFIG and the file', () => {
    writeFileSync(file, BASE.replace('[hsm]', '[hsm]\nsessions = 2'));
    const c = loadConfig({ file, env: {}, defaults: { hsm: { sessions: 16, tokenLabel: 'other' }, log: { level: 'warn' } } });
    expect(c.hsm.sessions).toBe(2);
    expect(c.hsm.tokenLabel).toBe('other');
    expect(c.log.level).toBe('warn');
    expect(Object.isFrozen(DEFAULT_CONFIG.server)).toBe(true);
  });
});

describe('renderConfigToml', () => {
  it('writes a commented file that loadConfig accepts, with defaults commented out', () => {
    const text = renderConfigToml(
      {
        server: { listen: '127.0.0.1:0' },
        tls: { certFile: 'server.pem', keyFile: 'server.key', clientCaFile: 'ca.pem' },
        hsm: { module: 'libfake.so', tokenLabel: 'lab "quoted"', pinFile: 'hsm.pin' },
      },
      { header: 'test header' },
    );
    expect(text).toMatch(/^# test header\n/);
    expect(text).toMatch('# max_message_bytes = 262144  # default');
    expect(text).toMatch(/# [^\n]*\n\[hsm\]/);
    const c = load(text);
    expect(c.server.port).toBe(0);
    expect(c.hsm.tokenLabel).toBe('lab "quoted"');
    expect(c.tls.keyFile).toBe(path.join(dir, 'server.key'));
    // Uncommenting a default line must still be valid TOML.
    expect(load(text.replace('# max_message_bytes = 262144  # default', 'max_message_bytes = 262144  # default')).server.maxMessageBytes).toBe(262144);
  });
});
