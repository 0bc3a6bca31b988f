/**
 * The viem adapter against the real appliance: a viem wallet client whose account is `waiaasAccount` sends an
 * EIP-1559 transfer and an ERC-20 `transfer` (writeContract) that execute in @ethereumjs/vm through an EIP-1193 stub;
 * signMessage / signTypedData verify with viem; a DENY is a WaiaasDeniedError naming the rule; an APPROVAL resolves
 * once an owner approves with waiaas-ctl; a wait past its timeout is a WaiaasTimeoutError; a rejected request is a
 * WaiaasRequestEndedError.
 */
import {
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  erc20Abi,
  bytesToHex,
  hexToBytes,
  parseTransaction,
  serializeTransaction,
  verifyMessage,
  verifyTypedData,
  type Hex,
  type TransactionSerializable,
} from 'viem';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  Chain,
  SignRequestState,
  Verdict,
  WaiaasDeniedError,
  WaiaasRequestEndedError,
  WaiaasTimeoutError,
  waiaasAccount,
  waiaasErrorOf,
  type SignRequest,
  type WaiaasClient,
} from '../../clients/ts/src/index.ts';
import { evmRpc } from '../support/evm-rpc.ts';
import { createEvm, deployErc20, erc20BalanceOf, evmBalance, fundEvm } from '../support/evm.ts';
import { policyJson, type RuleJson } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';
import { addOwner, decideWithCtl, deferred, ownerKeyFile, rejectionOf, type OwnerKeyFile } from './helpers.ts';

const CHAIN_ID = 31337;
const chain = defineChain({ id: CHAIN_ID, name: 'waiaas-test', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [] } } });
const ALICE = '0x1111111111111111111111111111111111111111';
const MALLORY = '0x6666666666666666666666666666666666666666';
const ETH = 10n ** 18n;
const FEES: RuleJson = { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '10000000000000000' };

