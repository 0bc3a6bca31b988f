/**
 * Helpers for the systemd packaging tests: reading unit files, running the scripts, listing installed trees.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The repository root. */
export const ROOT = path.resolve(import.meta.dirname, '../..');

/** One `Key=Value` line of a unit file, with its section. */
export interface UnitLine {
  section: string;
  key: string;
  value: string;
}

/** Parses a systemd unit file into its assignments, in order (comments and blank lines dropped). */
export function parseUnit(text: string): UnitLine[] {
  const out: UnitLine[] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    out.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return out;
}

/** Every value of `key` in `section` (a unit may repeat a key). */
export function values(unit: UnitLine[], section: string, key: string): string[] {
  return unit.filter((l) => l.section === section && l.key === key).map((l) => l.value);
}

/** The one value of `key` in `section`; throws if it is missing or repeated. */
export function value(unit: UnitLine[], section: string, key: string): string {
  const v = values(unit, section, key);
  if (v.length !== 1) throw new Error(`expected exactly one ${key}= in [${section}], found ${v.length}`);
  return v[0]!;
}

/** Reads and parses a file of the repository's systemd/ folder. */
export function repoUnit(name: string): UnitLine[] {
  return parseUnit(readFileSync(path.join(ROOT, 'systemd', name), 'utf8'));
}

/** Runs a command to completion, capturing its output as text. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** One entry of an installed tree: its relative path, type, mode, and a content digest for regular files. */
export interface TreeEntry {
  path: string;
  type: 'file' | 'dir' | 'link';
  mode: number;
  digest: string;
}

/**
 * Lists every entry under `dir` (sorted), with modes and SHA-256 digests, to compare two installs. Files inside a
 * node_modules folder get their size as digest (hashing a few hundred MB of packages twice adds nothing: they are
 * copied, not generated).
 */
export function tree(dir: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = path.join(dir, r);
      const st = lstatSync(p);
      const mode = st.mode & 0o7777;
      if (st.isSymbolicLink()) out.push({ path: r, type: 'link', mode, digest: '' });
      else if (st.isDirectory()) {
        out.push({ path: r, type: 'dir', mode, digest: '' });
        walk(r);
      } else if (r.includes('node_modules/')) out.push({ path: r, type: 'file', mode, digest: `size:${st.size}` });
      else out.push({ path: r, type: 'file', mode, digest: createHash('sha256').update(readFileSync(p)).digest('hex') });
    }
  };
  walk('');
  return out;
}

/** The mode bits of a path, e.g. 0o640. */
export function modeOf(p: string): number {
  return lstatSync(p).mode & 0o7777;
}
