/**
 * The MCP server end to end: `node clients/mcp/server.ts` is spawned over stdio by the SDK's client with the dev
 * agent's credentials, against the real appliance process (mTLS, policy, SoftHSM2, SQLite). A model's view: tools and
 * resources are listed, a dry run and signatures work (the signed EIP-1559 transaction executes in @ethereumjs/vm,
 * the Solana one in LiteSVM, message and typed-data signatures verify), a DELAY request is waited for, a denial is a
 * readable tool error with the reason and advice. Started with an owner's or admin's certificate, the server refuses
 * to run, and it refuses to go on with one swapped into its credential files.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { getAddressDecoder, getBase58Encoder } from '@solana/kit';
import { randomBytes } from 'node:crypto';
import { hexToBytes, verifyMessage, verifyTypedData, type Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Chain, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { executeEvm, unsignedEip1559 } from '../support/evm.ts';
import { createSvm, executeSolana, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { nativeTransferPolicy, policyJson } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SERVER = join(ROOT, 'clients/mcp/server.ts');
const RECIPIENT = '0x1111111111111111111111111111111111111111';
const SLOW_RECIPIENT = '0x3333333333333333333333333333333333333333';
const STRANGER = '0x2222222222222222222222222222222222222222';
const ETH = 10n ** 18n;
const SOL_RECIPIENT = getAddressDecoder().decode(randomBytes(32));

/** EIP-712 typed data of a type the appliance does not decode (so it carries the UNKNOWN_TYPED_DATA flag). */
const MAIL = {
  types: {
    EIP712Domain: [
      { name: 'name', type: 'string' },
      { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' },
    ],
    Mail: [
      { name: 'from', type: 'string' },
      { name: 'contents', type: 'string' },
    ],
  },
  primaryType: 'Mail',
  domain: { name: 'Ether Mail', version: '1', chainId: 1 },
  message: { from: 'agent', contents: 'Hello, Bob!' },
} as const;

function env(server: TestServer, role: 'agent' | 'owner' | 'admin'): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    WAIAAS_ADDRESS: server.address,
    WAIAAS_CA: join(server.dir, 'ca.pem'),
    WAIAAS_CERT: join(server.dir, `${role}.pem`),
    WAIAAS_KEY: join(server.dir, `${role}.key`),
  };
}

