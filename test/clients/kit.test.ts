/**
 * The @solana/kit adapter against the real appliance: `waiaasKitSigner` is the fee payer and transfer source of a kit
 * transaction message signed with `signTransactionMessageWithSigners` and executed in LiteSVM; kit's signable messages
 * verify against the wallet key; a DENY is a WaiaasDeniedError; an APPROVAL resolves once an owner approves with
 * waiaas-ctl; a wait past its timeout is a WaiaasTimeoutError.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  appendTransactionMessageInstruction,
  createSignableMessage,
  createTransactionMessage,
  generateKeyPairSigner,
  getAddressDecoder,
  getAddressEncoder,
  getSignatureFromTransaction,
  getTransactionEncoder,
  isMessagePartialSigner,
  isTransactionPartialSigner,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type Address,
  type Blockhash,
  type TransactionSigner,
} from '@solana/kit';
import { getTransferSolInstruction } from '@solana-program/system';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  Chain,
  SignRequestState,
  Verdict,
  WaiaasDeniedError,
  WaiaasTimeoutError,
  waiaasKitSigner,
  type SignRequest,
  type WaiaasClient,
} from '../../clients/ts/src/index.ts';
import { createSvm, executeSolana, latestBlockhash } from '../support/litesvm.ts';
import { policyJson, type RuleJson } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';
import { addOwner, decideWithCtl, deferred, ownerKeyFile, rejectionOf, type OwnerKeyFile } from './helpers.ts';

const FEES: RuleJson = { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '100000' };
const SOL = 1_000_000_000n;
const newAddress = (): Address => getAddressDecoder().decode(randomBytes(32));

describe('@solana/kit adapter: waiaasKitSigner', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let owner: WaiaasClient;

  async function wallet(rules: RuleJson[], opts: { owner?: OwnerKeyFile; timeoutMs?: number; onPending?: (r: SignRequest) => void } = {}) {
    const w = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson(rules) } });
    if (opts.owner) await addOwner(server, w.walletId, opts.owner);
    const signer = await waiaasKitSigner({
      client: agent,
      walletId: w.walletId,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.onPending ? { onPending: opts.onPending } : {}),
    });
    return { walletId: w.walletId, signer };
  }

  /** A transfer message paid by `feePayer`, from `source`, with the blockhash of `blockhash`. */
  function transferMessage(feePayer: TransactionSigner, source: TransactionSigner, to: Address, amount: bigint, blockhash: string) {
    return pipe(
      createTransactionMessage({ version: 0 }),
      (m) => setTransactionMessageFeePayerSigner(feePayer, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: blockhash as Blockhash, lastValidBlockHeight: 1_000_000n }, m),
      (m) => appendTransactionMessageInstruction(getTransferSolInstruction({ source, destination: to, amount }), m),
    );
  }

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

  test('the signer is a kit TransactionPartialSigner and MessagePartialSigner with the wallet address', async () => {
    const { walletId, signer } = await wallet([FEES]);
    const w = (await agent.wallets.getWallet({ walletId })).wallet!;
    expect(signer.address).toBe(w.address);
    expect(signer.walletId).toBe(walletId);
    expect(isTransactionPartialSigner(signer)).toBe(true);
    expect(isMessagePartialSigner(signer)).toBe(true);
    await expect(waiaasKitSigner({ client: agent, walletId, address: newAddress() })).rejects.toThrow(`has address ${w.address}`);
    const evm = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await expect(waiaasKitSigner({ client: agent, walletId: evm.walletId })).rejects.toThrow('is not a Solana wallet');
  });

  test('signTransactionMessageWithSigners: the appliance signs as fee payer and source; the transaction executes in LiteSVM', async () => {
    const to = newAddress();
    const { signer } = await wallet([{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [to], max_amount: '1000000' }, FEES]);
    const svm = createSvm();
    const tx = await signTransactionMessageWithSigners(transferMessage(signer, signer, to, 424_242n, latestBlockhash(svm)));
    expect(Object.keys(tx.signatures)).toEqual([signer.address]);
    expect(tx.signatures[signer.address]).toHaveLength(64);
    expect(getSignatureFromTransaction(tx)).toMatch(/^[1-9A-HJ-NP-Za-km-z]{64,88}$/);
    const run = executeSolana({ svm, signedTx: new Uint8Array(getTransactionEncoder().encode(tx)), fund: { [signer.address]: SOL } });
    expect(run.error).toBeUndefined();
    expect(run.balances(to)).toBe(424_242n);
    expect(run.balances(signer.address)).toBe(SOL - 424_242n - 5_000n);
  });

  test('with another signer in the message (a local key as fee payer), the appliance fills only its own slot', async () => {
    const to = newAddress();
    const { signer } = await wallet([{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [to] }, FEES]); // the fee is judged on the worst case, whoever pays it
    const payer = await generateKeyPairSigner();
    const svm = createSvm();
    const tx = await signTransactionMessageWithSigners(transferMessage(payer, signer, to, 1_000n, latestBlockhash(svm)));
    expect(Object.keys(tx.signatures).sort()).toEqual([payer.address, signer.address].sort());
    const run = executeSolana({ svm, signedTx: new Uint8Array(getTransactionEncoder().encode(tx)), fund: { [signer.address]: SOL, [payer.address]: SOL } });
    expect(run.error).toBeUndefined();
    expect(run.balances(to)).toBe(1_000n);
    expect(run.balances(signer.address)).toBe(SOL - 1_000n);
  });

  test('what the appliance returns is checked: a signature over another message than asked for is refused', async () => {
    const to = newAddress();
    const { walletId, signer } = await wallet([{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [to] }, FEES]);
    const blockhash = latestBlockhash(createSvm());
    // A client that swaps the transaction on the way (another amount): the appliance signs what it is given.
    const swapped = await signTransactionMessageWithSigners(transferMessage(signer, signer, to, 2n, blockhash));
    const swapping = {
      ...agent,
      signer: { ...agent.signer, signSolanaTransaction: (req: Parameters<WaiaasClient['signer']['signSolanaTransaction']>[0]) => agent.signer.signSolanaTransaction({ ...req, transaction: new Uint8Array(getTransactionEncoder().encode({ ...swapped, signatures: { [signer.address]: null } } as never)) }) },
    } as WaiaasClient;
    const tampered = await waiaasKitSigner({ client: swapping, walletId });
    await expect(signTransactionMessageWithSigners(transferMessage(tampered, tampered, to, 1n, blockhash))).rejects.toThrow('whose message differs from the one asked for');
  });

  test('signMessages: kit signable messages (sign-in text) are signed over their exact bytes and verify', async () => {
    const { signer } = await wallet([{ name: 'siws', kind: 'message', verdict: 'INSTANT', message_kinds: ['solana_offchain'], text_pattern: 'app\\.example\\.com wants you to sign in[\\s\\S]*' }]);
    const text = `app.example.com wants you to sign in with your Solana account:\n${signer.address}\n\nNonce: 9`;
    const [dict] = await signer.signMessages([createSignableMessage(text)]);
    const sig = dict![signer.address]!;
    expect(ed25519.verify(sig, new TextEncoder().encode(text), new Uint8Array(getAddressEncoder().encode(signer.address)))).toBe(true);
    const e = await rejectionOf(signer.signMessages([createSignableMessage('evil.example wants you to sign in')]));
    expect(e).toBeInstanceOf(WaiaasDeniedError);
  });

  test('a DENY throws WaiaasDeniedError from signTransactionMessageWithSigners, naming the rule', async () => {
    const allowed = newAddress();
    const { signer } = await wallet([
      { name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [allowed], max_amount: '1000' },
      { name: 'daily', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '24h', max: '1500' },
      FEES,
    ]);
    const blockhash = latestBlockhash(createSvm());
    await signTransactionMessageWithSigners(transferMessage(signer, signer, allowed, 1_000n, blockhash));
    const e = await rejectionOf(signTransactionMessageWithSigners(transferMessage(signer, signer, allowed, 999n, blockhash)));
    expect(e).toBeInstanceOf(WaiaasDeniedError);
    const d = e as WaiaasDeniedError;
    expect(d.rule).toBe('daily');
    expect(d.matchedRules.map((m) => m.name)).toEqual(expect.arrayContaining(['daily', 'pay']));
    // Not allowlisted: nothing covers it.
    const other = await rejectionOf(signTransactionMessageWithSigners(transferMessage(signer, signer, newAddress(), 1n, blockhash)));
    expect((other as WaiaasDeniedError).rule).toBe('default-deny');
  });

  test('an APPROVAL request resolves once an owner approves it with waiaas-ctl; a second one times out with WaiaasTimeoutError', async () => {
    const to = newAddress();
    const o = await ownerKeyFile('ed25519');
    const pending = deferred<SignRequest>();
    const { signer } = await wallet([{ name: 'owners-decide', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, FEES], {
      owner: o,
      timeoutMs: 30_000,
      onPending: (r) => pending.resolve(r),
    });
    const svm = createSvm();
    const signing = signTransactionMessageWithSigners(transferMessage(signer, signer, to, 77n, latestBlockhash(svm)));
    const req = await pending.promise;
    expect(req.verdict).toBe(Verdict.APPROVAL);
    expect(await decideWithCtl(server, req.signRequestId, o)).toBe('SIGNED');
    const tx = await signing;
    const run = executeSolana({ svm, signedTx: new Uint8Array(getTransactionEncoder().encode(tx)), fund: { [signer.address]: SOL } });
    expect(run.error).toBeUndefined();
    expect(run.balances(to)).toBe(77n);

    const short = await waiaasKitSigner({ client: agent, walletId: signer.walletId, timeoutMs: 1_000 });
    const e = await rejectionOf(signTransactionMessageWithSigners(transferMessage(short, short, to, 78n, latestBlockhash(svm))));
    expect(e).toBeInstanceOf(WaiaasTimeoutError);
    const t = e as WaiaasTimeoutError;
    expect(t.lastSeen?.rule).toBe('owners-decide');
    expect((await agent.requests.getSignRequest({ signRequestId: t.signRequestId })).signRequest?.state).toBe(SignRequestState.PENDING);
  });

  test('an abortSignal stops the wait with its reason', async () => {
    const o = await ownerKeyFile('ed25519');
    const { signer } = await wallet([{ name: 'owners-decide', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, FEES], { owner: o });
    const message = transferMessage(signer, signer, newAddress(), 5n, latestBlockhash(createSvm()));
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('agent gave up')), 700);
    const e = await rejectionOf(signTransactionMessageWithSigners(message, { abortSignal: ac.signal }));
    expect((e as Error).message).toBe('agent gave up');
  });
});

