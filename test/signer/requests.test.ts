/**
 * Pending sign requests as resources, on a real SQLite file with a controllable clock: they expire on time and give
 * back their reservation, an agent sees and cancels only its own, and a watcher is told about every change.
 */
import { create } from '@bufbuild/protobuf';
import { ed25519 } from '@noble/curves/ed25519.js';
import { getAddressDecoder } from '@solana/kit';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SignPayloadSchema } from '../../gen/waiaas/v1/sign_request_pb.js';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Identity } from '../../server/grpc/identity.ts';
import { PolicyService } from '../../server/policies/policies.ts';
import { SignRequestEvents } from '../../server/signer/events.ts';
import { SignRequestService } from '../../server/signer/requests.ts';
import { createSigner, type Signer } from '../../server/signer/signer.ts';
import { Store } from '../../server/store/store.ts';
import { WalletService } from '../../server/wallets/wallets.ts';
import { unsignedSolTransfer } from '../support/litesvm.ts';
import { policyJson } from '../support/policies.ts';

const log = pino({ level: 'silent' });
const AGENT: Identity = { role: 'agent', name: 'a', uri: 'spiffe://waiaas/agent/a' };
const OTHER: Identity = { role: 'agent', name: 'b', uri: 'spiffe://waiaas/agent/b' };
const OWNER: Identity = { role: 'owner', name: 'o', uri: 'spiffe://waiaas/owner/o', scope: { wallets: '*' } };
/** No test here may reach the HSM: pending requests are never signed. */
const NO_HSM = {
  signEd25519: () => Promise.reject(new Error('unexpected HSM call')),
  signSecp256k1: () => Promise.reject(new Error('unexpected HSM call')),
};

let dir: string;
let store: Store;
let now: Date;
let signer: Signer;
let requests: SignRequestService;
let events: SignRequestEvents;
let wallet: { walletId: string; address: string };
const to = getAddressDecoder().decode(randomBytes(32));
const blockhash = getAddressDecoder().decode(randomBytes(32));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'waiaas-requests-'));
  store = Store.open(join(dir, 'db.sqlite'));
  now = new Date('2026-05-01T10:00:00Z');
  const clock = (): Date => new Date(now);
  const address = getAddressDecoder().decode(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
  store.insertWallet({ walletId: 'wlt_0000000000000000000000000A', chain: 'solana', address, keyId: new Uint8Array([1]), algorithm: 'ed25519', publicKey: new Uint8Array(32), tokenLabel: 't', labels: {}, creator: AGENT.uri, requestId: null, createTime: now.toISOString() });
  wallet = { walletId: 'wlt_0000000000000000000000000A', address };
  const wallets = new WalletService({ hsm: { generateKey: () => Promise.reject(new Error('unexpected')), capabilities: { ed25519: true, secp256k1: true }, tokenLabel: 't' }, store, log });
  const policies = new PolicyService({ store, wallets, log, clock });
  events = new SignRequestEvents();
  signer = createSigner({ hsm: NO_HSM, store, wallets, policies, events, log, clock });
  requests = new SignRequestService({ store, events, log, clock });
  // An owner, so that APPROVAL stays APPROVAL (a wallet without owners turns it into DELAY).
  store.control.setOwners(wallet.walletId, [{ key: address, keyType: 'ed25519', label: '' }], 1, now.toISOString());
  await policies.set(
    wallet.walletId,
    policyJson(
      [
        { name: 'needs-approval', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' },
        { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '100000' },
        { name: 'daily', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '24h', max: '1000' },
      ],
      { pending_timeout_seconds: 600 },
    ),
    OWNER,
  );
  return () => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  };
});

function submit(lamports: bigint, caller = AGENT) {
  const payload = create(SignPayloadSchema, { payload: { case: 'solanaTransaction', value: unsignedSolTransfer({ from: wallet.address, to, lamports, blockhash }) } });
  return signer.submit({ walletId: wallet.walletId, payload, requestId: '', caller: caller.uri });
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e);
}

