/**
 * The policy engine end to end, through the real server: spend windows that hold under concurrency, pending
 * requests (APPROVAL / DELAY) that can be read, watched and cancelled, dry runs that never reserve, and message
 * signing judged by message rules.
 */
import { status } from '@grpc/grpc-js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { getAddressDecoder, getAddressEncoder } from '@solana/kit';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { recoverMessageAddress, recoverTypedDataAddress, type Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Chain, OwnerKeyType, SignRequestState, Verdict, WaiaasClientError, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { unsignedEip1559 } from '../support/evm.ts';
import { createSvm, executeSolana, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { policyJson, type RuleJson } from '../support/policies.ts';
import { rejection } from '../support/rejection.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';


const FEE: RuleJson = { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '100000' };
const newSolanaAddress = (): string => getAddressDecoder().decode(randomBytes(32));

describe('policy engine end to end', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let owner: WaiaasClient;
  let blockhash: string;

  async function solanaWallet(rules: RuleJson[]): Promise<{ walletId: string; address: string }> {
    const w = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson(rules) } });
    // An owner, so that APPROVAL verdicts stay APPROVAL (without one they become DELAY).
    await server.client('admin').owners.setOwners({ walletId: w.walletId, change: { owners: [{ keyType: OwnerKeyType.ED25519, key: newSolanaAddress(), label: 'test owner' }], threshold: 1 } });
    return { walletId: w.walletId, address: w.address };
  }

  beforeAll(async () => {
    server = await startServer();
    agent = server.client('agent');
    owner = server.client('owner');
    blockhash = latestBlockhash(createSvm());
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('many concurrent requests under the per-transaction cap that together break the daily cap: exactly the allowed number are signed', async () => {
    const to = newSolanaAddress();
    const w = await solanaWallet([
      { name: 'small', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '100' },
      { name: 'daily', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '24h', max: '1000' },
      FEE,
    ]);
    const calls = Array.from({ length: 25 }, (_, i) =>
      agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 100n, blockhash, extraInstructions: [] }), requestId: `burst-${i}` }),
    );
    const results = await Promise.allSettled(calls);
    const signed = results.filter((r) => r.status === 'fulfilled');
    const denied = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as WaiaasClientError);
    expect(signed).toHaveLength(10);
    expect(denied).toHaveLength(15);
    for (const e of denied) {
      expect(e.reason).toBe('WAIAAS_POLICY_DENIED');
      expect(e.metadata.rule).toBe('daily');
    }
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const n = db.prepare(`SELECT COUNT(*) AS n FROM sign_requests WHERE wallet_id = ? AND state = 'SIGNED'`).get(w.walletId) as { n: number };
      expect(n.n).toBe(10);
    } finally {
      db.close();
    }
  });

  test('an APPROVAL verdict answers PENDING with the decoded effects; its reservation holds until it is cancelled, and a watcher sees the cancel', async () => {
    const to = newSolanaAddress();
    const w = await solanaWallet([
      { name: 'small', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '100' },
      { name: 'large', kind: 'transfer', verdict: 'APPROVAL', asset: 'native', min_amount: '101', max_amount: '1000' },
      { name: 'daily', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '24h', max: '1000' },
      FEE,
    ]);
    const big = await agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 950n, blockhash }) });
    expect(big.state).toBe(SignRequestState.PENDING);
    expect(big.verdict).toBe(Verdict.APPROVAL);
    expect(big.signedTransaction).toHaveLength(0);
    expect(big.signRequest?.rule).toBe('large');
    expect(big.signRequest?.effects?.outflows).toEqual([expect.objectContaining({ asset: 'native', amount: '950', recipient: to })]);
    expect(big.signRequest?.expireTime).toBeDefined();

    // 950 is reserved: another 100 would break the daily cap.
    const blocked = await rejection(agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 100n, blockhash }) }));
    expect(blocked.metadata.rule).toBe('daily');

    const got = await agent.requests.getSignRequest({ signRequestId: big.signRequestId });
    expect(got.signRequest?.state).toBe(SignRequestState.PENDING);
    const seen: SignRequestState[] = [];
    const watching = (async () => {
      for await (const m of agent.requests.watchSignRequest({ signRequestId: big.signRequestId }, { deadline: 20_000 })) seen.push(m.signRequest!.state);
    })();
    await new Promise((r) => setTimeout(r, 200));
    const cancelled = await agent.requests.cancelSignRequest({ signRequestId: big.signRequestId });
    expect(cancelled.signRequest?.state).toBe(SignRequestState.CANCELLED);
    await watching;
    expect(seen).toEqual([SignRequestState.PENDING, SignRequestState.CANCELLED]);

    // Cancelling released the reservation; the 100 now fits. Cancelling twice is refused.
    const ok = await agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 100n, blockhash }) });
    expect(ok.state).toBe(SignRequestState.SIGNED);
    const again = await rejection(agent.requests.cancelSignRequest({ signRequestId: big.signRequestId }));
    expect(again.code).toBe(status.FAILED_PRECONDITION);
    expect(again.reason).toBe('WAIAAS_SIGN_REQUEST_NOT_PENDING');
  });

  test('a retry of a pending request with the same request_id returns the same pending request', async () => {
    const w = await solanaWallet([{ name: 'slow', kind: 'transfer', verdict: 'DELAY', delay_seconds: 600, asset: 'native' }, FEE]);
    const tx = unsignedSolTransfer({ from: w.address, to: newSolanaAddress(), lamports: 5n, blockhash });
    const a = await agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: tx, requestId: 'pending-1' });
    const b = await agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: tx, requestId: 'pending-1' });
    expect(a.state).toBe(SignRequestState.PENDING);
    expect(a.verdict).toBe(Verdict.DELAY);
    expect(a.signRequest?.delaySeconds).toBe(600);
    expect(a.signRequest?.notBeforeTime).toBeDefined();
    expect(b.signRequestId).toBe(a.signRequestId);
    const list = await owner.requests.listSignRequests({ walletId: w.walletId, state: SignRequestState.PENDING });
    expect(list.signRequests.map((r) => r.signRequestId)).toEqual([a.signRequestId]);
  });

  test('a dry run returns verdict, effects and matched rules, and reserves nothing', async () => {
    const to = newSolanaAddress();
    const w = await solanaWallet([
      { name: 'small', kind: 'transfer', verdict: 'NOTIFY', asset: 'native', max_amount: '600' },
      { name: 'daily', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '24h', max: '1000' },
      FEE,
    ]);
    const tx = unsignedSolTransfer({ from: w.address, to, lamports: 600n, blockhash });
    for (let i = 0; i < 3; i++) {
      const dry = await agent.policies.evaluatePolicy({ walletId: w.walletId, payload: { payload: { case: 'solanaTransaction', value: tx } } });
      expect(dry.verdict).toBe(Verdict.NOTIFY);
      expect(dry.effects?.outflows[0]).toMatchObject({ amount: '600', recipient: to, source: 'System.Transfer' });
      expect(dry.matchedRules.map((m) => m.name).sort()).toEqual(['fees', 'small']);
    }
    // Three dry runs of 600 reserved nothing: a real one still fits the 1000 cap, and a second does not.
    const svm = createSvm();
    const real = await agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 600n, blockhash: latestBlockhash(svm) }) });
    expect(real.verdict).toBe(Verdict.NOTIFY);
    expect(executeSolana({ svm, signedTx: real.signedTransaction, fund: { [w.address]: 10_000_000n } }).ok).toBe(true);
    const dry2 = await agent.policies.evaluatePolicy({ walletId: w.walletId, payload: { payload: { case: 'solanaTransaction', value: tx } } });
    expect(dry2).toMatchObject({ verdict: Verdict.DENY, rule: 'daily' });
    // A candidate document is evaluated without being stored.
    const candidate = policyJson([{ name: 'bigger', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, FEE]);
    const dry3 = await owner.policies.evaluatePolicy({ walletId: w.walletId, payload: { payload: { case: 'solanaTransaction', value: tx } }, candidateDocument: candidate });
    expect(dry3).toMatchObject({ verdict: Verdict.APPROVAL, rule: 'bigger' });
    expect((await owner.policies.getPolicy({ walletId: w.walletId })).policy?.version).toBe(1n);
  });

  test('EIP-191 sign-in is signed when a message rule allows it, and the signature recovers the wallet address', async () => {
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await owner.policies.setPolicy({
      walletId: w.walletId,
      policy: { document: policyJson([{ name: 'siwe', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip191'], text_prefix: 'app.example.com wants you to sign in' }]) },
    });
    const text = `app.example.com wants you to sign in with your Ethereum account:\n${w.address}\n\nNonce: 42`;
    const res = await agent.signer.signEvmMessage({ walletId: w.walletId, message: new TextEncoder().encode(text) });
    expect(res.state).toBe(SignRequestState.SIGNED);
    expect(res.signature).toHaveLength(65);
    expect(await recoverMessageAddress({ message: text, signature: `0x${Buffer.from(res.signature).toString('hex')}` as Hex })).toBe(w.address);
    const other = await rejection(agent.signer.signEvmMessage({ walletId: w.walletId, message: new TextEncoder().encode('evil.example wants you to sign in') }));
    expect(other.reason).toBe('WAIAAS_POLICY_DENIED');
    const hash = await rejection(agent.signer.signEvmMessage({ walletId: w.walletId, message: randomBytes(32) }));
    expect(hash.code).toBe(status.INVALID_ARGUMENT);
    expect(hash.reason).toBe('WAIAAS_RAW_HASH_REFUSED');
  });

  test('an EIP-2612 permit is judged as the grant it is: refused to an unknown spender, signed (recoverably) to an allowed one', async () => {
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    const token = '0x1111111111111111111111111111111111111111';
    const router = '0x3333333333333333333333333333333333333333';
    await owner.policies.setPolicy({
      walletId: w.walletId,
      policy: {
        document: policyJson([
          { name: 'permits', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip712'], primary_types: ['Permit'] },
          { name: 'router', kind: 'approve', verdict: 'INSTANT', asset: `erc20:${token}`, spenders: [router], max_amount: '1000000' },
        ]),
      },
    });
    const permit = (spender: string, value: string) => ({
      types: {
        EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }],
        Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }],
      },
      primaryType: 'Permit',
      domain: { name: 'USD Coin', version: '2', chainId: 1, verifyingContract: token },
      message: { owner: w.address, spender, value, nonce: '0', deadline: '1900000000' },
    });
    const unknown = await rejection(agent.signer.signEvmTypedData({ walletId: w.walletId, typedData: JSON.stringify(permit('0x4444444444444444444444444444444444444444', '10')) }));
    expect(unknown.reason).toBe('WAIAAS_POLICY_DENIED');
    expect(unknown.message).toContain('0x4444444444444444444444444444444444444444');
    const data = permit(router, '500');
    const res = await agent.signer.signEvmTypedData({ walletId: w.walletId, typedData: JSON.stringify(data) });
    expect(res.state).toBe(SignRequestState.SIGNED);
    expect(res.signRequest?.effects?.grants).toEqual([expect.objectContaining({ kind: 'permit', spender: router, amount: '500', unlimited: false })]);
    const signer = await recoverTypedDataAddress({ ...data, signature: `0x${Buffer.from(res.signature).toString('hex')}` as Hex } as unknown as Parameters<typeof recoverTypedDataAddress>[0]);
    expect(signer).toBe(w.address);
    const unlimited = await agent.signer.signEvmTypedData({ walletId: w.walletId, typedData: JSON.stringify(permit(router, ((1n << 256n) - 1n).toString())) }).catch((e: unknown) => e);
    expect(unlimited).toBeInstanceOf(WaiaasClientError); // an unlimited permit is not within max_amount: no rule covers it
  });

  test('a Solana sign-in text is signed when allowed and verifies against the wallet key; transaction bytes passed as a message are refused', async () => {
    const w = await solanaWallet([{ name: 'siws', kind: 'message', verdict: 'INSTANT', message_kinds: ['solana_offchain'], text_pattern: 'app\\.example\\.com wants you to sign in[\\s\\S]*' }]);
    const text = `app.example.com wants you to sign in with your Solana account:\n${w.address}`;
    const res = await agent.signer.signSolanaMessage({ walletId: w.walletId, message: new TextEncoder().encode(text) });
    expect(res.state).toBe(SignRequestState.SIGNED);
    expect(ed25519.verify(res.signature, res.signedMessage, new Uint8Array(getAddressEncoder().encode(w.address as never)))).toBe(true);
    const tx = unsignedSolTransfer({ from: w.address, to: newSolanaAddress(), lamports: 1n, blockhash });
    const e = await rejection(agent.signer.signSolanaMessage({ walletId: w.walletId, message: tx }));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(['WAIAAS_RAW_HASH_REFUSED', 'WAIAAS_MESSAGE_MALFORMED']).toContain(e.reason);
  });

  test('an EVM chain restriction denies other chains', async () => {
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await owner.policies.setPolicy({
      walletId: w.walletId,
      policy: { document: policyJson([{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '10000000000000000' }, { name: 'base', kind: 'chains', verdict: 'DENY', chain_ids: [8453] }]) },
    });
    const tx = (chainId: bigint) => unsignedEip1559({ chainId, to: '0x1111111111111111111111111111111111111111', value: 1n, nonce: 0 });
    expect((await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: tx(8453n), chainId: 8453n })).state).toBe(SignRequestState.SIGNED);
    const e = await rejection(agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: tx(1n), chainId: 1n }));
    expect(e.metadata.rule).toBe('base');
  });
});
