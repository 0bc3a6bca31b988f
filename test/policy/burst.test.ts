/**
 * Many concurrent requests, each under the per-transaction cap, that together break the daily cap: exactly the allowed
 * number are signed. The real Signer on a SoftHSM2 token and a real SQLite store, an EVM wallet, concurrent EIP-1559
 * transfers with distinct nonces; pending (APPROVAL) requests hold their reservation too. Every signed transaction is
 * executed in @ethereumjs/vm from the wallet's address.
 */
import { create, fromBinary } from '@bufbuild/protobuf';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { SignPayloadSchema, SignResultSchema } from '../../gen/waiaas/v1/sign_request_pb.js';
import { Hsm } from '../../hsm/index.ts';
import { isWaiaasError, type WaiaasError } from '../../server/errors/error.ts';
import { PolicyService } from '../../server/policies/policies.ts';
import { SignRequestEvents } from '../../server/signer/events.ts';
import { createSigner, type Signer } from '../../server/signer/signer.ts';
import type { SignRequestRecord } from '../../server/store/store.ts';
import { Store } from '../../server/store/store.ts';
import { WalletService } from '../../server/wallets/wallets.ts';
import { createEvm, evmBalance, executeEvm, unsignedEip1559 } from '../support/evm.ts';
import { policyJson, type RuleJson } from '../support/policies.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';

const log = pino({ level: 'silent' });
const OWNER = { role: 'owner' as const, name: 'o', uri: 'spiffe://waiaas/owner/o' };
const AGENT = 'spiffe://waiaas/agent/a';
const CHAIN = 1n;
const RECIPIENT = '0x7e57000000000000000000000000000000000001';
const DAY = 86_400;
const FEES: RuleJson = { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '10000000000000000' };
const daily: RuleJson = { name: 'daily', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '24h', max: '1000' };

let token: TestToken;
let hsm: Hsm;
let dir: string;
let store: Store;
let wallets: WalletService;
let policies: PolicyService;
let signer: Signer;

beforeAll(async () => {
  token = await createTestToken({ label: 'burst-test' });
  hsm = await Hsm.open({ module: token.module, tokenLabel: token.tokenLabel, pinFile: token.pinFile, sessions: 4 });
});
afterAll(async () => {
  await hsm.close();
  await token.cleanup();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'waiaas-burst-'));
  store = Store.open(join(dir, 'db.sqlite'));
  wallets = new WalletService({ hsm, store, log });
  policies = new PolicyService({ store, wallets, log });
  signer = createSigner({ hsm, store, wallets, policies, events: new SignRequestEvents(), log });
  return () => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  };
});

async function evmWallet(rules: RuleJson[]): Promise<{ walletId: string; address: string }> {
  const w = await wallets.create({ chain: 'evm', labels: {}, requestId: '', caller: AGENT });
  await policies.set(w.walletId, policyJson(rules), OWNER);
  return { walletId: w.walletId, address: w.address };
}

/** One EIP-1559 transfer of `wei` to RECIPIENT with nonce `nonce`, submitted to the signer. */
function transfer(walletId: string, wei: bigint, nonce: number, requestId: string): Promise<SignRequestRecord> {
  const tx = unsignedEip1559({ chainId: CHAIN, to: RECIPIENT, value: wei, nonce });
  return signer.submit({ walletId, payload: create(SignPayloadSchema, { payload: { case: 'evmTransaction', value: { unsignedTransaction: tx, chainId: CHAIN } } }), requestId, caller: AGENT });
}

interface Outcome {
  wei: bigint;
  record?: SignRequestRecord;
  error?: WaiaasError;
}

/** Submits every (amount, nonce) at once and waits for all of them. */
async function burst(walletId: string, amounts: bigint[], tag: string, firstNonce = 0): Promise<Outcome[]> {
  const settled = await Promise.allSettled(amounts.map((wei, i) => transfer(walletId, wei, firstNonce + i, `${tag}-${i}`)));
  return settled.map((s, i) => {
    if (s.status === 'fulfilled') return { wei: amounts[i]!, record: s.value };
    if (!isWaiaasError(s.reason)) throw s.reason;
    return { wei: amounts[i]!, error: s.reason };
  });
}

const signed = (o: Outcome[]) => o.filter((x) => x.record?.state === 'SIGNED');
const pending = (o: Outcome[]) => o.filter((x) => x.record?.state === 'PENDING');
const refused = (o: Outcome[]) => o.filter((x) => x.error !== undefined);

/** Every refusal is the policy denying by the daily spend limit. */
function expectRefusedByDaily(o: Outcome[]): void {
  for (const r of refused(o)) {
    expect(isWaiaasError(r.error, 'WAIAAS_POLICY_DENIED'), String(r.error)).toBe(true);
    expect(r.error!.metadata.rule).toBe('daily');
  }
}

