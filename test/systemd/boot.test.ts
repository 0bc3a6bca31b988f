/**
 * The real thing: systemd (as PID 1 of private namespaces, on a throw-away overlay of this machine, test/systemd/
 * boot.sh) starts the installed, fully hardened waiaas-signerd.service with a SoftHSM2 token and its PIN and TLS key
 * as encrypted credentials. Every system call outside the unit's filter would kill it (the test turns
 * SystemCallErrorNumber=EPERM off). It must come up SERVING, generate keys on the token, run with no capabilities,
 * no new privileges, no core dumps and no secret in its environment, stop cleanly on SIGTERM, and find its keys again
 * after a restart.
 *
 * Needs root, namespaces, overlayfs, systemd and SoftHSM2; skipped (with the reason in its name) otherwise, e.g. in
 * an unprivileged container, or when WAIAAS_SKIP_BOOT_TEST is set.
 */
import { credentials as grpcCredentials, makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chain, createWaiaasClient, credentialsFromFiles, WaiaasClientError } from '../../clients/ts/src/index.ts';
import { ensureDevState } from '../../server/devstate/index.ts';
import { createLogger } from '../../server/log.ts';
import { ROOT, run } from './support.ts';

const SOFTHSM_MODULE = process.env.SOFTHSM_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';

/** Why this machine cannot boot the unit, or undefined when it can. */
function bootUnavailable(): string | undefined {
  if (process.env.WAIAAS_SKIP_BOOT_TEST) return 'WAIAAS_SKIP_BOOT_TEST is set';
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root';
  for (const cmd of ['unshare', 'nsenter', 'setsid', 'pgrep', 'systemd-creds', 'systemd-sysusers', 'systemd-tmpfiles']) {
    if (run('bash', ['-c', `command -v ${cmd}`]).status !== 0) return `no ${cmd}`;
  }
  if (!existsSync('/usr/lib/systemd/systemd') && !existsSync('/lib/systemd/systemd')) return 'no systemd binary';
  if (!existsSync(SOFTHSM_MODULE)) return `no SoftHSM2 module at ${SOFTHSM_MODULE}`;
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'no overlayfs';
  const probe = run('unshare', ['--mount', '--pid', '--fork', '--cgroup', '--uts', '--ipc', 'true']);
  if (probe.status !== 0) return `cannot create namespaces (${probe.stderr.trim().split('\n')[0]})`;
  return undefined;
}

const why = bootUnavailable();
let work: string;
let ds: string;
let port: number;
let init = '';