describe('pending sign requests', () => {
  test('an APPROVAL request is PENDING with an expiry, and reserves its amount', async () => {
    const rec = await submit(900n);
    expect(rec).toMatchObject({ state: 'PENDING', verdict: 'APPROVAL', rule: 'needs-approval', expireTime: '2026-05-01T10:10:00.000Z' });
    expect(store.ledger.total(wallet.walletId, 'native', 86_400, now.getTime())).toBe(900n);
    const denied = await failure(submit(200n));
    expect(isWaiaasError(denied, 'WAIAAS_POLICY_DENIED')).toBe(true);
  });

  test('an expired request becomes EXPIRED, gives its reservation back, and its watcher sees it end', async () => {
    const rec = await submit(900n);
    const seen: string[] = [];
    const abort = new AbortController();
    const watching = (async () => {
      for await (const r of requests.watch(rec.id, AGENT, abort.signal)) seen.push(r.state);
    })();
    now = new Date(now.getTime() + 599_000);
    expect(await requests.expire()).toBe(0);
    now = new Date(now.getTime() + 1_000);
    expect(await requests.expire()).toBe(1);
    await watching;
    expect(seen).toEqual(['PENDING', 'EXPIRED']);
    expect(store.getSignRequest(rec.id)).toMatchObject({ state: 'EXPIRED', errorReason: 'WAIAAS_SIGN_REQUEST_EXPIRED', payload: null });
    expect(store.ledger.total(wallet.walletId, 'native', 86_400, now.getTime())).toBe(0n);
    expect((await submit(1000n)).state).toBe('PENDING');
  });

  test('an agent sees and cancels only its own requests; an owner sees and cancels any', async () => {
    const mine = await submit(10n, AGENT);
    const theirs = await submit(10n, OTHER);
    expect(isWaiaasError(await failure(Promise.resolve().then(() => requests.get(theirs.id, AGENT))), 'WAIAAS_SIGN_REQUEST_NOT_FOUND')).toBe(true);
    expect(isWaiaasError(await failure(requests.cancel(theirs.id, AGENT)), 'WAIAAS_SIGN_REQUEST_NOT_FOUND')).toBe(true);
    expect(requests.list({ walletId: '', pageSize: 0, pageToken: '' }, AGENT).requests.map((r) => r.id)).toEqual([mine.id]);
    expect(requests.list({ walletId: wallet.walletId, pageSize: 0, pageToken: '' }, OWNER).requests.map((r) => r.id)).toEqual([theirs.id, mine.id]);
    expect((await requests.cancel(theirs.id, OWNER)).state).toBe('CANCELLED');
    expect((await requests.cancel(mine.id, AGENT)).state).toBe('CANCELLED');
    expect(isWaiaasError(await failure(requests.cancel(mine.id, AGENT)), 'WAIAAS_SIGN_REQUEST_NOT_PENDING')).toBe(true);
  });

  test('listing pages through newest first without repeats', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit(1n)).id);
    const seen: string[] = [];
    let token = '';
    do {
      const page = requests.list({ walletId: wallet.walletId, pageSize: 2, pageToken: token }, OWNER);
      seen.push(...page.requests.map((r) => r.id));
      token = page.nextPageToken;
    } while (token !== '');
    expect(seen).toEqual(ids.reverse());
  });

  test('a watch of a finished request yields it once and ends; a watch can be aborted', async () => {
    const rec = await submit(1n);
    await requests.cancel(rec.id, AGENT);
    const out: string[] = [];
    for await (const r of requests.watch(rec.id, AGENT, new AbortController().signal)) out.push(r.state);
    expect(out).toEqual(['CANCELLED']);
    const pending = await submit(1n);
    const abort = new AbortController();
    const got: string[] = [];
    const w = (async () => {
      for await (const r of requests.watch(pending.id, AGENT, abort.signal)) got.push(r.state);
    })();
    await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    await w;
    expect(got).toEqual(['PENDING']);
  });
});
