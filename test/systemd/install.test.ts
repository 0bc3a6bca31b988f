/**
 * scripts/install.sh into a DESTDIR: the expected files with the right modes, placeholders substituted, production
 * packages only, the installed program runnable by the node the unit names; run twice, the tree is identical (and
 * nothing left over from the first run survives); a node that cannot run the program is refused.
 */
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modeOf, parseUnit, ROOT, run, tree, value, type TreeEntry } from './support.ts';

const INSTALL = path.join(ROOT, 'scripts/install.sh');
/** The program's source folders, installed as they are (minus tests). */
const SOURCE_DIRS = ['server', 'hsm', 'clients', 'gen', 'proto'];
/** What the frozen copy of the repository holds: everything install.sh reads. */
const COPIED = [...SOURCE_DIRS, 'scripts', 'systemd', 'docs', 'README.md', 'package.json', 'package-lock.json', 'node_modules'];
let SRC: string;
let NODE_ARGS: string[] = [];
let dest: string;
let first: { status: number | null; out: string };
let firstTree: TreeEntry[];
const temps: string[] = [];

function install(destdir: string, ...args: string[]): { status: number | null; out: string } {
  const nodeArgs = args.includes('--node') ? [] : NODE_ARGS;
  const r = run('bash', [path.join(SRC, 'scripts/install.sh'), '--destdir', destdir, ...nodeArgs, ...args]);
  return { status: r.status, out: r.stdout + r.stderr };
}

beforeAll(() => {
  // install.sh runs from a frozen copy of the repository, so the comparisons below test the script, not whatever
  // someone changes in the working tree while the tests run.
  SRC = mkdtempSync(path.join(tmpdir(), 'waiaas-install-src-'));
  temps.push(SRC);
  const copy = run('cp', ['-a', ...COPIED.filter((f) => f !== 'node_modules').map((f) => path.join(ROOT, f)), SRC]);
  if (copy.status !== 0) throw new Error(`copying the repository failed: ${copy.stderr}`);
  // node_modules is only read: hard links are enough when /tmp is on the same file system (install.sh copies it).
  const nm = run('cp', ['-al', path.join(ROOT, 'node_modules'), SRC]);
  if (nm.status !== 0) {
    rmSync(path.join(SRC, 'node_modules'), { recursive: true, force: true });
    const full = run('cp', ['-a', path.join(ROOT, 'node_modules'), SRC]);
    if (full.status !== 0) throw new Error(`copying node_modules failed: ${full.stderr}`);
  }
  // The node `make` put in .tools/ is bundled, as install.sh does when it runs from the repository itself.
  const node = realpathSync(run('bash', ['-c', 'command -v node']).stdout.trim());
  NODE_ARGS = node.startsWith(`${ROOT}/`) ? ['--bundle-node', path.dirname(path.dirname(node))] : [];
  dest = mkdtempSync(path.join(tmpdir(), 'waiaas-install-'));
  temps.push(dest);
  first = install(dest, '--prefix', '/usr');
  if (first.status === 0) firstTree = tree(dest);
}, 240_000);

afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