describe('viem adapter: waiaasAccount', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let owner: WaiaasClient;

  /** A new EVM wallet with `rules`, funded with 1 ETH in a fresh VM, and a wallet client over it. */
  async function setup(rules: RuleJson[], opts: { owner?: OwnerKeyFile; timeoutMs?: number; cancelOnTimeout?: boolean; onPending?: (r: SignRequest) => void } = {}) {
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson(rules) } });
    if (opts.owner) await addOwner(server, w.walletId, opts.owner);
    const account = await waiaasAccount({
      client: agent,
      walletId: w.walletId,
      address: w.address,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.cancelOnTimeout ? { cancelOnTimeout: true } : {}),
      ...(opts.onPending ? { onPending: opts.onPending } : {}),
    });
    const vm = await createEvm(BigInt(CHAIN_ID));
    await fundEvm(vm, { [w.address]: ETH });
    const rpc = evmRpc(vm);
    const wallet = createWalletClient({ account, chain, transport: custom(rpc) });
    return { walletId: w.walletId, address: w.address, account, vm, rpc, wallet };
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

  test('the account is the wallet: address from GetWallet, public key, and a mismatching address or chain is refused', async () => {
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    const account = await waiaasAccount({ client: agent, walletId: w.walletId });
    expect(account.address).toBe(w.address);
    expect(account.type).toBe('local');
    expect(account.source).toBe('waiaas');
    expect(account.walletId).toBe(w.walletId);
    expect(account.publicKey).toMatch(/^0x04[0-9a-f]{128}$/);
    expect(await waiaasAccount({ client: agent, walletId: w.walletId, address: w.address.toLowerCase() })).toMatchObject({ address: w.address });
    await expect(waiaasAccount({ client: agent, walletId: w.walletId, address: ALICE })).rejects.toThrow(`has address ${w.address}, not ${ALICE}`);
    const sol = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    await expect(waiaasAccount({ client: agent, walletId: sol.walletId })).rejects.toThrow('is not an EVM wallet');
  });

  test('sendTransaction: an EIP-1559 transfer prepared by viem (nonce, gas, fees from the RPC) is signed INSTANT and executes', async () => {
    const s = await setup([{ name: 'pay-alice', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [ALICE], max_amount: String(ETH / 10n) }, FEES]);
    const hash = await s.wallet.sendTransaction({ to: ALICE, value: 12_345n, chain });
    expect(s.rpc.receipts.get(hash.toLowerCase())).toMatchObject({ status: 'success', from: s.address.toLowerCase(), to: ALICE });
    expect(await evmBalance(s.vm, ALICE)).toBe(12_345n);
    const sent = parseTransaction(s.rpc.sent[0]!);
    expect(sent).toMatchObject({ type: 'eip1559', chainId: CHAIN_ID, nonce: 0, to: ALICE, value: 12_345n, gas: 21_000n });
    expect(s.rpc.calls).toEqual(expect.arrayContaining(['eth_getTransactionCount', 'eth_estimateGas', 'eth_getBlockByNumber', 'eth_sendRawTransaction']));

    // The next one takes the next nonce from the VM's state, and spends from what is left.
    await s.wallet.sendTransaction({ to: ALICE, value: 1n, chain });
    expect(parseTransaction(s.rpc.sent[1]!).nonce).toBe(1);
    expect(await evmBalance(s.vm, ALICE)).toBe(12_346n);
    expect(await evmBalance(s.vm, s.address)).toBeLessThan(ETH - 12_346n);
  });

  test('legacy (EIP-155) and EIP-2930 transactions are signed as viem serializes them and execute', async () => {
    const s = await setup([{ name: 'pay-alice', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [ALICE] }, FEES]);
    await s.wallet.sendTransaction({ to: ALICE, value: 10n, type: 'legacy', chain });
    await s.wallet.sendTransaction({ to: ALICE, value: 20n, type: 'eip2930', accessList: [], chain });
    expect(s.rpc.sent.map((raw) => parseTransaction(raw).type)).toEqual(['legacy', 'eip2930']);
    expect([...s.rpc.receipts.values()].map((r) => r.status)).toEqual(['success', 'success']);
    expect(await evmBalance(s.vm, ALICE)).toBe(30n);
    // A legacy transaction without a chain id (pre-EIP-155) is never sent to the appliance.
    await expect(s.account.signTransaction({ type: 'legacy', nonce: 2, to: ALICE, value: 1n, gas: 21_000n, gasPrice: 2_000_000_000n })).rejects.toThrow('has no chainId');
  });

  test('writeContract: an ERC-20 transfer is judged as the token outflow it is, signed and executed; readContract sees it', async () => {
    const s = await setup([FEES]);
    const token = await deployErc20(s.vm, { balances: { [s.address]: 1_000n } });
    await owner.policies.setPolicy({
      walletId: s.walletId,
      policy: { document: policyJson([{ name: 'token-to-alice', kind: 'transfer', verdict: 'NOTIFY', asset: `erc20:${token}`, recipients: [ALICE], max_amount: '500' }, FEES]) },
    });
    const hash = await s.wallet.writeContract({ address: token as Hex, abi: erc20Abi, functionName: 'transfer', args: [ALICE, 250n], chain });
    expect(s.rpc.receipts.get(hash.toLowerCase())?.status).toBe('success');
    expect(await erc20BalanceOf(s.vm, token, ALICE)).toBe(250n);
    expect(await erc20BalanceOf(s.vm, token, s.address)).toBe(750n);
    const reader = createPublicClient({ chain, transport: custom(s.rpc) });
    expect(await reader.readContract({ address: token as Hex, abi: erc20Abi, functionName: 'balanceOf', args: [ALICE] })).toBe(250n);

    // Above the rule's max_amount nothing covers it: denied, and the error names the rule.
    const e = await rejectionOf(s.wallet.writeContract({ address: token as Hex, abi: erc20Abi, functionName: 'transfer', args: [ALICE, 501n], chain }));
    expect(waiaasErrorOf(e)).toBeInstanceOf(WaiaasDeniedError);
    expect(await erc20BalanceOf(s.vm, token, ALICE)).toBe(250n);
  });

  test('signMessage and signTypedData (bigints, nested structs) verify with verifyMessage / verifyTypedData', async () => {
    const s = await setup([
      { name: 'sign-in', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip191'], text_prefix: 'app.example.com wants you to sign in' },
      { name: 'mail', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip712'], primary_types: ['Mail'] },
      { name: 'unknown-typed-data', kind: 'flag', verdict: 'INSTANT', flags: ['UNKNOWN_TYPED_DATA'] },
    ]);
    const text = `app.example.com wants you to sign in with your Ethereum account:\n${s.address}\n\nNonce: 7`;
    const sig = await s.wallet.signMessage({ message: text });
    expect(sig).toMatch(/^0x[0-9a-f]{130}$/);
    expect(await verifyMessage({ address: s.address as Hex, message: text, signature: sig })).toBe(true);
    // Raw bytes are signed as given (with the EIP-191 prefix).
    const raw = await s.account.signMessage({ message: { raw: new TextEncoder().encode(`${text}!`) } });
    expect(await verifyMessage({ address: s.address as Hex, message: `${text}!`, signature: raw })).toBe(true);

    const typed = {
      domain: { name: 'Ether Mail', version: '1', chainId: BigInt(CHAIN_ID), verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' as Hex },
      types: {
        Person: [{ name: 'name', type: 'string' }, { name: 'wallet', type: 'address' }],
        Mail: [{ name: 'from', type: 'Person' }, { name: 'to', type: 'Person' }, { name: 'contents', type: 'string' }, { name: 'amount', type: 'uint256' }],
      },
      primaryType: 'Mail' as const,
      message: {
        from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' as Hex },
        to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' as Hex },
        contents: 'Hello, Bob!',
        amount: 2n ** 200n + 1n,
      },
    };
    const tsig = await s.wallet.signTypedData(typed);
    expect(await verifyTypedData({ ...typed, address: s.address as Hex, signature: tsig })).toBe(true);

    // Text the rule does not allow: denied.
    const e = await rejectionOf(s.wallet.signMessage({ message: 'evil.example wants you to sign in' }));
    expect(e).toBeInstanceOf(WaiaasDeniedError);
    expect((e as WaiaasDeniedError).rule).toBe('default-deny');
  });

  test('what the appliance returns is checked: a signature over other bytes than asked for is refused', async () => {
    const s = await setup([{ name: 'pay-alice', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [ALICE] }, FEES]);
    // A client that swaps the transaction on the way (value 1 becomes 2): the appliance signs what it is given.
    const swapping = {
      ...agent,
      signer: {
        ...agent.signer,
        signEvmTransaction: (req: Parameters<WaiaasClient['signer']['signEvmTransaction']>[0]) => {
          const tx = parseTransaction(bytesToHex(req.unsignedTransaction!));
          return agent.signer.signEvmTransaction({ ...req, unsignedTransaction: hexToBytes(serializeTransaction({ ...tx, value: 2n } as TransactionSerializable)) });
        },
      },
    } as WaiaasClient;
    const account = await waiaasAccount({ client: swapping, walletId: s.walletId });
    await expect(account.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: 0, to: ALICE, value: 1n, gas: 21_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n }))
      .rejects.toThrow('differs from the one asked for');
  });

  test('a DENY throws WaiaasDeniedError with the deciding rule and the matched rules; nothing is sent', async () => {
    const s = await setup([
      { name: 'pay-alice', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [ALICE] },
      { name: 'blocklist', kind: 'deny_addresses', verdict: 'DENY', addresses: [MALLORY] },
      FEES,
    ]);
    // Directly: the account's signTransaction throws the typed error itself.
    const direct = await rejectionOf(s.account.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: 0, to: MALLORY, value: 1n, gas: 21_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n }));
    expect(direct).toBeInstanceOf(WaiaasDeniedError);
    const d = direct as WaiaasDeniedError;
    expect(d.reason).toBe('WAIAAS_POLICY_DENIED');
    expect(d.rule).toBe('blocklist');
    expect(d.matchedRules).toEqual(expect.arrayContaining([{ name: 'blocklist', verdict: 'DENY' }]));
    expect(d.signRequestId).toMatch(/^req_/);
    expect(d.policyHash).not.toBe('');
    expect(d.message).toContain(MALLORY);
    const rec = (await agent.requests.getSignRequest({ signRequestId: d.signRequestId })).signRequest!;
    expect(rec.state).toBe(SignRequestState.REFUSED);

    // Through viem: sendTransaction wraps it (TransactionExecutionError); waiaasErrorOf finds it. Nothing was broadcast.
    const wrapped = await rejectionOf(s.wallet.sendTransaction({ to: MALLORY, value: 1n, chain }));
    expect(wrapped).not.toBeInstanceOf(WaiaasDeniedError);
    expect(waiaasErrorOf(wrapped)).toBeInstanceOf(WaiaasDeniedError);
    expect((waiaasErrorOf(wrapped) as WaiaasDeniedError).rule).toBe('blocklist');
    expect(s.rpc.sent).toHaveLength(0);
    expect(await evmBalance(s.vm, MALLORY)).toBe(0n);
  });

  test('an APPROVAL request: sendTransaction waits (watching) until an owner approves it with waiaas-ctl, then executes', async () => {
    const o = await ownerKeyFile('ed25519');
    const pending = deferred<SignRequest>();
    const s = await setup(
      [
        { name: 'small', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [ALICE], max_amount: '1000' },
        { name: 'large', kind: 'transfer', verdict: 'APPROVAL', asset: 'native', recipients: [ALICE], min_amount: '1001' },
        FEES,
      ],
      { owner: o, timeoutMs: 30_000, onPending: (r) => pending.resolve(r) },
    );
    let settled = false;
    const sending = s.wallet.sendTransaction({ to: ALICE, value: 5_000n, chain }).finally(() => (settled = true));
    const req = await pending.promise;
    expect(req.verdict).toBe(Verdict.APPROVAL);
    expect(req.rule).toBe('large');
    expect(req.state).toBe(SignRequestState.PENDING);
    await new Promise((r) => setTimeout(r, 500));
    expect(settled).toBe(false);
    expect(s.rpc.sent).toHaveLength(0);

    expect(await decideWithCtl(server, req.signRequestId, o, 'approve')).toBe('SIGNED');
    const hash = await sending;
    expect(s.rpc.receipts.get(hash.toLowerCase())?.status).toBe('success');
    expect(await evmBalance(s.vm, ALICE)).toBe(5_000n);
    const done = (await agent.requests.getSignRequest({ signRequestId: req.signRequestId })).signRequest!;
    expect(done.state).toBe(SignRequestState.SIGNED);
    expect(`0x${Buffer.from(done.result!.signedTransaction).toString('hex')}`).toBe(s.rpc.sent[0]);
  });

  test('a DELAY request: sendTransaction resolves by itself once the delay has passed', async () => {
    const pending = deferred<SignRequest>();
    const s = await setup([{ name: 'cool-off', kind: 'transfer', verdict: 'DELAY', delay_seconds: 2, asset: 'native', recipients: [ALICE] }, FEES], { onPending: (r) => pending.resolve(r) });
    const started = Date.now();
    const hash = await s.wallet.sendTransaction({ to: ALICE, value: 42n, chain });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    const req = await pending.promise;
    expect(req.verdict).toBe(Verdict.DELAY);
    expect(req.delaySeconds).toBe(2);
    expect(s.rpc.receipts.get(hash.toLowerCase())?.status).toBe('success');
    expect(await evmBalance(s.vm, ALICE)).toBe(42n);
  });

  test('an owner rejection ends the wait with WaiaasRequestEndedError (REFUSED, with the reason)', async () => {
    const o = await ownerKeyFile('evm');
    const pending = deferred<SignRequest>();
    const s = await setup([{ name: 'owners-decide', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, FEES], { owner: o, onPending: (r) => pending.resolve(r) });
    const signing = rejectionOf(s.account.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: 0, to: ALICE, value: 9n, gas: 21_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n }));
    const req = await pending.promise;
    expect(await decideWithCtl(server, req.signRequestId, o, 'reject')).toBe('REFUSED');
    const e = await signing;
    expect(e).toBeInstanceOf(WaiaasRequestEndedError);
    const ended = e as WaiaasRequestEndedError;
    expect(ended.state).toBe('REFUSED');
    expect(ended.reason).toBe('WAIAAS_POLICY_DENIED');
    expect(ended.signRequestId).toBe(req.signRequestId);
    expect(ended.message).toContain('rejected by owner');
  });

  test('a wait past timeoutMs throws WaiaasTimeoutError; the request stays PENDING, or is cancelled with cancelOnTimeout', async () => {
    const o = await ownerKeyFile();
    const rules: RuleJson[] = [{ name: 'owners-decide', kind: 'transfer', verdict: 'APPROVAL', asset: 'native' }, FEES];
    const s = await setup(rules, { owner: o, timeoutMs: 1_500 });
    const started = Date.now();
    const e = await rejectionOf(s.wallet.sendTransaction({ to: ALICE, value: 3n, chain }));
    const elapsed = Date.now() - started;
    const t = waiaasErrorOf(e);
    expect(t).toBeInstanceOf(WaiaasTimeoutError);
    const timeout = t as WaiaasTimeoutError;
    expect(timeout.reason).toBe('WAIAAS_WAIT_TIMEOUT');
    expect(timeout.timeoutMs).toBe(1_500);
    expect(timeout.cancelled).toBe(false);
    expect(timeout.lastSeen?.verdict).toBe(Verdict.APPROVAL);
    expect(elapsed).toBeGreaterThanOrEqual(1_400);
    expect(elapsed).toBeLessThan(10_000);
    expect((await agent.requests.getSignRequest({ signRequestId: timeout.signRequestId })).signRequest?.state).toBe(SignRequestState.PENDING);
    expect(s.rpc.sent).toHaveLength(0);

    const c = await setup(rules, { owner: o, timeoutMs: 500, cancelOnTimeout: true });
    const e2 = await rejectionOf(c.wallet.sendTransaction({ to: ALICE, value: 4n, chain }));
    const t2 = waiaasErrorOf(e2) as WaiaasTimeoutError;
    expect(t2).toBeInstanceOf(WaiaasTimeoutError);
    expect(t2.cancelled).toBe(true);
    expect((await agent.requests.getSignRequest({ signRequestId: t2.signRequestId })).signRequest?.state).toBe(SignRequestState.CANCELLED);
  });
});
