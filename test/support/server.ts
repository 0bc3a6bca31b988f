/**
 * Starts the real appliance process (`node server/main.ts --dev-state DIR --listen 127.0.0.1:0`) for end-to-end
 * tests, waits for its "listening" log line, and hands out clients with the dev CA's agent, owner and admin
 * certificates. Every log line the server writes is kept so tests can inspect it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { createWaiaasClient, credentialsFromFiles, type WaiaasClient } from '../../clients/ts/src/index.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** A running server process. */
export interface TestServer {
  /** The state folder (dev CA, token, database). */
  dir: string;
  address: string;
  port: number;
  /** Every line the server printed to stdout, parsed as JSON where possible. */
  lines: Record<string, unknown>[];
  /** A client authenticated with the given dev certificate. */
  client(role: 'agent' | 'owner' | 'admin'): WaiaasClient;
  /** A client with TLS but no client certificate. */
  anonymousClient(): WaiaasClient;
  /** Path of the SQLite database. */
  dbPath: string;
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL. */
  kill(): Promise<void>;
  proc: ChildProcess;
}

/** Starts the server on a state folder (a new temp folder unless `dir` is given). */
export async function startServer(opts: { dir?: string; env?: Record<string, string> } = {}): Promise<TestServer> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'waiaas-e2e-')));
  const proc = spawn(process.execPath, [join(ROOT, 'server/main.ts'), '--dev-state', dir, '--listen', '127.0.0.1:0'], {
    cwd: ROOT,
    env: { ...process.env, SOFTHSM2_CONF: '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolvePort, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s; stderr:\n${stderr}`)), 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line) as Record<string, unknown>;
        } catch {
          obj = { raw: line };
        }
        lines.push(obj);
        if (obj.msg === 'listening' && typeof obj.port === 'number') {
          clearTimeout(timer);
          resolvePort(obj.port);
        }
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr:\n${stderr}\nstdout:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`));
    });
  });
  // The server certificate names localhost; dialling by name keeps TLS server-name checks meaningful.
  const address = `localhost:${port}`;
  const clients: WaiaasClient[] = [];
  const track = (c: WaiaasClient): WaiaasClient => (clients.push(c), c);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    dir,
    address,
    port,
    lines,
    proc,
    dbPath: join(dir, 'waiaas.db'),
    client: (role) =>
      track(createWaiaasClient({ address, credentials: credentialsFromFiles({ ca: join(dir, 'ca.pem'), cert: join(dir, `${role}.pem`), key: join(dir, `${role}.key`) }) })),
    anonymousClient: () => track(createWaiaasClient({ address, credentials: grpcCredentials.createSsl(readFileSync(join(dir, 'ca.pem'))) })),
    stop: async () => {
      clients.forEach((c) => c.close());
      proc.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      clients.forEach((c) => c.close());
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Removes a state folder made by startServer. */
export async function removeState(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
