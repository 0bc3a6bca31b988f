/**
 * ensureDevState against the real SoftHSM2: what the first call creates (files, modes, token), that later calls reuse
 * it untouched, that the written config loads, and that the PIN file logs in to the token. One state folder for the
 * whole file, because SoftHSM2 takes its token folder from SOFTHSM2_CONF, which this process sets once.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type * as Pkcs11Types from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config/index.ts';
import { DevStateError, ensureDevState, type DevState } from '../../server/devstate/index.ts';
import { createLogger } from '../../server/log.ts';

const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11Types;
const MODULE = process.env['SOFTHSM_MODULE'] ?? '/usr/lib/softhsm/libsofthsm2.so';

let parent: string;
let dir: string;
let first: DevState;
const logLines: string[] = [];
const log = createLogger({ level: 'trace', destination: { write: (s: string) => void logLines.push(s) } });

const KEYS = ['ca.key', 'server.key', 'agent.key', 'owner.key', 'admin.key'];
const CERTS = ['ca.pem', 'server.pem', 'agent.pem', 'owner.pem', 'admin.pem'];

beforeAll(async () => {
  parent = mkdtempSync(path.join(tmpdir(), 'waiaas-devstate-'));
  dir = path.join(parent, 'state');
  first = await ensureDevState(dir, { softhsmModule: MODULE, log, listen: '127.0.0.1:0' });
});

afterAll(() => rmSync(parent, { recursive: true, force: true }));

/** Runs `fn` with the SoftHSM2 module initialised (it reads SOFTHSM2_CONF, set by ensureDevState) and the dev token's slot. */
function withToken<T>(fn: (p: Pkcs11Types.PKCS11, slot: Buffer) => T): T {
  const p = new pkcs11js.PKCS11();
  p.load(MODULE);
  p.C_Initialize({ flags: 2 });
  try {
    const slot = p
      .C_GetSlotList(true)
      .find((s) => p.C_GetTokenInfo(s).label.trimEnd() === 'waiaas-dev');
    if (slot === undefined) throw new Error('token waiaas-dev not found');
    return fn(p, slot);
  } finally {
    p.C_Finalize();
    p.close();
  }
}

