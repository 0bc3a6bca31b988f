/**
 * What the unit files promise, read from the files themselves: secrets only as encrypted credentials, never in the
 * environment; the settings the operations guide relies on; the pieces (user, directories, ports, USB ids) agreeing
 * across the unit, sysusers.d, tmpfiles.d, the udev rule and the example configuration.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUnit, repoUnit, ROOT, value, values } from './support.ts';

const signer = repoUnit('waiaas-signerd.service');
const connector = repoUnit('yubihsm-connector.service');
const example = readFileSync(path.join(ROOT, 'systemd/config.example.toml'), 'utf8');
const SECRET_NAME = /PIN|PASS|SECRET|TOKEN|KEY|CRED/i;

describe('waiaas-signerd.service', () => {
  it('takes the PIN and the TLS key as encrypted credentials, never from the environment', () => {
    expect(values(signer, 'Service', 'LoadCredentialEncrypted')).toEqual(['hsm-pin:/etc/waiaas/hsm-pin.cred', 'tls-key:/etc/waiaas/tls-key.cred']);
    expect(values(signer, 'Service', 'LoadCredential')).toEqual([]);
    expect(values(signer, 'Service', 'SetCredential')).toEqual([]);
    for (const key of ['Environment', 'EnvironmentFile', 'PassEnvironment']) {
      for (const v of values(signer, 'Service', key)) expect(v, `${key}=${v}`).not.toMatch(SECRET_NAME);
    }
    // Nothing on the command line either, and the configuration points at the credentials.
    expect(value(signer, 'Service', 'ExecStart')).not.toMatch(SECRET_NAME);
    expect(example).toMatch(/^pin_file = "\$\{CREDENTIALS_DIRECTORY\}\/hsm-pin"$/m);
    expect(example).toMatch(/^key_file = "\$\{CREDENTIALS_DIRECTORY\}\/tls-key"$/m);
  });

  it('runs node on the installed main.ts with the configuration directory, as the waiaas user', () => {
    expect(value(signer, 'Service', 'ExecStart')).toBe('@NODE@ @PREFIX@/lib/waiaas/server/main.ts --config ${CONFIGURATION_DIRECTORY}/config.toml');
    expect(value(signer, 'Service', 'Type')).toBe('simple');
    expect(value(signer, 'Service', 'User')).toBe('waiaas');
    expect(value(signer, 'Service', 'Group')).toBe('waiaas');
    expect(values(signer, 'Service', 'DynamicUser')).toEqual([]);
    expect(value(signer, 'Service', 'StateDirectory')).toBe('waiaas');
    expect(value(signer, 'Service', 'ConfigurationDirectory')).toBe('waiaas');
    expect(value(signer, 'Service', 'RuntimeDirectory')).toBe('waiaas');
    expect(example).toMatch(/^path = "\/var\/lib\/waiaas\/waiaas\.db"$/m);
  });

  it('has no core dumps, a private umask, and restarts on failure with limits', () => {
    expect(value(signer, 'Service', 'LimitCORE')).toBe('0');
    expect(value(signer, 'Service', 'UMask')).toBe('0077');
    expect(value(signer, 'Service', 'Restart')).toBe('on-failure');
    expect(value(signer, 'Service', 'RestartPreventExitStatus')).toBe('2');
    expect(Number(value(signer, 'Unit', 'StartLimitBurst'))).toBeGreaterThan(0);
    expect(value(signer, 'Unit', 'StartLimitIntervalSec')).toMatch(/^\d+/);
  });

  it('gives a stop more time than the configuration\'s shutdown grace', () => {
    const stop = Number(/^(\d+)s?$/.exec(value(signer, 'Service', 'TimeoutStopSec'))![1]);
    const grace = Number(/^shutdown_grace_seconds = (\d+)$/m.exec(example)![1]);
    expect(grace).toBe(10); // the default in server/config/schema.ts
    expect(stop).toBeGreaterThan(grace + 5);
  });

  it('has the hardening the operations guide describes', () => {
    const want: Record<string, string> = {
      NoNewPrivileges: 'yes',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      PrivateUsers: 'yes',
      PrivateNetwork: 'no',
      DevicePolicy: 'closed',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectClock: 'yes',
      ProtectControlGroups: 'yes',
      ProtectHostname: 'yes',
      ProtectProc: 'invisible',
      ProcSubset: 'pid',
      RestrictNamespaces: 'yes',
      RestrictRealtime: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      KeyringMode: 'private',
      RemoveIPC: 'yes',
      SystemCallArchitectures: 'native',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      IPAddressDeny: 'any',
      IPAddressAllow: 'localhost',
      // Off on purpose: V8's JIT needs W+X memory, and --jitless cannot run the appliance (no WebAssembly).
      MemoryDenyWriteExecute: 'no',
    };
    for (const [k, v] of Object.entries(want)) expect(value(signer, 'Service', k), k).toBe(v);
    expect(values(signer, 'Service', 'SystemCallFilter')).toEqual(['@system-service', '~@privileged @resources']);
    expect(value(signer, 'Service', 'SystemCallErrorNumber')).toBe('EPERM');
  });
});

describe('yubihsm-connector.service, 70-yubihsm.rules, sysusers.d, tmpfiles.d', () => {
  it('the connector listens on 127.0.0.1:12345 only, as its own user, with USB devices only', () => {
    expect(value(connector, 'Service', 'ExecStart')).toBe('/usr/bin/yubihsm-connector --listen 127.0.0.1:12345');
    expect(value(connector, 'Service', 'User')).toBe('yubihsm-connector');
    expect(value(connector, 'Service', 'DevicePolicy')).toBe('closed');
    expect(values(connector, 'Service', 'DeviceAllow')).toEqual(['char-usb_device rw']);
    expect(value(connector, 'Service', 'IPAddressAllow')).toBe('localhost');
    expect(value(connector, 'Service', 'MemoryDenyWriteExecute')).toBe('yes');
    expect(value(connector, 'Service', 'CapabilityBoundingSet')).toBe('');
    // The signer reaches it at that address (the example's YubiHSM comment says so too).
    expect(example).toContain('connector = http://127.0.0.1:12345');
  });

  it('the udev rule gives the YubiHSM 2 (1050:0030) to the connector\'s group only', () => {
    const rules = readFileSync(path.join(ROOT, 'systemd/70-yubihsm.rules'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
    const device = rules.find((l) => l.includes('idVendor'));
    expect(device).toBeDefined();
    expect(device).toContain('ATTR{idVendor}=="1050"');
    expect(device).toContain('ATTR{idProduct}=="0030"');
    expect(device).toContain(`GROUP="${value(connector, 'Service', 'Group')}"`);
    expect(device).toContain('MODE="0660"');
    expect(device).not.toMatch(/uaccess|MODE="06[6-7][4-7]"/);
  });

  it('sysusers.d creates the users the units run as; tmpfiles.d the directories they use', () => {
    const sysusers = (name: string): string[] =>
      readFileSync(path.join(ROOT, 'systemd/sysusers.d', name), 'utf8')
        .split('\n')
        .filter((l) => /^u\s/.test(l));
    expect(sysusers('waiaas.conf')[0]).toMatch(/^u\s+waiaas\s+-\s+"WAIaaS Signer"\s+\/var\/lib\/waiaas$/);
    expect(sysusers('yubihsm-connector.conf')[0]).toMatch(/^u\s+yubihsm-connector\s/);
    const tmpfiles = readFileSync(path.join(ROOT, 'systemd/tmpfiles.d/waiaas.conf'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.trim().split(/\s+/));
    expect(tmpfiles).toContainEqual(['d', '/etc/waiaas', '0750', 'root', 'waiaas', '-', '-']);
    expect(tmpfiles).toContainEqual(['d', '/var/lib/waiaas', '0700', 'waiaas', 'waiaas', '-', '-']);
    expect(tmpfiles).toContainEqual(['z', '/etc/waiaas/*.cred', '0600', 'root', 'root', '-', '-']);
    // The unit's directory modes agree.
    expect(value(signer, 'Service', 'StateDirectoryMode')).toBe('0700');
    expect(value(signer, 'Service', 'ConfigurationDirectoryMode')).toBe('0750');
  });

  it('every unit parses: known sections only', () => {
    for (const u of [signer, connector]) for (const l of u) expect(['Unit', 'Service', 'Install']).toContain(l.section);
    expect(parseUnit('[Service]\nA=1\n# c\nB=\n')).toEqual([
      { section: 'Service', key: 'A', value: '1' },
      { section: 'Service', key: 'B', value: '' },
    ]);
  });
});
