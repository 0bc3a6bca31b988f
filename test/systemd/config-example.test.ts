/**
 * systemd/config.example.toml loads with the project's configuration loader: as shipped, only files that do not
 * exist on this machine stand in the way; pointed at temporary files (and a ${CREDENTIALS_DIRECTORY} holding the
 * PIN and the TLS key, mode 0400 as systemd writes them) it loads, and every commented alternative (YubiHSM 2,
 * AWS CloudHSM, Luna, the notification sinks) loads too once uncommented.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config/index.ts';
import { ROOT } from './support.ts';

const EXAMPLE = readFileSync(path.join(ROOT, 'systemd/config.example.toml'), 'utf8');
let dir: string;
let creds: string;
let env: Record<string, string>;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'waiaas-example-'));
  creds = path.join(dir, 'credentials');
  mkdirSync(creds);
  mkdirSync(path.join(dir, 'etc/waiaas'), { recursive: true });
  mkdirSync(path.join(dir, 'var/lib/waiaas'), { recursive: true });
  const files: [string, string, number][] = [
    ['credentials/hsm-pin', '0001password\n', 0o400],
    ['credentials/tls-key', `-----BEGIN ${'PRIVATE'} KEY-----\n`, 0o400],
    ['credentials/webhook-ops', 'a'.repeat(64), 0o400],
    ['credentials/ntfy-token', 'tk_abcdefghijklmnop', 0o400],
    ['credentials/ca-key', `-----BEGIN ${'PRIVATE'} KEY-----\n`, 0o400],
    ['etc/waiaas/issuing-ca.pem', '-----BEGIN CERTIFICATE-----\n', 0o644],
    ['etc/waiaas/server.pem', '-----BEGIN CERTIFICATE-----\n', 0o644],
    ['etc/waiaas/client-ca.pem', '-----BEGIN CERTIFICATE-----\n', 0o644],
    ['pkcs11-module.so', '', 0o755],
  ];
  for (const [name, content, mode] of files) {
    writeFileSync(path.join(dir, name), content);
    chmodSync(path.join(dir, name), mode);
  }
  env = { CREDENTIALS_DIRECTORY: creds };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The example with its absolute paths moved under the temporary folder, and every HSM module replaced by a stub. */
