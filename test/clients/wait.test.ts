/**
 * waitForSignature: it watches (one subscription while the stream lasts, backoff between re-subscriptions, never a
 * tight loop), re-subscribes when the stream drops — against a scripted client, and against the real appliance
 * through a TCP proxy whose connections are cut mid-wait — and ends with the typed error of each unsigned end.
 */
import { status } from '@grpc/grpc-js';
import { getAddressDecoder } from '@solana/kit';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ApprovalAction,
  Chain,
  SignRequestState,
  Verdict,
  WaiaasClientError,
  WaiaasRequestEndedError,
  WaiaasTimeoutError,
  createWaiaasClient,
  credentialsFromFiles,
  signAndWait,
  waitForSignature,
  type SignRequest,
  type WaiaasClient,
  type WaitClient,
} from '../../clients/ts/src/index.ts';
import { createSvm, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { ed25519Owner } from '../support/owners.ts';
import { policyJson } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';
import { rejectionOf } from './helpers.ts';

// ---------------------------------------------------------------------------------------------------------------------
// A scripted client: each subscription plays the next script (messages, then an error or the end of the stream).

type Step = SignRequestState | { state: SignRequestState; errorReason?: string; errorMessage?: string } | Error | 'hang';

function record(id: string, s: Exclude<Step, Error | 'hang'>): SignRequest {
  const o = typeof s === 'number' ? { state: s } : s;
  return {
    signRequestId: id,
    state: o.state,
    verdict: Verdict.APPROVAL,
    rule: 'owners-decide',
    matchedRules: [],
    errorReason: o.errorReason ?? '',
    errorMessage: o.errorMessage ?? '',
    ...(o.state === SignRequestState.SIGNED ? { result: { signedTransaction: new Uint8Array([1, 2, 3]), signature: new Uint8Array(64) } } : {}),
  } as unknown as SignRequest;
}

function scripted(scripts: Step[][]): WaitClient & { subscriptions: number[] } {
  const subscriptions: number[] = [];
  let n = 0;
  const requests = {
    watchSignRequest: (req: { signRequestId?: string }, opts: { signal?: AbortSignal } = {}) => ({
      async *[Symbol.asyncIterator]() {
        subscriptions.push(Date.now());
        const script = scripts[Math.min(n++, scripts.length - 1)]!;
        for (const step of script) {
          if (step instanceof Error) throw step;
          if (step === 'hang') {
            await new Promise<void>((_r, reject) => opts.signal?.addEventListener('abort', () => reject(new WaiaasClientError(status.CANCELLED, 'Cancelled on client', '', {})), { once: true }));
          } else yield { signRequest: record(req.signRequestId!, step) };
        }
      },
    }),
    getSignRequest: async () => ({ signRequest: record('req_x', SignRequestState.PENDING) }),
    cancelSignRequest: async () => ({ signRequest: record('req_x', SignRequestState.CANCELLED) }),
  };
  return { requests: requests as unknown as WaitClient['requests'], subscriptions };
}

const unavailable = () => new WaiaasClientError(status.UNAVAILABLE, 'Connection dropped', '', {});

describe('waitForSignature against a scripted stream', () => {
  test('a stream that drops mid-wait is opened again and the wait goes on to SIGNED', async () => {
    const c = scripted([[SignRequestState.PENDING, unavailable()], [SignRequestState.PENDING, SignRequestState.SIGNED]]);
    const seen: SignRequestState[] = [];
    const done = await waitForSignature(c, 'req_x', { timeoutMs: 10_000, onUpdate: (r) => seen.push(r.state) });
    expect(done.state).toBe(SignRequestState.SIGNED);
    expect(done.result.signedTransaction).toEqual(new Uint8Array([1, 2, 3]));
    expect(c.subscriptions).toHaveLength(2);
    expect(seen).toEqual([SignRequestState.PENDING, SignRequestState.PENDING, SignRequestState.SIGNED]);
  });

  test('a stream that ends before a final state is opened again', async () => {
    const c = scripted([[SignRequestState.PENDING], [SignRequestState.SIGNED]]);
    expect((await waitForSignature(c, 'req_x')).state).toBe(SignRequestState.SIGNED);
    expect(c.subscriptions).toHaveLength(2);
  });

  test('a stream that keeps failing is retried with backoff, not in a tight loop, until the timeout', async () => {
    const c = scripted([[unavailable()]]);
    const e = await rejectionOf(waitForSignature(c, 'req_x', { timeoutMs: 2_000 }));
    expect(e).toBeInstanceOf(WaiaasTimeoutError);
    expect((e as WaiaasTimeoutError).lastSeen).toBeUndefined();
    // 200, 400, 800, 1600 ms (each times 0.5-1): at most 7 subscriptions in 2 s; at least one retry even when loaded.
    expect(c.subscriptions.length).toBeGreaterThanOrEqual(2);
    expect(c.subscriptions.length).toBeLessThanOrEqual(7);
  });

  test('a quiet watch stays one subscription until the timeout', async () => {
    const c = scripted([[SignRequestState.PENDING, 'hang']]);
    const e = await rejectionOf(waitForSignature(c, 'req_x', { timeoutMs: 1_000 }));
    expect(e).toBeInstanceOf(WaiaasTimeoutError);
    expect((e as WaiaasTimeoutError).lastSeen?.state).toBe(SignRequestState.PENDING);
    expect(c.subscriptions).toHaveLength(1);
  });

  test('errors that cannot heal (NOT_FOUND, PERMISSION_DENIED) end the wait at once', async () => {
    const notFound = new WaiaasClientError(status.NOT_FOUND, 'no such request', 'WAIAAS_SIGN_REQUEST_NOT_FOUND', {});
    const c = scripted([[notFound]]);
    expect(await rejectionOf(waitForSignature(c, 'req_x', { timeoutMs: 5_000 }))).toBe(notFound);
    expect(c.subscriptions).toHaveLength(1);
  });

  test.each([
    [SignRequestState.EXPIRED, 'EXPIRED', 'WAIAAS_SIGN_REQUEST_EXPIRED', status.DEADLINE_EXCEEDED],
    [SignRequestState.CANCELLED, 'CANCELLED', 'WAIAAS_FROZEN', status.ABORTED],
    [SignRequestState.REFUSED, 'REFUSED', 'WAIAAS_POLICY_DENIED', status.PERMISSION_DENIED],
    [SignRequestState.FAILED, 'FAILED', 'WAIAAS_REQUEST_INTERRUPTED', status.UNAVAILABLE],
  ])('a request that ends %s throws WaiaasRequestEndedError with the recorded reason', async (state, name, reason, code) => {
    const c = scripted([[SignRequestState.PENDING, { state, errorReason: reason, errorMessage: 'why' }]]);
    const e = await rejectionOf(waitForSignature(c, 'req_x'));
    expect(e).toBeInstanceOf(WaiaasRequestEndedError);
    expect(e).toBeInstanceOf(WaiaasClientError);
    expect(e).toMatchObject({ state: name, reason, code, signRequestId: 'req_x' });
    expect((e as Error).message).toContain('why');
  });

  test('an aborted signal rejects with its reason; cancelOnTimeout cancels the request', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 300);
    expect(((await rejectionOf(waitForSignature(scripted([[SignRequestState.PENDING, 'hang']]), 'req_x', { signal: ac.signal }))) as Error).message).toBe('stop');
    const t = await rejectionOf(waitForSignature(scripted([[SignRequestState.PENDING, 'hang']]), 'req_x', { timeoutMs: 300, cancelOnTimeout: true }));
    expect(t).toMatchObject({ name: 'WaiaasTimeoutError', cancelled: true });
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// Against the real appliance.

/** A TCP proxy to 127.0.0.1:`targetPort` whose connections can all be cut at once. */
async function tcpProxy(targetPort: number): Promise<{ port: number; connections: () => number; cut: () => void; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let opened = 0;
  const server: Server = createServer((client) => {
    opened++;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => opened,
    cut: () => [...sockets].forEach((s) => s.destroy()),
    close: () => {
      [...sockets].forEach((s) => s.destroy());
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('waitForSignature against the appliance', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let owner: WaiaasClient;
  let admin: WaiaasClient;

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

  /** A Solana wallet whose transfers need one owner's approval, and a pending transfer. */
  async function pendingTransfer(client: WaiaasClient = agent) {
    const o = ed25519Owner();
    const w = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson([{ name: 'owners-decide', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '100000' }]) } });
    await admin.owners.setOwners({ walletId: w.walletId, change: { owners: [{ keyType: o.keyType, key: o.key, label: 'o' }], threshold: 1 } });
    const to = getAddressDecoder().decode(randomBytes(32));
    const res = await client.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 10n, blockhash: latestBlockhash(createSvm()) }) });
    expect(res.state).toBe(SignRequestState.PENDING);
    const approve = async () => {
      const { message } = await owner.approvals.getApprovalMessage({ signRequestId: res.signRequestId, action: ApprovalAction.APPROVE });
      return owner.approvals.approve({ signRequestId: res.signRequestId, message, signature: { key: o.key, signature: await o.sign(message) } });
    };
    return { res, approve };
  }

  test('connections cut mid-wait: the watch is opened again through the proxy and still sees the approval', async () => {
    const proxy = await tcpProxy(server.port);
    const viaProxy = createWaiaasClient({
      address: `localhost:${proxy.port}`,
      credentials: credentialsFromFiles({ ca: join(server.dir, 'ca.pem'), cert: join(server.dir, 'agent.pem'), key: join(server.dir, 'agent.key') }),
    });
    try {
      const { res, approve } = await pendingTransfer(viaProxy);
      const updates: SignRequestState[] = [];
      let notify: () => void = () => undefined;
      const waiting = waitForSignature(viaProxy, res.signRequestId, {
        timeoutMs: 30_000,
        onUpdate: (r) => {
          updates.push(r.state);
          notify();
        },
      });
      const until = async (pred: () => boolean) => {
        const deadline = Date.now() + 15_000;
        while (!pred()) {
          if (Date.now() > deadline) throw new Error(`timed out; updates ${JSON.stringify(updates)}`);
          await new Promise<void>((r) => {
            notify = r;
            setTimeout(r, 100);
          });
        }
      };
      await until(() => updates.length === 1);
      const before = proxy.connections();
      proxy.cut();
      // The client reconnects (a new TCP connection) and the watch reports the current state again.
      await until(() => updates.length >= 2);
      expect(proxy.connections()).toBeGreaterThan(before);
      expect(updates).toEqual([SignRequestState.PENDING, SignRequestState.PENDING]);
      await approve();
      const done = await waiting;
      expect(done.state).toBe(SignRequestState.SIGNED);
      expect(done.result.signedTransaction.length).toBeGreaterThan(0);
      expect(updates.at(-1)).toBe(SignRequestState.SIGNED);
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });

  test('each subscription is renewed after resubscribeMs (its deadline), without backoff, until the timeout', async () => {
    const { res, approve } = await pendingTransfer();
    const updates: number[] = [];
    const e = await rejectionOf(waitForSignature(agent, res.signRequestId, { timeoutMs: 2_200, resubscribeMs: 500, onUpdate: () => updates.push(Date.now()) }));
    expect(e).toBeInstanceOf(WaiaasTimeoutError);
    // One report per subscription (at 0, ~500, ~1000, ... ms): renewed at least once, and never a tight loop. The lower
    // bound is loose on purpose: on a loaded machine fewer renewals fit into the time.
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates.length).toBeLessThanOrEqual(6);
    await approve();
    expect((await waitForSignature(agent, res.signRequestId, { resubscribeMs: 500, timeoutMs: 5_000 })).state).toBe(SignRequestState.SIGNED);
  });

  test('a request the agent cancels ends the wait with WaiaasRequestEndedError (CANCELLED)', async () => {
    const { res } = await pendingTransfer();
    const waiting = rejectionOf(waitForSignature(agent, res.signRequestId, { timeoutMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 300));
    await agent.requests.cancelSignRequest({ signRequestId: res.signRequestId });
    const e = (await waiting) as WaiaasRequestEndedError;
    expect(e).toBeInstanceOf(WaiaasRequestEndedError);
    expect(e).toMatchObject({ state: 'CANCELLED', reason: 'WAIAAS_SIGN_REQUEST_CANCELLED', code: status.ABORTED, signRequestId: res.signRequestId });
    expect(e.signRequest.state).toBe(SignRequestState.CANCELLED);
  });

  test('an unknown request id is NOT_FOUND at once; an already signed request returns at once', async () => {
    const e = await rejectionOf(waitForSignature(agent, 'req_00000000000000000000000000', { timeoutMs: 5_000 }));
    expect(e).toMatchObject({ reason: 'WAIAAS_SIGN_REQUEST_NOT_FOUND' });
    const { res, approve } = await pendingTransfer();
    await approve();
    const done = await waitForSignature(agent, res.signRequestId, { timeoutMs: 5_000 });
    expect(done.state).toBe(SignRequestState.SIGNED);
    // signAndWait on an INSTANT answer does not watch at all.
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson([{ name: 'siwe', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip191'] }]) } });
    let watched = false;
    const spy: WaitClient = { requests: { ...agent.requests, watchSignRequest: (...a: Parameters<WaiaasClient['requests']['watchSignRequest']>) => ((watched = true), agent.requests.watchSignRequest(...a)) } };
    const signed = await signAndWait(spy, () => agent.signer.signEvmMessage({ walletId: w.walletId, message: new TextEncoder().encode('hello') }));
    expect(signed.result.signature).toHaveLength(65);
    expect(watched).toBe(false);
  });
});
