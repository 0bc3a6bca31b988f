/**
 * scripts/check-systemd.sh: the hardening scores of the shipped units are within their limits (signer <= 1.0,
 * connector <= 2.0), a weakened or misspelt unit fails the check, and a machine without systemd-analyze gets a
 * clear message (when not root; as root the script installs it).
 */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, run } from './support.ts';

const SCRIPT = path.join(ROOT, 'scripts/check-systemd.sh');
const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A copy of scripts/check-systemd.sh and systemd/ in a temporary folder, so a test can change the units. */
function copyOfRepo(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'waiaas-check-'));
  temps.push(dir);
  mkdirSync(path.join(dir, 'scripts'));
  cpSync(SCRIPT, path.join(dir, 'scripts/check-systemd.sh'));
  cpSync(path.join(ROOT, 'systemd'), path.join(dir, 'systemd'), { recursive: true });
  return dir;
}

/** The exposure score the script printed for `unit`. */
function scoreOf(output: string, unit: string): number {
  const m = new RegExp(`${unit.replace('.', '\\.')}: exposure (\\d+\\.\\d)`).exec(output);
  if (!m) throw new Error(`no score for ${unit} in:\n${output}`);
  return Number(m[1]);
}

describe('check-systemd.sh', () => {
  it('passes on the shipped units and prints a signer score of 1.0 or lower', () => {
    const r = run('bash', [SCRIPT]);
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(0);
    expect(scoreOf(out, 'waiaas-signerd.service')).toBeLessThanOrEqual(1.0);
    expect(scoreOf(out, 'yubihsm-connector.service')).toBeLessThanOrEqual(2.0);
    expect(out).toContain('waiaas-signerd.service: verify OK');
    expect(out).toContain('all checks passed');
  });

  it('fails when the signer unit is weakened above 1.0, and when verify finds an unknown setting', () => {
    const dir = copyOfRepo();
    const unit = path.join(dir, 'systemd/waiaas-signerd.service');
    writeFileSync(
      unit,
      readFileSync(unit, 'utf8')
        .replace(/^PrivateUsers=yes$/m, 'PrivateUsers=no')
        .replace(/^RestrictNamespaces=yes$/m, 'RestrictNamespaces=no')
        .replace(/^ProtectSystem=strict$/m, 'ProtectSytem=strict'),
    );
    const r = run('bash', [path.join(dir, 'scripts/check-systemd.sh')]);
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(1);
    expect(scoreOf(out, 'waiaas-signerd.service')).toBeGreaterThan(1.0);
    expect(out).toMatch(/FAIL: waiaas-signerd\.service: exposure [\d.]+ is above the limit 1\.0/);
    expect(out).toMatch(/Unknown key '?ProtectSytem'?/);
    expect(out).toContain('FAIL: waiaas-signerd.service: systemd-analyze verify reported problems');
    expect(out).toContain('some checks FAILED');
  });

  it('without systemd-analyze and without root, says what to install and fails', () => {
    // A PATH with every command of /usr/bin and /usr/sbin except systemd-analyze.
    const bin = mkdtempSync(path.join(tmpdir(), 'waiaas-nosd-'));
    temps.push(bin);
    for (const d of ['/usr/bin', '/usr/sbin', '/bin', '/sbin']) {
      let names: string[] = [];
      try {
        names = readdirSync(d);
      } catch {
        continue;
      }
      for (const n of names) {
        if (n === 'systemd-analyze') continue;
        try {
          symlinkSync(path.join(d, n), path.join(bin, n));
        } catch {
          // Already linked from an earlier directory (merged /usr).
        }
      }
    }
    const env = { ...process.env, PATH: bin };
    // As root the script would install systemd instead: drop to nobody for this case, on a copy nobody can read.
    const asRoot = process.getuid?.() === 0;
    const dir = copyOfRepo();
    chmodSync(dir, 0o755);
    chmodSync(bin, 0o755);
    const script = path.join(dir, 'scripts/check-systemd.sh');
    const r = asRoot
      ? run(path.join(bin, 'setpriv'), ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'bash', script], { env, cwd: dir })
      : run('bash', [script], { env, cwd: dir });
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain('systemd-analyze is not installed');
    expect(r.stderr).toMatch(/apt-get install systemd/);
  });
});