function relocated(text: string): string {
  return text
    .replaceAll('"/etc/waiaas/', `"${dir}/etc/waiaas/`)
    .replaceAll('"/var/lib/waiaas/', `"${dir}/var/lib/waiaas/`)
    .replace(/^(#\s*)?module = ".*"$/gm, (_m, hash: string | undefined) => `${hash ?? ''}module = "${dir}/pkcs11-module.so"`);
}

/** Loads `text` as a configuration file in the temporary folder. */
function load(text: string, name: string): ReturnType<typeof loadConfig> {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return loadConfig({ file, env });
}

/** The example with the [hsm] keys replaced by the commented block that starts with `marker`, uncommented. */
function withHsmBlock(text: string, marker: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('[hsm]'));
  const end = lines.findIndex((l, i) => i > start && l.startsWith('['));
  const section = lines.slice(start + 1, end);
  const at = section.findIndex((l) => l.startsWith(`# --- ${marker}`));
  if (at < 0) throw new Error(`no "${marker}" block in [hsm]`);
  const block: string[] = [];
  for (const l of section.slice(at)) {
    if (block.length > 0 && l.trim() === '') break;
    if (/^# [a-z_]+ = /.test(l)) block.push(l.slice(2));
  }
  return [...lines.slice(0, start + 1), ...block, '', ...lines.slice(end)].join('\n');
}

describe('config.example.toml', () => {
  it('as shipped, fails only on files that do not exist here (never on a key, a type or a value)', () => {
    const file = path.join(dir, 'as-shipped.toml');
    writeFileSync(file, EXAMPLE);
    try {
      loadConfig({ file, env });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toMatch(/which does not exist/);
    }
  });

  it('loads with its files in place: PIN and TLS key from ${CREDENTIALS_DIRECTORY}, state in /var/lib/waiaas', () => {
    const config = load(relocated(EXAMPLE), 'relocated.toml');
    expect(config.hsm.pinFile).toBe(path.join(creds, 'hsm-pin'));
    expect(config.tls.keyFile).toBe(path.join(creds, 'tls-key'));
    expect(config.tls.certFile).toBe(path.join(dir, 'etc/waiaas/server.pem'));
    expect(config.tls.clientCaFile).toBe(path.join(dir, 'etc/waiaas/client-ca.pem'));
    expect(config.store.path).toBe(path.join(dir, 'var/lib/waiaas/waiaas.db'));
    expect(config.hsm.tokenLabel).toBe('waiaas');
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.server.port).toBe(7443);
    expect(config.log.level).toBe('info');
    expect(config.notify.webhooks).toEqual([]);
  });

  it('names the shipped SoftHSM2 module and the vendors\' modules in its comments', () => {
    expect(EXAMPLE).toContain('module = "/usr/lib/softhsm/libsofthsm2.so"');
    expect(EXAMPLE).toMatch(/^# module = ".*\/yubihsm_pkcs11\.so"$/m);
    expect(EXAMPLE).toContain('# module = "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so"');
    expect(EXAMPLE).toMatch(/^# module = ".*\/libCryptoki2_64\.so"$/m);
    expect(EXAMPLE).toContain('pin_file = "${CREDENTIALS_DIRECTORY}/hsm-pin"');
    expect(EXAMPLE).toContain('key_file = "${CREDENTIALS_DIRECTORY}/tls-key"');
  });

  it.each([
    ['YubiHSM 2', 'YubiHSM'],
    ['AWS CloudHSM', 'hsm1'],
    ['Thales Luna', 'waiaas-partition'],
  ])('the commented %s block loads once uncommented', (marker, label) => {
    const config = load(withHsmBlock(relocated(EXAMPLE), marker), `hsm-${label}.toml`);
    expect(config.hsm.tokenLabel).toBe(label);
    expect(config.hsm.module).toBe(path.join(dir, 'pkcs11-module.so'));
    expect(config.hsm.pinFile).toBe(path.join(creds, 'hsm-pin'));
  });

  it('the commented notification sinks load once uncommented, their secrets from credentials', () => {
    const text = relocated(EXAMPLE).replace(/^# (\[\[notify\.[a-z]+\]\]|name = .*|url = .*|secret_file = .*|token_file = .*)$/gm, '$1');
    const config = load(text, 'notify.toml');
    expect(config.notify.webhooks).toEqual([{ name: 'ops', url: 'https://hooks.example.com/waiaas', secretFile: path.join(creds, 'webhook-ops') }]);
    expect(config.notify.ntfy).toEqual([{ name: 'phone', url: 'https://ntfy.example.com/waiaas-alerts', tokenFile: path.join(creds, 'ntfy-token') }]);
  });

  it('the commented issuing CA loads once uncommented, its key from credentials', () => {
    const text = relocated(EXAMPLE).replace(/^# (ca_cert_file|ca_key_file) = /gm, '$1 = ');
    const config = load(text, 'issuing-ca.toml') as ReturnType<typeof loadConfig> & { tls: { caCertFile?: string; caKeyFile?: string } };
    expect(config.tls.caCertFile).toBe(path.join(dir, 'etc/waiaas/issuing-ca.pem'));
    expect(config.tls.caKeyFile).toBe(path.join(creds, 'ca-key'));
  });

  it('without CREDENTIALS_DIRECTORY (not started by systemd) the PIN path is refused, naming the variable', () => {
    const file = path.join(dir, 'nocreds.toml');
    writeFileSync(file, relocated(EXAMPLE));
    expect(() => loadConfig({ file, env: {} })).toThrow(/CREDENTIALS_DIRECTORY is not set/);
  });
});
