/**
 * The `[notify]` section against real files: `[[notify.webhooks]]` and `[[notify.ntfy]]` entries (unknown keys named,
 * URLs, secret file modes and sizes, unique names, inline secrets refused), the scalar keys and their environment
 * overrides, no environment override of lists, and the template's commented example.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, renderConfigToml, type Config } from '../../server/config/index.ts';

let dir: string;
let file: string;

/** The required keys of the other sections, as in config.test.ts. */
const BASE = `
[tls]
cert_file = "server.pem"
key_file = "server.key"
client_ca_file = "ca.pem"
[hsm]
module = "libfake.so"
pin_file = "hsm.pin"
`;

const HOOK_SECRET = 'hook-secret-0123456789abcdef';
const NTFY_TOKEN = 'tk_ntfy-token-abcdef';

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'waiaas-config-notify-'));
  for (const [name, mode, content] of [
    ['server.pem', 0o644, 'x'],
    ['server.key', 0o600, 'x'],
    ['ca.pem', 0o644, 'x'],
    ['libfake.so', 0o755, 'x'],
    ['hsm.pin', 0o400, 'x'],
    ['hook.secret', 0o600, `${HOOK_SECRET}\n`],
    ['ntfy.token', 0o400, NTFY_TOKEN],
    ['loose.secret', 0o644, HOOK_SECRET],
    ['short.secret', 0o600, 'fifteen-bytes!!\n'],
    ['empty.secret', 0o600, ''],
  ] as const) {
    writeFileSync(path.join(dir, name), content);
    chmodSync(path.join(dir, name), mode);
  }
  file = path.join(dir, 'config.toml');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(toml: string, env: Record<string, string | undefined> = {}): Config {
  writeFileSync(file, toml);
  return loadConfig({ file, env });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const HOOK = `
[[notify.webhooks]]
name = "ops"
url = "https://hooks.example.com/waiaas"
secret_file = "hook.secret"
`;

const NTFY = `
[[notify.ntfy]]
name = "phone"
url = "http://ntfy.local/waiaas-alerts"
token_file = "ntfy.token"
`;

describe('[notify]', () => {
  it('defaults to no sinks, 20 attempts and a day', () => {
    expect(load(BASE).notify).toEqual({ webhooks: [], ntfy: [], maxAttempts: 20, maxAgeSeconds: 86400 });
  });

  it('resolves webhooks and ntfy topics, with paths made absolute', () => {
    const c = load(`${BASE}\n[notify]\nmax_attempts = 5\nmax_age_seconds = 3600\n${HOOK}${NTFY}\n[[notify.ntfy]]\nname = "public"\nurl = "https://ntfy.sh/waiaas-x"\n`);
    expect(c.notify).toEqual({
      webhooks: [{ name: 'ops', url: 'https://hooks.example.com/waiaas', secretFile: path.join(dir, 'hook.secret') }],
      ntfy: [
        { name: 'phone', url: 'http://ntfy.local/waiaas-alerts', tokenFile: path.join(dir, 'ntfy.token') },
        { name: 'public', url: 'https://ntfy.sh/waiaas-x' },
      ],
      maxAttempts: 5,
      maxAgeSeconds: 3600,
    });
  });

  it('takes max_attempts and max_age_seconds from the environment, in range', () => {
    const c = load(BASE, { WAIAAS_NOTIFY__MAX_ATTEMPTS: '7', WAIAAS_NOTIFY__MAX_AGE_SECONDS: '600' });
    expect(c.notify).toMatchObject({ maxAttempts: 7, maxAgeSeconds: 600 });
    expect(configError(() => load(`${BASE}\n[notify]\nmax_attempts = 0\n`)).message).toMatch('between 1 and 1000, got 0');
    expect(configError(() => load(BASE, { WAIAAS_NOTIFY__MAX_AGE_SECONDS: '10' })).key).toBe('notify.max_age_seconds');
  });

  it('refuses to set lists from the environment, saying why', () => {
    for (const name of ['WAIAAS_NOTIFY__WEBHOOKS', 'WAIAAS_NOTIFY__WEBHOOKS__0__URL', 'WAIAAS_NOTIFY__NTFY__0__NAME']) {
      const e = configError(() => load(BASE, { [name]: 'x' }));
      expect(e.key).toBe(name);
      expect(e.message).toMatch(`environment variable ${name} is not allowed`);
      expect(e.message).toMatch(/is a list of tables and is set only in the configuration file/);
    }
    const typo = configError(() => load(BASE, { WAIAAS_NOTIFY__MAX_ATEMPTS: '3' }));
    expect(typo.message).toMatch('did you mean WAIAAS_NOTIFY__MAX_ATTEMPTS');
    const secret = configError(() => load(BASE, { WAIAAS_NOTIFY__TOKEN: 'env-token-4444' }));
    expect(secret.message).toMatch('token_file');
    expect(secret.message).not.toContain('env-token-4444');
  });

  it('names an unknown key inside an entry, with the entry index and a hint', () => {
    const e = configError(() => load(`${BASE}${HOOK}${HOOK.replace('ops', 'ops2').replace('secret_file', 'secret_fil')}`));
    expect(e.key).toBe('notify.webhooks[1].secret_fil');
    expect(e.message).toMatch(`unknown key "notify.webhooks[1].secret_fil" in ${file}`);
    expect(e.message).toMatch('did you mean "secret_file"');
    expect(e.file).toBe(file);
    const list = configError(() => load(`${BASE}\n[[notify.webhook]]\nname = "x"\n`));
    expect(list.key).toBe('notify.webhook');
    expect(list.message).toMatch('did you mean "notify.webhooks"');
    expect(configError(() => load(`${BASE}\n[notify]\nretries = 3\n`)).key).toBe('notify.retries');
  });

  it('wants arrays of tables with string fields and every required field', () => {
    const table = configError(() => load(`${BASE}\n[notify.webhooks]\nname = "ops"\n`));
    expect(table.key).toBe('notify.webhooks');
    expect(table.message).toMatch('must be an array of tables, written as [[notify.webhooks]] blocks, not a table');
    const type = configError(() => load(`${BASE}${NTFY.replace('"phone"', '7')}`));
    expect(type.message).toBe(`"notify.ntfy[0].name" in ${file} must be a string, not an integer`);
    const missing = configError(() => load(`${BASE}${HOOK.replace('secret_file = "hook.secret"\n', '')}`));
    expect(missing.key).toBe('notify.webhooks[0].secret_file');
    expect(missing.message).toMatch(`missing required key "notify.webhooks[0].secret_file" in ${file}`);
    expect(configError(() => load(`${BASE}${NTFY.replace(/url = .*\n/, '')}`)).key).toBe('notify.ntfy[0].url');
    // token_file is optional.
    expect(load(`${BASE}${NTFY.replace(/token_file = .*\n/, '')}`).notify.ntfy[0]).toEqual({ name: 'phone', url: 'http://ntfy.local/waiaas-alerts' });
  });

  it('accepts http and https URLs only, without echoing the URL', () => {
    const bad: [string, RegExp][] = [
      ['ftp://hooks.example.com/x', /must use http or https, not ftp:/],
      ['hooks.example.com/x', /must be an absolute http:\/\/ or https:\/\/ URL/],
      ['https://user:pa55word-in-url@hooks.example.com/x', /must not contain credentials/],
      ['file:///etc/passwd', /must use http or https/],
    ];
    for (const [url, why] of bad) {
      const e = configError(() => load(`${BASE}${HOOK.replace('https://hooks.example.com/waiaas', url)}`));
      expect(e.key).toBe('notify.webhooks[0].url');
      expect(e.message).toMatch(why);
      expect(e.message).not.toContain(url);
    }
    const noTopic = configError(() => load(`${BASE}${NTFY.replace('http://ntfy.local/waiaas-alerts', 'http://ntfy.local/')}`));
    expect(noTopic.key).toBe('notify.ntfy[0].url');
    expect(noTopic.message).toMatch('must name a topic');
  });

  it('checks secret files: mode 0600/0400, not empty, at least 16 bytes, without quoting them', () => {
    const loose = configError(() => load(`${BASE}${HOOK.replace('hook.secret', 'loose.secret')}`));
    expect(loose.key).toBe('notify.webhooks[0].secret_file');
    expect(loose.message).toMatch('mode 0644');
    expect(loose.message).toMatch('must be mode 0600 or 0400');
    const short = configError(() => load(`${BASE}${HOOK.replace('hook.secret', 'short.secret')}`));
    expect(short.message).toMatch('holds 15 bytes; at least 16 are required');
    expect(short.message).not.toContain('fifteen');
    expect(configError(() => load(`${BASE}${HOOK.replace('hook.secret', 'empty.secret')}`)).message).toMatch('is empty');
    expect(configError(() => load(`${BASE}${HOOK.replace('hook.secret', 'absent.secret')}`)).message).toMatch('which does not exist');
    const token = configError(() => load(`${BASE}${NTFY.replace('ntfy.token', 'loose.secret')}`));
    expect(token.key).toBe('notify.ntfy[0].token_file');
    expect(token.message).toMatch('mode 0644');
    expect(token.message).not.toContain(HOOK_SECRET);
  });

  it('expands ${CREDENTIALS_DIRECTORY} in secret_file and token_file', () => {
    const creds = path.join(dir, 'credentials');
    mkdirSync(creds, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(creds, 'webhook-ops'), HOOK_SECRET, { mode: 0o400 });
    const c = load(`${BASE}${HOOK.replace('"hook.secret"', '"${CREDENTIALS_DIRECTORY}/webhook-ops"')}`, { CREDENTIALS_DIRECTORY: creds });
    expect(c.notify.webhooks[0]?.secretFile).toBe(path.join(creds, 'webhook-ops'));
  });

  it('wants sink names unique across webhooks and ntfy, and plain', () => {
    const dupe = configError(() => load(`${BASE}${HOOK}${NTFY.replace('"phone"', '"ops"')}`));
    expect(dupe.key).toBe('notify.ntfy[0].name');
    expect(dupe.message).toMatch(`"notify.ntfy[0].name" in ${file} is "ops", which "notify.webhooks[0].name" already uses`);
    expect(configError(() => load(`${BASE}${HOOK}${HOOK}`)).key).toBe('notify.webhooks[1].name');
    const bad = configError(() => load(`${BASE}${HOOK.replace('"ops"', '"Ops Team"')}`));
    expect(bad.key).toBe('notify.webhooks[0].name');
    expect(bad.message).toMatch('a-z, 0-9, _ or -');
  });

  it('refuses a secret or token written inline, without echoing it', () => {
    for (const [toml, key, hint] of [
      [`${BASE}${HOOK}secret = "inline-secret-5555"\n`, 'notify.webhooks.secret', 'secret_file'],
      [`${BASE}${NTFY}token = "inline-secret-5555"\n`, 'notify.ntfy.token', 'token_file'],
    ] as const) {
      const e = configError(() => load(toml));
      expect(e.key).toBe(key);
      expect(e.message).toMatch('is not allowed');
      expect(e.message).toMatch(hint);
      expect(e.message).not.toContain('inline-secret-5555');
    }
  });
});

describe('renderConfigToml and [notify]', () => {
  it('writes a commented example that loads once uncommented, and renders given entries', () => {
    const text = renderConfigToml({
      tls: { certFile: 'server.pem', keyFile: 'server.key', clientCaFile: 'ca.pem' },
      hsm: { module: 'libfake.so', pinFile: 'hsm.pin' },
    });
    expect(text).toMatch('\n[notify]\n');
    expect(text).toMatch('# max_attempts = 20  # default');
    expect(text).toMatch('# [[notify.webhooks]]\n# name = "ops"\n');
    expect(text).toMatch('# [[notify.ntfy]]\n');
    expect(load(text).notify.webhooks).toEqual([]);

    // Uncomment the example blocks: they must be valid, given their secret files.
    const creds = path.join(dir, 'creds-example');
    mkdirSync(creds, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(creds, 'webhook-ops'), HOOK_SECRET, { mode: 0o600 });
    writeFileSync(path.join(creds, 'ntfy-token'), NTFY_TOKEN, { mode: 0o600 });
    const uncommented = text.replace(/^# (\[\[notify\.\w+\]\]|\w+ = .*)$/gm, (line, rest: string) =>
      /^(name|url|secret_file|token_file) = |^\[\[/.test(rest) ? rest : line,
    );
    const c = load(uncommented, { CREDENTIALS_DIRECTORY: creds });
    expect(c.notify.webhooks).toEqual([{ name: 'ops', url: 'https://hooks.example.com/waiaas', secretFile: path.join(creds, 'webhook-ops') }]);
    expect(c.notify.ntfy).toEqual([{ name: 'phone', url: 'https://ntfy.example.com/waiaas-alerts', tokenFile: path.join(creds, 'ntfy-token') }]);

    const given = renderConfigToml({
      tls: { certFile: 'server.pem', keyFile: 'server.key', clientCaFile: 'ca.pem' },
      hsm: { module: 'libfake.so', pinFile: 'hsm.pin' },
      notify: { webhooks: [{ name: 'ops', url: 'https://h.example.com/x', secretFile: 'hook.secret' }], ntfy: [{ name: 'p', url: 'https://n.example.com/t' }], maxAttempts: 3 },
    });
    expect(load(given).notify).toEqual({
      webhooks: [{ name: 'ops', url: 'https://h.example.com/x', secretFile: path.join(dir, 'hook.secret') }],
      ntfy: [{ name: 'p', url: 'https://n.example.com/t' }],
      maxAttempts: 3,
      maxAgeSeconds: 86400,
    });
  });
});
