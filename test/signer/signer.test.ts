/**
 * The signing path without gRPC, on a real SoftHSM2 token and a real SQLite file: it fails closed. When the store
 * cannot record the decision the HSM is never asked; when the HSM fails the request is recorded FAILED; when the
 * outcome cannot be recorded the signature is not returned.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAddressDecoder } from '@solana/kit';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { Hsm, HsmError } from '../../hsm/index.ts';
import { isWaiaasError } from '../../server/errors/error.ts';
import { PolicyService } from '../../server/policies/policies.ts';
import { create, fromBinary } from '@bufbuild/protobuf';
import { SignPayloadSchema, SignResultSchema } from '../../gen/waiaas/v1/sign_request_pb.js';
import { SignRequestEvents } from '../../server/signer/events.ts';
import { createSigner, type Signer } from '../../server/signer/signer.ts';
import { nativeTransferPolicy } from '../support/policies.ts';
import { Store } from '../../server/store/store.ts';
import { WalletService } from '../../server/wallets/wallets.ts';
import { createSvm, executeSolana, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';

const log = pino({ level: 'silent' });
const OWNER = { role: 'owner' as const, name: 'o', uri: 'spiffe://waiaas/owner/o' };
const AGENT = 'spiffe://waiaas/agent/a';

let token: TestToken;
let hsm: Hsm;
let dir: string;
let store: Store;
/** Counts HSM signatures and can be told to fail or to run a hook after signing. */
const gate = { signs: 0, fail: false, afterSign: (): void => undefined };
let signer: Signer;
let wallet: { walletId: string; address: string };
const recipient = getAddressDecoder().decode(randomBytes(32));

async function rejected(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e);
}

beforeAll(async () => {
  token = await createTestToken({ label: 'signer-test' });
  hsm = await Hsm.open({ module: token.module, tokenLabel: token.tokenLabel, pinFile: token.pinFile, sessions: 2 });
});
afterAll(async () => {
  await hsm.close();
  await token.cleanup();
});

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'waiaas-signer-'));
  store = Store.open(join(dir, 'db.sqlite'));
  gate.signs = 0;
  gate.fail = false;
  gate.afterSign = () => undefined;
  const counting = {
    signEd25519: async (keyId: Uint8Array, message: Uint8Array) => {
      if (gate.fail) throw new HsmError('UNAVAILABLE', 'injected: CKR_DEVICE_REMOVED');
      const sig = await hsm.signEd25519(keyId, message);
      gate.signs++;
      gate.afterSign();
      return sig;
    },
    signSecp256k1: (keyId: Uint8Array, digest: Uint8Array) => hsm.signSecp256k1(keyId, digest),
  };
  const wallets = new WalletService({ hsm, store, log });
  const policies = new PolicyService({ store, wallets, log });
  signer = createSigner({ hsm: counting, store, wallets, policies, events: new SignRequestEvents(), log });
  const w = await wallets.create({ chain: 'solana', labels: {}, requestId: '', caller: AGENT });
  wallet = { walletId: w.walletId, address: w.address };
  await policies.set(w.walletId, nativeTransferPolicy([recipient], 1000n), OWNER);
  return () => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  };
});

function sign(transaction: Uint8Array, requestId: string) {
  return signer.submit({ walletId: wallet.walletId, payload: create(SignPayloadSchema, { payload: { case: 'solanaTransaction', value: transaction } }), requestId, caller: AGENT });
}

let blockhash: string | undefined;
function tx(lamports = 10n): Uint8Array {
  blockhash ??= latestBlockhash(createSvm());
  return unsignedSolTransfer({ from: wallet.address, to: recipient, lamports, blockhash });
}

