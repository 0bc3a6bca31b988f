/**
 * waiaas-ctl against the real appliance (a server process on a temporary development state folder): wallets,
 * policies (set, show, diff, evaluate), exit codes for the appliance's refusals, and an unreachable appliance.
 */
import { getAddressDecoder } from '@solana/kit';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSvm, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { nativeTransferPolicy } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';
import { conn, ctl, ctlJson, tempDir } from './helpers.ts';

const RECIPIENT = getAddressDecoder().decode(randomBytes(32));

interface WalletJson {
  walletId: string;
  chain: string;
  address: string;
  key: { algorithm: string; publicKey: string; tokenLabel: string };
  labels: Record<string, string>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('waiaas-ctl wallets and policy', () => {
  let server: TestServer;
  let files: string;
  let sol: WalletJson;
  let evm: WalletJson;

  beforeAll(async () => {
    [server, files] = await Promise.all([startServer(), tempDir()]);
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('wallets create (JSON and human), list and show', async () => {
    sol = await ctlJson<WalletJson>(['wallets', 'create', '--chain', 'solana', '--label', 'team=payments', '--label', 'agent=ctl', ...conn(server, 'admin')]);
    expect(sol.walletId).toMatch(/^wlt_[0-9A-Z]{26}$/);
    expect(sol).toMatchObject({ chain: 'solana', labels: { team: 'payments', agent: 'ctl' }, key: { algorithm: 'ed25519', tokenLabel: 'waiaas-dev' } });
    expect(sol.key.publicKey).toMatch(/^[0-9a-f]{64}$/);

    const human = await ctl(['wallets', 'create', '--chain', 'evm', '--request-id', 'ctl-evm-1', ...conn(server, 'admin')]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^wallet +wlt_[0-9A-Z]{26}$/m);
    expect(human.stdout).toMatch(/^chain +evm$/m);
    expect(human.stdout).toMatch(/^key +secp256k1 on token "waiaas-dev"/m);
    // The same request id returns the same wallet.
    evm = await ctlJson<WalletJson>(['wallets', 'create', '--chain', 'evm', '--request-id', 'ctl-evm-1', ...conn(server, 'admin')]);
    expect(human.stdout).toContain(evm.walletId);
    expect(evm.address).toMatch(/^0x[0-9a-fA-F]{40}$/);

    const list = await ctlJson<{ wallets: WalletJson[] }>(['wallets', 'list', ...conn(server)]);
    expect(list.wallets.map((w) => w.walletId)).toEqual([sol.walletId, evm.walletId]);
    const evms = await ctlJson<{ wallets: WalletJson[] }>(['wallets', 'list', '--chain', 'evm', ...conn(server)]);
    expect(evms.wallets.map((w) => w.walletId)).toEqual([evm.walletId]);
    const table = await ctl(['wallets', 'list', ...conn(server)]);
    expect(table.stdout.split('\n')[0]).toMatch(/^WALLET +CHAIN +ADDRESS +CREATED +LABELS$/);
    expect(table.stdout).toContain(`${sol.walletId}  solana  ${sol.address}`);
    expect(table.stdout).toContain('agent=ctl,team=payments');

    const shown = await ctlJson<WalletJson>(['wallets', 'show', sol.walletId, ...conn(server)]);
    expect(shown).toEqual(sol);
    const text = await ctl(['wallets', 'show', evm.walletId, ...conn(server)]);
    expect(text.stdout).toMatch(new RegExp(`^address +${evm.address}$`, 'm'));
  });

  test('an unknown wallet exits 4 with the reason', async () => {
    const r = await ctl(['wallets', 'show', 'wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P', ...conn(server)]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('[WAIAAS_WALLET_NOT_FOUND');
    const p = await ctl(['policy', 'show', sol.walletId, ...conn(server)]);
    expect(p.code).toBe(4);
    expect(p.stderr).toContain('WAIAAS_POLICY_NOT_FOUND');
  });

  test('policy set: an invalid document exits 3 naming the field; a valid one is stored', async () => {
    const bad = join(files, 'bad.json');
    writeFileSync(bad, nativeTransferPolicy([RECIPIENT, 'not-an-address'], 1_000_000n));
    const r = await ctl(['policy', 'set', sol.walletId, '--file', bad, ...conn(server)]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('rules[0].recipients[1]');
    expect(r.stderr).toContain('WAIAAS_POLICY_INVALID');
    expect(r.stderr).toContain('field=policy.document.rules[0].recipients[1]');
    const j = await ctl(['policy', 'set', sol.walletId, '--file', bad, '--json', ...conn(server)]);
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stderr).error).toMatchObject({ exitCode: 3, code: 'INVALID_ARGUMENT', reason: 'WAIAAS_POLICY_INVALID', metadata: { field: 'policy.document.rules[0].recipients[1]' } });

    const good = join(files, 'good.json');
    writeFileSync(good, nativeTransferPolicy([RECIPIENT], 1_000_000n));
    const set = await ctl(['policy', 'set', sol.walletId, '--file', good, ...conn(server)]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain(`policy version 1 set on ${sol.walletId}`);
    // From standard input, as JSON.
    const again = await ctlJson<{ version: number; policyHash: string; setBy: string }>(['policy', 'set', sol.walletId, '--file', '-', ...conn(server)], { input: nativeTransferPolicy([RECIPIENT], 1_000_000n) });
    expect(again).toMatchObject({ version: 2, setBy: 'spiffe://waiaas/owner/dev-owner' });
    expect(again.policyHash).toMatch(/^[0-9a-f]{64}$/);
  });

  test('policy set by an agent exits 5', async () => {
    const good = join(files, 'good.json');
    const r = await ctl(['policy', 'set', sol.walletId, '--file', good, ...conn(server, 'agent')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('WAIAAS_PERMISSION_DENIED');
  });

  test('policy show: JSON, the rules table, and the bare document', async () => {
    const j = await ctlJson<{ version: number; document: { rules: { name: string }[] } }>(['policy', 'show', sol.walletId, ...conn(server)]);
    expect(j.version).toBe(2);
    expect(j.document.rules.map((r) => r.name)).toEqual(['pay-allowlisted', 'fees']);
    const human = await ctl(['policy', 'show', sol.walletId, ...conn(server)]);
    expect(human.stdout).toMatch(/^version +2$/m);
    expect(human.stdout).toMatch(new RegExp(`^pay-allowlisted +transfer +INSTANT +asset=native recipients=\\["${RECIPIENT}"\\] max_amount=1000000$`, 'm'));
    const doc = await ctl(['policy', 'show', sol.walletId, '--document', ...conn(server)]);
    expect(JSON.parse(doc.stdout)).toMatchObject({ schema: 'waiaas.policy.v1', pending_timeout_seconds: 86400 });
  });

  test('policy diff: an added rule, a changed one, and no changes for the same document', async () => {
    const candidate = join(files, 'candidate.json');
    writeFileSync(
      candidate,
      nativeTransferPolicy([RECIPIENT], 2_000_000n, { extra: [{ name: 'big', kind: 'transfer', verdict: 'APPROVAL', asset: 'native', min_amount: '2000001' }] }),
    );
    const r = await ctl(['policy', 'diff', sol.walletId, '--file', candidate, ...conn(server)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('+ rule "big": transfer APPROVAL asset=native min_amount=2000001');
    expect(r.stdout).toContain('~ rule "pay-allowlisted":\n    max_amount: "1000000" → "2000000"');
    expect(r.stdout).toContain('1 added, 0 removed, 1 changed');
    const j = await ctlJson<{ identical: boolean; added: { name: string }[]; removed: unknown[]; changed: { name: string; changes: { field: string; from: unknown; to: unknown }[] }[] }>(['policy', 'diff', sol.walletId, '--file', candidate, ...conn(server)]);
    expect(j.identical).toBe(false);
    expect(j.added.map((a) => a.name)).toEqual(['big']);
    expect(j.removed).toEqual([]);
    expect(j.changed).toEqual([{ name: 'pay-allowlisted', changes: [{ field: 'max_amount', from: '1000000', to: '2000000' }] }]);

    const same = join(files, 'good.json');
    const s = await ctl(['policy', 'diff', sol.walletId, '--file', same, ...conn(server)]);
    expect(s.stdout).toContain('no changes: the candidate is the current policy');

    const bad = await ctl(['policy', 'diff', sol.walletId, '--file', join(files, 'bad.json'), ...conn(server)]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('rules[0].recipients[1]');
  });

  test('policy evaluate: a Solana transfer under the current policy and under a candidate', async () => {
    const tx = Buffer.from(unsignedSolTransfer({ from: sol.address, to: RECIPIENT, lamports: 1_500_000n, blockhash: latestBlockhash(createSvm()) })).toString('hex');
    const cur = await ctlJson<{ verdict: string; rule: string; effects: { outflows: { amount: string; recipient: string }[] }; matchedRules: { name: string }[] }>(['policy', 'evaluate', sol.walletId, '--solana-tx', tx, ...conn(server)]);
    expect(cur.verdict).toBe('DENY');
    expect(cur.rule).toBe('default-deny');
    expect(cur.effects.outflows).toMatchObject([{ amount: '1500000', recipient: RECIPIENT }]);

    const candidate = join(files, 'candidate.json');
    const human = await ctl(['policy', 'evaluate', sol.walletId, '--solana-tx', tx, '--file', candidate, ...conn(server)]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^verdict +INSTANT$/m);
    expect(human.stdout).toMatch(/^rule +pay-allowlisted$/m);
    expect(human.stdout).toContain(`outflow  1500000 native → ${RECIPIENT}  [System.Transfer]`);
    expect(human.stdout).toMatch(/^pay-allowlisted +transfer +INSTANT/m);
    expect(human.stdout).toMatch(/^fees +fee +INSTANT/m);

    const msg = await ctlJson<{ verdict: string; effects: { message: { kind: string; text: string } } }>(['policy', 'evaluate', evm.walletId, '--evm-message', 'hello owners', ...conn(server)]);
    expect(msg.verdict).toBe('DENY');
    expect(msg.effects.message).toMatchObject({ kind: 'eip191', text: 'hello owners' });

    const mismatch = await ctl(['policy', 'evaluate', evm.walletId, '--solana-tx', tx, ...conn(server)]);
    expect(mismatch.code).toBe(6);
    expect(mismatch.stderr).toContain('WAIAAS_WALLET_CHAIN_MISMATCH');
  });

  test('connection from the environment (paths and address only)', async () => {
    const r = await ctl(['wallets', 'show', sol.walletId, '--json'], {
      env: { WAIAAS_ADDRESS: server.address, WAIAAS_CA: join(server.dir, 'ca.pem'), WAIAAS_CERT: join(server.dir, 'owner.pem'), WAIAAS_KEY: join(server.dir, 'owner.key') },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).walletId).toBe(sol.walletId);
  });

  test('an appliance that is not there exits 7; so does a server with another CA', async () => {
    const port = await freePort();
    const r = await ctl(['wallets', 'list', '--state', server.dir, '--address', `localhost:${port}`, '--timeout', '5s']);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(`cannot reach the appliance at localhost:${port}`);
    expect(r.stderr).toContain('[UNAVAILABLE]');
    // TLS failure: the server's certificate does not chain to the CA given.
    const other = join(files, 'other-ca.pem');
    writeFileSync(other, readFileSync(join(server.dir, 'owner.pem')));
    const t = await ctl(['wallets', 'list', '--state', server.dir, '--address', server.address, '--ca', other, '--timeout', '5s']);
    expect(t.code).toBe(7);
  });
});