/** The text of a tool result. */
function text(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

/** The structured content of a tool result, typed loosely for assertions. */
function data(r: CallToolResult): Record<string, any> {
  expect(r.structuredContent).toBeDefined();
  return r.structuredContent as Record<string, any>;
}

describe('MCP server', () => {
  let server: TestServer;
  let admin: WaiaasClient;
  let mcp: Client;
  let transport: StdioClientTransport;
  let stderr = '';
  let evmWallet: { walletId: string; address: string };
  let bareWallet: { walletId: string; address: string };
  let solWallet: { walletId: string; address: string; publicKey: Uint8Array };

  const call = async (name: string, args: Record<string, unknown>): Promise<CallToolResult> =>
    (await mcp.callTool({ name, arguments: args }, undefined, { timeout: 60_000 })) as CallToolResult;

  const readJson = async (uri: string): Promise<Record<string, any>> => {
    const [content] = (await mcp.readResource({ uri })).contents;
    expect(content && 'text' in content).toBe(true);
    return JSON.parse((content as { text: string }).text) as Record<string, any>;
  };

  beforeAll(async () => {
    server = await startServer();
    admin = server.client('admin');
    const w = (await admin.wallets.createWallet({ chain: Chain.EVM, labels: { purpose: 'mcp' } })).wallet!;
    evmWallet = { walletId: w.walletId, address: w.address };
    const bare = (await admin.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    bareWallet = { walletId: bare.walletId, address: bare.address };
    await admin.policies.setPolicy({
      walletId: evmWallet.walletId,
      policy: {
        document: policyJson([
          { name: 'pay-allowlisted', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [RECIPIENT], max_amount: String(ETH) },
          { name: 'pay-slowly', kind: 'transfer', verdict: 'DELAY', delay_seconds: 2, asset: 'native', recipients: [SLOW_RECIPIENT], max_amount: String(ETH) },
          { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: String(10n ** 16n) },
          { name: 'sign-in', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip191'], text_prefix: 'Sign in to ' },
          { name: 'mail', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip712'], primary_types: ['Mail'] },
          { name: 'undecoded-typed-data', kind: 'flag', verdict: 'NOTIFY', flags: ['UNKNOWN_TYPED_DATA'] },
        ]),
      },
    });
    const sol = (await admin.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    solWallet = { walletId: sol.walletId, address: sol.address, publicKey: sol.key!.publicKey };
    await admin.policies.setPolicy({
      walletId: solWallet.walletId,
      policy: { document: nativeTransferPolicy([SOL_RECIPIENT], 5_000_000n, { extra: [{ name: 'sign-in', kind: 'message', verdict: 'INSTANT', text_prefix: 'Sign in to ' }] }) },
    });
    transport = new StdioClientTransport({ command: process.execPath, args: [SERVER], env: env(server, 'agent'), cwd: ROOT, stderr: 'pipe' });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    mcp = new Client({ name: 'waiaas-mcp-test', version: '0.0.0' });
    await mcp.connect(transport);
  });

  afterAll(async () => {
    await mcp?.close();
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('it runs as the dev agent and says so on stderr', () => {
    expect(stderr).toContain('agent spiffe://waiaas/agent/dev-agent');
    expect(mcp.getServerVersion()?.name).toBe('waiaas-signer');
    expect(mcp.getInstructions()).toContain('evaluate_request');
  });

  test('lists its tools, each with a description and an object input schema', async () => {
    const { tools } = await mcp.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(
      ['cancel_request', 'evaluate_request', 'get_request', 'list_wallets', 'sign_evm_transaction', 'sign_message', 'sign_solana_transaction', 'sign_typed_data', 'wait_for_request'].sort(),
    );
    for (const t of tools) {
      expect(t.description!.length, t.name).toBeGreaterThan(80);
      expect(t.inputSchema.type).toBe('object');
    }
    const sign = tools.find((t) => t.name === 'sign_evm_transaction')!;
    expect(sign.inputSchema.required).toEqual(expect.arrayContaining(['wallet_id', 'unsigned_transaction', 'chain_id']));
    expect(Object.keys(sign.inputSchema.properties!)).toContain('request_id');
    expect(sign.annotations?.readOnlyHint).toBe(false);
    expect(tools.find((t) => t.name === 'list_wallets')!.annotations?.readOnlyHint).toBe(true);
  });

  test('list_wallets returns the wallets with their chain and address', async () => {
    const r = await call('list_wallets', {});
    expect(r.isError).toBeFalsy();
    const wallets = data(r).wallets as Record<string, unknown>[];
    expect(wallets).toContainEqual(expect.objectContaining({ wallet_id: evmWallet.walletId, chain: 'evm', address: evmWallet.address, labels: { purpose: 'mcp' } }));
    expect(text(r)).toContain(evmWallet.walletId);
    const sol = await call('list_wallets', { chain: 'solana' });
    expect((data(sol).wallets as { wallet_id: string }[]).map((w) => w.wallet_id)).toEqual([solWallet.walletId]);
  });

  test('evaluate_request dry-runs a transaction: verdict, rule, effects and matched rules', async () => {
    const unsigned = unsignedEip1559({ chainId: 1n, to: RECIPIENT, value: ETH / 10n, nonce: 0 });
    const r = await call('evaluate_request', { wallet_id: evmWallet.walletId, evm_transaction: Buffer.from(unsigned).toString('hex'), chain_id: 1 });
    expect(r.isError).toBeFalsy();
    const d = data(r);
    expect(d.verdict).toBe('INSTANT');
    expect(d.rule).toBe('pay-allowlisted');
    expect(d.effects).toContain(`send 100000000000000000 native (0.1 ETH) to ${RECIPIENT} [value]`);
    expect(d.effects.some((l: string) => l.startsWith('network fee up to'))).toBe(true);
    expect(d.matched_rules.map((m: { name: string }) => m.name)).toEqual(expect.arrayContaining(['pay-allowlisted', 'fees']));
    expect(text(r)).toMatch(/^Verdict INSTANT \(rule "pay-allowlisted"\)/);

    const denied = await call('evaluate_request', { wallet_id: evmWallet.walletId, evm_transaction: `0x${Buffer.from(unsignedEip1559({ chainId: 1n, to: STRANGER, value: 1n })).toString('hex')}`, chain_id: '1' });
    expect(denied.isError).toBeFalsy(); // a dry run that would be denied is an answer, not an error
    expect(data(denied).verdict).toBe('DENY');
    expect(data(denied).rule).toBe('default-deny');
    expect(data(denied).next_step).toContain(`waiaas://wallets/${evmWallet.walletId}/policy`);

    const msg = await call('evaluate_request', { wallet_id: evmWallet.walletId, message: 'Sign in to example.org' });
    expect(data(msg).verdict).toBe('INSTANT');
    expect(data(msg).rule).toBe('sign-in');
  });

  test('evaluate_request wants exactly one payload', async () => {
    const r = await call('evaluate_request', { wallet_id: evmWallet.walletId, message: 'a', typed_data: '{}' });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('exactly one');
    const none = await call('evaluate_request', { wallet_id: evmWallet.walletId });
    expect(none.isError).toBe(true);
  });

  test('sign_evm_transaction signs; the signed transaction executes in @ethereumjs/vm', async () => {
    const unsigned = unsignedEip1559({ chainId: 1n, to: RECIPIENT, value: ETH / 10n, nonce: 0 });
    const r = await call('sign_evm_transaction', { wallet_id: evmWallet.walletId, unsigned_transaction: Buffer.from(unsigned).toString('hex'), chain_id: 1, request_id: 'mcp-pay-1' });
    expect(r.isError, text(r)).toBeFalsy();
    const d = data(r);
    expect(d.status).toBe('SIGNED');
    expect(d.verdict).toBe('INSTANT');
    expect(d.rule).toBe('pay-allowlisted');
    expect(d.sign_request_id).toMatch(/^req_/);
    expect(d.signer_address).toBe(evmWallet.address);
    expect(d.transaction_hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(text(r)).toContain('eth_sendRawTransaction');
    const run = await executeEvm({ signedTx: hexToBytes(d.signed_transaction as Hex), chainId: 1n, fund: { [evmWallet.address]: ETH } });
    expect(run.error).toBeUndefined();
    expect(run.ok).toBe(true);
    expect(run.sender).toBe(evmWallet.address.toLowerCase());
    expect(await run.balance(RECIPIENT)).toBe(ETH / 10n);

    // The same request_id and bytes: the first answer again, no second signature.
    const again = await call('sign_evm_transaction', { wallet_id: evmWallet.walletId, unsigned_transaction: Buffer.from(unsigned).toString('hex'), chain_id: 1, request_id: 'mcp-pay-1' });
    expect(data(again).signed_transaction).toBe(d.signed_transaction);

    const got = await call('get_request', { sign_request_id: d.sign_request_id });
    expect(data(got).state).toBe('SIGNED');
    expect(data(got).result.signed_transaction).toBe(d.signed_transaction);
  });

  test('a denied request is a tool error naming the reason, the rule, the request and what to do', async () => {
    const unsigned = unsignedEip1559({ chainId: 1n, to: RECIPIENT, value: 2n * ETH, nonce: 1 });
    const r = await call('sign_evm_transaction', { wallet_id: evmWallet.walletId, unsigned_transaction: `0x${Buffer.from(unsigned).toString('hex')}`, chain_id: 1 });
    expect(r.isError).toBe(true);
    const t = text(r);
    expect(t).toMatch(/^Error WAIAAS_POLICY_DENIED: /);
    expect(t).toContain('2000000000000000000 of native');
    expect(t).toContain('Rule: default-deny (verdict DENY)');
    expect(t).toMatch(/Sign request: req_\w+ \(REFUSED; nothing was signed\)/);
    expect(t).toContain('What to do next:');
    expect(t).toContain('smaller amount');
    expect(t).toContain('evaluate_request');
    expect(t).toContain("ask the wallet's owner");
    const d = data(r);
    expect(d.error.reason).toBe('WAIAAS_POLICY_DENIED');
    expect(d.error.grpc_code).toBe('PERMISSION_DENIED');
    expect(d.error.metadata.rule).toBe('default-deny');
  });

  test('other appliance errors are readable too: chain id mismatch, unknown wallet, wallet without policy', async () => {
    const unsigned = unsignedEip1559({ chainId: 1n, to: RECIPIENT, value: 1n, nonce: 2 });
    const mismatch = await call('sign_evm_transaction', { wallet_id: evmWallet.walletId, unsigned_transaction: Buffer.from(unsigned).toString('hex'), chain_id: 5 });
    expect(mismatch.isError).toBe(true);
    expect(text(mismatch)).toMatch(/^Error WAIAAS_CHAIN_ID_MISMATCH: /);
    expect(text(mismatch)).toContain('chain_id equal to the chain id inside the transaction');

    const unknown = await call('list_wallets', {}).then(() => call('get_request', { sign_request_id: 'req_00000000000000000000000000' }));
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toMatch(/^Error WAIAAS_SIGN_REQUEST_NOT_FOUND: /);

    const bare = await call('sign_evm_transaction', { wallet_id: bareWallet.walletId, unsigned_transaction: Buffer.from(unsigned).toString('hex'), chain_id: 1 });
    expect(bare.isError).toBe(true);
    expect(text(bare)).toContain('WAIAAS_POLICY_DENIED');
  });

  test('bad arguments are refused with a readable message before reaching the appliance', async () => {
    const r = await call('sign_evm_transaction', { wallet_id: evmWallet.address, unsigned_transaction: 'zz', chain_id: 1 });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('list_wallets');
    expect(text(r)).toContain('hex');
  });

  test('a DELAY request answers PENDING with how to wait; wait_for_request returns the signed transaction', async () => {
    const unsigned = unsignedEip1559({ chainId: 1n, to: SLOW_RECIPIENT, value: ETH / 100n, nonce: 3 });
    const r = await call('sign_evm_transaction', { wallet_id: evmWallet.walletId, unsigned_transaction: Buffer.from(unsigned).toString('hex'), chain_id: 1 });
    expect(r.isError, text(r)).toBeFalsy();
    const d = data(r);
    expect(d.status).toBe('PENDING');
    expect(d.verdict).toBe('DELAY');
    expect(d.rule).toBe('pay-slowly');
    expect(d).not.toHaveProperty('signed_transaction');
    expect(text(r)).toContain(`Not signed yet: request ${d.sign_request_id} is PENDING`);
    expect(text(r)).toContain(`call wait_for_request with sign_request_id "${d.sign_request_id}"`);
    expect(text(r)).toContain('Do not submit the same request again');

    const pending = await call('get_request', { sign_request_id: d.sign_request_id });
    expect(['PENDING', 'SIGNING', 'SIGNED']).toContain(data(pending).state);

    const waited = await call('wait_for_request', { sign_request_id: d.sign_request_id, timeout_seconds: 30 });
    expect(waited.isError, text(waited)).toBeFalsy();
    const w = data(waited);
    expect(w.status).toBe('SIGNED');
    const run = await executeEvm({ signedTx: hexToBytes(w.result.signed_transaction as Hex), chainId: 1n, fund: { [evmWallet.address]: ETH } });
    expect(run.error).toBeUndefined();
    expect(await run.balance(SLOW_RECIPIENT)).toBe(ETH / 100n);
  });

  test('wait_for_request stops at its timeout when the request is still pending; cancel_request withdraws it', async () => {
    const unsigned = unsignedEip1559({ chainId: 1n, to: SLOW_RECIPIENT, value: 1n, nonce: 4 });
    const r = await call('sign_evm_transaction', { wallet_id: evmWallet.walletId, unsigned_transaction: Buffer.from(unsigned).toString('hex'), chain_id: 1 });
    const id = data(r).sign_request_id as string;
    const cancelled = await call('cancel_request', { sign_request_id: id });
    expect(cancelled.isError, text(cancelled)).toBeFalsy();
    expect(data(cancelled).state).toBe('CANCELLED');
    const waited = await call('wait_for_request', { sign_request_id: id, timeout_seconds: 1 });
    expect(waited.isError).toBe(true);
    expect(text(waited)).toMatch(/^Error WAIAAS_SIGN_REQUEST_CANCELLED: request req_\w+ ended CANCELLED/);

    const other = await call('sign_evm_transaction', { wallet_id: evmWallet.walletId, unsigned_transaction: Buffer.from(unsignedEip1559({ chainId: 1n, to: SLOW_RECIPIENT, value: 2n, nonce: 5 })).toString('hex'), chain_id: 1 });
    const otherId = data(other).sign_request_id as string;
    const short = await call('wait_for_request', { sign_request_id: otherId, timeout_seconds: 1 });
    expect(short.isError).toBeFalsy();
    expect(data(short).status).toBe('PENDING');
    expect(text(short)).toMatch(/^Still PENDING after waiting 1 s/);
    await call('cancel_request', { sign_request_id: otherId });
  });

  test('sign_message signs an EIP-191 message the policy allows', async () => {
    const r = await call('sign_message', { wallet_id: evmWallet.walletId, message: 'Sign in to example.org' });
    expect(r.isError, text(r)).toBeFalsy();
    const sig = data(r).signature as Hex;
    expect(await verifyMessage({ address: evmWallet.address as Hex, message: 'Sign in to example.org', signature: sig })).toBe(true);
    const refused = await call('sign_message', { wallet_id: evmWallet.walletId, message: 'Transfer everything' });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toContain('WAIAAS_POLICY_DENIED');
  });

  test('sign_typed_data signs EIP-712 typed data the policy allows (given as an object or as JSON text)', async () => {
    const r = await call('sign_typed_data', { wallet_id: evmWallet.walletId, typed_data: MAIL });
    expect(r.isError, text(r)).toBeFalsy();
    const d = data(r);
    expect(d.status).toBe('SIGNED');
    expect(d.verdict).toBe('NOTIFY');
    expect(text(r)).toContain("The wallet's owners were notified.");
    expect(d.effects).toContain('sign typed data Mail for Ether Mail (no contract)');
    expect(await verifyTypedData({ address: evmWallet.address as Hex, types: MAIL.types, primaryType: 'Mail', domain: { ...MAIL.domain, chainId: 1n }, message: MAIL.message, signature: d.signature as Hex })).toBe(true);
    const asText = await call('sign_typed_data', { wallet_id: evmWallet.walletId, typed_data: JSON.stringify(MAIL) });
    expect(data(asText).digest).toBe(d.digest);
  });

  test('sign_solana_transaction signs; the signed transaction executes in litesvm', async () => {
    const svm = createSvm();
    const tx = unsignedSolTransfer({ from: solWallet.address, to: SOL_RECIPIENT, lamports: 1_234_567n, blockhash: latestBlockhash(svm) });
    const r = await call('sign_solana_transaction', { wallet_id: solWallet.walletId, transaction: Buffer.from(tx).toString('base64') });
    expect(r.isError, text(r)).toBeFalsy();
    const d = data(r);
    expect(d.status).toBe('SIGNED');
    expect(d.effects).toContain(`send 1234567 native (0.001234567 SOL) to ${SOL_RECIPIENT} [System.Transfer]`);
    const signed = Buffer.from(d.signed_transaction_base64 as string, 'base64');
    const run = executeSolana({ svm, signedTx: signed, fund: { [solWallet.address]: 1_000_000_000n } });
    expect(run.error).toBeUndefined();
    expect(run.balances(SOL_RECIPIENT)).toBe(1_234_567n);
    // The signature is the transaction id, base58.
    expect(getBase58Encoder().encode(d.signature as string)).toEqual(new Uint8Array(signed.subarray(1, 65)));

    const wrongTool = await call('sign_evm_transaction', { wallet_id: solWallet.walletId, unsigned_transaction: Buffer.from(unsignedEip1559({ chainId: 1n, to: RECIPIENT, value: 1n })).toString('hex'), chain_id: 1 });
    expect(wrongTool.isError).toBe(true);
    expect(text(wrongTool)).toMatch(/^Error WAIAAS_WALLET_CHAIN_MISMATCH: /);
    expect(text(wrongTool)).toContain('sign_solana_transaction for Solana');
  });

  test('sign_message with a Solana wallet signs the text with Ed25519', async () => {
    const r = await call('sign_message', { wallet_id: solWallet.walletId, message: 'Sign in to example.org' });
    expect(r.isError, text(r)).toBeFalsy();
    const d = data(r);
    const signedMessage = Buffer.from(d.signed_message_base64 as string, 'base64');
    expect(ed25519.verify(new Uint8Array(getBase58Encoder().encode(d.signature as string)), signedMessage, solWallet.publicKey)).toBe(true);
  });

  test('resources: the wallet list and each wallet\'s policy (a template)', async () => {
    const { resourceTemplates } = await mcp.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toContain('waiaas://wallets/{id}/policy');
    const { resources } = await mcp.listResources();
    const uris = resources.map((r) => r.uri);
    expect(uris).toContain('waiaas://wallets');
    expect(uris).toContain(`waiaas://wallets/${evmWallet.walletId}/policy`);
    expect(uris).toContain(`waiaas://wallets/${bareWallet.walletId}/policy`);

    const list = await mcp.readResource({ uri: 'waiaas://wallets' });
    const wallets = (await readJson('waiaas://wallets')).wallets as { wallet_id: string }[];
    expect(wallets.map((w) => w.wallet_id)).toEqual(expect.arrayContaining([evmWallet.walletId, bareWallet.walletId]));
    expect(list.contents[0]!.mimeType).toBe('application/json');

    const p = await readJson(`waiaas://wallets/${evmWallet.walletId}/policy`);
    expect(p.wallet_id).toBe(evmWallet.walletId);
    expect(p.version).toBe(1);
    expect(p.policy_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(p.set_by).toBe('spiffe://waiaas/admin/dev-admin');
    expect(p.document.schema).toBe('waiaas.policy.v1');
    expect(p.document.rules.map((x: { name: string }) => x.name)).toEqual(['pay-allowlisted', 'pay-slowly', 'fees', 'sign-in', 'mail', 'undecoded-typed-data']);

    const none = await readJson(`waiaas://wallets/${bareWallet.walletId}/policy`);
    expect(none.document).toBeNull();
    expect(none.note).toContain('signs nothing');

    await expect(mcp.readResource({ uri: `waiaas://wallets/wlt_${'0'.repeat(26)}/policy` })).rejects.toThrow(/WAIAAS_WALLET_NOT_FOUND/);

    const completion = await mcp.complete({ ref: { type: 'ref/resource', uri: 'waiaas://wallets/{id}/policy' }, argument: { name: 'id', value: evmWallet.walletId.slice(0, 8) } });
    expect(completion.completion.values).toEqual(expect.arrayContaining([evmWallet.walletId]));
  });
});

describe('MCP server start-up', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer();
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  const start = (e: Record<string, string>) => spawnSync(process.execPath, [SERVER], { env: e, input: '', encoding: 'utf8', timeout: 30_000 });

  test.each(['owner', 'admin'] as const)('refuses to start with the %s certificate', (role) => {
    const res = start(env(server, role));
    expect(res.status).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('refusing to start');
    expect(res.stderr).toContain(`spiffe://waiaas/${role}/dev-${role}`);
    expect(res.stderr).toContain("runs only with an agent's certificate");
  });

  test('refuses to start without its settings, or with a key that is not the certificate\'s', () => {
    const missing = start({ PATH: process.env.PATH ?? '' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('WAIAAS_CA, WAIAAS_CERT, WAIAAS_KEY are not set');
    const mixed = start({ ...env(server, 'agent'), WAIAAS_KEY: join(server.dir, 'owner.key') });
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toContain('is not the private key of WAIAAS_CERT');
  });

  test('renewed credential files are checked again: an owner certificate swapped in is refused, an agent one works', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'waiaas-mcp-creds-'));
    const use = async (role: 'agent' | 'owner'): Promise<void> => {
      await copyFile(join(server.dir, `${role}.pem`), join(dir, 'cert.pem'));
      await copyFile(join(server.dir, `${role}.key`), join(dir, 'key.pem'));
    };
    await use('agent');
    const t = new StdioClientTransport({
      command: process.execPath,
      args: [SERVER],
      env: { ...env(server, 'agent'), WAIAAS_CERT: join(dir, 'cert.pem'), WAIAAS_KEY: join(dir, 'key.pem') },
      stderr: 'pipe',
    });
    const c = new Client({ name: 'reload-test', version: '0.0.0' });
    await c.connect(t);
    try {
      const listWallets = async () => (await c.callTool({ name: 'list_wallets', arguments: {} })) as CallToolResult;
      expect((await listWallets()).isError).toBeFalsy();
      await use('owner');
      const refused = await listWallets();
      expect(refused.isError).toBe(true);
      expect(text(refused)).toMatch(/^Error WAIAAS_MCP_CREDENTIALS: WAIAAS_CERT \(.*\) identifies spiffe:\/\/waiaas\/owner\/dev-owner, an owner/);
      await use('agent');
      expect((await listWallets()).isError).toBeFalsy();
    } finally {
      await c.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the wrapper script runs the server too (and refuses the owner certificate the same way)', () => {
    const res = spawnSync(join(ROOT, 'clients/mcp/waiaas-mcp'), [], {
      env: { ...env(server, 'owner'), WAIAAS_NODE: process.execPath },
      input: '',
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('refusing to start');
  });
});
