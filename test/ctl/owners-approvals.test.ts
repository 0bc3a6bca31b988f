/**
 * waiaas-ctl for owner control, against the real appliance: owners added by the admin (GRACE), pending requests
 * followed live with `watch`, approved with key files and with a signature made elsewhere over the printed message,
 * rejected; owner changes of a LOCKED wallet with the owners' quorum; wallet and appliance freezes.
 */
import { getAddressDecoder } from '@solana/kit';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SignRequestState, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { createSvm, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { policyJson } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';
import { conn, ctl, ctlJson, spawnCtl, tempDir } from './helpers.ts';

const RECIPIENT = getAddressDecoder().decode(randomBytes(32));

interface Ownership {
  walletId: string;
  state: string;
  threshold: number;
  frozen: boolean;
  owners: { keyType: string; key: string; label: string; provenTime: string | null }[];
}
interface Pending {
  signRequest: { signRequestId: string; walletId: string; state: string; verdict: string };
  summary: string[];
  approvals: { key: string; action: string }[];
  threshold: number;
}

/** Collects the JSON lines a running `watch --json` prints. */
function watchLines(p: ChildProcess): { lines: Pending[]; until(pred: (l: Pending) => boolean, ms?: number): Promise<Pending> } {
  const lines: Pending[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  p.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Pending);
      buf = buf.slice(nl + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  return {
    lines,
    until: async (pred, ms = 15_000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = lines.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`watch printed no matching line; got ${JSON.stringify(lines)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

describe('waiaas-ctl owners, approvals, freezes', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let dir: string;
  let walletId: string;
  let walletAddress: string;
  const keys: Record<'alice' | 'bob' | 'carol', { file: string; address: string }> = {} as never;
  let nextLamports = 10_000n;

  /** The agent asks to sign a transfer that the policy sends to the owners (APPROVAL); returns the request id. */
  async function pendingTransfer(): Promise<string> {
    const tx = unsignedSolTransfer({ from: walletAddress, to: RECIPIENT, lamports: nextLamports++, blockhash: latestBlockhash(createSvm()) });
    const res = await agent.signer.signSolanaTransaction({ walletId, transaction: tx });
    expect(res.state).toBe(SignRequestState.PENDING);
    return res.signRequestId;
  }

  beforeAll(async () => {
    [server, dir] = await Promise.all([startServer(), tempDir()]);
    agent = server.client('agent');
    await Promise.all(
      (['alice', 'bob', 'carol'] as const).map(async (name) => {
        const file = join(dir, `${name}.key`);
        const j = await ctlJson<{ address: string }>(['keys', 'generate', '--type', name === 'bob' ? 'evm' : 'ed25519', '--out', file]);
        keys[name] = { file, address: j.address };
      }),
    );
    const w = await ctlJson<{ walletId: string; address: string }>(['wallets', 'create', '--chain', 'solana', ...conn(server, 'admin')]);
    walletId = w.walletId;
    walletAddress = w.address;
    const policy = join(dir, 'policy.json');
    writeFileSync(policy, policyJson([
      { name: 'owners-decide', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' },
      { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '10000000' },
    ]));
    const set = await ctl(['policy', 'set', walletId, '--file', policy, ...conn(server)]);
    expect(set.code, set.stderr).toBe(0);
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('owners show, and owners add: only the admin sets the first owners (GRACE)', async () => {
    const none = await ctlJson<Ownership>(['owners', 'show', walletId, ...conn(server)]);
    expect(none).toMatchObject({ walletId, state: 'NONE', threshold: 0, frozen: false, owners: [] });

    const byOwner = await ctl(['owners', 'add', walletId, '--owner', keys.alice.address, ...conn(server)]);
    expect(byOwner.code).toBe(5);
    expect(byOwner.stderr).toContain('WAIAAS_PERMISSION_DENIED');

    const a = await ctl(['owners', 'add', walletId, '--owner', keys.alice.address, '--label', 'alice', ...conn(server, 'admin')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^state +GRACE/m);
    expect(a.stdout).toMatch(/^threshold +1 of 1$/m);
    await ctlJson(['owners', 'add', walletId, '--owner', keys.bob.address, '--key-type', 'evm', '--label', 'bob', '--threshold', '2', ...conn(server, 'admin')]);
    const three = await ctlJson<Ownership>(['owners', 'add', walletId, '--owner', keys.carol.address, '--label', 'carol', ...conn(server, 'admin')]);
    expect(three.state).toBe('GRACE');
    expect(three.threshold).toBe(2);
    expect(three.owners.map((o) => [o.keyType, o.label])).toEqual(
      expect.arrayContaining([['ed25519', 'alice'], ['evm', 'bob'], ['ed25519', 'carol']]),
    );
    const again = await ctl(['owners', 'add', walletId, '--owner', keys.alice.address, ...conn(server, 'admin')]);
    expect(again.code).toBe(6);
    expect(again.stderr).toContain('is already an owner');
  });

  test('watch follows a request; approve with a key file, then with a signature made elsewhere: the request is signed', async () => {
    const watcher = spawnCtl(['watch', '--wallet', walletId, '--json', ...conn(server)]);
    const watched = watchLines(watcher);
    try {
      // Let the stream open before the request appears (it would also be listed on opening).
      await new Promise((r) => setTimeout(r, 1500));
      const id = await pendingTransfer();
      await watched.until((l) => l.signRequest.signRequestId === id && l.signRequest.state === 'PENDING');

      const list = await ctlJson<{ requests: Pending[] }>(['approvals', 'list', '--wallet', walletId, ...conn(server)]);
      expect(list.requests.map((r) => r.signRequest.signRequestId)).toEqual([id]);
      const table = await ctl(['approvals', 'list', ...conn(server)]);
      expect(table.stdout).toMatch(new RegExp(`^${id} +${walletId} +APPROVAL +0/2 `, 'm'));
      const show = await ctl(['approvals', 'show', id, ...conn(server)]);
      expect(show.code, show.stderr).toBe(0);
      expect(show.stdout).toMatch(/^approvals +0 of 2$/m);
      expect(show.stdout).toContain(`send 10000 native to ${RECIPIENT} [System.Transfer]`);
      expect(show.stdout).toMatch(/^owners-decide +transfer +APPROVAL/m);

      // Alice approves with her key file; the message is shown before it is signed.
      const a = await ctl(['approvals', 'approve', id, '--key-file', keys.alice.file, ...conn(server)]);
      expect(a.code, a.stderr).toBe(0);
      expect(a.stdout).toContain('Message to sign (approval');
      expect(a.stdout).toContain(`  │ Request: ${id}`);
      expect(a.stdout).toContain(`approved by ${keys.alice.address}: request is PENDING (1 of 2 approvals)`);

      // Bob signs elsewhere: the message is printed exactly, signed with EIP-191 outside the CLI, and pasted back.
      const printed = await ctl(['approvals', 'approve', id, '--print-message', ...conn(server)]);
      expect(printed.code, printed.stderr).toBe(0);
      expect(printed.stdout.startsWith('waiaas.dev: owner approval\n')).toBe(true);
      expect(printed.stdout.endsWith('\n')).toBe(false);
      const msgFile = join(dir, 'approve.txt');
      writeFileSync(msgFile, printed.stdout);
      const bobSecret = (JSON.parse(readFileSync(keys.bob.file, 'utf8')) as { secret: string }).secret;
      const signature = await privateKeyToAccount(`0x${bobSecret}`).signMessage({ message: printed.stdout });
      const b = await ctlJson<{ action: string; signedBy: string[]; request: Pending }>(['approvals', 'approve', id, '--signature', `${keys.bob.address}=${signature}`, '--message-file', msgFile, ...conn(server)]);
      expect(b.action).toBe('APPROVE');
      expect(b.signedBy).toEqual([keys.bob.address]);
      expect(b.request.signRequest.state).toBe('SIGNED');
      expect(b.request.approvals.map((x) => x.action)).toEqual(['APPROVE', 'APPROVE']);
      await watched.until((l) => l.signRequest.signRequestId === id && l.signRequest.state === 'SIGNED');

      // Deciding a request that is no longer pending: exit 6.
      const late = await ctl(['approvals', 'approve', id, '--key-file', keys.carol.file, ...conn(server)]);
      expect(late.code).toBe(6);
      expect(late.stderr).toContain('WAIAAS_SIGN_REQUEST_NOT_PENDING');
    } finally {
      watcher.kill('SIGINT');
    }
    const code = await new Promise<number | null>((r) => (watcher.exitCode !== null ? r(watcher.exitCode) : watcher.once('exit', (c) => r(c))));
    expect(code).toBe(0);
  });

  test('approvals reject ends a request unsigned; the owners are now LOCKED', async () => {
    const id = await pendingTransfer();
    const r = await ctlJson<{ action: string; request: Pending }>(['approvals', 'reject', id, '--key-file', keys.carol.file, ...conn(server)]);
    expect(r.action).toBe('REJECT');
    expect(r.request.signRequest.state).toBe('REFUSED');
    const o = await ctlJson<Ownership>(['owners', 'show', walletId, ...conn(server)]);
    expect(o.state).toBe('LOCKED');
    expect(o.owners.filter((x) => x.provenTime !== null)).toHaveLength(3);
  });

  test('a LOCKED wallet\'s owners change only with their quorum', async () => {
    const alone = await ctl(['owners', 'remove', walletId, '--owner', keys.carol.address, ...conn(server, 'admin')]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('is LOCKED: changing its owners needs 2 owner signature(s)');

    const one = await ctl(['owners', 'remove', walletId, '--owner', keys.carol.address, '--key-file', keys.alice.file, ...conn(server, 'admin')]);
    expect(one.code).toBe(5);
    expect(one.stderr).toContain('WAIAAS_OWNER_QUORUM_REQUIRED');

    const two = await ctlJson<Ownership>(['owners', 'remove', walletId, '--owner', keys.carol.address, '--key-file', keys.alice.file, '--key-file', keys.bob.file, ...conn(server, 'admin')]);
    expect(two.owners.map((o) => o.label).sort()).toEqual(['alice', 'bob']);
    expect(two.threshold).toBe(2);

    const t = await ctlJson<Ownership>(['owners', 'threshold', walletId, '1', '--key-file', keys.alice.file, '--key-file', keys.bob.file, ...conn(server)]);
    expect(t.threshold).toBe(1);
  });

  test('freeze cancels pending requests; unfreeze needs the owners; the appliance is unfrozen by the admin after a delay', async () => {
    const id = await pendingTransfer();
    const f = await ctlJson<{ walletId: string; frozen: boolean; cancelledRequests: number }>(['freeze', walletId, '--reason', 'ctl test', ...conn(server)]);
    expect(f).toEqual({ walletId, frozen: true, cancelledRequests: 1 });
    expect((await agent.requests.getSignRequest({ signRequestId: id })).signRequest?.state).toBe(SignRequestState.CANCELLED);
    expect((await ctlJson<Ownership>(['owners', 'show', walletId, ...conn(server)])).frozen).toBe(true);

    const byAgent = await ctl(['freeze', walletId, ...conn(server, 'agent')]);
    expect(byAgent.code).toBe(5);

    const noKeys = await ctl(['unfreeze', walletId, ...conn(server, 'admin')]);
    expect(noKeys.code).toBe(2);
    expect(noKeys.stderr).toContain('is LOCKED: unfreezing it needs 1 owner signature(s)');
    const u = await ctl(['unfreeze', walletId, '--key-file', keys.bob.file, ...conn(server)]);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toContain('Message to sign (unfreeze');
    expect(u.stdout).toContain(`wallet ${walletId} is unfrozen`);
    expect((await ctlJson<Ownership>(['owners', 'show', walletId, ...conn(server)])).frozen).toBe(false);

    const notFrozen = await ctl(['unfreeze', ...conn(server, 'admin')]);
    expect(notFrozen.stdout).toContain('the appliance is not frozen');
    const af = await ctl(['freeze', '--reason', 'drill', ...conn(server, 'admin')]);
    expect(af.code, af.stderr).toBe(0);
    expect(af.stdout).toContain('the appliance is frozen');
    const byOwner = await ctl(['unfreeze', ...conn(server)]);
    expect(byOwner.code).toBe(5);
    const au = await ctlJson<{ walletId: null; effectiveTime: string; frozen: boolean }>(['unfreeze', ...conn(server, 'admin')]);
    expect(au.walletId).toBeNull();
    expect(au.frozen).toBe(true);
    expect(new Date(au.effectiveTime).getTime()).toBeGreaterThan(Date.now() + 60_000);
  });
});