/** Executes every signed transaction in one EVM, each from the funded wallet; returns what RECIPIENT received. */
async function executeAll(o: Outcome[], wallet: string): Promise<bigint> {
  const vm = await createEvm(CHAIN);
  for (const s of signed(o)) {
    const result = fromBinary(SignResultSchema, s.record!.response!);
    const run = await executeEvm({ vm, chainId: CHAIN, signedTx: result.signedTransaction, fund: { [wallet]: 10n ** 18n } });
    expect(run.error).toBeUndefined();
    expect(run.ok).toBe(true);
    expect(run.sender).toBe(wallet.toLowerCase());
  }
  return evmBalance(vm, RECIPIENT);
}

const reserved = (walletId: string) => store.ledger.total(walletId, 'native', DAY, Date.now());

test('40 concurrent transfers of 100 against a daily cap of 1000: exactly 10 are signed, 30 refused by the spend limit', async () => {
  const w = await evmWallet([{ name: 'small', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '100' }, FEES, daily]);
  const out = await burst(w.walletId, Array.from({ length: 40 }, () => 100n), 'a');
  expect(signed(out)).toHaveLength(10);
  expect(refused(out)).toHaveLength(30);
  expect(pending(out)).toHaveLength(0);
  expectRefusedByDaily(out);
  expect(store.countSignRequests(w.walletId)).toMatchObject({ SIGNED: 10, REFUSED: 30 });
  expect(reserved(w.walletId)).toBe(1000n);
  expect(await executeAll(out, w.address)).toBe(1000n);
});

test('7 concurrent transfers of 300 (which do not divide the cap of 1000): exactly 3 are signed', async () => {
  const w = await evmWallet([{ name: 'medium', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '300' }, FEES, daily]);
  const out = await burst(w.walletId, Array.from({ length: 7 }, () => 300n), 'b');
  expect(signed(out)).toHaveLength(3);
  expect(refused(out)).toHaveLength(4);
  expectRefusedByDaily(out);
  expect(reserved(w.walletId)).toBe(900n);
  expect(await executeAll(out, w.address)).toBe(900n);
});

const tiered: RuleJson[] = [
  { name: 'small', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '100' },
  { name: 'large', kind: 'transfer', verdict: 'APPROVAL', asset: 'native', min_amount: '101', max_amount: '1000' },
  FEES,
  daily,
];

test('pending (APPROVAL) requests hold their reservation: after two pending 300s, 40 concurrent 100s sign exactly 4', async () => {
  const w = await evmWallet(tiered);
  const waiting = await burst(w.walletId, [300n, 300n], 'c-large');
  expect(pending(waiting)).toHaveLength(2);
  for (const p of pending(waiting)) expect(p.record!.rule).toBe('large');
  expect(reserved(w.walletId)).toBe(600n);

  const out = await burst(w.walletId, Array.from({ length: 40 }, () => 100n), 'c-small', 2);
  expect(signed(out)).toHaveLength(4);
  expect(refused(out)).toHaveLength(36);
  expectRefusedByDaily(out);
  expect(reserved(w.walletId)).toBe(1000n);
  expect(store.countSignRequests(w.walletId)).toMatchObject({ PENDING: 2, SIGNED: 4, REFUSED: 36 });
  expect(await executeAll(out, w.address)).toBe(400n);
});

test('pending and immediate requests all at once: what is signed plus what is pending is exactly the cap', async () => {
  const w = await evmWallet(tiered);
  // 3 × 300 (APPROVAL) and 20 × 100 (INSTANT), interleaved, submitted together. Whatever the order of the decisions,
  // some 100 must be refused (the 100s alone are 2000), and a refused 100 means more than 900 was already reserved:
  // with multiples of 100 that is exactly 1000.
  const amounts = Array.from({ length: 23 }, (_, i) => (i % 8 === 0 ? 300n : 100n));
  expect(amounts.filter((a) => a === 300n)).toHaveLength(3);
  const out = await burst(w.walletId, amounts, 'd');
  expectRefusedByDaily(out);
  const total = [...signed(out), ...pending(out)].reduce((n, o) => n + o.wei, 0n);
  expect(total).toBe(1000n);
  expect(reserved(w.walletId)).toBe(1000n);
  for (const p of pending(out)) expect([p.wei, p.record!.rule]).toEqual([300n, 'large']);
  for (const s of signed(out)) expect(s.wei).toBe(100n);
  for (const r of refused(out)) expect(total + r.wei).toBeGreaterThan(1000n);
  expect(await executeAll(out, w.address)).toBe(100n * BigInt(signed(out).length));
});
