/**
 * waiaas-ctl without an appliance: --help for every command, usage errors (exit 2) caught before anything is sent,
 * owner key files (mode 0600, never overwritten, the secret never printed), and shell completion scripts that the
 * shells accept and that complete.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { getAddressDecoder } from '@solana/kit';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAddress } from 'viem/accounts';
import { beforeAll, describe, expect, test } from 'vitest';
import { COMMANDS } from '../../clients/ctl/commands/index.ts';
import { ctl, ctlJson, tempDir } from './helpers.ts';

/** Every command the CLI must have (the brief's list). */
const EXPECTED = [
  'wallets create', 'wallets list', 'wallets show',
  'owners show', 'owners add', 'owners remove', 'owners threshold',
  'policy show', 'policy set', 'policy diff', 'policy evaluate',
  'approvals list', 'approvals show', 'approvals approve', 'approvals reject',
  'freeze', 'unfreeze', 'watch',
  'agents put', 'agents list', 'agents issue', 'agents revoke',
  'audit tail', 'audit export', 'audit verify',
  'keys generate', 'keys show',
  'completion',
];

const WALLET = 'wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P';
const REQUEST = 'req_01JD8Y0A1B2C3D4E5F6G7H8J9K';

describe('waiaas-ctl --help', () => {
  test('the registry has exactly the expected commands, and the overview lists them all', async () => {
    expect(COMMANDS.map((c) => c.name).sort()).toEqual([...EXPECTED].sort());
    const r = await ctl(['--help']);
    expect(r.code).toBe(0);
    for (const name of EXPECTED) expect(r.stdout).toContain(`  ${name} `);
    expect(r.stdout).toContain('exit codes:');
  });

  test('every command has --help with its usage, options and examples', async () => {
    const results = await Promise.all(EXPECTED.map(async (name) => ({ name, r: await ctl([...name.split(' '), '--help']) })));
    for (const { name, r } of results) {
      expect(r.code, `${name} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout.startsWith(`usage: waiaas-ctl ${name}`)).toBe(true);
      const examples = r.stdout.split('examples:\n')[1];
      expect(examples, `${name} has examples`).toBeTruthy();
      for (const line of examples!.trim().split('\n')) expect(line.trim().startsWith(`waiaas-ctl ${name}`), `${name} example: ${line}`).toBe(true);
      expect(r.stdout).toContain('--help');
    }
    const remote = (await ctl(['wallets', 'create', '--help'])).stdout;
    expect(remote).toContain('--chain solana|evm');
    expect(remote).toContain('--state DIR');
    expect(remote).toContain('--json');
  });

  test('help TOPIC and group help; a group without a command is a usage error', async () => {
    const a = await ctl(['help', 'policy', 'diff']);
    expect(a.code).toBe(0);
    expect(a.stdout.startsWith('usage: waiaas-ctl policy diff')).toBe(true);
    const g = await ctl(['policy', '--help']);
    expect(g.code).toBe(0);
    for (const v of ['show', 'set', 'diff', 'evaluate']) expect(g.stdout).toContain(`policy ${v}`);
    const bare = await ctl(['policy']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('usage: waiaas-ctl policy <command>');
    const none = await ctl([]);
    expect(none.code).toBe(2);
  });
});

describe.concurrent('usage errors exit 2 before anything is sent', () => {
  let tls: string[];
  beforeAll(async () => {
    // Files that exist, so that the connection options pass and each command's own checks are what fails.
    const dir = await tempDir();
    for (const f of ['ca.pem', 'c.pem', 'c.key']) writeFileSync(join(dir, f), 'not used\n');
    tls = ['--ca', join(dir, 'ca.pem'), '--cert', join(dir, 'c.pem'), '--key', join(dir, 'c.key'), '--address', 'localhost:1'];
  });

  test.each([
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['wallets', 'frob'], 'unknown command "wallets frob"'],
    [['wallets', 'create'], '--chain solana|evm is required'],
    [['wallets', 'create', '--chain', 'btc'], '--chain must be one of solana, evm (got "btc")'],
    [['wallets', 'create', '--chian', 'solana'], "Unknown option '--chian'"],
    [['wallets', 'create', '--chain', 'evm', '--label', 'nolabel'], '--label must be KEY=VALUE'],
    [['wallets', 'show'], 'missing WALLET_ID'],
    [['wallets', 'show', WALLET, 'extra'], 'unexpected argument "extra"'],
    [['wallets', 'show', REQUEST], 'WALLET_ID must start with wlt_'],
    [['wallets', 'list', '--timeout', 'soon'], '--timeout must be a duration'],
    [['policy', 'set', WALLET], '--file is required'],
    [['policy', 'set', WALLET, '--file', '/nonexistent/policy.json'], 'cannot read --file /nonexistent/policy.json: no such file'],
    [['policy', 'evaluate', WALLET], 'give one payload'],
    [['policy', 'evaluate', WALLET, '--solana-tx', '00', '--evm-message', 'hi'], 'give only one payload'],
    [['policy', 'evaluate', WALLET, '--evm-tx', '02c0'], '--evm-tx needs --chain-id N'],
    [['policy', 'evaluate', WALLET, '--solana-tx', 'xyz'], '--solana-tx must be hex bytes'],
    [['approvals', 'approve', REQUEST], 'give --key-file FILE, --signature KEY=HEX, or --print-message'],
    [['approvals', 'approve', REQUEST, '--print-message', '--signature', 'x=00'], '--print-message cannot be combined'],
    [['approvals', 'reject', REQUEST, '--signature', 'nothex'], '--signature must be KEY=HEX'],
    [['approvals', 'reject', REQUEST, '--signature', '0x1111111111111111111111111111111111111111=0011'], 'an EVM signature is 65 bytes, got 2'],
    [['approvals', 'approve', REQUEST, '--key-file', '/nonexistent.key'], 'key file /nonexistent.key does not exist'],
    [['owners', 'add', WALLET], '--owner KEY is required'],
    [['owners', 'add', WALLET, '--owner', 'not-a-key'], 'neither a Solana (base58) nor an EVM (0x…) address'],
    [['owners', 'add', WALLET, '--owner', '0x1111111111111111111111111111111111111111', '--key-type', 'ed25519'], 'is not a Solana (base58) address'],
    [['owners', 'threshold', WALLET, 'two'], 'N must be a whole number'],
    [['unfreeze', '--signature', `0x1111111111111111111111111111111111111111=${'00'.repeat(65)}`], 'give WALLET_ID'],
    [['keys', 'generate', '--out', 'x.key'], '--type ed25519|evm is required'],
    [['completion', 'fish'], 'SHELL must be bash or zsh'],
  ])('%j', async (args, message) => {
    const r = await ctl([...args, ...(['keys', 'completion', 'frobnicate'].includes(args[0]!) ? [] : tls)]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toMatch(/^waiaas-ctl: error: /);
    expect(r.stdout).toBe('');
  });

  test('no TLS files: says which are missing and how to give them', async () => {
    const r = await ctl(['wallets', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give --ca (or WAIAAS_CA), --cert (or WAIAAS_CERT), --key (or WAIAAS_KEY)');
    expect(r.stderr).toContain('--state DIR');
    const id = await ctl(['wallets', 'list', '--identity', 'admin']);
    expect(id.code).toBe(2);
    expect(id.stderr).toContain('--identity needs --state DIR');
  });

  test('with --json the error is one JSON line on stderr', async () => {
    const r = await ctl(['wallets', 'show', '--json', ...tls]);
    expect(r.code).toBe(2);
    const line = JSON.parse(r.stderr.trim()) as { error: { exitCode: number; message: string } };
    expect(line.error).toMatchObject({ exitCode: 2, message: 'missing WALLET_ID' });
  });
});

describe.concurrent('owner key files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });

  test('keys generate writes a 0600 file, prints the public key and never the secret', async () => {
    const ed = join(dir, 'ed.key');
    const r = await ctl(['keys', 'generate', '--type', 'ed25519', '--out', ed]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(ed).mode & 0o777).toBe(0o600);
    const file = JSON.parse(readFileSync(ed, 'utf8')) as { type: string; secret: string };
    expect(file.type).toBe('ed25519');
    expect(file.secret).toMatch(/^[0-9a-f]{64}$/);
    const address = getAddressDecoder().decode(ed25519.getPublicKey(Buffer.from(file.secret, 'hex')));
    expect(r.stdout).toContain(address);
    expect(r.stdout + r.stderr).not.toContain(file.secret);

    const evm = join(dir, 'evm.key');
    const j = await ctlJson<{ type: string; address: string; keyFile: string }>(['keys', 'generate', '--type', 'evm', '--out', evm]);
    const evmFile = JSON.parse(readFileSync(evm, 'utf8')) as { secret: string };
    expect(j).toEqual({ type: 'evm', address: privateKeyToAddress(`0x${evmFile.secret}`), keyFile: evm });
    expect(statSync(evm).mode & 0o777).toBe(0o600);

    const shown = await ctlJson<{ address: string }>(['keys', 'show', '--key-file', evm]);
    expect(shown.address).toBe(j.address);
  });

  test('keys generate refuses to overwrite an existing file', async () => {
    const f = join(dir, 'exists.key');
    writeFileSync(f, 'precious', { mode: 0o600 });
    const r = await ctl(['keys', 'generate', '--type', 'evm', '--out', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f} already exists; refusing to overwrite`);
    expect(readFileSync(f, 'utf8')).toBe('precious');
  });

  test('a key file readable by others is refused, naming the file; a malformed one never has its contents printed', async () => {
    const f = join(dir, 'open.key');
    const secret = 'ab'.repeat(32);
    writeFileSync(f, JSON.stringify({ type: 'ed25519', secret }));
    chmodSync(f, 0o644);
    const r = await ctl(['keys', 'show', '--key-file', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`key file ${f} has mode 0644; it must be 0600 or 0400`);

    const bad = join(dir, 'bad.key');
    writeFileSync(bad, `{"type":"ed25519","secret":"${secret}"`, { mode: 0o600 }); // truncated JSON
    const b = await ctl(['keys', 'show', '--key-file', bad]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain(`key file ${bad} is not valid JSON`);
    expect(b.stderr).not.toContain(secret);

    const wrong = join(dir, 'wrong.key');
    writeFileSync(wrong, JSON.stringify({ type: 'rsa', secret }), { mode: 0o400 });
    const w = await ctl(['keys', 'show', '--key-file', wrong]);
    expect(w.code).toBe(2);
    expect(w.stderr).toContain('"type" must be "ed25519" or "evm"');
    expect(w.stderr).not.toContain(secret);
  });
});

describe.concurrent('completion', () => {
  test('bash: a script bash accepts, which completes commands, options and option values', async () => {
    const r = await ctl(['completion', 'bash']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('complete -F _waiaas_ctl waiaas-ctl');
    const dir = await tempDir();
    const script = join(dir, 'c.bash');
    writeFileSync(script, r.stdout);
    execFileSync('bash', ['-n', script]);
    const complete = (...words: string[]): string[] => {
      const cword = words.length - 1;
      const out = execFileSync('bash', ['-c', `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${cword}; _waiaas_ctl; printf '%s\\n' "\${COMPREPLY[@]}"`]).toString();
      return out.split('\n').filter(Boolean);
    };
    expect(complete('waiaas-ctl', 'pol')).toEqual(['policy']);
    expect(complete('waiaas-ctl', 'policy', '')).toEqual(['show', 'set', 'diff', 'evaluate', '--help']);
    expect(complete('waiaas-ctl', '--state', '/tmp', 'wallets', 'create', '--ch')).toEqual(['--chain']);
    expect(complete('waiaas-ctl', 'wallets', 'create', '--chain', '')).toEqual(['solana', 'evm']);
    expect(complete('waiaas-ctl', 'completion', '')).toEqual(['bash', 'zsh']);
    expect(complete('waiaas-ctl', 'approvals', 'approve', 'req_x', '--print')).toEqual(['--print-message']);
  });

  test('zsh: a script with #compdef that zsh accepts', async () => {
    const r = await ctl(['completion', 'zsh']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('#compdef waiaas-ctl')).toBe(true);
    expect(r.stdout).toContain('compdef _waiaas_ctl waiaas-ctl');
    const zsh = spawnSync('zsh', ['-n'], { input: r.stdout });
    if (zsh.error) return; // zsh is not installed here; the script's content was checked above
    expect(zsh.status, zsh.stderr.toString()).toBe(0);
  });
});