/** Runs a command inside the booted namespaces (as root there). */
function inside(...cmd: string[]): { status: number | null; out: string } {
  const r = run('nsenter', ['-t', init, '-m', '-p', '-r', '-w', ...cmd], { timeoutMs: 120_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

function show(unit: string, ...props: string[]): Record<string, string> {
  const out = inside('systemctl', 'show', unit, ...props.map((p) => `--property=${p}`)).out;
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function journal(): string {
  return inside('journalctl', '-u', 'waiaas-signerd', '-o', 'cat', '--no-pager').out;
}

/** Waits until the signer logged `listening` (resolves) or stopped running (rejects with its journal). */
async function waitListening(since: number): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const lines = journal().split('\n').filter((l) => l.startsWith('{'));
    if (lines.slice(since).some((l) => l.includes('"msg":"listening"'))) return;
    const state = show('waiaas-signerd', 'ActiveState').ActiveState;
    if (state === 'failed' || state === 'inactive') throw new Error(`waiaas-signerd is ${state}:\n${journal()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`waiaas-signerd did not start listening:\n${journal()}`);
}

function jsonLines(): number {
  return journal().split('\n').filter((l) => l.startsWith('{')).length;
}

function healthCheck(): Promise<string> {
  const Ctor = makeGenericClientConstructor(healthService as never, 'Health');
  const creds = grpcCredentials.createSsl(readFileSync(path.join(ds, 'ca.pem')), readFileSync(path.join(ds, 'admin.key')), readFileSync(path.join(ds, 'admin.pem')));
  const c = new Ctor(`localhost:${port}`, creds) as Client & Record<string, (...a: unknown[]) => void>;
  return new Promise((resolve, reject) =>
    c.check!({ service: '' }, { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: { status: string }) => {
      c.close();
      if (err) reject(err);
      else resolve(res.status);
    }),
  );
}

async function healthBecomes(status: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    last = await healthCheck().catch((e: unknown) => String(e));
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`health stayed ${last}, expected ${status}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

(why ? describe.skip : describe)(`waiaas-signerd.service booted under systemd${why ? ` (skipped: ${why})` : ''}`, () => {
  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'waiaas-boot-'));
    ds = path.join(work, 'ds');
    await ensureDevState(ds, { softhsmModule: SOFTHSM_MODULE, log: createLogger({ level: 'silent' }) });
    const dest = path.join(work, 'dest');
    const inst = run('bash', [path.join(ROOT, 'scripts/install.sh'), '--destdir', dest, '--prefix', '/usr']);
    if (inst.status !== 0) throw new Error(`install.sh failed:\n${inst.stdout}${inst.stderr}`);
    port = await freePort();
    const boot = run('bash', [path.join(ROOT, 'test/systemd/boot.sh'), path.join(work, 'ns'), dest, ds, String(port)]);
    if (boot.status !== 0) throw new Error(`boot.sh failed:\n${boot.stdout}${boot.stderr}`);
    init = readFileSync(path.join(work, 'ns/init.pid'), 'utf8').trim();
    // systemd is up once it answers.
    const deadline = Date.now() + 60_000;
    while (inside('systemctl', 'is-system-running').out.trim() === '' || inside('systemctl', 'show', '-p', 'Version').status !== 0) {
      if (Date.now() > deadline) throw new Error('systemd in the namespace does not answer');
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 300_000);

  afterAll(() => {
    if (init !== '') run('kill', ['-KILL', init]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('starts: the HSM is logged in with the credential PIN and the service is SERVING', async () => {
    const start = inside('systemctl', 'start', 'waiaas-signerd');
    expect(start.status, start.out).toBe(0);
    await waitListening(0);
    await healthBecomes('SERVING');
    expect(journal()).toMatch(/"msg":"HSM token \\"waiaas-dev\\" open"/);
  }, 120_000);

  it('runs as waiaas with no capabilities, no new privileges, a seccomp filter, no core dumps and no secret in its environment', () => {
    const pid = show('waiaas-signerd', 'MainPID').MainPID!;
    expect(Number(pid)).toBeGreaterThan(0);
    const status = inside('cat', `/proc/${pid}/status`).out;
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^CapBnd:\s+0+$/m);
    const uid = inside('id', '-u', 'waiaas').out.trim();
    expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    expect(inside('cat', `/proc/${pid}/limits`).out).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
    const environ = inside('cat', `/proc/${pid}/environ`).out.split('\0');
    expect(environ).toContain('CREDENTIALS_DIRECTORY=/run/credentials/waiaas-signerd.service');
    const pin = readFileSync(path.join(ds, 'hsm.pin'), 'utf8').trim();
    expect(environ.join('\n')).not.toContain(pin);
    expect(environ.some((e) => /PIN|PASSWORD|SECRET/i.test(e.split('=')[0]!))).toBe(false);
    // The credentials: a read-only mount (ramfs: never swapped), readable by the service's user alone.
    const creds = '/run/credentials/waiaas-signerd.service';
    expect(inside('findmnt', '-n', '-o', 'OPTIONS', creds).out).toMatch(/^ro,/);
    expect(inside('stat', '-c', '%a %U %n', creds, `${creds}/hsm-pin`, `${creds}/tls-key`).out.trim().split('\n')).toEqual([
      `500 waiaas ${creds}`,
      `400 waiaas ${creds}/hsm-pin`,
      `400 waiaas ${creds}/tls-key`,
    ]);
    // Its view of the file system: read-only but for its state; nothing writable is executable.
    const mountOpts = (p: string): string[] => inside('nsenter', '-t', pid, '-m', 'findmnt', '-n', '-o', 'OPTIONS', '-T', p).out.trim().split(',');
    for (const p of ['/var/lib/waiaas', '/run/waiaas', '/tmp', '/var/tmp', '/dev/shm']) expect(mountOpts(p), p).toEqual(expect.arrayContaining(['rw', 'noexec']));
    for (const p of ['/', '/etc', '/etc/waiaas', '/usr', '/usr/lib/waiaas']) expect(mountOpts(p), p).toContain('ro');
    expect(mountOpts('/usr/lib/waiaas')).not.toContain('noexec');
    // Its state is its own.
    expect(inside('stat', '-c', '%a %U', '/var/lib/waiaas', '/var/lib/waiaas/waiaas.db').out.trim().split('\n')).toEqual(['700 waiaas', '600 waiaas']);
  });

  it('generates Ed25519 and secp256k1 keys on the token from inside the sandbox', async () => {
    const client = (role: string): ReturnType<typeof createWaiaasClient> =>
      createWaiaasClient({
        address: `localhost:${port}`,
        credentials: credentialsFromFiles({ ca: path.join(ds, 'ca.pem'), cert: path.join(ds, `${role}.pem`), key: path.join(ds, `${role}.key`) }),
      });
    // Which role may create a wallet depends on the authorization rules; an admin can, an unregistered agent cannot.
    const admin = client('admin');
    try {
      for (const chain of [Chain.EVM, Chain.SOLANA]) {
        const created = await admin.wallets.createWallet({ chain }).catch((e: unknown) => e);
        if (created instanceof WaiaasClientError) throw new Error(`CreateWallet failed: ${created.reason} ${created.message}`);
        expect((created as { wallet?: { address: string } }).wallet?.address).toMatch(/^(0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$/);
      }
    } finally {
      admin.close();
    }
  }, 60_000);

  it('stops cleanly on SIGTERM (exit 0, nothing killed), and a restart finds its keys again', async () => {
    const stop = inside('systemctl', 'stop', 'waiaas-signerd');
    expect(stop.status, stop.out).toBe(0);
    // (The unit is garbage-collected once inactive, so its exit status is read from the journal.)
    const log = journal();
    expect(log).toContain('"msg":"stopped"');
    expect(log).toContain('waiaas-signerd.service: Deactivated successfully.');
    expect(log).not.toMatch(/Main process exited|Failed with result|code=killed|status=\d+\/SYS/);
    const before = jsonLines();
    const start = inside('systemctl', 'start', 'waiaas-signerd');
    expect(start.status, start.out).toBe(0);
    await waitListening(before);
    await healthBecomes('SERVING');
    expect(show('waiaas-signerd', 'NRestarts').NRestarts).toBe('0');
  }, 120_000);
});