describe('install.sh --destdir D --prefix /usr', () => {
  it('succeeds', () => {
    expect(first.status, first.out).toBe(0);
  });

  it('lays out the program, units, sysusers, tmpfiles, udev rule, docs and example configuration with their modes', () => {
    const expected: [string, number][] = [
      ['usr/lib/waiaas', 0o755],
      ['usr/lib/waiaas/server/main.ts', 0o644],
      ['usr/lib/waiaas/server/store/migrations', 0o755],
      ['usr/lib/waiaas/hsm/hsm.ts', 0o644],
      ['usr/lib/waiaas/clients/ts/src/index.ts', 0o644],
      ['usr/lib/waiaas/gen/waiaas/v1', 0o755],
      ['usr/lib/waiaas/proto/waiaas/v1', 0o755],
      ['usr/lib/waiaas/package.json', 0o644],
      ['usr/lib/waiaas/node_modules', 0o755],
      ['usr/lib/systemd/system/waiaas-signerd.service', 0o644],
      ['usr/lib/systemd/system/yubihsm-connector.service', 0o644],
      ['usr/lib/sysusers.d/waiaas.conf', 0o644],
      ['usr/lib/sysusers.d/yubihsm-connector.conf', 0o644],
      ['usr/lib/tmpfiles.d/waiaas.conf', 0o644],
      ['usr/lib/udev/rules.d/70-yubihsm.rules', 0o644],
      ['usr/share/doc/waiaas/operations.md', 0o644],
      ['usr/share/doc/waiaas/config.example.toml', 0o644],
      ['etc/waiaas', 0o750],
      ['etc/waiaas/config.example.toml', 0o640],
    ];
    for (const [p, mode] of expected) {
      expect(existsSync(path.join(dest, p)), p).toBe(true);
      expect(modeOf(path.join(dest, p)).toString(8), p).toBe(mode.toString(8));
    }
    // Nothing in the program tree is writable by group or other, and no test file is installed.
    for (const e of firstTree.filter((e) => e.path.startsWith('usr/lib/waiaas/') && e.type !== 'link')) {
      expect(e.mode & 0o022, `${e.path} is group/other-writable`).toBe(0);
    }
    expect(firstTree.filter((e) => e.path.endsWith('.test.ts') && !e.path.includes('/node_modules/'))).toEqual([]);
    // The configuration itself is never installed: only the example.
    expect(existsSync(path.join(dest, 'etc/waiaas/config.toml'))).toBe(false);
  });

  it('substitutes @NODE@ and @PREFIX@, and the unit runs a node that exists in the tree or on the host', () => {
    const text = readFileSync(path.join(dest, 'usr/lib/systemd/system/waiaas-signerd.service'), 'utf8');
    expect(text).not.toMatch(/@[A-Z_]+@/);
    const unit = parseUnit(text);
    const exec = value(unit, 'Service', 'ExecStart').split(/\s+/);
    expect(exec.slice(1)).toEqual(['/usr/lib/waiaas/server/main.ts', '--config', '${CONFIGURATION_DIRECTORY}/config.toml']);
    const node = exec[0]!;
    expect(path.isAbsolute(node)).toBe(true);
    // Bundled (the Node that make put in .tools/) or the host's own node.
    const onDisk = existsSync(path.join(dest, node)) ? path.join(dest, node) : node;
    expect(statSync(onDisk).mode & 0o111).not.toBe(0);
    expect(value(unit, 'Unit', 'Documentation')).toBe('file:/usr/share/doc/waiaas/operations.md');
    const connector = readFileSync(path.join(dest, 'usr/lib/systemd/system/yubihsm-connector.service'), 'utf8');
    expect(connector).not.toMatch(/@[A-Z_]+@/);
  });

  it('installs production packages only, and the unit\'s node loads the native addons and starts the program', () => {
    const nm = path.join(dest, 'usr/lib/waiaas/node_modules');
    for (const p of ['better-sqlite3', 'pkcs11js', '@grpc/grpc-js', 'smol-toml', 'pino', 'viem']) expect(existsSync(path.join(nm, p)), p).toBe(true);
    for (const p of ['vitest', '@bufbuild/buf', '@bufbuild/protoc-gen-es', 'litesvm', '@ethereumjs/vm', '@types/better-sqlite3']) {
      expect(existsSync(path.join(nm, p)), `${p} is a dev package`).toBe(false);
    }
    expect(readdirSync(nm).length).toBeLessThan(readdirSync(path.join(SRC, 'node_modules')).length);
    const unit = parseUnit(readFileSync(path.join(dest, 'usr/lib/systemd/system/waiaas-signerd.service'), 'utf8'));
    const node = value(unit, 'Service', 'ExecStart').split(/\s+/)[0]!;
    const bin = existsSync(path.join(dest, node)) ? path.join(dest, node) : node;
    const main = path.join(dest, 'usr/lib/waiaas/server/main.ts');
    // --help imports the whole server (gRPC, the store, pkcs11js) before printing the usage.
    const help = run(bin, [main, '--help'], { cwd: '/' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('usage: waiaas-signerd');
    const noConfig = run(bin, [main, '--config', path.join(dest, 'etc/waiaas/does-not-exist.toml')], { cwd: '/' });
    expect(noConfig.status).toBe(2);
    expect(noConfig.stderr).toContain('configuration error');
  });

  it('is idempotent: a second run gives the identical tree and removes files the first did not install', () => {
    writeFileSync(path.join(dest, 'usr/lib/waiaas/server/stale-from-an-older-version.ts'), 'export {};\n');
    const second = install(dest, '--prefix', '/usr');
    expect(second.status, second.out).toBe(0);
    const secondTree = tree(dest);
    expect(secondTree.some((e) => e.path.endsWith('stale-from-an-older-version.ts'))).toBe(false);
    expect(readdirSync(path.join(dest, 'usr/lib')).filter((n) => n.startsWith('.waiaas'))).toEqual([]);
    expect(secondTree.map((e) => e.path)).toEqual(firstTree.map((e) => e.path));
    expect(secondTree).toEqual(firstTree);
  }, 240_000);

  it('installs the sources as they are, minus tests: same files, same content, 0644 (0755 for executables)', () => {
    for (const d of SOURCE_DIRS) {
      const src = tree(path.join(SRC, d)).filter((e) => !e.path.endsWith('.test.ts'));
      const prefix = `usr/lib/waiaas/${d}/`;
      const inst = firstTree.filter((e) => e.path.startsWith(prefix)).map((e) => ({ ...e, path: e.path.slice(prefix.length) }));
      expect(inst.map((e) => `${e.type} ${e.path} ${e.digest}`)).toEqual(src.map((e) => `${e.type} ${e.path} ${e.digest}`));
      const executable = new Set(src.filter((e) => e.type === 'file' && (e.mode & 0o100) !== 0).map((e) => e.path));
      for (const e of inst) {
        if (e.type === 'link') continue;
        expect(e.mode.toString(8), e.path).toBe(e.type === 'dir' || executable.has(e.path) ? '755' : '644');
      }
    }
  });
});

describe('install.sh options', () => {
  it('--prefix /opt/waiaas --without-yubihsm: everything under the prefix, no connector, /etc stays /etc', () => {
    const d = mkdtempSync(path.join(tmpdir(), 'waiaas-install-opt-'));
    temps.push(d);
    const r = install(d, '--prefix', '/opt/waiaas', '--without-yubihsm');
    expect(r.status, r.out).toBe(0);
    const unit = parseUnit(readFileSync(path.join(d, 'opt/waiaas/lib/systemd/system/waiaas-signerd.service'), 'utf8'));
    expect(value(unit, 'Service', 'ExecStart')).toMatch(/ \/opt\/waiaas\/lib\/waiaas\/server\/main\.ts --config /);
    expect(value(unit, 'Unit', 'Documentation')).toBe('file:/opt/waiaas/share/doc/waiaas/operations.md');
    expect(existsSync(path.join(d, 'opt/waiaas/lib/systemd/system/yubihsm-connector.service'))).toBe(false);
    expect(existsSync(path.join(d, 'opt/waiaas/lib/udev/rules.d/70-yubihsm.rules'))).toBe(false);
    expect(existsSync(path.join(d, 'etc/waiaas/config.example.toml'))).toBe(true);
    expect(existsSync(path.join(d, 'usr'))).toBe(false);
  }, 240_000);

  it('refuses a node that cannot run the program, naming it', () => {
    const d = mkdtempSync(path.join(tmpdir(), 'waiaas-install-oldnode-'));
    temps.push(d);
    const fake = path.join(d, 'old-node');
    writeFileSync(fake, '#!/bin/sh\n[ "$1" = --version ] && echo v20.0.0\nexit 1\n');
    chmodSync(fake, 0o755);
    const r = install(path.join(d, 'root'), '--node', fake);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/old-node is Node v20\.0\.0; the appliance needs >= 22\.18/);
    // Nothing was swapped in.
    expect(existsSync(path.join(d, 'root/usr/lib/waiaas'))).toBe(false);
  }, 240_000);

  it('refuses a node_modules that does not match package-lock.json, naming the packages', () => {
    // A minimal source tree: the check runs before anything else is looked at.
    const src = mkdtempSync(path.join(tmpdir(), 'waiaas-install-stale-'));
    temps.push(src);
    for (const d of ['server', 'hsm', 'clients', 'gen', 'proto', 'scripts', 'node_modules/better-sqlite3']) mkdirSync(path.join(src, d), { recursive: true });
    cpSync(path.join(ROOT, 'scripts/install.sh'), path.join(src, 'scripts/install.sh'));
    writeFileSync(path.join(src, 'node_modules/better-sqlite3/package.json'), JSON.stringify({ name: 'better-sqlite3', version: '13.0.0' }));
    const lock = {
      lockfileVersion: 3,
      packages: {
        '': { name: 'x' },
        'node_modules/better-sqlite3': { version: '13.2.0' },
        'node_modules/left-pad': { version: '1.3.0' },
        'node_modules/vitest': { version: '5.1.1', dev: true },
      },
    };
    writeFileSync(path.join(src, 'package-lock.json'), JSON.stringify(lock));
    writeFileSync(path.join(src, 'package.json'), '{}');
    const r = run('bash', [path.join(src, 'scripts/install.sh'), '--destdir', path.join(src, 'dest')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('2 package(s) differ from package-lock.json: better-sqlite3@13.2.0 (found 13.0.0), left-pad@1.3.0 (missing)');
    expect(r.stderr).toContain("run 'make deps'");
    expect(existsSync(path.join(src, 'dest/usr/lib/waiaas'))).toBe(false);
  });

  it('rejects an unknown option and a relative prefix', () => {
    expect(run('bash', [INSTALL, '--frobnicate']).status).toBe(1);
    const r = run('bash', [INSTALL, '--prefix', 'usr']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--prefix must be an absolute path');
  });
});
