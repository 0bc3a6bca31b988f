/**
 * waiaas-ctl for agents and the audit log, against the real appliance: a principal registered (`agents put`) and
 * issued a credential (`agents issue`), which then calls the appliance as that agent until it is revoked (`agents
 * revoke`); the audit log read (`audit tail`), exported (`audit export`) and verified on the appliance and offline
 * (`audit verify`, `--file`), with a tampered export failing with exit 8 and the bad seq.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { removeState, startServer, type TestServer } from '../support/server.ts';
import { conn, ctl, ctlJson, tempDir } from './helpers.ts';

interface PrincipalJson {
  uri: string;
  role: string;
  status: string;
  wallets: string[];
  chains: string[];
  operations: string[];
  rateLimitPerSecond: number;
  certificateSerials: string[];
  createTime: string | null;
}
interface IssuedJson {
  uri: string;
  serial: string;
  expireTime: string;
  certFile: string;
  keyFile: string;
  caFile: string;
}
interface EntryJson {
  seq: number;
  time: string;
  actor: string;
  action: string;
  walletId: string | null;
  signRequestId: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}
interface VerifyJson {
  ok: boolean;
  source: string;
  file: string | null;
  entries?: number;
  head?: string;
  headSeq?: number;
  headHash?: string;
  badSeq?: number;
  problem?: string;
  detail?: string;
}

const BOT = 'spiffe://waiaas/agent/ctl-bot';
const HEAD_LINE = /^ok: (\d+) entries, head (\d+):([0-9a-f]{64})$/m;

describe('waiaas-ctl agents and audit', () => {
  let server: TestServer;
  let files: string;
  let walletId: string;
  /** Connection flags with the credential issued into a folder: the identity is the agent, not a dev certificate. */
  const as = (dir: string, name = 'ctl-bot'): string[] => ['--address', server.address, '--cert', join(dir, `${name}.pem`), '--key', join(dir, `${name}.key`), '--ca', join(dir, 'ca.pem')];
  let serial1: string;
  let serial2: string;

  beforeAll(async () => {
    [server, files] = await Promise.all([startServer(), tempDir()]);
    walletId = (await ctlJson<{ walletId: string }>(['wallets', 'create', '--chain', 'solana', ...conn(server, 'admin')])).walletId;
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('agents put registers principals (short and full URIs) and changes only what is given; agents list shows them', async () => {
    const bot = await ctlJson<PrincipalJson>(['agents', 'put', 'agent/ctl-bot', '--wallet', walletId, '--chain', 'solana', '--operation', 'read', '--rate-limit', '50', ...conn(server, 'admin')]);
    expect(bot).toMatchObject({ uri: BOT, role: 'agent', status: 'ACTIVE', wallets: [walletId], chains: ['solana'], operations: ['read'], rateLimitPerSecond: 50, certificateSerials: [] });
    expect(bot.createTime).toMatch(/^\d{4}-\d\d-\d\dT/);

    // On a registered principal only what is given changes.
    const all = await ctl(['agents', 'put', BOT, '--all-wallets', ...conn(server, 'admin')]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^principal +spiffe:\/\/waiaas\/agent\/ctl-bot$/m);
    expect(all.stdout).toMatch(/^wallets +\* \(all\)$/m);
    expect(all.stdout).toMatch(/^chains +solana$/m);
    expect(all.stdout).toMatch(/^operations +read$/m);
    expect(all.stdout).toMatch(/^rate limit +50 calls\/s$/m);
    expect(all.stderr).toBe('');
    const rate = await ctlJson<PrincipalJson>(['agents', 'put', BOT, '--rate-limit', '60', ...conn(server, 'admin')]);
    expect(rate).toMatchObject({ wallets: ['*'], chains: ['solana'], operations: ['read'], rateLimitPerSecond: 60 });

    // A new agent gets the appliance's defaults for what is not given; --no-wallets takes its wallets away.
    const fresh = await ctlJson<PrincipalJson>(['agents', 'put', 'agent/ctl-new', '--wallet', walletId, ...conn(server, 'admin')]);
    expect(fresh).toMatchObject({ wallets: [walletId], chains: ['*'], operations: ['read', 'sign_transaction', 'sign_message', 'cancel_request'], rateLimitPerSecond: 0 });
    const none = await ctlJson<PrincipalJson>(['agents', 'put', 'agent/ctl-new', '--no-wallets', ...conn(server, 'admin')]);
    expect(none).toMatchObject({ wallets: [], chains: ['*'], operations: fresh.operations });

    const owner = await ctl(['agents', 'put', 'owner/ctl-owner', '--wallet', walletId, ...conn(server, 'admin')]);
    expect(owner.code, owner.stderr).toBe(0);
    expect(owner.stdout).toMatch(/^role +owner$/m);
    expect(owner.stdout).toMatch(new RegExp(`^wallets +${walletId}$`, 'm'));
    expect(owner.stdout).not.toMatch(/^operations/m);

    const list = await ctlJson<{ principals: PrincipalJson[] }>(['agents', 'list', ...conn(server, 'admin')]);
    const uris = list.principals.map((p) => p.uri);
    expect(uris).toEqual(expect.arrayContaining([BOT, 'spiffe://waiaas/owner/ctl-owner', 'spiffe://waiaas/agent/dev-agent', 'spiffe://waiaas/owner/dev-owner']));
    expect(list.principals.find((p) => p.uri === BOT)).toMatchObject({ wallets: ['*'], chains: ['solana'], operations: ['read'] });
    const table = await ctl(['agents', 'list', ...conn(server, 'admin')]);
    expect(table.stdout.split('\n')[0]).toMatch(/^PRINCIPAL +ROLE +STATUS +WALLETS +CHAINS +OPERATIONS +RATE +CERTS +CREATED$/);
    expect(table.stdout).toMatch(/^agent\/ctl-bot +agent +ACTIVE +\* +solana +read +60\/s +0 /m);
    expect(table.stdout).toMatch(new RegExp(`^owner/ctl-owner +owner +ACTIVE +${walletId} +- +- +default +0 `, 'm'));
  });

  test('agents issue writes the certificate, a 0600 key and the CA, never prints the key, and never overwrites', async () => {
    const d1 = join(files, 'bot1');
    const r = await ctl(['agents', 'issue', 'agent/ctl-bot', '--out', d1, '--valid', '1h', ...conn(server, 'admin')]);
    expect(r.code, r.stderr).toBe(0);
    const key = readFileSync(join(d1, 'ctl-bot.key'), 'utf8');
    expect(key).toContain(`-----BEGIN ${'PRIVATE'} KEY-----`);
    expect(statSync(join(d1, 'ctl-bot.key')).mode & 0o777).toBe(0o600);
    const body = key.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    expect(r.stdout + r.stderr).not.toContain(body.slice(0, 40));
    const cert = new X509Certificate(readFileSync(join(d1, 'ctl-bot.pem')));
    expect(cert.subjectAltName).toContain(BOT);
    expect(readFileSync(join(d1, 'ca.pem'), 'utf8')).toBe(readFileSync(join(server.dir, 'ca.pem'), 'utf8'));
    serial1 = cert.serialNumber.toLowerCase();
    expect(r.stdout).toMatch(new RegExp(`^serial +${serial1}$`, 'm'));
    const expires = /^expires +(\S+)$/m.exec(r.stdout)![1]!;
    expect(Math.abs(Date.parse(expires) - (Date.now() + 3_600_000))).toBeLessThan(120_000);
    expect(r.stdout).toMatch(/^key +\S+ctl-bot\.key \(mode 0600\)$/m);

    const d2 = join(files, 'bot2');
    const j = await ctlJson<IssuedJson>(['agents', 'issue', BOT, '--out', d2, ...conn(server, 'admin')]);
    serial2 = j.serial;
    expect(j).toEqual({ uri: BOT, serial: serial2, expireTime: j.expireTime, certFile: join(d2, 'ctl-bot.pem'), keyFile: join(d2, 'ctl-bot.key'), caFile: join(d2, 'ca.pem') });
    expect(Math.abs(Date.parse(j.expireTime) - (Date.now() + 86_400_000))).toBeLessThan(120_000);
    expect(serial2).not.toBe(serial1);

    // The files exist: refused before anything is issued.
    const again = await ctl(['agents', 'issue', BOT, '--out', d1, ...conn(server, 'admin')]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${join(d1, 'ctl-bot.pem')} already exists; refusing to overwrite`);
    expect(readFileSync(join(d1, 'ctl-bot.key'), 'utf8')).toBe(key);
    const listed = await ctlJson<{ principals: PrincipalJson[] }>(['agents', 'list', ...conn(server, 'admin')]);
    expect(listed.principals.find((p) => p.uri === BOT)!.certificateSerials.sort()).toEqual([serial1, serial2].sort());
  });

  test('the issued credential calls the appliance as the agent, within its scope', async () => {
    const list = await ctlJson<{ wallets: { walletId: string }[] }>(['wallets', 'list', ...as(join(files, 'bot1'))]);
    expect(list.wallets.map((w) => w.walletId)).toContain(walletId);
    // Only "read" was granted.
    const create = await ctl(['wallets', 'create', '--chain', 'solana', ...as(join(files, 'bot1'))]);
    expect(create.code).toBe(5);
    expect(create.stderr).toContain('WAIAAS_PERMISSION_DENIED');
    expect(create.stderr).toContain('operation=create_wallet');
  });

  test('agents revoke: one certificate by serial, then the principal; the next call is refused at once', async () => {
    const r = await ctl(['agents', 'revoke', '--serial', serial1, ...conn(server, 'admin')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`revoked certificate ${serial1}\n`);
    const refused = await ctl(['wallets', 'list', ...as(join(files, 'bot1'))]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('this client certificate was revoked');
    // The other certificate still works.
    expect((await ctl(['wallets', 'list', ...as(join(files, 'bot2'))])).code).toBe(0);

    const twice = await ctl(['agents', 'revoke', '--serial', serial1.toUpperCase(), ...conn(server, 'admin')]);
    expect(twice.code).toBe(4);
    expect(twice.stderr).toContain(`no unrevoked certificate has serial ${serial1}`);

    const all = await ctlJson<{ uri: string; serial: string | null; revokedCertificates: number }>(['agents', 'revoke', 'agent/ctl-bot', ...conn(server, 'admin')]);
    expect(all).toEqual({ uri: BOT, serial: null, revokedCertificates: 1 });
    const gone = await ctl(['wallets', 'list', ...as(join(files, 'bot2'))]);
    expect(gone.code).toBe(5);
    expect(gone.stderr).toContain('revoked');
    const listed = await ctlJson<{ principals: PrincipalJson[] }>(['agents', 'list', ...conn(server, 'admin')]);
    expect(listed.principals.find((p) => p.uri === BOT)).toMatchObject({ status: 'REVOKED', certificateSerials: [] });
    // A revoked principal is issued nothing.
    const issue = await ctl(['agents', 'issue', BOT, '--out', join(files, 'bot3'), ...conn(server, 'admin')]);
    expect(issue.code).toBe(3);
    expect(existsSync(join(files, 'bot3', 'ctl-bot.key'))).toBe(false);
  });

  test('agents and audit commands are the admin\'s: an owner certificate exits 5', async () => {
    for (const args of [['agents', 'list'], ['audit', 'tail'], ['audit', 'verify']]) {
      const r = await ctl([...args, ...conn(server, 'owner')]);
      expect(r.code, args.join(' ')).toBe(5);
      expect(r.stderr).toContain('WAIAAS_PERMISSION_DENIED');
    }
  });

  test('audit tail shows the entries, oldest first, filtered by wallet', async () => {
    const { entries } = await ctlJson<{ entries: EntryJson[] }>(['audit', 'tail', '-n', '200', ...conn(server, 'admin')]);
    const seqs = entries.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const actions = entries.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['appliance.started', 'wallet.created', 'principal.put', 'agent.issued', 'agent.revoked']));
    const issued = entries.filter((e) => e.action === 'agent.issued');
    expect(issued.map((e) => e.data['serial'])).toEqual([serial1, serial2]);
    expect(issued[0]).toMatchObject({ actor: 'spiffe://waiaas/admin/dev-admin', walletId: null, signRequestId: null, data: { uri: BOT } });
    expect(issued[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
    const revoked = entries.filter((e) => e.action === 'agent.revoked').map((e) => e.data);
    // The second revocation of serial1 revoked nothing, and is on record too.
    expect(revoked).toEqual([
      expect.objectContaining({ serial: serial1, certificates: 1 }),
      expect.objectContaining({ serial: serial1, certificates: 0 }),
      expect.objectContaining({ uri: BOT, certificates: 1 }),
    ]);

    const last3 = await ctlJson<{ entries: EntryJson[] }>(['audit', 'tail', '-n', '3', ...conn(server, 'admin')]);
    expect(last3.entries.map((e) => e.seq)).toEqual(seqs.slice(-3));
    const mine = await ctlJson<{ entries: EntryJson[] }>(['audit', 'tail', '--wallet', walletId, ...conn(server, 'admin')]);
    expect(mine.entries.length).toBeGreaterThan(0);
    expect(mine.entries.every((e) => e.walletId === walletId)).toBe(true);

    const human = await ctl(['audit', 'tail', '--count', '5', ...conn(server, 'admin')]);
    expect(human.code, human.stderr).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SEQ +TIME +ACTOR +ACTION +WALLET +REQUEST +DATA$/);
    expect(lines).toHaveLength(6);
    expect(lines[5]).toMatch(new RegExp(`^${seqs.at(-1)} +\\S+ +admin/dev-admin +agent\\.revoked +- +- +\\{`));
  });

  test('audit verify on the appliance passes and prints the head; --expect-head checks a recorded one', async () => {
    const r = await ctl(['audit', 'verify', ...conn(server, 'admin')]);
    expect(r.code, r.stderr).toBe(0);
    const [, entries, headSeq, headHash] = HEAD_LINE.exec(r.stdout)!;
    expect(Number(entries)).toBe(Number(headSeq));
    const j = await ctlJson<VerifyJson>(['audit', 'verify', '--expect-head', `${headSeq}:${headHash}`, ...conn(server, 'admin')]);
    expect(j).toEqual({ ok: true, source: 'appliance', file: null, entries: Number(entries), headSeq: Number(headSeq), headHash, head: `${headSeq}:${headHash}` });

    // A recorded head the log no longer matches: changed (rewritten) or removed (cut off the end). Exit 8.
    const wrong = await ctl(['audit', 'verify', '--expect-head', `${headSeq}:${'ab'.repeat(32)}`, ...conn(server, 'admin')]);
    expect(wrong.code).toBe(8);
    expect(wrong.stdout).toContain(`broken: seq ${headSeq} changed`);
    expect(wrong.stderr).toContain(`broken at seq ${headSeq} (changed)`);
    const past = await ctlJson<VerifyJson>(['audit', 'verify', '--expect-head', `${Number(headSeq) + 5}:${headHash}`, ...conn(server, 'admin')]).catch((e: Error) => e);
    expect(past).toBeInstanceOf(Error); // exit 8, not 0
    const p = await ctl(['audit', 'verify', '--json', '--expect-head', `${Number(headSeq) + 5}:${headHash}`, ...conn(server, 'admin')]);
    expect(p.code).toBe(8);
    expect(JSON.parse(p.stdout)).toMatchObject({ ok: false, source: 'appliance', badSeq: Number(headSeq) + 1, problem: 'removed', headSeq: Number(headSeq), headHash });
  });

  test('audit export to a file and to stdout; verify --file passes offline; a tampered line exits 8 naming its seq', async () => {
    const f = join(files, 'audit.jsonl');
    const ex = await ctlJson<{ file: string; entries: number; firstSeq: number; lastSeq: number; head: string }>(['audit', 'export', '--out', f, ...conn(server, 'admin')]);
    const lines = readFileSync(f, 'utf8').trimEnd().split('\n');
    expect(ex).toMatchObject({ file: f, entries: lines.length, firstSeq: 1, lastSeq: lines.length });
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(lines.map((_, i) => i + 1));
    const again = await ctl(['audit', 'export', '--out', f, ...conn(server, 'admin')]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists; refusing to overwrite');

    // Offline: no connection options at all.
    const ok = await ctl(['audit', 'verify', '--file', f]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`ok: ${lines.length} entries, head ${ex.head}\n`);
    // The same head as the appliance's.
    const live = await ctl(['audit', 'verify', '--expect-head', ex.head, ...conn(server, 'admin')]);
    expect(live.code, live.stdout).toBe(0);
    expect(live.stdout).toContain(`head ${ex.head}`);

    // A range, to stdout; checked with the entry before it.
    const part = await ctl(['audit', 'export', '--from', '2', '--to', '4', ...conn(server, 'admin')]);
    expect(part.code, part.stderr).toBe(0);
    expect(part.stdout).toBe(`${lines.slice(1, 4).join('\n')}\n`);
    const pf = join(files, 'part.jsonl');
    writeFileSync(pf, part.stdout);
    const first = JSON.parse(lines[0]!) as { hash: string };
    expect((await ctl(['audit', 'verify', '--file', pf, '--after', `1:${first.hash}`])).code).toBe(0);
    const badAfter = await ctl(['audit', 'verify', '--file', pf, '--after', `1:${'cd'.repeat(32)}`]);
    expect(badAfter.code).toBe(8);

    // Tamper with seq 5: its actor.
    const t = join(files, 'tampered.jsonl');
    const changed = [...lines];
    const entry5 = JSON.parse(changed[4]!) as { actor: string };
    changed[4] = changed[4]!.replace(JSON.stringify(entry5.actor), '"spiffe://waiaas/agent/mallory"');
    expect(changed[4]).not.toBe(lines[4]);
    writeFileSync(t, `${changed.join('\n')}\n`);
    const bad = await ctl(['audit', 'verify', '--file', t]);
    expect(bad.code).toBe(8);
    expect(bad.stdout).toMatch(/^broken: seq 5 changed$/m);
    expect(bad.stderr).toContain(`the audit chain in ${t} is broken at seq 5 (changed)`);
    const badJson = await ctl(['audit', 'verify', '--file', t, '--json']);
    expect(badJson.code).toBe(8);
    expect(JSON.parse(badJson.stdout)).toMatchObject({ ok: false, source: 'file', file: t, badSeq: 5, problem: 'changed' });

    // A line removed.
    const r = join(files, 'removed.jsonl');
    writeFileSync(r, `${lines.filter((_, i) => i !== 2).join('\n')}\n`);
    const removed = await ctlJson<VerifyJson>(['audit', 'verify', '--file', r]).catch(() => undefined);
    expect(removed).toBeUndefined();
    const rj = await ctl(['audit', 'verify', '--file', r, '--json']);
    expect(rj.code).toBe(8);
    expect(JSON.parse(rj.stdout)).toMatchObject({ badSeq: 3, problem: 'removed' });

    // Not an export at all.
    const junk = join(files, 'junk.jsonl');
    writeFileSync(junk, `${lines[0]}\nnot json\n`);
    const j = await ctl(['audit', 'verify', '--file', junk]);
    expect(j.code).toBe(8);
    expect(j.stdout).toContain('line 2 is not an audit entry');
  });

  test.each([
    [['agents', 'put', 'foo/bar'], 'URI must be spiffe://waiaas/agent/NAME'],
    [['agents', 'put', 'agent/a b'], 'the name must be 1-64 characters'],
    [['agents', 'put', 'spiffe://waiaas/admin/root'], 'URI must be spiffe://waiaas/agent/NAME'],
    [['agents', 'put', 'agent/x', '--wallet', 'wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P', '--all-wallets'], 'give one of --wallet, --all-wallets and --no-wallets (got --wallet and --all-wallets)'],
    [['agents', 'put', 'agent/x', '--all-wallets', '--no-wallets'], 'give one of --wallet, --all-wallets and --no-wallets'],
    [['agents', 'put', 'agent/x', '--wallet', 'req_1'], '--wallet must start with wlt_'],
    [['agents', 'put', 'agent/x', '--operation', 'sign_everything'], '--operation must be one of'],
    [['agents', 'put', 'agent/x', '--chain', 'solana', '--chain', 'solana'], '--chain solana is given twice'],
    [['agents', 'put', 'agent/x', '--rate-limit', 'fast'], '--rate-limit must be a whole number'],
    [['agents', 'put', 'owner/x', '--operation', 'read'], '--operation apply to agents only'],
    [['agents', 'issue', 'agent/x'], '--out is required'],
    [['agents', 'issue', 'agent/x', '--out', '/tmp', '--valid', '10s'], '--valid must be between 1m and 30d'],
    [['agents', 'issue', 'agent/x', '--out', '/tmp', '--valid', 'soon'], '--valid must be a duration'],
    [['agents', 'issue', 'agent/x', '--out', '/etc/hostname'], 'is not a folder'],
    [['agents', 'revoke'], 'give a principal URI or --serial HEX'],
    [['agents', 'revoke', 'agent/x', '--serial', 'ab'], 'give a principal URI or --serial HEX'],
    [['agents', 'revoke', '--serial', 'xyz'], '--serial must be the certificate\'s serial number in hex'],
    [['audit', 'tail', '-n', '0'], '-n must be between 1 and 10000'],
    [['audit', 'tail', '--request', 'wlt_x'], '--request must start with req_'],
    [['audit', 'export', '--from', '5', '--to', '2'], '--to 2 is before --from 5'],
    [['audit', 'export', '--from', '0'], '--from must be a sequence number'],
    [['audit', 'verify', '--expect-head', '12'], '--expect-head must be SEQ:HASH'],
    [['audit', 'verify', '--after', `1:${'00'.repeat(32)}`], '--after goes with --file'],
    [['audit', 'verify', '--file', '/nonexistent.jsonl'], 'cannot read --file /nonexistent.jsonl: no such file'],
  ])('usage error %j exits 2 before anything is sent', async (args, message) => {
    // An address nothing listens on: a usage error must come first.
    const r = await ctl([...args, '--state', server.dir, '--identity', 'admin', '--address', 'localhost:1']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });
});