function tokenSerial(): string {
  return withToken((p, slot) => p.C_GetTokenInfo(slot).serialNumber.trim());
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

describe('ensureDevState', () => {
  it('creates the folder with every file, and nothing group/world accessible', () => {
    expect(first).toEqual({ dir, configFile: path.join(dir, 'config.toml'), created: true });
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.join(dir, 'tokens'))).toBe(0o700);
    for (const f of [...KEYS, 'hsm.pin', 'so.pin']) expect(mode(path.join(dir, f)), f).toBe(0o600);
    for (const f of [...CERTS, 'config.toml', 'softhsm2.conf']) expect(existsSync(path.join(dir, f)), f).toBe(true);
    for (const f of readdirSync(dir, { recursive: true }) as string[]) {
      expect(statSync(path.join(dir, f)).mode & 0o077, f).toBe(0);
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('writes softhsm2.conf for this folder and points SOFTHSM2_CONF at it', () => {
    const conf = readFileSync(path.join(dir, 'softhsm2.conf'), 'utf8');
    expect(conf).toMatch(`directories.tokendir = ${path.join(dir, 'tokens')}\n`);
    expect(conf).toMatch('objectstore.backend = file\n');
    expect(conf).toMatch('log.level = ERROR\n');
    expect(process.env['SOFTHSM2_CONF']).toBe(path.join(dir, 'softhsm2.conf'));
  });

  it('writes random hex PINs and never logs them', () => {
    const userPin = readFileSync(path.join(dir, 'hsm.pin'), 'utf8');
    const soPin = readFileSync(path.join(dir, 'so.pin'), 'utf8');
    expect(userPin).toMatch(/^[0-9a-f]{32}$/);
    expect(soPin).toMatch(/^[0-9a-f]{32}$/);
    expect(userPin).not.toBe(soPin);
    expect(logLines.length).toBeGreaterThan(0);
    const logged = logLines.join('');
    expect(logged).not.toContain(userPin);
    expect(logged).not.toContain(soPin);
    for (const k of KEYS) expect(logged).not.toContain(readFileSync(path.join(dir, k), 'utf8').split('\n')[1]);
  });

  it('issues PKCS#8 keys and certificates with the right extensions', () => {
    for (const k of KEYS) expect(readFileSync(path.join(dir, k), 'utf8')).toMatch(new RegExp(`^-----BEGIN ${'PRIVATE'} KEY-----\n`));
    const ca = new X509Certificate(readFileSync(path.join(dir, 'ca.pem')));
    expect(ca.ca).toBe(true);
    const years = (Date.parse(ca.validTo) - Date.now()) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(9.9);
    const server = new X509Certificate(readFileSync(path.join(dir, 'server.pem')));
    expect(server.ca).toBe(false);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    for (const [stem, uri] of [
      ['agent', 'spiffe://waiaas/agent/dev-agent'],
      ['owner', 'spiffe://waiaas/owner/dev-owner'],
      ['admin', 'spiffe://waiaas/admin/dev-admin'],
    ] as const) {
      const c = new X509Certificate(readFileSync(path.join(dir, `${stem}.pem`)));
      expect(c.subjectAltName).toBe(`URI:${uri}`);
      expect(c.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      expect(c.verify(ca.publicKey)).toBe(true);
      expect(c.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    }
  });

  it('writes a config.toml that loadConfig accepts, with paths in the folder', () => {
    const c = loadConfig({ file: first.configFile, env: {} });
    expect(c.server).toMatchObject({ listen: '127.0.0.1:0', host: '127.0.0.1', port: 0 });
    expect(c.tls).toEqual({
      certFile: path.join(dir, 'server.pem'),
      keyFile: path.join(dir, 'server.key'),
      clientCaFile: path.join(dir, 'ca.pem'),
      // The dev CA issues agent and owner credentials.
      caCertFile: path.join(dir, 'ca.pem'),
      caKeyFile: path.join(dir, 'ca.key'),
    });
    expect(c.hsm).toMatchObject({ module: MODULE, tokenLabel: 'waiaas-dev', pinFile: path.join(dir, 'hsm.pin') });
    expect(c.store.path).toBe(path.join(dir, 'waiaas.db'));
    const text = readFileSync(first.configFile, 'utf8');
    expect(text).toMatch('pin_file = "hsm.pin"');
    expect(text).toMatch(/# .*\n\[tls\]/);
  });

  it('initialises the token so the PIN file logs the user in, and a wrong PIN does not', () => {
    const pin = readFileSync(path.join(dir, 'hsm.pin'), 'utf8').trim();
    withToken((p, slot) => {
      const info = p.C_GetTokenInfo(slot);
      expect(info.flags & pkcs11js.CKF_USER_PIN_INITIALIZED).not.toBe(0);
      const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        let code: number | undefined;
        try {
          p.C_Login(s, pkcs11js.CKU_USER, 'ffffffffffffffffffffffffffffffff');
        } catch (e) {
          code = (e as { code?: number }).code;
        }
        expect(code).toBe(pkcs11js.CKR_PIN_INCORRECT);
        p.C_Login(s, pkcs11js.CKU_USER, pin);
        p.C_Logout(s);
      } finally {
        p.C_CloseSession(s);
      }
    });
  });

  it('reuses everything on a later call: same CA, keys, PINs and token', async () => {
    const snapshot = (): Record<string, string> =>
      Object.fromEntries([...KEYS, ...CERTS, 'hsm.pin', 'so.pin', 'config.toml'].map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
    const before = snapshot();
    const fingerprint = new X509Certificate(before['ca.pem'] ?? '').fingerprint256;
    const serial = tokenSerial();

    const again = await ensureDevState(dir, { softhsmModule: MODULE });
    expect(again).toEqual({ dir, configFile: path.join(dir, 'config.toml'), created: false });
    expect(snapshot()).toEqual(before);
    expect(new X509Certificate(readFileSync(path.join(dir, 'ca.pem'))).fingerprint256).toBe(fingerprint);
    expect(tokenSerial()).toBe(serial);
    withToken((p) => expect(p.C_GetSlotList(true).filter((s) => p.C_GetTokenInfo(s).label.trimEnd() === 'waiaas-dev')).toHaveLength(1));
  });

  it('on reuse, removes group/other permissions from files others created in the folder', async () => {
    const db = path.join(dir, 'waiaas.db');
    writeFileSync(db, '');
    chmodSync(db, 0o644);
    chmodSync(dir, 0o755);
    expect((await ensureDevState(dir, { softhsmModule: MODULE })).created).toBe(false);
    expect(mode(db)).toBe(0o600);
    expect(mode(dir)).toBe(0o700);
  });

  it('on reuse, updates only the listen line when a different listen is asked for', async () => {
    const before = readFileSync(first.configFile, 'utf8');
    await ensureDevState(dir, { softhsmModule: MODULE, listen: '127.0.0.1:17443' });
    const after = readFileSync(first.configFile, 'utf8');
    expect(after).toBe(before.replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:17443"'));
    expect(loadConfig({ file: first.configFile, env: {} }).server.port).toBe(17443);
    expect(mode(first.configFile)).toBe(0o600);
    await ensureDevState(dir, { softhsmModule: MODULE, listen: '127.0.0.1:0' });
    expect(readFileSync(first.configFile, 'utf8')).toBe(before);
  });

  it('refuses a half-written certificate pair instead of regenerating it', async () => {
    const pem = path.join(dir, 'agent.pem');
    renameSync(pem, `${pem}.aside`);
    try {
      await expect(ensureDevState(dir, { softhsmModule: MODULE })).rejects.toThrow(DevStateError);
      await expect(ensureDevState(dir, { softhsmModule: MODULE })).rejects.toThrow(/agent\.key exists but .*agent\.pem does not/);
    } finally {
      renameSync(`${pem}.aside`, pem);
    }
    expect((await ensureDevState(dir, { softhsmModule: MODULE })).created).toBe(false);
  });

  it('refuses an unusable listen address before touching anything', async () => {
    await expect(ensureDevState(dir, { softhsmModule: MODULE, listen: 'localhost' })).rejects.toThrow(/must be host:port/);
  });

  it('refuses a certificate that does not belong with its key', async () => {
    const key = path.join(dir, 'owner.key');
    const saved = readFileSync(key);
    writeFileSync(key, readFileSync(path.join(dir, 'admin.key')));
    try {
      await expect(ensureDevState(dir, { softhsmModule: MODULE })).rejects.toThrow(/owner\.pem: the private key does not belong/);
    } finally {
      writeFileSync(key, saved);
    }
  });
});
