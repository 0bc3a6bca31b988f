/**
 * Test support for waiaas-ctl: runs the real binary (clients/ctl/waiaas-ctl, the bash wrapper) as a child process,
 * with a clean environment (no WAIAAS_* variables from the caller's shell), and collects its exit code and output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestServer } from '../support/server.ts';

/** The executable under test. */
export const BIN = resolve(import.meta.dirname, '../../clients/ctl/waiaas-ctl');

/** What a run produced. */
export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a run: the test's own, without WAIAAS_* settings, with this node for the wrapper. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('WAIAAS_')) env[k] = v;
  return { ...env, WAIAAS_NODE: process.execPath, ...extra };
}

/** Starts waiaas-ctl without waiting for it (for `watch`). */
export function spawnCtl(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): ChildProcess {
  return spawn(BIN, args, { env: cleanEnv(opts.env), cwd: opts.cwd ?? process.cwd(), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs waiaas-ctl to completion. */
export function ctl(args: string[], opts: { env?: Record<string, string>; input?: string; cwd?: string; timeoutMs?: number } = {}): Promise<CtlResult> {
  return new Promise((resolvePromise, reject) => {
    const p = spawnCtl(args, opts);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`waiaas-ctl ${args.join(' ')} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    p.stdin!.end(opts.input ?? '');
  });
}

/** Runs waiaas-ctl with --json and parses stdout; fails the test with the output when the exit code is not 0. */
export async function ctlJson<T = Record<string, unknown>>(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<T> {
  const r = await ctl([...args, '--json'], opts);
  if (r.code !== 0) throw new Error(`waiaas-ctl ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Connection flags for a test server: its state folder (CA and certificates) and its address (port 0 in config.toml). */
export function conn(server: TestServer, identity: 'owner' | 'admin' | 'agent' = 'owner'): string[] {
  return ['--state', server.dir, '--address', server.address, ...(identity === 'owner' ? [] : ['--identity', identity])];
}

/** A new temporary folder. */
export function tempDir(prefix = 'waiaas-ctl-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}
