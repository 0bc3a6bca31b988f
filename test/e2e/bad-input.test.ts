/**
 * Bad input through the real server: every malformed request gets a precise status and a stable reason, the server
 * keeps serving, nothing is signed, and nothing stored is lost.
 */
import { status } from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { getAddressDecoder } from '@solana/kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Chain, WaiaasClientError, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { unsignedEip1559 } from '../support/evm.ts';
import { createSvm, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { nativeTransferPolicy } from '../support/policies.ts';
import { rejection } from '../support/rejection.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';


describe('bad input', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let sol: { walletId: string; address: string };
  let evm: { walletId: string; address: string };
  let validSol: Uint8Array;
  const recipient = getAddressDecoder().decode(randomBytes(32));

  beforeAll(async () => {
    server = await startServer();
    agent = server.client('agent');
    const owner = server.client('owner');
    const a = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    const b = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    sol = { walletId: a.walletId, address: a.address };
    evm = { walletId: b.walletId, address: b.address };
    await owner.policies.setPolicy({ walletId: sol.walletId, policy: { document: nativeTransferPolicy([recipient], '1000000') } });
    validSol = unsignedSolTransfer({ from: sol.address, to: recipient, lamports: 10n, blockhash: latestBlockhash(createSvm()) });
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('garbage bytes are WAIAAS_TX_MALFORMED', async () => {
    const e = await rejection(agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: randomBytes(200) }));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(['WAIAAS_TX_MALFORMED', 'WAIAAS_TX_NOT_CANONICAL']).toContain(e.reason);
    const e2 = await rejection(agent.signer.signEvmTransaction({ walletId: evm.walletId, unsignedTransaction: randomBytes(100), chainId: 1n }));
    expect(e2.code).toBe(status.INVALID_ARGUMENT);
    expect(['WAIAAS_TX_MALFORMED', 'WAIAAS_TX_NOT_CANONICAL']).toContain(e2.reason);
  });

  test('an empty transaction is WAIAAS_TX_MALFORMED', async () => {
    const e = await rejection(agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: new Uint8Array() }));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.reason).toBe('WAIAAS_TX_MALFORMED');
  });

  test('every truncation of a valid Solana transaction is refused as malformed', async () => {
    for (const len of [1, 2, 33, 64, 65, 66, 100, validSol.length - 1]) {
      const e = await rejection(agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: validSol.slice(0, len) }));
      expect(e.code, `length ${len}`).toBe(status.INVALID_ARGUMENT);
      expect(e.reason, `length ${len}`).toBe('WAIAAS_TX_MALFORMED');
    }
  });

  test('a truncated EVM transaction is refused as malformed', async () => {
    const tx = unsignedEip1559({ chainId: 1n, to: '0x1111111111111111111111111111111111111111', value: 1n, nonce: 0 });
    const e = await rejection(agent.signer.signEvmTransaction({ walletId: evm.walletId, unsignedTransaction: tx.slice(0, tx.length - 3), chainId: 1n }));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.reason).toBe('WAIAAS_TX_MALFORMED');
  });

  test('a Solana transaction larger than 1232 bytes is WAIAAS_TX_TOO_LARGE', async () => {
    const e = await rejection(agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: randomBytes(1233) }));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.reason).toBe('WAIAAS_TX_TOO_LARGE');
  });

  test('a message over the server limit is RESOURCE_EXHAUSTED', async () => {
    const e = await rejection(agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: new Uint8Array(300_000) }));
    expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  test('an unknown wallet is NOT_FOUND; a malformed wallet id is INVALID_ARGUMENT naming the field', async () => {
    const e = await rejection(agent.signer.signSolanaTransaction({ walletId: 'wlt_00000000000000000000000000', transaction: validSol }));
    expect(e.code).toBe(status.NOT_FOUND);
    expect(e.reason).toBe('WAIAAS_WALLET_NOT_FOUND');
    const e2 = await rejection(agent.wallets.getWallet({ walletId: '../etc/passwd' }));
    expect(e2.code).toBe(status.INVALID_ARGUMENT);
    expect(e2.metadata.field).toBe('wallet_id');
  });

  test('a request for the wrong chain is WAIAAS_WALLET_CHAIN_MISMATCH', async () => {
    const e = await rejection(agent.signer.signSolanaTransaction({ walletId: evm.walletId, transaction: validSol }));
    expect(e.code).toBe(status.FAILED_PRECONDITION);
    expect(e.reason).toBe('WAIAAS_WALLET_CHAIN_MISMATCH');
  });

  test('an EVM chain id that differs from the transaction is WAIAAS_CHAIN_ID_MISMATCH; a missing one is INVALID_ARGUMENT', async () => {
    const tx = unsignedEip1559({ chainId: 1n, to: '0x1111111111111111111111111111111111111111', value: 1n, nonce: 0 });
    const e = await rejection(agent.signer.signEvmTransaction({ walletId: evm.walletId, unsignedTransaction: tx, chainId: 10n }));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.reason).toBe('WAIAAS_CHAIN_ID_MISMATCH');
    const e2 = await rejection(agent.signer.signEvmTransaction({ walletId: evm.walletId, unsignedTransaction: tx, chainId: 0n }));
    expect(e2.metadata.field).toBe('chain_id');
  });

  test('a Solana transaction the wallet is not a signer of is WAIAAS_WALLET_NOT_A_SIGNER', async () => {
    const other = getAddressDecoder().decode(randomBytes(32));
    const tx = unsignedSolTransfer({ from: other, to: recipient, lamports: 1n, blockhash: latestBlockhash(createSvm()) });
    const e = await rejection(agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: tx }));
    expect(e.reason).toBe('WAIAAS_WALLET_NOT_A_SIGNER');
  });

  test('bad wallet creation input is INVALID_ARGUMENT naming the field', async () => {
    const e = await rejection(agent.wallets.createWallet({ chain: Chain.UNSPECIFIED }));
    expect(e.metadata.field).toBe('chain');
    const e2 = await rejection(agent.wallets.createWallet({ chain: Chain.SOLANA, labels: { 'Bad Key': 'x' } }));
    expect(e2.code).toBe(status.INVALID_ARGUMENT);
    const e3 = await rejection(agent.wallets.createWallet({ chain: Chain.SOLANA, requestId: 'spaces are not allowed' }));
    expect(e3.metadata.field).toBe('request_id');
    const e4 = await rejection(agent.wallets.listWallets({ pageToken: 'forged' }));
    expect(e4.metadata.field).toBe('page_token');
  });

  test('300 random and mutated transactions, messages and typed data never crash the server and are never signed', async () => {
    // A second pair of wallets whose policy allows nothing at all: whatever decodes is denied, whatever does not is refused.
    const owner = server.client('owner');
    const s2 = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    const e2 = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    for (const w of [s2, e2]) await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: '{"schema":"waiaas.policy.v1","rules":[]}' } });
    let seed = 12345;
    const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const mutate = (b: Uint8Array): Uint8Array => {
      const c = new Uint8Array(b);
      for (let k = 0, m = 1 + rnd(3); k < m; k++) c[rnd(c.length)] = rnd(256);
      return c;
    };
    const solTx = unsignedSolTransfer({ from: s2.address, to: recipient, lamports: 10n, blockhash: latestBlockhash(createSvm()) });
    const evmTx = unsignedEip1559({ chainId: 1n, to: '0x1111111111111111111111111111111111111111', value: 1n, nonce: 0, data: '0xa9059cbb' + '00'.repeat(64) as `0x${string}` });
    const typed = JSON.stringify({
      types: { Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] },
      primaryType: 'Permit',
      domain: { name: 'T', version: '1', chainId: 1, verifyingContract: '0x1111111111111111111111111111111111111111' },
      message: { owner: e2.address, spender: '0x2222222222222222222222222222222222222222', value: '1', nonce: '0', deadline: '1' },
    });
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const kind = i % 5;
      if (kind === 0) calls.push(agent.signer.signSolanaTransaction({ walletId: s2.walletId, transaction: i % 10 === 0 ? randomBytes(rnd(1300)) : mutate(solTx) }));
      if (kind === 1) calls.push(agent.signer.signEvmTransaction({ walletId: e2.walletId, unsignedTransaction: i % 10 === 1 ? randomBytes(rnd(400)) : mutate(evmTx), chainId: 1n }));
      if (kind === 2) {
        const chars = [...typed];
        for (let k = 0; k < 2; k++) chars[rnd(chars.length)] = String.fromCharCode(32 + rnd(95));
        calls.push(agent.signer.signEvmTypedData({ walletId: e2.walletId, typedData: chars.join('') }));
      }
      if (kind === 3) calls.push(agent.signer.signEvmMessage({ walletId: e2.walletId, message: randomBytes(rnd(64)) }));
      if (kind === 4) calls.push(agent.signer.signSolanaMessage({ walletId: s2.walletId, message: i % 2 ? randomBytes(rnd(200)) : mutate(solTx) }));
    }
    const results = await Promise.allSettled(calls);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as WaiaasClientError;
      expect(e).toBeInstanceOf(WaiaasClientError);
      expect([status.INVALID_ARGUMENT, status.PERMISSION_DENIED]).toContain(e.code);
      expect(e.reason).toMatch(/^WAIAAS_[A-Z_]+$/);
    }
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const signed = db.prepare(`SELECT COUNT(*) AS n FROM sign_requests WHERE wallet_id IN (?, ?) AND state != 'REFUSED'`).get(s2.walletId, e2.walletId) as { n: number };
      expect(signed.n).toBe(0);
    } finally {
      db.close();
    }
  });

  test('after all that, nothing was signed, the server still serves, and the wallets are intact', async () => {
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const signed = db.prepare(`SELECT COUNT(*) AS n FROM sign_requests WHERE state = 'SIGNED'`).get() as { n: number };
      expect(signed.n).toBe(0);
      const refused = db.prepare(`SELECT COUNT(*) AS n FROM sign_requests WHERE state = 'REFUSED'`).get() as { n: number };
      expect(refused.n).toBeGreaterThan(5);
    } finally {
      db.close();
    }
    const res = await agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: validSol });
    expect(res.signature).toHaveLength(64);
    const list = await agent.wallets.listWallets({});
    expect(list.wallets.map((w) => w.walletId)).toEqual(expect.arrayContaining([sol.walletId, evm.walletId]));
    expect(list.wallets).toHaveLength(4);
  });
});
