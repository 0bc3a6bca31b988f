/**
 * End to end through every layer: the real server process over mTLS, the TypeScript client, the policy, SoftHSM2
 * through PKCS#11, the SQLite file; signed transactions are executed by independent runtimes (litesvm for Solana,
 * @ethereumjs/vm for EVM).
 */
import { status } from '@grpc/grpc-js';
import { getAddressDecoder } from '@solana/kit';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { getAddress, keccak256, toHex } from 'viem';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Chain, KeyAlgorithm, Verdict, WaiaasClientError, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { executeEvm, unsignedEip1559 } from '../support/evm.ts';
import { createSvm, executeSolana, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { nativeTransferPolicy } from '../support/policies.ts';
import { rejection } from '../support/rejection.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

const randomSolanaAddress = (): string => getAddressDecoder().decode(randomBytes(32));
const SOL_RECIPIENT = randomSolanaAddress();
const SOL_STRANGER = randomSolanaAddress();
const EVM_RECIPIENT = '0x1111111111111111111111111111111111111111';
const EVM_STRANGER = '0x2222222222222222222222222222222222222222';


describe('walking skeleton', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let owner: WaiaasClient;
  let solWallet: { walletId: string; address: string };
  let evmWallet: { walletId: string; address: string };

  beforeAll(async () => {
    server = await startServer();
    agent = server.client('agent');
    owner = server.client('owner');
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('an agent creates a Solana wallet whose key lives on the HSM', async () => {
    const { wallet } = await agent.wallets.createWallet({ chain: Chain.SOLANA, labels: { purpose: 'e2e' } });
    expect(wallet?.walletId).toMatch(/^wlt_[0-9A-Z]{26}$/);
    expect(wallet?.chain).toBe(Chain.SOLANA);
    expect(wallet?.key?.algorithm).toBe(KeyAlgorithm.ED25519);
    expect(wallet?.key?.publicKey).toHaveLength(32);
    expect(wallet?.key?.tokenLabel).toBe('waiaas-dev');
    expect(wallet?.labels).toEqual({ purpose: 'e2e' });
    solWallet = { walletId: wallet!.walletId, address: wallet!.address };
    const got = await agent.wallets.getWallet({ walletId: wallet!.walletId });
    expect(got.wallet?.address).toBe(wallet?.address);
  });

  test('an agent creates an EVM wallet whose address derives from the HSM public key', async () => {
    const { wallet } = await agent.wallets.createWallet({ chain: Chain.EVM });
    expect(wallet?.key?.algorithm).toBe(KeyAlgorithm.SECP256K1);
    const pub = wallet!.key!.publicKey;
    expect(pub).toHaveLength(65);
    expect(wallet?.address).toBe(getAddress(`0x${keccak256(toHex(pub.slice(1))).slice(-40)}`));
    evmWallet = { walletId: wallet!.walletId, address: wallet!.address };
    const list = await agent.wallets.listWallets({ chain: Chain.EVM });
    expect(list.wallets.map((w) => w.walletId)).toEqual([evmWallet.walletId]);
  });

  test('a wallet without a policy signs nothing', async () => {
    const svm = createSvm();
    const tx = unsignedSolTransfer({ from: solWallet.address, to: SOL_RECIPIENT, lamports: 1_000n, blockhash: latestBlockhash(svm) });
    const err = await rejection(agent.signer.signSolanaTransaction({ walletId: solWallet.walletId, transaction: tx }));
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.reason).toBe('WAIAAS_POLICY_DENIED');
    expect(err.metadata.rule).toBe('default-deny');
  });

  test('an agent may not set its own policy; an owner may', async () => {
    const policy = { document: nativeTransferPolicy([SOL_RECIPIENT], 5_000_000n) };
    const err = await rejection(agent.policies.setPolicy({ walletId: solWallet.walletId, policy }));
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.reason).toBe('WAIAAS_PERMISSION_DENIED');
    const set = await owner.policies.setPolicy({ walletId: solWallet.walletId, policy });
    expect(set.policy?.version).toBe(1n);
    expect(set.policy?.policyHash).toMatch(/^[0-9a-f]{64}$/);
    const evm = await owner.policies.setPolicy({
      walletId: evmWallet.walletId,
      policy: { document: nativeTransferPolicy([EVM_RECIPIENT.toUpperCase().replace('0X', '0x')], '1000000000000000000') },
    });
    // Addresses are stored canonical: EVM lower-case.
    expect(JSON.parse(evm.policy!.document).rules[0].recipients).toEqual([EVM_RECIPIENT]);
    expect(evm.policy?.setBy).toBe('spiffe://waiaas/owner/dev-owner');
    const got = await agent.policies.getPolicy({ walletId: solWallet.walletId });
    expect(got.policy?.policyHash).toBe(set.policy?.policyHash);
  });

  test('a policy error names the field', async () => {
    const err = await rejection(owner.policies.setPolicy({ walletId: solWallet.walletId, policy: { document: nativeTransferPolicy([SOL_RECIPIENT, 'nope'], '1') } }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.reason).toBe('WAIAAS_POLICY_INVALID');
    expect(err.metadata.field).toBe('policy.document.rules[0].recipients[1]');
  });

  test('a signed SOL transfer executes in litesvm and moves the balance', async () => {
    const svm = createSvm();
    const tx = unsignedSolTransfer({ from: solWallet.address, to: SOL_RECIPIENT, lamports: 1_234_567n, blockhash: latestBlockhash(svm) });
    const res = await agent.signer.signSolanaTransaction({ walletId: solWallet.walletId, transaction: tx });
    expect(res.verdict).toBe(Verdict.INSTANT);
    expect(res.signerAddress).toBe(solWallet.address);
    expect(res.signRequestId).toMatch(/^req_/);
    expect(res.signature).toHaveLength(64);
    const run = executeSolana({ svm, signedTx: res.signedTransaction, fund: { [solWallet.address]: 1_000_000_000n } });
    expect(run.error).toBeUndefined();
    expect(run.ok).toBe(true);
    expect(run.balances(SOL_RECIPIENT)).toBe(1_234_567n);
  });

  test('a signed EIP-1559 transfer executes in @ethereumjs/vm and moves the balance', async () => {
    const unsigned = unsignedEip1559({ chainId: 1n, to: EVM_RECIPIENT, value: 10n ** 17n, nonce: 0 });
    const res = await agent.signer.signEvmTransaction({ walletId: evmWallet.walletId, unsignedTransaction: unsigned, chainId: 1n });
    expect(res.verdict).toBe(Verdict.INSTANT);
    expect(res.signerAddress).toBe(evmWallet.address);
    expect(res.transactionHash).toEqual(Buffer.from(keccak256(res.signedTransaction).slice(2), 'hex'));
    const run = await executeEvm({ signedTx: res.signedTransaction, chainId: 1n, fund: { [evmWallet.address]: 10n ** 18n } });
    expect(run.error).toBeUndefined();
    expect(run.ok).toBe(true);
    expect(run.sender.toLowerCase()).toBe(evmWallet.address.toLowerCase());
    expect(await run.balance(EVM_RECIPIENT)).toBe(10n ** 17n);
  });

  test('a transfer to a recipient not on the allowlist is refused with its reason, on both chains', async () => {
    const svm = createSvm();
    const sol = unsignedSolTransfer({ from: solWallet.address, to: SOL_STRANGER, lamports: 1n, blockhash: latestBlockhash(svm) });
    const e1 = await rejection(agent.signer.signSolanaTransaction({ walletId: solWallet.walletId, transaction: sol }));
    expect(e1.code).toBe(status.PERMISSION_DENIED);
    expect(e1.reason).toBe('WAIAAS_POLICY_DENIED');
    expect(e1.metadata.rule).toBe('default-deny');
    expect(e1.message).toContain(`no rule allows System.Transfer: 1 of native to ${SOL_STRANGER}`);
    expect(e1.metadata.verdict).toBe('DENY');
    const evm = unsignedEip1559({ chainId: 1n, to: EVM_STRANGER, value: 1n, nonce: 1 });
    const e2 = await rejection(agent.signer.signEvmTransaction({ walletId: evmWallet.walletId, unsignedTransaction: evm, chainId: 1n }));
    expect(e2.reason).toBe('WAIAAS_POLICY_DENIED');
    expect(e2.metadata.rule).toBe('default-deny');
    expect(e2.message).toContain(EVM_STRANGER);
  });

  test('an amount over the per-transaction limit is refused', async () => {
    const svm = createSvm();
    const sol = unsignedSolTransfer({ from: solWallet.address, to: SOL_RECIPIENT, lamports: 5_000_001n, blockhash: latestBlockhash(svm) });
    const e = await rejection(agent.signer.signSolanaTransaction({ walletId: solWallet.walletId, transaction: sol }));
    expect(e.reason).toBe('WAIAAS_POLICY_DENIED');
    expect(e.metadata.rule).toBe('default-deny');
    expect(e.message).toContain('5000001 of native');
  });

  test('an EVM call no rule allows is refused', async () => {
    const evm = unsignedEip1559({ chainId: 1n, to: EVM_RECIPIENT, value: 0n, nonce: 2, data: '0xdeadbeef00' });
    const e = await rejection(agent.signer.signEvmTransaction({ walletId: evmWallet.walletId, unsignedTransaction: evm, chainId: 1n }));
    expect(e.reason).toBe('WAIAAS_POLICY_DENIED');
    expect(e.metadata.rule).toBe('default-deny');
    expect(e.message).toContain('deadbeef');
  });

  test('a retry with the same request_id returns the first answer and the HSM signs once', async () => {
    const unsigned = unsignedEip1559({ chainId: 1n, to: EVM_RECIPIENT, value: 5n, nonce: 7 });
    const req = { walletId: evmWallet.walletId, unsignedTransaction: unsigned, chainId: 1n, requestId: 'retry-1' };
    // Concurrent and sequential retries alike. ECDSA signatures from the HSM are randomised, so equal bytes mean one signing.
    const [a, b] = await Promise.all([agent.signer.signEvmTransaction(req), agent.signer.signEvmTransaction(req)]);
    const c = await agent.signer.signEvmTransaction(req);
    expect(b.signedTransaction).toEqual(a.signedTransaction);
    expect(c.signedTransaction).toEqual(a.signedTransaction);
    expect(c.signRequestId).toBe(a.signRequestId);
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const rows = db.prepare(`SELECT state FROM sign_requests WHERE request_id = 'retry-1'`).all();
      expect(rows).toEqual([{ state: 'SIGNED' }]);
    } finally {
      db.close();
    }
    const other = unsignedEip1559({ chainId: 1n, to: EVM_RECIPIENT, value: 6n, nonce: 7 });
    const e = await rejection(agent.signer.signEvmTransaction({ ...req, unsignedTransaction: other }));
    expect(e.code).toBe(status.FAILED_PRECONDITION);
    expect(e.reason).toBe('WAIAAS_REQUEST_ID_REUSED');
  });

  test('a call without a client certificate is refused', async () => {
    const anon = server.anonymousClient();
    const e = await rejection(anon.wallets.listWallets({}, { deadline: 5_000 }));
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(e.reason).toBe('');
  });
});
