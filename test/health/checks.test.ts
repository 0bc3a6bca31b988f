/**
 * The readiness checks against the real things: SoftHSM2 through PKCS#11 (with a device removal injected at the
 * PKCS#11 boundary) and a real SQLite store (closed, locked by another process's writer, at max_page_count, on a
 * read-only or full file system as access(2)/statfs(2) report them).
 */
import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Hsm, interceptPkcs11, newPkcs11 } from '../../hsm/index.ts';
import { auditCheck, hsmCheck, ReadinessMonitor, storeCheck } from '../../server/health/health.ts';
import { Store } from '../../server/store/store.ts';
import { createTestToken, SOFTHSM_MODULE, type TestToken } from '../support/softhsm.ts';

const signal = new AbortController().signal;

describe('hsmCheck on SoftHSM2', () => {
  let token: TestToken;
  let removed = false;
  let hsm: Hsm | undefined;

  beforeAll(async () => {
    token = await createTestToken({ label: 'health' });
  });
  afterAll(async () => {
    await hsm?.close();
    await token?.cleanup();
  });

  test('passes while logged in, fails while the device is gone, passes again once it is back; the monitor follows', async () => {
    const pkcs11 = interceptPkcs11(newPkcs11(), (method, _args, call) => {
      if (removed && (method === 'C_GetSessionInfo' || method === 'C_OpenSession' || method === 'C_Login')) throw new Error('CKR_DEVICE_REMOVED');
      return call();
    });
    hsm = await Hsm.open({ module: SOFTHSM_MODULE, tokenLabel: token.tokenLabel, pinFile: token.pinFile, sessions: 1 }, { pkcs11, log: () => undefined });
    const check = hsmCheck(hsm);
    expect(check.name).toBe('hsm');
    await check.check(signal);

    const changes: [boolean, string[]][] = [];
    const monitor = new ReadinessMonitor({ checks: [check], intervalMs: 1000, onChange: (r, f) => changes.push([r, f]) });
    expect(await monitor.check()).toBe(true);
    removed = true;
    await expect(check.check(signal)).rejects.toMatchObject({ kind: 'UNAVAILABLE' });
    expect(await monitor.check()).toBe(false);
    // The HSM layer names the CKR, or (with automatic re-initialisation) says it is unhealthy and re-initialising.
    expect(monitor.status()[0]!.error).toMatch(/CKR_DEVICE_REMOVED|unhealthy/);
    removed = false;
    // Back: the next ping logs in again (or the HSM layer's own re-initialisation finishes first).
    const end = Date.now() + 20_000;
    while (!(await monitor.check())) {
      if (Date.now() > end) throw new Error(`the HSM check did not recover: ${monitor.status()[0]!.error}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(changes).toEqual([[true, []], [false, ['hsm']], [true, []]]);
  });

  test('fails once the HSM is closed', async () => {
    const h = await Hsm.open({ module: SOFTHSM_MODULE, tokenLabel: token.tokenLabel, pinFile: token.pinFile, sessions: 1 }, { log: () => undefined });
    await h.close();
    await expect(hsmCheck(h, { name: 'token' }).check(signal)).rejects.toThrow(/closed/);
  });
});

describe('storeCheck on SQLite', () => {
  let dir: string;
  let store: Store;
  const stores: Store[] = [];
  const open = (name = 'db.sqlite'): Store => {
    const s = Store.open(join(dir, name));
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'waiaas-health-'));
  });
  afterEach(() => {
    while (stores.length > 0) stores.pop()!.close();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a healthy database passes, through the group-commit write path', async () => {
    store = open();
    let writes = 0;
    const counting = { ...store, path: store.path, db: store.db, ping: () => store.ping(), write: <T>(op: () => T) => (writes++, store.write(op)) };
    await storeCheck(counting).check(signal);
    expect(writes).toBe(1);
    expect(storeCheck(store).name).toBe('store');
  });

  test('an in-memory database is not looked for on the file system', async () => {
    store = open();
    const seen: string[] = [];
    const inMemory = { path: ':memory:', db: store.db, ping: () => store.ping(), write: <T>(op: () => T) => store.write(op) };
    await storeCheck(inMemory, { access: async (p) => void seen.push(p), statfs: async () => ({ bavail: 0, bsize: 0 }) }).check(signal);
    expect(seen).toEqual([]);
  });

  test('a closed database fails', async () => {
    store = open();
    store.close();
    await expect(storeCheck(store).check(signal)).rejects.toThrow(/closed/);
  });

  test('another writer holding the write lock fails the check (SQLITE_BUSY)', async () => {
    store = open('locked.sqlite');
    store.db.pragma('busy_timeout = 0'); // the appliance waits 5 s; the test need not
    const other = new Database(join(dir, 'locked.sqlite'));
    try {
      other.exec('BEGIN IMMEDIATE');
      await expect(storeCheck(store).check(signal)).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      other.exec('ROLLBACK');
      await storeCheck(store).check(signal);
    } finally {
      other.close();
    }
  });

  test('a database at max_page_count fails', async () => {
    store = open('capped.sqlite');
    const pages = Number(store.db.pragma('page_count', { simple: true }));
    store.db.pragma(`max_page_count = ${pages + 10}`);
    await expect(storeCheck(store).check(signal)).rejects.toThrow(/database is full: \d+ of at most \d+ pages/);
  });

  test('a read-only file system (EROFS from access) fails, naming the path and the code', async () => {
    store = open();
    const erofs = Object.assign(new Error('read-only file system'), { code: 'EROFS' });
    const check = storeCheck(store, { access: async (p) => (p.endsWith('.sqlite') ? Promise.reject(erofs) : undefined) });
    await expect(check.check(signal)).rejects.toThrow(/the database file .*db\.sqlite is not writable \(EROFS\)/);
    const folder = storeCheck(store, { access: async (p) => (p === dir ? Promise.reject(Object.assign(new Error('x'), { code: 'EACCES' })) : undefined) });
    await expect(folder.check(signal)).rejects.toThrow(/the database folder .* is not writable \(EACCES\)/);
  });

  test('the WAL file is checked when it exists', async () => {
    store = open();
    await store.write(() => store.ping());
    const seen: string[] = [];
    await storeCheck(store, { access: async (p) => void seen.push(p) }).check(signal);
    expect(seen).toEqual([store.path, dir, `${store.path}-wal`]);
  });

  test('a (nearly) full file system fails below minFreeBytes; 0 turns the check off', async () => {
    store = open();
    const statfs = async () => ({ bavail: 1000, bsize: 4096 }); // about 3.9 MiB
    await expect(storeCheck(store, { statfs }).check(signal)).rejects.toThrow(/has 3 MiB available, below the 64 MiB minimum/);
    await storeCheck(store, { statfs, minFreeBytes: 1024 * 1024 }).check(signal);
    await storeCheck(store, { statfs: async () => ({ bavail: 0n, bsize: 4096n }), minFreeBytes: 0 }).check(signal);
    await expect(storeCheck(store, { statfs: async () => ({ bavail: 0n, bsize: 4096n }) }).check(signal)).rejects.toThrow(/has 0 MiB available/);
  });

  test('the real statfs and access pass on the test folder', async () => {
    store = open();
    await storeCheck(store, { minFreeBytes: 1 }).check(signal);
  });
});

describe('auditCheck', () => {
  test('wraps a sync or async callback', async () => {
    await auditCheck(() => undefined).check(signal);
    await expect(auditCheck(() => Promise.reject(new Error('audit log not writable'))).check(signal)).rejects.toThrow('audit log not writable');
    await expect(
      auditCheck(() => {
        throw new Error('sync');
      }).check(signal),
    ).rejects.toThrow('sync');
    expect(auditCheck(() => undefined).name).toBe('audit');
    expect(auditCheck(() => undefined, { name: 'audit-log', timeoutMs: 500 })).toMatchObject({ name: 'audit-log', timeoutMs: 500 });
  });
});
