/**
 * Owner control end to end, through the real server: owners decide pending requests with their own keys (2 of 3),
 * approvals cannot be replayed, expire, or come from a stranger or the requesting agent; a vetoed DELAY is never
 * signed and an unvetoed one is; a freeze stops a burst of concurrent requests with none signed after it.
 */
import { status } from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { getAddressDecoder } from '@solana/kit';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApprovalAction, Chain, OwnerState, SignRequestState, Verdict, WaiaasClientError, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { executeEvm, unsignedEip1559 } from '../support/evm.ts';
import { createSvm, executeSolana, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { ed25519Owner, evmOwner, type TestOwner } from '../support/owners.ts';
import { policyJson, type RuleJson } from '../support/policies.ts';
import { rejection } from '../support/rejection.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';


const FEE: RuleJson = { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '10000000000000000' };
const EVM_TO = '0x1111111111111111111111111111111111111111';

describe('owner control end to end', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let owner: WaiaasClient;
  let admin: WaiaasClient;
  const owners: TestOwner[] = [ed25519Owner(), evmOwner(), ed25519Owner()];
  const stranger = evmOwner();

  async function approve(id: string, o: TestOwner, client = owner, action = ApprovalAction.APPROVE) {
    const { message } = await client.approvals.getApprovalMessage({ signRequestId: id, action });
    const signature = await o.sign(message);
    const req = { signRequestId: id, message, signature: { key: o.key, signature } };
    return action === ApprovalAction.APPROVE ? client.approvals.approve(req) : client.approvals.reject(req);
  }

  async function evmWalletWithOwners(rules: RuleJson[]): Promise<{ walletId: string; address: string }> {
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson(rules) } });
    const set = await admin.owners.setOwners({
      walletId: w.walletId,
      change: { owners: owners.map((o, i) => ({ keyType: o.keyType, key: o.key, label: `owner-${i}` })), threshold: 2 },
    });
    expect(set.ownership?.state).toBe(OwnerState.GRACE);
    return { walletId: w.walletId, address: w.address };
  }

  beforeAll(async () => {
    server = await startServer();
    agent = server.client('agent');
    owner = server.client('owner');
    admin = server.client('admin');
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('an APPROVAL request approved by 2 of 3 owners is signed and executes; the first approval locks the ownership', async () => {
    const w = await evmWalletWithOwners([{ name: 'needs-two', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, FEE]);
    const res = await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: EVM_TO, value: 12345n, nonce: 0 }), chainId: 1n });
    expect(res.state).toBe(SignRequestState.PENDING);
    const pending = await owner.approvals.getPendingRequest({ signRequestId: res.signRequestId });
    expect(pending.request?.summary.join('\n')).toContain(`send 12345 native to ${EVM_TO}`);
    expect(pending.request?.threshold).toBe(2);

    const waiting = (async () => {
      const states: SignRequestState[] = [];
      for await (const m of agent.requests.watchSignRequest({ signRequestId: res.signRequestId }, { deadline: 20_000 })) states.push(m.signRequest!.state);
      return states;
    })();
    const first = await approve(res.signRequestId, owners[0]!);
    expect(first.request?.signRequest?.state).toBe(SignRequestState.PENDING);
    expect((await owner.owners.getOwnership({ walletId: w.walletId })).ownership?.state).toBe(OwnerState.LOCKED);
    const second = await approve(res.signRequestId, owners[1]!);
    expect(second.request?.signRequest?.state).toBe(SignRequestState.SIGNED);
    expect(await waiting).toEqual([SignRequestState.PENDING, SignRequestState.SIGNED]);

    const done = await agent.requests.getSignRequest({ signRequestId: res.signRequestId });
    const signed = done.signRequest!.result!.signedTransaction;
    const run = await executeEvm({ signedTx: signed, chainId: 1n, fund: { [w.address]: 10n ** 18n } });
    expect(run.error).toBeUndefined();
    expect(await run.balance(EVM_TO)).toBe(12345n);
  });

  test('once an owner has proven its key, the admin alone cannot change the owners: it takes the owners\' quorum', async () => {
    const w = await evmWalletWithOwners([{ name: 'needs-two', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, FEE]);
    const res = await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: EVM_TO, value: 1n, nonce: 0 }), chainId: 1n });
    await approve(res.signRequestId, owners[0]!);
    const change = { owners: [{ keyType: stranger.keyType, key: stranger.key, label: 'attacker' }], threshold: 1 };
    const alone = await rejection(admin.owners.setOwners({ walletId: w.walletId, change }));
    expect(alone.code).toBe(status.PERMISSION_DENIED);
    expect(alone.reason).toBe('WAIAAS_OWNER_QUORUM_REQUIRED');
    const { message } = await admin.owners.getOwnerChangeMessage({ walletId: w.walletId, change });
    expect(message).toContain(`New Owners:\n- evm ${stranger.key.toLowerCase()} "attacker"`);
    const one = await rejection(admin.owners.setOwners({ walletId: w.walletId, change, message, signatures: [{ key: owners[0]!.key, signature: await owners[0]!.sign(message) }] }));
    expect(one.reason).toBe('WAIAAS_OWNER_QUORUM_REQUIRED');
    const two = await admin.owners.setOwners({
      walletId: w.walletId, change, message,
      signatures: [{ key: owners[0]!.key, signature: await owners[0]!.sign(message) }, { key: owners[2]!.key, signature: await owners[2]!.sign(message) }],
    });
    expect(two.ownership?.owners.map((o) => o.key)).toEqual([stranger.key.toLowerCase()]);
    // The old owners' message cannot be replayed to change them back: the ownership version moved on.
    const replay = await rejection(admin.owners.setOwners({ walletId: w.walletId, change, message, signatures: [{ key: stranger.key, signature: await stranger.sign(message) }] }));
    expect(replay.reason).toBe('WAIAAS_OWNER_SIGNATURE_INVALID');
  });

  test('replayed, expired, foreign, other-request and agent-made approvals are refused with their reason', async () => {
    const w = await evmWalletWithOwners([{ name: 'needs-two', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, FEE]);
    const mk = async (nonce: number) =>
      (await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: EVM_TO, value: 1n, nonce }), chainId: 1n })).signRequestId;
    const a = await mk(0);
    const b = await mk(1);

    // Replay: the same owner's signature (and the same owner again) cannot count twice.
    const { message } = await owner.approvals.getApprovalMessage({ signRequestId: a, action: ApprovalAction.APPROVE });
    const sig = await owners[0]!.sign(message);
    await owner.approvals.approve({ signRequestId: a, message, signature: { key: owners[0]!.key, signature: sig } });
    const replay = await rejection(owner.approvals.approve({ signRequestId: a, message, signature: { key: owners[0]!.key, signature: sig } }));
    expect(replay.reason).toBe('WAIAAS_APPROVAL_INVALID');
    expect(replay.metadata.problem).toBe('replayed');

    // A signature for another request.
    const other = await rejection(owner.approvals.approve({ signRequestId: b, message, signature: { key: owners[0]!.key, signature: sig } }));
    expect(other.metadata.problem).toBe('wrong_request');

    // A stranger's key, and a forged signature with an owner's key.
    const { message: mb } = await owner.approvals.getApprovalMessage({ signRequestId: b, action: ApprovalAction.APPROVE });
    const foreign = await rejection(owner.approvals.approve({ signRequestId: b, message: mb, signature: { key: stranger.key, signature: await stranger.sign(mb) } }));
    expect(foreign.metadata.problem).toBe('not_owner');
    const forged = await rejection(owner.approvals.approve({ signRequestId: b, message: mb, signature: { key: owners[1]!.key, signature: await stranger.sign(mb) } }));
    expect(forged.metadata.problem).toBe('bad_signature');

    // Expired: a message whose expiry has passed (edited times no longer match what the server issues either way).
    const expiredText = mb.replace(/Expiration Time: .*/, `Expiration Time: ${new Date(Date.now() - 1000).toISOString()}`);
    const expired = await rejection(owner.approvals.approve({ signRequestId: b, message: expiredText, signature: { key: owners[1]!.key, signature: await owners[1]!.sign(expiredText) } }));
    expect(expired.reason).toBe('WAIAAS_APPROVAL_INVALID');
    expect(['expired', 'message_mismatch']).toContain(expired.metadata.problem);
    // An edited summary is not what the server issues.
    const edited = mb.replace('send 1 native', 'send 0 native');
    const e2 = await rejection(owner.approvals.approve({ signRequestId: b, message: edited, signature: { key: owners[1]!.key, signature: await owners[1]!.sign(edited) } }));
    expect(e2.metadata.problem).toBe('message_mismatch');

    // The agent can never approve (only agents make requests, and agents cannot call ApprovalService).
    const byAgent = await rejection(agent.approvals.getApprovalMessage({ signRequestId: b, action: ApprovalAction.APPROVE }));
    expect(byAgent.code).toBe(status.PERMISSION_DENIED);
    // None of these was signed.
    for (const id of [a, b]) expect((await owner.requests.getSignRequest({ signRequestId: id })).signRequest?.state).toBe(SignRequestState.PENDING);
  });

  test('a vetoed DELAY request is never signed; an unvetoed one is signed when its delay ends', async () => {
    const w = await evmWalletWithOwners([{ name: 'wait', kind: 'transfer', verdict: 'DELAY', delay_seconds: 2, asset: 'native' }, FEE]);
    const mk = async (nonce: number) =>
      agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: EVM_TO, value: 7n, nonce }), chainId: 1n });
    const vetoed = await mk(0);
    const kept = await mk(1);
    expect(vetoed.verdict).toBe(Verdict.DELAY);
    const veto = await approve(vetoed.signRequestId, owners[2]!, owner, ApprovalAction.REJECT);
    expect(veto.request?.signRequest?.state).toBe(SignRequestState.REFUSED);

    const states: SignRequestState[] = [];
    for await (const m of agent.requests.watchSignRequest({ signRequestId: kept.signRequestId }, { deadline: 20_000 })) states.push(m.signRequest!.state);
    expect(states.at(-1)).toBe(SignRequestState.SIGNED);
    const after = await agent.requests.getSignRequest({ signRequestId: vetoed.signRequestId });
    expect(after.signRequest?.state).toBe(SignRequestState.REFUSED);
    expect(after.signRequest?.result).toBeUndefined();
    const run = await executeEvm({ signedTx: (await agent.requests.getSignRequest({ signRequestId: kept.signRequestId })).signRequest!.result!.signedTransaction, chainId: 1n, fund: { [w.address]: 10n ** 18n } });
    expect(run.ok).toBe(true);
  });

  test('a wallet without owners turns APPROVAL into DELAY', async () => {
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson([{ name: 'needs-owner', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, FEE]) } });
    const res = await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: EVM_TO, value: 1n, nonce: 0 }), chainId: 1n });
    expect(res.verdict).toBe(Verdict.DELAY);
    expect(res.signRequest?.detail).toContain('no owner');
  });

  test('a freeze stops a burst of concurrent requests: none is signed after it, pending ones are cancelled, and unfreezing needs the owners', async () => {
    const svm = createSvm();
    const w = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson([{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '100' }, { name: 'big', kind: 'transfer', verdict: 'APPROVAL', asset: 'native', min_amount: '101' }, { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '100000' }]) } });
    await admin.owners.setOwners({ walletId: w.walletId, change: { owners: [{ keyType: owners[0]!.keyType, key: owners[0]!.key, label: '' }], threshold: 1 } });
    const to = getAddressDecoder().decode(randomBytes(32));
    const blockhash = latestBlockhash(svm);
    const pending = await agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 500n, blockhash }) });
    expect(pending.state).toBe(SignRequestState.PENDING);

    const burst = Array.from({ length: 60 }, (_, i) =>
      agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: BigInt(i + 1), blockhash }) }),
    );
    await Promise.race(burst);
    const froze = await owner.owners.freeze({ walletId: w.walletId, reason: 'agent misbehaving' });
    expect(froze.cancelledRequests).toBe(1);
    const results = await Promise.allSettled(burst);
    const signedCount = results.filter((r) => r.status === 'fulfilled').length;
    for (const r of results) {
      if (r.status === 'rejected') {
        expect((r.reason as WaiaasClientError).reason).toBe('WAIAAS_FROZEN');
        expect((r.reason as WaiaasClientError).code).toBe(status.FAILED_PRECONDITION);
      }
    }
    expect(signedCount).toBeGreaterThan(0);
    expect(signedCount).toBeLessThan(60);
    // No signature was recorded after the freeze committed (server clock on both sides).
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const { frozen_time: frozeAt } = db.prepare('SELECT frozen_time FROM wallet_control WHERE wallet_id = ?').get(w.walletId) as { frozen_time: string };
      const late = db.prepare(`SELECT COUNT(*) AS n FROM sign_requests WHERE wallet_id = ? AND state = 'SIGNED' AND update_time > ?`).get(w.walletId, frozeAt) as { n: number };
      expect(late.n).toBe(0);
      const afterFreeze = db.prepare(`SELECT COUNT(*) AS n FROM sign_requests WHERE wallet_id = ? AND state != 'SIGNED' AND update_time >= ?`).get(w.walletId, frozeAt) as { n: number };
      expect(afterFreeze.n).toBeGreaterThan(0);
    } finally {
      db.close();
    }
    expect((await agent.requests.getSignRequest({ signRequestId: pending.signRequestId })).signRequest?.state).toBe(SignRequestState.CANCELLED);
    const refused = await rejection(agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 1n, blockhash }) }));
    expect(refused.reason).toBe('WAIAAS_FROZEN');

    // The owner proved its key? Not yet (GRACE): but a wallet with an owner still needs its signature to unfreeze.
    const noSig = await rejection(owner.owners.unfreeze({ walletId: w.walletId }));
    expect(noSig.code).toBe(status.PERMISSION_DENIED);
    const { message } = await owner.owners.getOwnerChangeMessage({ walletId: w.walletId, unfreeze: true });
    await owner.owners.unfreeze({ walletId: w.walletId, message, signatures: [{ key: owners[0]!.key, signature: await owners[0]!.sign(message) }] });
    const again = await agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 99n, blockhash }) });
    expect(again.state).toBe(SignRequestState.SIGNED);
    expect(executeSolana({ svm, signedTx: again.signedTransaction, fund: { [w.address]: 10_000_000n } }).ok).toBe(true);
    // The same unfreeze message cannot be used again (the ownership version moved on).
    await owner.owners.freeze({ walletId: w.walletId });
    const replay = await rejection(owner.owners.unfreeze({ walletId: w.walletId, message, signatures: [{ key: owners[0]!.key, signature: await owners[0]!.sign(message) }] }));
    expect(replay.reason).toBe('WAIAAS_OWNER_SIGNATURE_INVALID');
  });

  test('an appliance freeze stops every wallet and survives a restart; the admin unfreeze waits for its delay', async () => {
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson([{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, FEE]) } });
    await admin.owners.freeze({ walletId: '', reason: 'incident' });
    const e = await rejection(agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: EVM_TO, value: 1n, nonce: 0 }), chainId: 1n }));
    expect(e.reason).toBe('WAIAAS_FROZEN');
    const byOwner = await rejection(owner.owners.unfreeze({ walletId: '' }));
    expect(byOwner.code).toBe(status.PERMISSION_DENIED);

    await server.stop();
    server = await startServer({ dir: server.dir });
    agent = server.client('agent');
    owner = server.client('owner');
    admin = server.client('admin');
    expect((await admin.owners.getApplianceState({})).frozen).toBe(true);
    const still = await rejection(agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: EVM_TO, value: 1n, nonce: 0 }), chainId: 1n }));
    expect(still.reason).toBe('WAIAAS_FROZEN');
    const un = await admin.owners.unfreeze({ walletId: '' });
    const when = Number(un.effectiveTime!.seconds) * 1000;
    expect(when).toBeGreaterThan(Date.now() + 3000 * 1000);
    const during = await rejection(agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: EVM_TO, value: 1n, nonce: 0 }), chainId: 1n }));
    expect(during.reason).toBe('WAIAAS_FROZEN');
  });
});