describe('signer', () => {
  test('signs, records the decision and the outcome, and the transaction executes', async () => {
    const svm = createSvm();
    const bytes = unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: 10n, blockhash: latestBlockhash(svm) });
    const res = await sign(bytes, 'a');
    expect(gate.signs).toBe(1);
    const rec = store.getSignRequest(res.id);
    expect(rec).toMatchObject({ state: 'SIGNED', verdict: 'INSTANT', walletId: wallet.walletId, caller: AGENT, rule: 'pay-allowlisted' });
    expect(rec?.policyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(rec!.effects!)).toMatchObject({ chain: 'solana', outflows: [{ recipient, amount: '10' }] });
    const result = fromBinary(SignResultSchema, rec!.response!);
    expect(executeSolana({ svm, signedTx: result.signedTransaction, fund: { [wallet.address]: 10_000_000n } }).ok).toBe(true);
  });

  test('refuses to build without its dependencies', () => {
    expect(() => createSigner({ hsm, store, log } as never)).toThrow(/missing dependencies: wallets, policies, events/);
  });

  test('when the database cannot record the decision, the HSM is never asked', async () => {
    store.db.pragma('query_only = ON');
    const err = await rejected(sign(tx(), ''));
    expect(isWaiaasError(err, 'WAIAAS_STORE_UNAVAILABLE')).toBe(true);
    expect(gate.signs).toBe(0);
  });

  test('a full disk fails closed: the decision cannot be recorded, so nothing is signed, and the reason is clear', async () => {
    // SQLite's page limit stands in for a full disk: every write that needs a new page fails with SQLITE_FULL.
    const pages = store.db.pragma('page_count', { simple: true }) as number;
    store.db.pragma(`max_page_count = ${pages}`);
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => sign(tx(BigInt(i + 1)), `full-${i}`)));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as unknown);
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) expect(isWaiaasError(e, 'WAIAAS_STORE_UNAVAILABLE')).toBe(true);
    // Every signature that was returned was recorded first; a signature whose outcome could not be recorded was dropped.
    const returned = results.filter((r) => r.status === 'fulfilled').length;
    expect(returned).toBe(store.countSignRequests(wallet.walletId).SIGNED);
    expect(gate.signs).toBeGreaterThanOrEqual(returned);
    store.db.pragma('max_page_count = 1073741823');
  });

  test('when the HSM fails, nothing is signed and the request is recorded FAILED with the reason', async () => {
    gate.fail = true;
    const err = await rejected(sign(tx(), 'h1'));
    expect(isWaiaasError(err, 'WAIAAS_HSM_UNAVAILABLE')).toBe(true);
    expect(store.getSignRequestByRequestId(AGENT, 'h1')).toMatchObject({ state: 'FAILED', errorReason: 'WAIAAS_HSM_UNAVAILABLE' });
    // A retry of the same request_id is answered from the record; it does not sign behind the caller's back.
    gate.fail = false;
    const again = await rejected(sign(tx(), 'h1'));
    expect(isWaiaasError(again, 'WAIAAS_HSM_UNAVAILABLE')).toBe(true);
    expect(gate.signs).toBe(0);
  });

  test('when the outcome cannot be recorded, the signature is dropped and the call fails', async () => {
    gate.afterSign = () => store.db.pragma('query_only = ON');
    const err = await rejected(sign(tx(), 'o1'));
    expect(isWaiaasError(err, 'WAIAAS_STORE_UNAVAILABLE')).toBe(true);
    expect(gate.signs).toBe(1);
    store.db.pragma('query_only = OFF');
    // The record still says SIGNING; at the next start it becomes FAILED, so a retry never signs a second time.
    expect(store.getSignRequestByRequestId(AGENT, 'o1')?.state).toBe('SIGNING');
    store.failInterruptedSignRequests(new Date().toISOString());
    const retry = await rejected(sign(tx(), 'o1'));
    expect(isWaiaasError(retry, 'WAIAAS_REQUEST_INTERRUPTED')).toBe(true);
    expect(gate.signs).toBe(1);
  });

  test('a denied request is recorded REFUSED with its rule and never reaches the HSM', async () => {
    const err = await rejected(sign(tx(1001n), 'd1'));
    expect(isWaiaasError(err, 'WAIAAS_POLICY_DENIED')).toBe(true);
    expect(store.getSignRequestByRequestId(AGENT, 'd1')).toMatchObject({ state: 'REFUSED', verdict: 'DENY', rule: 'default-deny' });
    expect(gate.signs).toBe(0);
  });

  test('100 concurrent requests with distinct request ids each sign exactly once', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => sign(tx(BigInt(i + 1)), `c${i}`)),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(100);
    expect(gate.signs).toBe(100);
    expect(store.countSignRequests(wallet.walletId).SIGNED).toBe(100);
  });
});
