/**
 * Generates the policy test vectors in test/vectors/policy/*.json: `node test/vectors/generate.ts`.
 *
 * Deterministic: every key and address is derived from a fixed string, Solana transactions carry the blockhash a fresh
 * LiteSVM starts from (itself a constant of the litesvm version) or a fixed durable nonce, EVM transactions fixed
 * nonces and fees, and signatures inside requests (EIP-7702 authorizations) are RFC 6979. Running it twice writes the
 * same bytes.
 *
 * The expectations below are written by hand from the policy rules (coverage, strictest verdict, unlimited grants
 * never below APPROVAL, constraints); they are NOT computed by the engine. test/policy/vectors.test.ts checks every
 * one against the engine and executes what is signed.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccountRole, address, createAddressWithSeed, createNoopSigner, type Instruction } from '@solana/kit';
import { getAdvanceNonceAccountInstruction, getAssignInstruction, getAssignWithSeedInstruction } from '@solana-program/system';
import { bytesToHex, encodeFunctionData, getAddress, parseAbi, toFunctionSelector, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { sha256 } from '@noble/hashes/sha2.js';
import { associatedTokenAddress, TOKEN_2022_PROGRAM, TOKEN_PROGRAM } from '../../server/chains/solana/index.ts';
import { MULTICALL3_ADDRESS, PERMIT2_ADDRESS } from '../../server/chains/evm/index.ts';
import { unsignedEip1559, unsignedEip7702, unsignedLegacy } from '../support/evm.ts';
import {
  createSvm,
  latestBlockhash,
  SPL_AUTHORITY,
  splApprove,
  splApproveChecked,
  splCloseAccount,
  splSetAuthority,
  splTransfer,
  splTransferChecked,
  TOKEN_ACCOUNT_LAMPORTS,
  unsignedSolTransfer,
  unsignedTransaction,
} from '../support/litesvm.ts';
import {
  DEFAULT_NOW,
  EVM_SECRET,
  EVM_WALLET,
  evmLabel,
  MINI_MULTICALL3_CODE,
  multicallTokenCode,
  RECORDER_CODE,
  SOLANA_WALLET,
  solanaLabel,
  type EvmExecute,
  type SolanaExecute,
  type Vector,
  type VectorExpect,
  type VectorFile,
  type VectorUsage,
} from './lib.ts';

const OUT = join(dirname(fileURLToPath(import.meta.url)), 'policy');

// ---------------------------------------------------------------------------------------------------------------
// Shared constants.

const NOW_S = BigInt(Date.parse(DEFAULT_NOW) / 1000);
const MAX_U256 = 2n ** 256n - 1n;
const MAX_U160 = 2n ** 160n - 1n;
const MAX_U64 = 2n ** 64n - 1n;
const GWEI = 1_000_000_000n;
const SOL = 1_000_000_000n;
const ETH = 10n ** 18n;

// Solana
const W = SOLANA_WALLET;
const BLOCKHASH = latestBlockhash(createSvm());
const S_FRIEND = solanaLabel('friend');
const S_ATTACKER = solanaLabel('attacker');
const S_DELEGATE = solanaLabel('delegate');
const S_RECIPIENT_ALT = solanaLabel('recipient behind a lookup table');
const S_TABLE = solanaLabel('lookup table');
const S_NONCE_ACCOUNT = solanaLabel('nonce account');
const S_NONCE = solanaLabel('durable nonce value');
const S_ATTACKER_PROGRAM = solanaLabel('attacker program');
const S_OTHER_PROGRAM = solanaLabel('some other program');
const MINT = solanaLabel('mint');
const MINT22 = solanaLabel('mint token-2022');
const MEMO = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr';
const MEMO_V1 = 'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo';
const COMPUTE_BUDGET = 'ComputeBudget111111111111111111111111111111';
const W_ATA = await associatedTokenAddress(W, MINT, TOKEN_PROGRAM);
const W_ATA22 = await associatedTokenAddress(W, MINT22, TOKEN_2022_PROGRAM);
const FRIEND_ATA = await associatedTokenAddress(S_FRIEND, MINT, TOKEN_PROGRAM);
const FRIEND_ATA22 = await associatedTokenAddress(S_FRIEND, MINT22, TOKEN_2022_PROGRAM);
const FRIEND_ATA_OF_MINT22_UNDER_TOKEN = await associatedTokenAddress(S_FRIEND, MINT22, TOKEN_PROGRAM);
const ATTACKER_ATA = await associatedTokenAddress(S_ATTACKER, MINT, TOKEN_PROGRAM);
const FRIEND_OTHER_TOKEN_ACCOUNT = solanaLabel('a token account of friend that is not its ATA');
const W_EMPTY_TOKEN_ACCOUNT = solanaLabel('an empty token account of the wallet');

// EVM
const CHAIN = 1n;
const WE = EVM_WALLET.toLowerCase();
const TOKEN = evmLabel('token');
const TOKEN2 = evmLabel('token 2');
const TOKEN3 = evmLabel('token 3, never listed');
const ROUTER = evmLabel('router');
const FRIEND = evmLabel('friend');
const ATTACKER = evmLabel('attacker');
const VICTIM = evmLabel('victim');
const DELEGATE = evmLabel('eip-7702 delegate');
const MTOKEN = evmLabel('token with self-multicall');
const MTOKEN_IMPL = evmLabel('erc-20 implementation behind the multicall token');
const RECORDER = evmLabel('recorder contract');
const NOT_MULTICALL3 = evmLabel('not multicall3');
const ZERO = `0x${'00'.repeat(20)}`;
const PERMIT2 = PERMIT2_ADDRESS;

const ABI = parseAbi([
  'function transfer(address to, uint256 amount)',
  'function transferFrom(address from, address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
  'function increaseAllowance(address spender, uint256 addedValue)',
  'function setApprovalForAll(address operator, bool approved)',
  'function aggregate3((address target, bool allowFailure, bytes callData)[] calls)',
  'function multicall(bytes[] data)',
  'function ping(uint256 value)',
]);
const PING_SELECTOR = toFunctionSelector('ping(uint256)').slice(2);

function call(functionName: string, args: readonly unknown[]): Hex {
  return encodeFunctionData({ abi: ABI, functionName, args } as never);
}
const transferData = (to: string, amount: bigint) => call('transfer', [to, amount]);
const aggregate3 = (calls: { target: string; callData: Hex; allowFailure?: boolean }[]) =>
  call('aggregate3', [calls.map((c) => ({ target: c.target, allowFailure: c.allowFailure ?? false, callData: c.callData }))]);

// ---------------------------------------------------------------------------------------------------------------
// Builders.

const hex = (b: Uint8Array): string => bytesToHex(b).slice(2);
const dec = (n: bigint | number): string => n.toString();

function solTx(instructions: Instruction[], opts: { blockhash?: string; version?: 'legacy' | 0; lookupTables?: Record<string, string[]> } = {}): string {
  return hex(unsignedTransaction({ feePayer: W, instructions, blockhash: opts.blockhash ?? BLOCKHASH, ...(opts.version ? { version: opts.version } : {}), ...(opts.lookupTables ? { lookupTables: opts.lookupTables } : {}) }));
}

function solTransfer(to: string, lamports: bigint, opts: Partial<Parameters<typeof unsignedSolTransfer>[0]> = {}): string {
  return hex(unsignedSolTransfer({ from: W, to, lamports, blockhash: BLOCKHASH, ...opts }));
}

function rawIx(program: string, data: Uint8Array, accounts: { address: string; role: AccountRole }[] = []): Instruction {
  return { programAddress: address(program), accounts: accounts.map((a) => ({ address: address(a.address), role: a.role })), data };
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function memo(text: string, program = MEMO, signers: string[] = []): Instruction {
  return rawIx(program, utf8(text), signers.map((s) => ({ address: s, role: AccountRole.READONLY_SIGNER })));
}

function computeUnitLimit(units: number): Instruction {
  const data = new Uint8Array(5);
  data[0] = 2;
  new DataView(data.buffer).setUint32(1, units, true);
  return rawIx(COMPUTE_BUDGET, data);
}

function computeUnitPrice(microLamports: bigint): Instruction {
  const data = new Uint8Array(9);
  data[0] = 3;
  new DataView(data.buffer).setBigUint64(1, microLamports, true);
  return rawIx(COMPUTE_BUDGET, data);
}

/** SPL MintTo (tag 7): [mint (w), destination (w), authority (signer)], amount u64. */
function mintTo(program: string, mint: string, destination: string, amount: bigint): Instruction {
  const data = new Uint8Array(9);
  data[0] = 7;
  new DataView(data.buffer).setBigUint64(1, amount, true);
  return rawIx(program, data, [
    { address: mint, role: AccountRole.WRITABLE },
    { address: destination, role: AccountRole.WRITABLE },
    { address: W, role: AccountRole.READONLY_SIGNER },
  ]);
}

function evmTx(to: string, opts: { value?: bigint; data?: Hex; gas?: bigint; maxFeePerGas?: bigint; chainId?: bigint; nonce?: number } = {}): string {
  return hex(
    unsignedEip1559({
      chainId: opts.chainId ?? CHAIN,
      to,
      value: opts.value ?? 0n,
      nonce: opts.nonce ?? 0,
      ...(opts.data ? { data: opts.data } : {}),
      ...(opts.gas ? { gas: opts.gas } : {}),
      ...(opts.maxFeePerGas ? { maxFeePerGas: opts.maxFeePerGas, maxPriorityFeePerGas: GWEI } : {}),
    }),
  );
}

const walletAccount = privateKeyToAccount(bytesToHex(EVM_SECRET));

/** A type-4 transaction (nonce 0) from the wallet to `to` carrying the wallet's authorization (nonce 1: the sender's nonce is bumped first). */
async function eip7702Tx(delegate: string, to: string, value: bigint): Promise<string> {
  const authorization = await walletAccount.signAuthorization({ address: delegate as Hex, chainId: Number(CHAIN), nonce: 1 });
  return hex(unsignedEip7702({ chainId: CHAIN, to, value, nonce: 0, authorizationList: [authorization] }));
}

/** Typed data JSON as a wallet client sends it: bigints as decimal strings. */
function typedJson(doc: unknown): string {
  return JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

const EIP712_DOMAIN = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'verifyingContract', type: 'address' },
];

function eip2612(opts: { spender: string; value: bigint; deadline: bigint; chainId?: number; verifyingContract?: string; extraField?: boolean }): string {
  const permit = [
    { name: 'owner', type: 'address' },
    { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
    ...(opts.extraField ? [{ name: 'memo', type: 'string' }] : []),
  ];
  return typedJson({
    types: { EIP712Domain: EIP712_DOMAIN, Permit: permit },
    primaryType: 'Permit',
    domain: { name: 'Vector USD', version: '1', chainId: opts.chainId ?? 1, verifyingContract: opts.verifyingContract ?? getAddress(TOKEN) },
    message: {
      owner: EVM_WALLET,
      spender: opts.spender,
      value: opts.value,
      nonce: 0n,
      deadline: opts.deadline,
      ...(opts.extraField ? { memo: 'looks like a permit' } : {}),
    },
  });
}

function daiPermit(opts: { spender: string; expiry: bigint; allowed: boolean }): string {
  return typedJson({
    types: {
      EIP712Domain: EIP712_DOMAIN,
      Permit: [
        { name: 'holder', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'nonce', type: 'uint256' },
        { name: 'expiry', type: 'uint256' },
        { name: 'allowed', type: 'bool' },
      ],
    },
    primaryType: 'Permit',
    domain: { name: 'Vector USD', version: '1', chainId: 1, verifyingContract: getAddress(TOKEN) },
    message: { holder: EVM_WALLET, spender: opts.spender, nonce: 0n, expiry: opts.expiry, allowed: opts.allowed },
  });
}

const PERMIT2_DOMAIN = { name: 'Permit2', chainId: 1, verifyingContract: getAddress(PERMIT2) };
const PERMIT_DETAILS = [
  { name: 'token', type: 'address' },
  { name: 'amount', type: 'uint160' },
  { name: 'expiration', type: 'uint48' },
  { name: 'nonce', type: 'uint48' },
];
const TOKEN_PERMISSIONS = [
  { name: 'token', type: 'address' },
  { name: 'amount', type: 'uint256' },
];
const WITNESS = [
  { name: 'user', type: 'address' },
  { name: 'minOut', type: 'uint256' },
];

function permitSingle(opts: { token: string; amount: bigint; expiration: bigint; spender: string; domain?: Record<string, unknown> }): string {
  return typedJson({
    types: {
      EIP712Domain: [EIP712_DOMAIN[0], EIP712_DOMAIN[2], EIP712_DOMAIN[3]],
      PermitSingle: [
        { name: 'details', type: 'PermitDetails' },
        { name: 'spender', type: 'address' },
        { name: 'sigDeadline', type: 'uint256' },
      ],
      PermitDetails: PERMIT_DETAILS,
    },
    primaryType: 'PermitSingle',
    domain: opts.domain ?? PERMIT2_DOMAIN,
    message: { details: { token: getAddress(opts.token), amount: opts.amount, expiration: opts.expiration, nonce: 0n }, spender: opts.spender, sigDeadline: NOW_S + 600n },
  });
}

function permitBatch(details: { token: string; amount: bigint }[], spender: string): string {
  return typedJson({
    types: {
      EIP712Domain: [EIP712_DOMAIN[0], EIP712_DOMAIN[2], EIP712_DOMAIN[3]],
      PermitBatch: [
        { name: 'details', type: 'PermitDetails[]' },
        { name: 'spender', type: 'address' },
        { name: 'sigDeadline', type: 'uint256' },
      ],
      PermitDetails: PERMIT_DETAILS,
    },
    primaryType: 'PermitBatch',
    domain: PERMIT2_DOMAIN,
    message: {
      details: details.map((d, i) => ({ token: getAddress(d.token), amount: d.amount, expiration: NOW_S + 1800n, nonce: BigInt(i) })),
      spender,
      sigDeadline: NOW_S + 600n,
    },
  });
}

function witnessTransferFrom(permitted: { token: string; amount: bigint }[], spender: string, batch: boolean): string {
  const primaryType = batch ? 'PermitBatchWitnessTransferFrom' : 'PermitWitnessTransferFrom';
  const list = permitted.map((p) => ({ token: getAddress(p.token), amount: p.amount }));
  return typedJson({
    types: {
      EIP712Domain: [EIP712_DOMAIN[0], EIP712_DOMAIN[2], EIP712_DOMAIN[3]],
      [primaryType]: [
        { name: 'permitted', type: batch ? 'TokenPermissions[]' : 'TokenPermissions' },
        { name: 'spender', type: 'address' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
        { name: 'witness', type: 'ExampleOrder' },
      ],
      ExampleOrder: WITNESS,
      TokenPermissions: TOKEN_PERMISSIONS,
    },
    primaryType,
    domain: PERMIT2_DOMAIN,
    message: { permitted: batch ? list : list[0], spender, nonce: 7n, deadline: NOW_S + 600n, witness: { user: EVM_WALLET, minOut: 1n } },
  });
}

/** The off-chain message envelope of the Solana CLI, version 0. */
function solanaOffchain(text: string, format = 0): string {
  const body = utf8(text);
  const out = new Uint8Array(20 + body.length);
  out.set([0xff, ...utf8('solana offchain')], 0);
  out[16] = 0;
  out[17] = format;
  out[18] = body.length & 0xff;
  out[19] = body.length >> 8;
  out.set(body, 20);
  return hex(out);
}

// ---------------------------------------------------------------------------------------------------------------
// Policies and expectations.

type Rule = Record<string, unknown>;
const policy = (...rules: Rule[]): Record<string, unknown> => ({ schema: 'waiaas.policy.v1', rules });
const SOL_FEES: Rule = { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '100000' };
const EVM_FEES: Rule = { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: dec(10n ** 16n) };

const ok = (verdict: 'INSTANT' | 'NOTIFY' | 'DELAY' | 'APPROVAL', rule: string, detail_contains?: string): VectorExpect => ({ verdict, rule, ...(detail_contains ? { detail_contains } : {}) });
const deny = (rule: string, detail_contains?: string): VectorExpect => ({ verdict: 'DENY', rule, ...(detail_contains ? { detail_contains } : {}) });
const refused = (error: string): VectorExpect => ({ error });

/** Puts a vector's keys in the documented order, leaving out what is undefined. */
function vector(v: Vector): Vector {
  const order: (keyof Vector)[] = ['name', 'note', 'known_issue', 'chain', 'policy', 'kind', 'request', 'chain_id', 'now', 'usage', 'expect', 'execute'];
  const out: Record<string, unknown> = {};
  for (const k of order) if (v[k] !== undefined) out[k] = v[k];
  return out as unknown as Vector;
}

function sol(name: string, note: string, pol: Record<string, unknown>, request: string, expect: VectorExpect, extra: Partial<Vector> = {}): Vector {
  return vector({ name, note, chain: 'solana', policy: pol, kind: 'solana_transaction', request, expect, ...extra });
}

function evm(name: string, note: string, pol: Record<string, unknown>, request: string, expect: VectorExpect, extra: Partial<Vector> = {}): Vector {
  return vector({ name, note, chain: 'evm', policy: pol, kind: 'evm_transaction', request, chain_id: Number(CHAIN), expect, ...extra });
}

function typed(name: string, note: string, pol: Record<string, unknown>, request: string, expect: VectorExpect, extra: Partial<Vector> = {}): Vector {
  return vector({ name, note, chain: 'evm', policy: pol, kind: 'evm_typed_data', request, expect, ...('verdict' in expect && expect.verdict !== 'DENY' ? { execute: { verify_signature: true as const } } : {}), ...extra });
}

/** Solana execution: the wallet holds 1 SOL before; `walletSpends` lamports (outflows and fee) leave it. */
function solExec(opts: Omit<SolanaExecute, 'accounts' | 'expect'> & { expect?: SolanaExecute['expect']; walletSpends?: bigint }): SolanaExecute {
  const lamports = { ...(opts.walletSpends === undefined ? {} : { [W]: dec(SOL - opts.walletSpends) }), ...(opts.expect?.lamports ?? {}) };
  return {
    accounts: { [W]: dec(SOL) },
    ...(opts.mints ? { mints: opts.mints } : {}),
    ...(opts.token_accounts ? { token_accounts: opts.token_accounts } : {}),
    ...(opts.lookup_tables ? { lookup_tables: opts.lookup_tables } : {}),
    ...(opts.nonce_accounts ? { nonce_accounts: opts.nonce_accounts } : {}),
    expect: { ...(Object.keys(lamports).length > 0 ? { lamports } : {}), ...(opts.expect?.token_accounts ? { token_accounts: opts.expect.token_accounts } : {}), ...(opts.expect?.owners ? { owners: opts.expect.owners } : {}), ...(opts.expect?.logs_contain ? { logs_contain: opts.expect.logs_contain } : {}) },
  };
}

/** EVM execution: the wallet holds 1 ETH before. */
function evmExec(opts: Omit<EvmExecute, 'accounts'> & { accounts?: Record<string, string> }): EvmExecute {
  return {
    accounts: { [WE]: dec(ETH), ...(opts.accounts ?? {}) },
    ...(opts.code ? { code: opts.code } : {}),
    ...(opts.erc20 ? { erc20: opts.erc20 } : {}),
    expect: opts.expect,
  };
}

const FEE_1_SIG = 5000n;
const mintSetup = (decimals = 6): SolanaExecute['mints'] => [{ address: MINT, decimals }];
const walletTokens = (amount = 1_000_000n): NonNullable<SolanaExecute['token_accounts']>[number] => ({ address: W_ATA, mint: MINT, owner: W, amount: dec(amount) });

// ---------------------------------------------------------------------------------------------------------------
// The classes.

const files: VectorFile[] = [];
const file = (cls: string, description: string, vectors: Vector[]): void => {
  files.push({ class: cls, description, vectors });
};

// 1. Unlimited approve ------------------------------------------------------------------------------------------
{
  const bounded = policy({ name: 'approve-router', kind: 'approve', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, spenders: [ROUTER], max_amount: '1000000' }, EVM_FEES);
  const unbounded = policy({ name: 'approve-router', kind: 'approve', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, spenders: [ROUTER] }, EVM_FEES);
  const byApproval = policy({ name: 'approve-router-with-owner', kind: 'approve', verdict: 'APPROVAL', asset: `erc20:${TOKEN}`, spenders: [ROUTER] }, EVM_FEES);
  const approveTx = (token: string, spender: string, amount: bigint) => evmTx(token, { data: call('approve', [spender, amount]) });
  const tokenSetup = (allowance?: bigint): EvmExecute['erc20'] => [{ address: TOKEN, balances: { [WE]: '1000000' }, ...(allowance === undefined ? {} : { allowances: [{ owner: WE, spender: ROUTER, amount: dec(allowance) }] }) }];
  const allowanceAfter = (amount: bigint) => ({ erc20_allowances: [{ token: TOKEN, owner: WE, spender: ROUTER, amount: dec(amount) }] });
  file('unlimited-approve', 'ERC-20 approvals of 2^256-1 (and other unbounded grants) to an allowlisted token and spender: never matched by a rule with max_amount, never below APPROVAL under a rule without one; bounded approvals take the rule verdict.', [
    evm('max-approve-under-max-amount-rule', 'approve(router, 2^256-1): an unbounded grant never matches a rule with max_amount, so nothing covers it.', bounded, approveTx(TOKEN, ROUTER, MAX_U256), deny('default-deny', '(unlimited)')),
    evm('max-approve-under-rule-without-max', 'The rule covers it with INSTANT, but an unlimited grant is raised to APPROVAL by the built-in unlimited-grant.', unbounded, approveTx(TOKEN, ROUTER, MAX_U256), ok('APPROVAL', 'unlimited-grant', 'unbounded'), { execute: evmExec({ erc20: tokenSetup(), expect: allowanceAfter(MAX_U256) }) }),
    evm('max-approve-under-approval-rule', 'A rule that already says APPROVAL decides; the built-in adds nothing.', byApproval, approveTx(TOKEN, ROUTER, MAX_U256), ok('APPROVAL', 'approve-router-with-owner'), { execute: evmExec({ erc20: tokenSetup(), expect: allowanceAfter(MAX_U256) }) }),
    evm('increase-allowance-by-2^255', 'increaseAllowance by 2^255 is at the unlimited threshold: APPROVAL although the rule says INSTANT.', unbounded, evmTx(TOKEN, { data: call('increaseAllowance', [ROUTER, 2n ** 255n]) }), ok('APPROVAL', 'unlimited-grant'), { execute: evmExec({ erc20: tokenSetup(), expect: allowanceAfter(2n ** 255n) }) }),
    evm('bounded-approve', 'approve(router, 500000) is within max_amount: the rule verdict; the allowance is set on chain.', bounded, approveTx(TOKEN, ROUTER, 500_000n), ok('INSTANT', 'approve-router'), { execute: evmExec({ erc20: tokenSetup(), expect: allowanceAfter(500_000n) }) }),
    evm('bounded-approve-one-over-max', 'One base unit over max_amount is not covered.', bounded, approveTx(TOKEN, ROUTER, 1_000_001n), deny('default-deny', 'up to 1000001')),
    evm('bounded-approve-to-unlisted-spender', 'The spender is not listed.', bounded, approveTx(TOKEN, ATTACKER, 1_000n), deny('default-deny', ATTACKER)),
    evm('max-approve-of-unlisted-token', 'The rule names another token contract.', unbounded, approveTx(TOKEN2, ROUTER, MAX_U256), deny('default-deny', `erc20:${TOKEN2}`)),
    evm('approve-zero-revokes', 'approve(router, 0) only takes power away: max_amount does not apply to a revoke; the allowance becomes 0.', bounded, approveTx(TOKEN, ROUTER, 0n), ok('INSTANT', 'approve-router'), { execute: evmExec({ erc20: tokenSetup(700n), expect: allowanceAfter(0n) }) }),
    evm('set-approval-for-all', 'setApprovalForAll(router, true) is an approval_for_all of erc721:<contract>, not the erc20 asset the rule names.', unbounded, evmTx(TOKEN, { data: call('setApprovalForAll', [ROUTER, true]) }), deny('default-deny', 'approval_for_all')),
  ]);
}

// 2. EIP-2612 permit ----------------------------------------------------------------------------------------------
{
  const messages = { name: 'token-permits', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip712'], domain: { chain_id: 1, verifying_contract: TOKEN }, primary_types: ['Permit'] };
  const routerPermits = { name: 'router-permits', kind: 'approve', verdict: 'NOTIFY', asset: `erc20:${TOKEN}`, grant_kinds: ['permit'], spenders: [ROUTER], max_amount: '1000000' };
  // A permit's deadline bounds when the signature may be submitted, not the allowance it sets: a lifetime rule never covers it.
  const lifetimeBound = policy(messages, { ...routerPermits, name: 'router-short-lived-permits', max_duration_seconds: 3600 });
  const p = policy(messages, routerPermits);
  const loose = policy(messages, { name: 'router-permits-any-amount', kind: 'approve', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, grant_kinds: ['permit'], spenders: [ROUTER] });
  const router = getAddress(ROUTER);
  file('permit-eip2612', 'EIP-2612 (and DAI-style) permits signed off-chain: a permit needs a message rule for the typed data AND an approve rule for its grant (spender, amount, lifetime).', [
    typed('permit-to-unknown-spender', 'The message rule covers the typed data, but no approve rule lists this spender.', p, eip2612({ spender: getAddress(ATTACKER), value: 1000n, deadline: NOW_S + 600n }), deny('default-deny', ATTACKER), { now: DEFAULT_NOW }),
    typed('permit-to-listed-spender', 'Listed spender, within max_amount: the stricter of INSTANT (message) and NOTIFY (grant).', p, eip2612({ spender: router, value: 1000n, deadline: NOW_S + 600n }), ok('NOTIFY', 'router-permits'), { now: DEFAULT_NOW }),
    typed('permit-under-lifetime-rule', 'The deadline (now + 600 s) bounds the signature, not the allowance, which never expires: a rule bounding the lifetime does not cover it.', lifetimeBound, eip2612({ spender: router, value: 1000n, deadline: NOW_S + 600n }), deny('default-deny', 'permit'), { now: DEFAULT_NOW }),
    typed('permit-without-deadline', 'A deadline ≥ 2^64: the signature never goes stale; the allowance is the same bounded one, so the bounded-amount rule covers it.', p, eip2612({ spender: router, value: 1000n, deadline: MAX_U256 }), ok('NOTIFY', 'router-permits'), { now: DEFAULT_NOW }),
    typed('permit-unlimited-value', 'value 2^256-1 is unlimited: never covered by a rule with max_amount.', p, eip2612({ spender: router, value: MAX_U256, deadline: NOW_S + 600n }), deny('default-deny', '(unlimited)'), { now: DEFAULT_NOW }),
    typed('permit-unlimited-under-unbounded-rule', 'Covered, but unlimited: never below APPROVAL.', loose, eip2612({ spender: router, value: MAX_U256, deadline: NOW_S + 600n }), ok('APPROVAL', 'unlimited-grant'), { now: DEFAULT_NOW }),
    typed('permit-with-message-rule-only', 'The message rule alone does not allow the grant a permit carries.', policy(messages), eip2612({ spender: router, value: 1000n, deadline: NOW_S + 600n }), deny('default-deny', 'permit of'), { now: DEFAULT_NOW }),
    typed('permit-named-type-with-another-structure', 'A "Permit" with an extra field is not EIP-2612: UNKNOWN_TYPED_DATA, which needs a flag rule.', p, eip2612({ spender: router, value: 1000n, deadline: NOW_S + 600n, extraField: true }), deny('default-deny', 'flag UNKNOWN_TYPED_DATA'), { now: DEFAULT_NOW }),
    typed('permit-for-another-chain', 'The domain says chain 56; the message rule is for chain 1.', p, eip2612({ spender: router, value: 1000n, deadline: NOW_S + 600n, chainId: 56 }), deny('default-deny', 'eip712 message'), { now: DEFAULT_NOW }),
    typed('dai-permit-allowed', 'A DAI permit with allowed=true grants 2^256-1: unlimited, not covered by a rule with max_amount.', p, daiPermit({ spender: router, expiry: NOW_S + 600n, allowed: true }), deny('default-deny', '(unlimited)'), { now: DEFAULT_NOW }),
    typed('permit-to-listed-spender-without-lifetime-bound', 'Listed spender within max_amount under a rule that does not bound the lifetime.', policy(messages, { name: 'router-permits-bounded-amount', kind: 'approve', verdict: 'NOTIFY', asset: `erc20:${TOKEN}`, grant_kinds: ['permit'], spenders: [ROUTER], max_amount: '1000000' }), eip2612({ spender: router, value: 1000n, deadline: NOW_S + 600n }), ok('NOTIFY', 'router-permits-bounded-amount'), { now: DEFAULT_NOW }),
    typed('same-allowance-by-permit-under-lifetime-rule', 'An allowance of 1000 for the router by permit, under an approve rule bounding the lifetime to 1 h: not covered, like the very same allowance set by approve (next vector): neither expires.', policy(messages, { name: 'router-short-lived', kind: 'approve', verdict: 'NOTIFY', asset: `erc20:${TOKEN}`, spenders: [ROUTER], max_amount: '1000000', max_duration_seconds: 3600 }, EVM_FEES), eip2612({ spender: router, value: 1000n, deadline: NOW_S + 600n }), deny('default-deny', 'permit'), { now: DEFAULT_NOW }),
    evm('same-allowance-by-approve-under-lifetime-rule', 'The very same allowance set by approve(router, 1000): an allowance without expiry never matches a rule with max_duration_seconds.', policy(messages, { name: 'router-short-lived', kind: 'approve', verdict: 'NOTIFY', asset: `erc20:${TOKEN}`, spenders: [ROUTER], max_amount: '1000000', max_duration_seconds: 3600 }, EVM_FEES), evmTx(TOKEN, { data: call('approve', [ROUTER, 1000n]) }), deny('default-deny', 'token_approval'), { now: DEFAULT_NOW }),
  ]);
}

// 3. Permit2 -----------------------------------------------------------------------------------------------------
{
  const messages = { name: 'permit2-messages', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip712'], domain: { name: 'Permit2', chain_id: 1, verifying_contract: PERMIT2 } };
  const token1 = { name: 'permit2-token', kind: 'approve', verdict: 'NOTIFY', asset: `erc20:${TOKEN}`, grant_kinds: ['permit2'], spenders: [ROUTER], max_amount: '1000000', max_duration_seconds: 3600 };
  const token2 = { name: 'permit2-token2', kind: 'approve', verdict: 'INSTANT', asset: `erc20:${TOKEN2}`, grant_kinds: ['permit2'], spenders: [ROUTER], max_amount: '1000000', max_duration_seconds: 3600 };
  const p = policy(messages, token1, token2);
  const loose = policy(messages, { name: 'permit2-token-any-amount', kind: 'approve', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, grant_kinds: ['permit2'], spenders: [ROUTER] });
  const router = getAddress(ROUTER);
  file('permit2', 'Uniswap Permit2 typed data: PermitSingle/PermitBatch allowances and (batch) signature transfers with a witness. Every token of a batch is its own grant and needs its own cover.', [
    typed('permit-batch-with-one-unlisted-token', 'Token 1 and 2 are covered; token 3 is not, so the whole batch is denied.', p, permitBatch([{ token: TOKEN, amount: 1000n }, { token: TOKEN2, amount: 1000n }, { token: TOKEN3, amount: 1000n }], router), deny('default-deny', TOKEN3), { now: DEFAULT_NOW }),
    typed('permit-batch-all-listed', 'Both tokens covered; the strictest grant verdict (NOTIFY) decides.', p, permitBatch([{ token: TOKEN, amount: 1000n }, { token: TOKEN2, amount: 2000n }], router), ok('NOTIFY', 'permit2-token'), { now: DEFAULT_NOW }),
    typed('permit-batch-with-an-unlimited-entry', 'type(uint160).max for token 1 is unlimited: not covered by its max_amount rule.', p, permitBatch([{ token: TOKEN, amount: MAX_U160 }, { token: TOKEN2, amount: 1n }], router), deny('default-deny', '(unlimited)'), { now: DEFAULT_NOW }),
    typed('witness-transfer-from-to-listed-spender', 'PermitWitnessTransferFrom: a one-shot transfer grant of 500 to the router before the deadline; the witness does not change the grant.', p, witnessTransferFrom([{ token: TOKEN, amount: 500n }], router, false), ok('NOTIFY', 'permit2-token'), { now: DEFAULT_NOW }),
    typed('witness-transfer-from-to-unlisted-spender', 'The same permit for another spender is not covered.', p, witnessTransferFrom([{ token: TOKEN, amount: 500n }], getAddress(ATTACKER), false), deny('default-deny', ATTACKER), { now: DEFAULT_NOW }),
    typed('batch-witness-transfer-from-with-unlisted-token', 'PermitBatchWitnessTransferFrom: token 3 is not covered.', p, witnessTransferFrom([{ token: TOKEN2, amount: 10n }, { token: TOKEN3, amount: 10n }], router, true), deny('default-deny', TOKEN3), { now: DEFAULT_NOW }),
    typed('batch-witness-transfer-from-all-listed', 'Both tokens covered: INSTANT (token 2) and NOTIFY (token 1), the stricter wins.', p, witnessTransferFrom([{ token: TOKEN2, amount: 10n }, { token: TOKEN, amount: 10n }], router, true), ok('NOTIFY', 'permit2-token'), { now: DEFAULT_NOW }),
    typed('permit-single-unlimited-under-unbounded-rule', 'PermitSingle of type(uint160).max: covered, but unlimited, so APPROVAL.', loose, permitSingle({ token: TOKEN, amount: MAX_U160, expiration: NOW_S + 1800n, spender: router }), ok('APPROVAL', 'unlimited-grant'), { now: DEFAULT_NOW }),
    typed('permit-single-in-a-lookalike-domain', 'Named Permit2 but verified by another contract: the grant is decoded, the message rule for the canonical Permit2 does not cover the typed data.', loose, permitSingle({ token: TOKEN, amount: 1000n, expiration: NOW_S + 1800n, spender: router, domain: { name: 'Permit2', chainId: 1, verifyingContract: getAddress(ATTACKER) } }), deny('default-deny', 'eip712 message'), { now: DEFAULT_NOW }),
  ]);
}

// 4. transferFrom ------------------------------------------------------------------------------------------------
{
  const p = policy({ name: 'pay-friend', kind: 'transfer', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, recipients: [FRIEND], max_amount: '1000' }, EVM_FEES);
  const tf = (from: string, to: string, amount: bigint) => evmTx(TOKEN, { data: call('transferFrom', [from, to, amount]) });
  const victimApproved: EvmExecute['erc20'] = [{ address: TOKEN, balances: { [VICTIM]: '5000' }, allowances: [{ owner: VICTIM, spender: WE, amount: '1000' }] }];
  file('transfer-from', 'transferFrom(victim, …) spends an allowance someone gave the wallet: an outflow judged by its recipient like any other, and its source is a touched address.', [
    evm('transfer-from-victim-to-attacker', 'The recipient is not listed.', p, tf(VICTIM, ATTACKER, 1000n), deny('default-deny', ATTACKER)),
    evm('transfer-from-to-listed-recipient', 'Listed recipient within max: the allowance the victim gave the wallet is spent on chain.', p, tf(VICTIM, FRIEND, 600n), ok('INSTANT', 'pay-friend'), {
      execute: evmExec({ erc20: victimApproved, expect: { erc20_balances: [{ token: TOKEN, owner: VICTIM, amount: '4400' }, { token: TOKEN, owner: FRIEND, amount: '600' }], erc20_allowances: [{ token: TOKEN, owner: VICTIM, spender: WE, amount: '400' }] } }),
    }),
    evm('transfer-from-over-max', '1001 > max_amount.', p, tf(VICTIM, FRIEND, 1001n), deny('default-deny', '1001')),
    evm('transfer-from-a-denylisted-source', 'The account the tokens leave is touched: a deny list naming it triggers.', policy({ name: 'pay-friend', kind: 'transfer', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, recipients: [FRIEND] }, EVM_FEES, { name: 'never-touch-victim', kind: 'deny_addresses', verdict: 'DENY', addresses: [VICTIM] }), tf(VICTIM, FRIEND, 10n), deny('never-touch-victim', VICTIM)),
    evm('transfer-from-counts-against-the-spend-limit', 'Outflows from other accounts are reserved like the wallet\'s own: 900 + 200 > 1000.', policy({ name: 'pay-friend', kind: 'transfer', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, recipients: [FRIEND] }, EVM_FEES, { name: 'token-daily', kind: 'spend_limit', verdict: 'DENY', asset: `erc20:${TOKEN}`, window: '24h', max: '1000' }), tf(VICTIM, FRIEND, 200n), deny('token-daily', '900 already reserved'), { usage: { spent: { [`erc20:${TOKEN}|86400`]: '900' } } }),
  ]);
}

// 5. Multicall ---------------------------------------------------------------------------------------------------
{
  const p = policy(
    { name: 'pay-friend', kind: 'transfer', verdict: 'NOTIFY', asset: `erc20:${TOKEN}`, recipients: [FRIEND], max_amount: '1000' },
    { name: 'pay-friend-mtoken', kind: 'transfer', verdict: 'NOTIFY', asset: `erc20:${MTOKEN}`, recipients: [FRIEND], max_amount: '1000' },
    EVM_FEES,
  );
  const selfMulticall = (blobs: Hex[]) => call('multicall', [blobs]);
  const mtokenSetup: EvmExecute['erc20'] = [{ address: MTOKEN_IMPL }, { address: MTOKEN, code: multicallTokenCode(MTOKEN_IMPL), balances: { [WE]: '1000' } }];
  file('multicall', 'Calls wrapped in Multicall3 (aggregate3 at its canonical address) or a self-multicall (multicall(bytes[]) delegating to the contract itself) are unwrapped, and every inner call is judged like a top-level one.', [
    evm('aggregate3-transfer-to-unlisted', 'The inner ERC-20 transfer goes to an unlisted recipient.', p, evmTx(MULTICALL3_ADDRESS, { data: aggregate3([{ target: TOKEN, callData: transferData(ATTACKER, 100n) }]) }), deny('default-deny', 'Multicall3.aggregate3[0]/ERC20.transfer')),
    evm('aggregate3-transfer-to-listed', 'The inner transfer is covered: the rule verdict. Executed with a minimal Multicall3 holding the tokens (inner calls run as Multicall3).', p, evmTx(MULTICALL3_ADDRESS, { data: aggregate3([{ target: TOKEN, callData: transferData(FRIEND, 100n) }]) }), ok('NOTIFY', 'pay-friend'), {
      execute: evmExec({ code: { [MULTICALL3_ADDRESS]: MINI_MULTICALL3_CODE }, erc20: [{ address: TOKEN, balances: { [MULTICALL3_ADDRESS]: '1000' } }], expect: { erc20_balances: [{ token: TOKEN, owner: FRIEND, amount: '100' }, { token: TOKEN, owner: MULTICALL3_ADDRESS, amount: '900' }] } }),
    }),
    evm('aggregate3-listed-and-unlisted', 'One inner call is covered, the other (allowed to fail) is not: each needs its cover.', p, evmTx(MULTICALL3_ADDRESS, { data: aggregate3([{ target: TOKEN, callData: transferData(FRIEND, 100n) }, { target: TOKEN, callData: transferData(ATTACKER, 1n), allowFailure: true }]) }), deny('default-deny', 'Multicall3.aggregate3[1]/ERC20.transfer')),
    evm('self-multicall-transfer-to-unlisted', 'multicall(bytes[]) on the token: the inner transfer keeps the wallet as sender and goes to an unlisted recipient.', p, evmTx(MTOKEN, { data: selfMulticall([transferData(ATTACKER, 100n)]) }), deny('default-deny', 'multicall[0]/ERC20.transfer')),
    evm('self-multicall-transfers-to-listed', 'Two covered inner transfers: the rule verdict; the wallet\'s tokens move.', p, evmTx(MTOKEN, { data: selfMulticall([transferData(FRIEND, 100n), transferData(FRIEND, 200n)]) }), ok('NOTIFY', 'pay-friend-mtoken'), {
      execute: evmExec({ erc20: mtokenSetup, expect: { erc20_balances: [{ token: MTOKEN, owner: FRIEND, amount: '300' }, { token: MTOKEN, owner: WE, amount: '700' }] } }),
    }),
    evm('self-multicall-nested-in-aggregate3', 'Nested wrappers are unwrapped too.', p, evmTx(MULTICALL3_ADDRESS, { data: aggregate3([{ target: MTOKEN, callData: selfMulticall([transferData(ATTACKER, 5n)]) }]) }), deny('default-deny', 'Multicall3.aggregate3[0]/multicall[0]/ERC20.transfer')),
    evm('self-multicall-unlimited-approve', 'An approve inside a multicall is a grant like any other.', p, evmTx(MTOKEN, { data: selfMulticall([call('approve', [ATTACKER, MAX_U256])]) }), deny('default-deny', '(unlimited)')),
    evm('aggregate3-on-another-contract', 'The Multicall3 selector anywhere but at Multicall3\'s address is an unknown call, which no rule allows.', p, evmTx(NOT_MULTICALL3, { data: aggregate3([{ target: TOKEN, callData: transferData(FRIEND, 100n) }]) }), deny('default-deny', 'call 0x82ad56cb')),
  ]);
}

// 6. EIP-7702 ----------------------------------------------------------------------------------------------------
{
  const pay: Rule = { name: 'pay-friend', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [FRIEND] };
  const flag: Rule = { name: 'allow-7702', kind: 'flag', verdict: 'INSTANT', flags: ['EIP7702_AUTHORIZATION'] };
  const toDelegate: Rule = { name: 'delegate-code', kind: 'approve', verdict: 'INSTANT', asset: 'native', grant_kinds: ['code_delegation'], spenders: [DELEGATE] };
  const anyDelegation: Rule = { name: 'any-delegation', kind: 'approve', verdict: 'INSTANT', asset: 'native', grant_kinds: ['code_delegation'] };
  const designator = (d: string) => `0xef0100${d.slice(2)}`;
  const withDelegate = await eip7702Tx(DELEGATE, FRIEND, 1000n);
  file('eip7702', 'EIP-7702 set-code transactions: the flag EIP7702_AUTHORIZATION needs a flag rule, each authorization is an unlimited code_delegation grant (never below APPROVAL) that needs an approve rule; clearing a delegation is a revoke.', [
    evm('delegation-without-rules', 'Neither the grant nor the flag is covered.', policy(pay, EVM_FEES), withDelegate, deny('default-deny', 'code_delegation')),
    evm('delegation-with-approve-rule-but-no-flag-rule', 'The grant is covered; the flag is not.', policy(pay, toDelegate, EVM_FEES), withDelegate, deny('default-deny', 'flag EIP7702_AUTHORIZATION')),
    evm('delegation-with-flag-and-approve-rules', 'Everything covered with INSTANT, but the delegation is unlimited: APPROVAL. Executed: the wallet\'s code becomes the delegation designator.', policy(pay, toDelegate, flag, EVM_FEES), withDelegate, ok('APPROVAL', 'unlimited-grant', 'code_delegation'), {
      execute: evmExec({ expect: { balances: { [FRIEND]: '1000' }, code: { [WE]: designator(DELEGATE) } } }),
    }),
    evm('delegation-to-unlisted-contract', 'The approve rule lists another delegate.', policy(pay, toDelegate, flag, EVM_FEES), await eip7702Tx(ATTACKER, FRIEND, 1000n), deny('default-deny', ATTACKER)),
    evm('delegation-to-any-contract', 'A rule for any delegate covers it; still APPROVAL.', policy(pay, anyDelegation, flag, EVM_FEES), await eip7702Tx(ATTACKER, FRIEND, 1000n), ok('APPROVAL', 'unlimited-grant'), {
      execute: evmExec({ expect: { balances: { [FRIEND]: '1000' }, code: { [WE]: designator(ATTACKER) } } }),
    }),
    evm('clearing-a-delegation', 'Delegating to the zero address clears the delegation: a revoke, which is not raised to APPROVAL. Executed on a wallet that was delegated.', policy(pay, anyDelegation, flag, EVM_FEES), await eip7702Tx(ZERO, FRIEND, 1000n), ok('INSTANT', 'pay-friend'), {
      execute: evmExec({ code: { [WE]: designator(DELEGATE) }, expect: { balances: { [FRIEND]: '1000' }, code: { [WE]: '0x' } } }),
    }),
  ]);
}

// 7. Raw hashes --------------------------------------------------------------------------------------------------
{
  const anyPersonal = policy({ name: 'any-personal-message', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip191'] });
  const anySolana = policy({ name: 'any-solana-message', kind: 'message', verdict: 'INSTANT', message_kinds: ['solana_offchain'] });
  const signIn = policy({ name: 'sign-in', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip191'], text_prefix: 'Sign in' });
  const hash = (s: string) => sha256(utf8(`a hash someone wants signed: ${s}`));
  const text32 = 'Thirty-two bytes of honest text.';
  if (utf8(text32).length !== 32) throw new Error('the 32-byte text is not 32 bytes');
  const transferWire = unsignedSolTransfer({ from: W, to: S_FRIEND, lamports: 1n, blockhash: BLOCKHASH });
  const transferMessage = transferWire.subarray(1 + 64);
  const binary33 = new Uint8Array(33).map((_, i) => (i * 37 + 0x90) & 0xff);
  const msg = (name: string, note: string, chain: 'evm' | 'solana', pol: Record<string, unknown>, request: string, expect: VectorExpect) =>
    vector({ name, note, chain, policy: pol, kind: chain === 'evm' ? 'evm_message' : 'solana_message', request, expect, ...('verdict' in expect && expect.verdict !== 'DENY' ? { execute: { verify_signature: true as const } } : {}) });
  file('raw-hash', 'Signing a bare 32-byte hash (or bytes that read as a Solana transaction) approves something nobody can read: refused at decoding, whatever the policy allows.', [
    msg('evm-32-byte-binary-message', 'Exactly 32 bytes that are not text: a bare hash, refused even under a rule allowing any EIP-191 message.', 'evm', anyPersonal, hex(hash('evm')), refused('WAIAAS_RAW_HASH_REFUSED')),
    msg('solana-32-byte-binary-message', 'The same for a Solana message.', 'solana', anySolana, hex(hash('solana')), refused('WAIAAS_RAW_HASH_REFUSED')),
    msg('solana-message-that-is-a-transaction-message', 'The serialized message of a transfer: its signature would authorize the transfer.', 'solana', anySolana, hex(transferMessage), refused('WAIAAS_RAW_HASH_REFUSED')),
    msg('solana-message-that-is-a-wire-transaction', 'A whole unsigned wire transaction as a message.', 'solana', anySolana, hex(transferWire), refused('WAIAAS_RAW_HASH_REFUSED')),
    msg('evm-32-byte-text-message', '32 bytes that are readable text are a message, not a hash: signed under the rule.', 'evm', anyPersonal, hex(utf8(text32)), ok('INSTANT', 'any-personal-message')),
    msg('evm-33-byte-binary-under-text-rule', 'Binary messages of other lengths decode without text; a text rule never matches them.', 'evm', signIn, hex(binary33), deny('default-deny', 'eip191 message')),
    msg('evm-sign-in-text', 'A readable message matching the prefix.', 'evm', signIn, hex(utf8('Sign in to vectors.example\nNonce: 42')), ok('INSTANT', 'sign-in')),
    msg('solana-offchain-text', 'A Solana CLI off-chain message (version 0, format 0).', 'solana', anySolana, solanaOffchain('Sign in to vectors.example'), ok('INSTANT', 'any-solana-message')),
  ]);
}

// 8. Deny list and letter case ------------------------------------------------------------------------------------
{
  const upper = `0x${ATTACKER.slice(2).toUpperCase()}`;
  const checksummed = getAddress(ATTACKER);
  const permissive: Rule[] = [
    { name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: '*' },
    { name: 'approve-anyone', kind: 'approve', verdict: 'INSTANT', asset: '*', max_amount: '1000000' },
    { name: 'sign-typed-data', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip712'] },
    EVM_FEES,
  ];
  const p = policy(...permissive, { name: 'blocked', kind: 'deny_addresses', verdict: 'DENY', addresses: [upper] });
  const pChecksummed = policy(...permissive, { name: 'blocked', kind: 'deny_addresses', verdict: 'DENY', addresses: [checksummed] });
  const solP = policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, SOL_FEES, { name: 'blocked', kind: 'deny_addresses', verdict: 'DENY', addresses: [S_ATTACKER] });
  const permit = (spender: string, verifyingContract?: string) => eip2612({ spender, value: 10n, deadline: NOW_S + 600n, ...(verifyingContract ? { verifyingContract } : {}) });
  file('deny-address-case', 'A deny list written in UPPER-case hex matches the address however the request writes it (lower-case, EIP-55, upper-case JSON; binary in transactions), even though permission rules allow the request.', [
    evm('native-transfer-to-denied', 'Allowed by pay-anyone; the deny list triggers.', p, evmTx(ATTACKER, { value: 1000n }), deny('blocked', ATTACKER)),
    evm('erc20-transfer-to-denied', 'The recipient inside the calldata is checked.', p, evmTx(TOKEN, { data: transferData(ATTACKER, 5n) }), deny('blocked', ATTACKER)),
    evm('approve-to-denied-checksummed-deny-list', 'A deny list written with the EIP-55 checksum.', pChecksummed, evmTx(TOKEN, { data: call('approve', [ATTACKER, 10n]) }), deny('blocked', ATTACKER)),
    typed('permit-spender-lower-case', 'Typed-data spender written lower-case.', p, permit(ATTACKER), deny('blocked', ATTACKER), { now: DEFAULT_NOW }),
    typed('permit-spender-checksummed', 'Typed-data spender written with its EIP-55 checksum.', p, permit(checksummed), deny('blocked', ATTACKER), { now: DEFAULT_NOW }),
    typed('permit-spender-upper-case', 'Typed-data spender written in upper-case hex.', p, permit(upper), deny('blocked', ATTACKER), { now: DEFAULT_NOW }),
    typed('permit-verifying-contract-denied', 'The domain\'s verifying contract is touched too.', p, permit(getAddress(ROUTER), checksummed), deny('blocked', ATTACKER), { now: DEFAULT_NOW }),
    evm('transfer-to-someone-else', 'Nothing denied is involved: the permission rule decides.', p, evmTx(FRIEND, { value: 1000n }), ok('INSTANT', 'pay-anyone'), { execute: evmExec({ expect: { balances: { [FRIEND]: '1000' } } }) }),
    sol('solana-transfer-to-denied', 'Solana addresses are case-sensitive base58 and compare exactly.', solP, solTransfer(S_ATTACKER, 1000n), deny('blocked', S_ATTACKER)),
  ]);
}

// 8b. Deny-list coverage (what a deny list sees) -----------------------------------------------------------------
{
  const splAny = policy({ name: 'pay-anyone-tokens', kind: 'transfer', verdict: 'INSTANT', asset: `spl:${MINT}` }, SOL_FEES, { name: 'blocked', kind: 'deny_addresses', verdict: 'DENY', addresses: [S_ATTACKER] });
  const evmAny = policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: '*' }, { name: 'approve-anyone', kind: 'approve', verdict: 'INSTANT', asset: '*', max_amount: '1000000' }, { name: 'sign-typed-data', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip712'] }, EVM_FEES, { name: 'blocked-token', kind: 'deny_addresses', verdict: 'DENY', addresses: [TOKEN] });
  const altAny = policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, { name: 'allow-lookup-tables', kind: 'flag', verdict: 'INSTANT', flags: ['ADDRESS_LOOKUP_TABLE'] }, SOL_FEES, { name: 'blocked', kind: 'deny_addresses', verdict: 'DENY', addresses: [S_RECIPIENT_ALT] });
  file('deny-address-coverage', 'Which addresses of a request a deny list sees: owners behind SPL token accounts, token contracts, verifying contracts, addresses loaded from lookup tables.', [
    sol('spl-transfer-to-the-ata-of-a-denied-owner', 'TransferChecked to the associated token account of the denied owner: the owner is who gets paid, so the deny list should trigger.', splAny, hex(unsignedTransaction({ feePayer: W, blockhash: BLOCKHASH, instructions: [splTransferChecked({ source: W_ATA, mint: MINT, destination: ATTACKER_ATA, authority: W, amount: 10n, decimals: 6 })] })), deny('blocked', S_ATTACKER), {}),
    sol('spl-transfer-to-the-ata-of-a-denied-owner-also-listed-in-a-transfer-rule', 'The same transfer, when the owner is also named in some transfer rule: then the ATA is derived and the deny list triggers.', policy({ name: 'pay-anyone-tokens', kind: 'transfer', verdict: 'INSTANT', asset: `spl:${MINT}` }, { name: 'pay-attacker-tokens', kind: 'transfer', verdict: 'NOTIFY', asset: `spl:${MINT}`, recipients: [S_ATTACKER], max_amount: '1' }, SOL_FEES, { name: 'blocked', kind: 'deny_addresses', verdict: 'DENY', addresses: [S_ATTACKER] }), hex(unsignedTransaction({ feePayer: W, blockhash: BLOCKHASH, instructions: [splTransferChecked({ source: W_ATA, mint: MINT, destination: ATTACKER_ATA, authority: W, amount: 10n, decimals: 6 })] })), deny('blocked', S_ATTACKER)),
    evm('erc20-transfer-on-a-denied-token-contract', 'The transaction calls the denied token contract (its `to`): "any recipient, spender, program or contract of the request".', evmAny, evmTx(TOKEN, { data: transferData(FRIEND, 5n) }), deny('blocked-token', TOKEN), {}),
    evm('erc20-approve-on-a-denied-token-contract', 'The same for approve on the denied token contract.', evmAny, evmTx(TOKEN, { data: call('approve', [ROUTER, 10n]) }), deny('blocked-token', TOKEN), {}),
    typed('permit-of-a-denied-token-contract', 'A permit verified by the denied token contract is denied: the domain\'s verifying contract is touched (compare the two transactions above).', evmAny, eip2612({ spender: getAddress(ROUTER), value: 10n, deadline: NOW_S + 600n }), deny('blocked-token', TOKEN), { now: DEFAULT_NOW }),
    sol('lookup-table-recipient-on-the-deny-list', 'The denied recipient is loaded from a lookup table; the owner allowed lookup tables and any recipient. The deny list cannot see the address, and a deny list that cannot check an address should fail closed.', altAny, solTransfer(S_RECIPIENT_ALT, 1000n, { version: 0, lookupTables: { [S_TABLE]: [S_RECIPIENT_ALT] } }), deny('blocked'), {}),
  ]);
}

// 9. Lookup tables -----------------------------------------------------------------------------------------------
{
  const anyRecipient: Rule = { name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' };
  const listed: Rule = { name: 'pay-recipient', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [S_RECIPIENT_ALT] };
  const flag: Rule = { name: 'allow-lookup-tables', kind: 'flag', verdict: 'NOTIFY', flags: ['ADDRESS_LOOKUP_TABLE'] };
  const viaTable = solTransfer(S_RECIPIENT_ALT, 1000n, { version: 0, lookupTables: { [S_TABLE]: [S_RECIPIENT_ALT] } });
  file('lookup-table', 'A v0 transaction whose recipient is loaded through an address lookup table: the flag ADDRESS_LOOKUP_TABLE needs a flag rule, and the recipient is lookup:<table>:<index>, which no allowlist ever matches.', [
    sol('lookup-recipient-any-recipient-rule', 'The transfer is covered by the any-recipient rule, the flag is not.', policy(anyRecipient, SOL_FEES), viaTable, deny('default-deny', 'flag ADDRESS_LOOKUP_TABLE')),
    sol('lookup-recipient-with-flag-rule', 'Flag allowed and any recipient: the flag rule\'s NOTIFY. Executed with a real lookup table.', policy(anyRecipient, flag, SOL_FEES), viaTable, ok('NOTIFY', 'allow-lookup-tables'), {
      execute: solExec({ lookup_tables: { [S_TABLE]: [S_RECIPIENT_ALT] }, walletSpends: 1000n + FEE_1_SIG, expect: { lamports: { [S_RECIPIENT_ALT]: '1000' } } }),
    }),
    sol('lookup-recipient-with-flag-rule-and-allowlist', 'The allowlist names the very address the table holds, but the bytes only say lookup:<table>:0.', policy(listed, flag, SOL_FEES), viaTable, deny('default-deny', `lookup:${S_TABLE}:0`)),
    sol('same-transfer-without-lookup-table', 'The same transfer with the recipient in the message: the allowlist matches.', policy(listed, flag, SOL_FEES), solTransfer(S_RECIPIENT_ALT, 1000n, { version: 0 }), ok('INSTANT', 'pay-recipient'), {
      execute: solExec({ walletSpends: 1000n + FEE_1_SIG, expect: { lamports: { [S_RECIPIENT_ALT]: '1000' } } }),
    }),
  ]);
}

// 10. Unknown programs -------------------------------------------------------------------------------------------
{
  const base: Rule[] = [{ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, SOL_FEES];
  const memoRule: Rule = { name: 'memos', kind: 'call', verdict: 'NOTIFY', program: MEMO };
  const signedMemos: Rule = { name: 'memos-signed-by-wallet', kind: 'call', verdict: 'INSTANT', program: MEMO, accounts: { '0': { in: [W] } } };
  const pingAny: Rule = { name: 'recorder', kind: 'call', verdict: 'INSTANT', program: RECORDER, abi: 'ping(uint256 value)', args: { '0': { max: '100' } } };
  const recorded = (value: bigint) => ({ storage: [{ address: RECORDER, slot: '0', value: dec(value) }, { address: RECORDER, slot: '1', value: dec(BigInt(`0x${PING_SELECTOR}`)) }] });
  file('unknown-program', 'An instruction or contract call the decoder has no typed effect for is a Call, allowed only by a call rule for its program (optionally its discriminator, accounts or ABI arguments).', [
    sol('memo-without-call-rule', 'The Memo program is unknown to the decoder: a Call no rule covers.', policy(...base), solTx([memo('hello, world')]), deny('default-deny', `call ${MEMO}`)),
    sol('memo-with-call-rule', 'A call rule for the program covers it. Executed: the memo is logged.', policy(...base, memoRule), solTx([memo('hello, world')]), ok('NOTIFY', 'memos'), { execute: solExec({ walletSpends: FEE_1_SIG, expect: { logs_contain: ['Memo (len 12)'] } }) }),
    sol('memo-with-account-constraint', 'The rule requires account 0 to be the wallet; the memo is signed by it.', policy(...base, signedMemos), solTx([memo('signed note', MEMO, [W])]), ok('INSTANT', 'memos-signed-by-wallet'), { execute: solExec({ walletSpends: FEE_1_SIG, expect: { logs_contain: ['Signed by', W] } }) }),
    sol('memo-failing-account-constraint', 'Without the wallet as account 0 the rule does not cover it.', policy(...base, signedMemos), solTx([memo('unsigned note')]), deny('default-deny', `call ${MEMO}`)),
    sol('memo-next-to-a-transfer', 'A covered transfer does not carry an uncovered call.', policy(...base), solTransfer(S_FRIEND, 1000n, { extraInstructions: [memo('hello, world')] }), deny('default-deny', `call ${MEMO}`)),
    evm('contract-call-without-rule', 'An undecoded contract call.', policy(EVM_FEES), evmTx(RECORDER, { data: call('ping', [42n]) }), deny('default-deny', `call 0x${PING_SELECTOR} on ${RECORDER}`)),
    evm('contract-call-with-abi-rule', 'ping(42) within the argument constraint max 100. Executed: the contract records the call.', policy(pingAny, EVM_FEES), evmTx(RECORDER, { data: call('ping', [42n]) }), ok('INSTANT', 'recorder'), { execute: evmExec({ code: { [RECORDER]: RECORDER_CODE }, expect: recorded(42n) }) }),
    evm('contract-call-argument-out-of-range', 'ping(101) breaks the argument constraint.', policy(pingAny, EVM_FEES), evmTx(RECORDER, { data: call('ping', [101n]) }), deny('default-deny', `call 0x${PING_SELECTOR}`)),
  ]);
}

// 11. SPL grants -------------------------------------------------------------------------------------------------
{
  const payAnything = policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: '*' }, SOL_FEES);
  const bounded = policy({ name: 'delegate-bounded', kind: 'approve', verdict: 'INSTANT', asset: `spl:${MINT}`, spenders: [S_DELEGATE], max_amount: '500000' }, SOL_FEES);
  const unbounded = policy({ name: 'delegate-any-amount', kind: 'approve', verdict: 'INSTANT', asset: `spl:${MINT}`, spenders: [S_DELEGATE] }, SOL_FEES);
  const closeToWallet = policy({ name: 'close-to-wallet', kind: 'approve', verdict: 'INSTANT', asset: 'native', grant_kinds: ['close_account'], spenders: [W] }, SOL_FEES);
  const one = (ix: Instruction) => solTx([ix]);
  const approveChecked = (delegate: string, amount: bigint) => one(splApproveChecked({ source: W_ATA, mint: MINT, delegate, owner: W, amount, decimals: 6 }));
  const setup = { mints: mintSetup(), token_accounts: [walletTokens()] };
  file('spl-grants', 'SPL Approve, SetAuthority and CloseAccount hand power over the wallet\'s tokens (or lamports) to someone: grants that only approve rules cover, never transfer rules.', [
    sol('approve-to-attacker', 'Unchecked Approve: a grant (of an unknown asset) that a transfer rule for any asset does not cover.', payAnything, one(splApprove({ source: W_ATA, delegate: S_ATTACKER, owner: W, amount: 1000n })), deny('default-deny', 'token_approval')),
    sol('approve-checked-to-attacker', 'ApproveChecked to an attacker.', payAnything, approveChecked(S_ATTACKER, 1000n), deny('default-deny', S_ATTACKER)),
    sol('set-authority-account-owner-to-attacker', 'Handing the token account itself to the attacker.', payAnything, one(splSetAuthority({ account: W_ATA, currentAuthority: W, authorityType: SPL_AUTHORITY.AccountOwner, newAuthority: S_ATTACKER })), deny('default-deny', 'set_authority')),
    sol('set-authority-close-authority-to-attacker', 'The close authority is power over the account\'s lamports.', payAnything, one(splSetAuthority({ account: W_ATA, currentAuthority: W, authorityType: SPL_AUTHORITY.CloseAccount, newAuthority: S_ATTACKER })), deny('default-deny', S_ATTACKER)),
    sol('close-account-to-attacker', 'CloseAccount sends the account\'s lamports to the attacker.', payAnything, one(splCloseAccount({ account: W_ATA, destination: S_ATTACKER, owner: W })), deny('default-deny', 'close_account')),
    sol('approve-checked-to-listed-delegate', 'Listed delegate within max_amount. Executed: the delegate is set on chain.', bounded, approveChecked(S_DELEGATE, 400_000n), ok('INSTANT', 'delegate-bounded'), {
      execute: solExec({ ...setup, walletSpends: FEE_1_SIG, expect: { token_accounts: { [W_ATA]: { amount: '1000000', delegate: S_DELEGATE, delegated_amount: '400000' } } } }),
    }),
    sol('approve-checked-over-max', '500001 > max_amount.', bounded, approveChecked(S_DELEGATE, 500_001n), deny('default-deny', 'up to 500001')),
    sol('approve-checked-unlimited', 'u64::MAX is unlimited: covered by a rule without max, raised to APPROVAL.', unbounded, approveChecked(S_DELEGATE, MAX_U64), ok('APPROVAL', 'unlimited-grant'), {
      execute: solExec({ ...setup, walletSpends: FEE_1_SIG, expect: { token_accounts: { [W_ATA]: { delegate: S_DELEGATE, delegated_amount: dec(MAX_U64) } } } }),
    }),
    sol('unchecked-approve-to-listed-delegate', 'Unchecked Approve does not say which mint: asset unknown, which a rule for spl:<mint> never covers.', bounded, one(splApprove({ source: W_ATA, delegate: S_DELEGATE, owner: W, amount: 1000n })), deny('default-deny', 'of unknown')),
    sol('close-empty-account-to-wallet', 'Closing an empty token account back to the wallet, allowed by a rule: a close is unbounded, so APPROVAL. Executed: the rent comes back.', closeToWallet, one(splCloseAccount({ account: W_EMPTY_TOKEN_ACCOUNT, destination: W, owner: W })), ok('APPROVAL', 'unlimited-grant', 'close_account'), {
      execute: solExec({ mints: mintSetup(), token_accounts: [{ address: W_EMPTY_TOKEN_ACCOUNT, mint: MINT, owner: W, amount: '0' }], walletSpends: FEE_1_SIG - TOKEN_ACCOUNT_LAMPORTS, expect: { lamports: { [W_EMPTY_TOKEN_ACCOUNT]: '0' } } }),
    }),
  ]);
}

// 12. System Assign ------------------------------------------------------------------------------------------------
{
  const payAnyone = policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: '*' }, SOL_FEES);
  const assign = getAssignInstruction({ account: createNoopSigner(address(W)), programAddress: address(S_ATTACKER_PROGRAM) });
  const seeded = await createAddressWithSeed({ baseAddress: address(W), seed: 'vault', programAddress: address(S_ATTACKER_PROGRAM) });
  const assignWithSeed = getAssignWithSeedInstruction({ account: seeded, baseAccount: createNoopSigner(address(W)), base: address(W), seed: 'vault', programAddress: address(S_ATTACKER_PROGRAM) });
  file('system-assign', 'System Assign hands an account to another program (which can then take its lamports): an unbounded assign grant.', [
    sol('assign-wallet-to-attacker-program', 'No approve rule covers an assign grant.', payAnyone, solTx([assign]), deny('default-deny', 'assign of native')),
    sol('assign-with-seed', 'AssignWithSeed of an account derived from the wallet.', payAnyone, solTx([assignWithSeed]), deny('default-deny', S_ATTACKER_PROGRAM)),
    sol('assign-next-to-allowed-transfer', 'The transfer is covered; the assign is not.', payAnyone, solTransfer(S_FRIEND, 1000n, { extraInstructions: [assign] }), deny('default-deny', 'System.Assign')),
    sol('assign-to-listed-program', 'An approve rule for assign to a listed program covers it; an assign is unbounded, so APPROVAL. Executed: the wallet\'s owner program changes.', policy({ name: 'assign-to-program', kind: 'approve', verdict: 'INSTANT', asset: 'native', grant_kinds: ['assign'], spenders: [S_ATTACKER_PROGRAM] }, SOL_FEES), solTx([assign]), ok('APPROVAL', 'unlimited-grant', 'assign'), {
      execute: solExec({ walletSpends: FEE_1_SIG, expect: { owners: { [W]: S_ATTACKER_PROGRAM } } }),
    }),
  ]);
}

// 13. Durable nonce ----------------------------------------------------------------------------------------------
{
  const payAnyone: Rule = { name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' };
  const flag: Rule = { name: 'allow-durable-nonce', kind: 'flag', verdict: 'NOTIFY', flags: ['DURABLE_NONCE'] };
  const advance = getAdvanceNonceAccountInstruction({ nonceAccount: address(S_NONCE_ACCOUNT), nonceAuthority: createNoopSigner(address(W)) });
  const durable = solTransfer(S_FRIEND, 1000n, { blockhash: S_NONCE, leadingInstructions: [advance] });
  file('durable-nonce', 'AdvanceNonceAccount as the first instruction makes a transaction that never expires: the DURABLE_NONCE flag needs a flag rule. Anywhere else it is an ordinary (unknown) call.', [
    sol('durable-nonce-without-flag-rule', 'The transfer is covered, the flag is not.', policy(payAnyone, SOL_FEES), durable, deny('default-deny', 'flag DURABLE_NONCE')),
    sol('durable-nonce-with-flag-rule', 'The flag rule\'s NOTIFY decides. Executed against a real nonce account, whose nonce advances.', policy(payAnyone, flag, SOL_FEES), durable, ok('NOTIFY', 'allow-durable-nonce'), {
      execute: solExec({ nonce_accounts: [{ address: S_NONCE_ACCOUNT, authority: W, nonce: S_NONCE }], walletSpends: 1000n + FEE_1_SIG, expect: { lamports: { [S_FRIEND]: '1000' } } }),
    }),
    sol('advance-nonce-not-first', 'AdvanceNonceAccount after the transfer is not a durable nonce but a System call no rule covers, even with the flag rule.', policy(payAnyone, flag, SOL_FEES), solTransfer(S_FRIEND, 1000n, { blockhash: S_NONCE, extraInstructions: [advance] }), deny('default-deny', 'System.AdvanceNonceAccount')),
  ]);
}

// 14. Fee drains -------------------------------------------------------------------------------------------------
{
  const solP = policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, SOL_FEES);
  const evmP = policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, EVM_FEES);
  const evmExact = policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: dec(21_000n * 2n * GWEI) });
  const noFeeRule = policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' });
  const legacy = hex(unsignedLegacy({ chainId: CHAIN, to: FRIEND, value: 1000n, gasPrice: 500n * GWEI }));
  file('fee-drain', 'The worst-case network fee (Solana: signatures × 5000 + compute-unit price × limit; EVM: gas × max fee per gas) must be covered by a fee rule, however harmless the transfer.', [
    sol('solana-priority-fee-drain', '1 400 000 units × 1 000 000 µlamports = 1 400 000 lamports of priority fee + 5000 > 100 000.', solP, solTransfer(S_FRIEND, 1000n, { leadingInstructions: [computeUnitLimit(1_400_000), computeUnitPrice(1_000_000n)] }), deny('default-deny', 'a fee of up to 1405000')),
    sol('solana-priority-fee-with-default-limit', 'No limit set: 200 000 units for the one instruction × 10 000 000 µlamports.', solP, solTransfer(S_FRIEND, 1000n, { leadingInstructions: [computeUnitPrice(10_000_000n)] }), deny('default-deny', 'a fee of up to 2005000')),
    sol('solana-priority-fee-within-cap', '200 000 × 100 000 µlamports = 20 000 + 5000 ≤ 100 000. Executed: exactly that fee is charged.', solP, solTransfer(S_FRIEND, 1000n, { leadingInstructions: [computeUnitLimit(200_000), computeUnitPrice(100_000n)] }), ok('INSTANT', 'pay-anyone'), {
      execute: solExec({ walletSpends: 1000n + 25_000n, expect: { lamports: { [S_FRIEND]: '1000' } } }),
    }),
    sol('solana-without-fee-rule', 'Even the base fee needs a fee rule.', policy({ name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }), solTransfer(S_FRIEND, 1000n), deny('default-deny', 'a fee of up to 5000')),
    evm('evm-1559-fee-drain', '30 000 000 gas × 1000 gwei = 30 ETH > 0.01 ETH.', evmP, evmTx(FRIEND, { value: 1000n, gas: 30_000_000n, maxFeePerGas: 1000n * GWEI }), deny('default-deny', `a fee of up to ${30_000_000n * 1000n * GWEI}`)),
    evm('evm-legacy-gas-price-drain', 'Legacy: 21 000 × 500 gwei = 0.0105 ETH > 0.01 ETH.', evmP, legacy, deny('default-deny', `a fee of up to ${21_000n * 500n * GWEI}`)),
    evm('evm-fee-within-cap', '21 000 × 2 gwei. Executed.', evmP, evmTx(FRIEND, { value: 1000n }), ok('INSTANT', 'pay-anyone'), { execute: evmExec({ expect: { balances: { [FRIEND]: '1000' } } }) }),
    evm('evm-fee-exactly-at-cap', 'gas × max fee equal to the cap is covered.', evmExact, evmTx(FRIEND, { value: 1000n }), ok('INSTANT', 'pay-anyone'), { execute: evmExec({ expect: { balances: { [FRIEND]: '1000' } } }) }),
    evm('evm-fee-one-wei-per-gas-over-cap', '21 000 × (2 gwei + 1 wei) is 21 000 wei over the cap.', evmExact, evmTx(FRIEND, { value: 1000n, maxFeePerGas: 2n * GWEI + 1n }), deny('default-deny', `a fee of up to ${21_000n * (2n * GWEI + 1n)}`)),
    evm('evm-without-fee-rule', 'No fee rule: the fee is uncovered.', noFeeRule, evmTx(FRIEND, { value: 1000n }), deny('default-deny', 'a fee of up to')),
  ]);
}

// 15. An allowlisted discriminator sent to another program ------------------------------------------------------
{
  const mintToRule = policy({ name: 'mint-to', kind: 'call', verdict: 'INSTANT', program: TOKEN_PROGRAM, discriminators: ['07'] }, SOL_FEES);
  const helloMemos = policy({ name: 'hello-memos', kind: 'call', verdict: 'NOTIFY', program: MEMO, discriminators: [hex(utf8('hello, w'))] }, SOL_FEES);
  const ping = policy({ name: 'ping-recorder', kind: 'call', verdict: 'INSTANT', program: RECORDER, discriminators: [PING_SELECTOR] }, EVM_FEES);
  file('discriminator-other-program', 'A call rule allows a discriminator on ONE program: the same instruction data sent to any other program is not covered.', [
    sol('mint-to-on-token-program', 'MintTo (tag 07) on SPL Token, which the rule names. Executed: tokens are minted to the wallet.', mintToRule, solTx([mintTo(TOKEN_PROGRAM, MINT, W_ATA, 5000n)]), ok('INSTANT', 'mint-to'), {
      execute: solExec({ mints: [{ address: MINT, decimals: 6, authority: W, supply: '1000000' }], token_accounts: [walletTokens()], walletSpends: FEE_1_SIG, expect: { token_accounts: { [W_ATA]: { amount: '1005000' } } } }),
    }),
    sol('mint-to-on-token-2022', 'The same instruction for Token-2022.', mintToRule, solTx([mintTo(TOKEN_2022_PROGRAM, MINT22, W_ATA22, 5000n)]), deny('default-deny', 'Token2022.MintTo')),
    sol('mint-to-data-on-unknown-program', 'The same data to a program nobody listed.', mintToRule, solTx([mintTo(S_OTHER_PROGRAM, MINT, W_ATA, 5000n)]), deny('default-deny', `call ${S_OTHER_PROGRAM}`)),
    sol('memo-discriminator-on-memo-program', 'The 8-byte discriminator "hello, w" on the listed Memo program. Executed.', helloMemos, solTx([memo('hello, world')]), ok('NOTIFY', 'hello-memos'), { execute: solExec({ walletSpends: FEE_1_SIG, expect: { logs_contain: ['hello, world'] } }) }),
    sol('memo-discriminator-on-memo-v1', 'The same bytes to the older Memo program.', helloMemos, solTx([memo('hello, world', MEMO_V1)]), deny('default-deny', `call ${MEMO_V1}`)),
    sol('other-data-on-memo-program', 'The listed program with another discriminator.', helloMemos, solTx([memo('goodbye, world')]), deny('default-deny', `call ${MEMO}`)),
    evm('selector-on-listed-contract', 'The listed selector on the listed contract. Executed.', ping, evmTx(RECORDER, { data: call('ping', [7n]) }), ok('INSTANT', 'ping-recorder'), {
      execute: evmExec({ code: { [RECORDER]: RECORDER_CODE }, expect: { storage: [{ address: RECORDER, slot: '0', value: '7' }] } }),
    }),
    evm('selector-on-another-contract', 'The same calldata to another contract.', ping, evmTx(ATTACKER, { data: call('ping', [7n]) }), deny('default-deny', `on ${ATTACKER}`)),
  ]);
}

// 16. Constraints --------------------------------------------------------------------------------------------------
{
  const pay: Rule = { name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '1000' };
  const daily = (verdict: string): Rule => ({ name: 'daily', kind: 'spend_limit', verdict, asset: 'native', window: '24h', max: '10000' });
  const count: Rule = { name: 'hourly-count', kind: 'count_limit', verdict: 'DENY', window: '1h', max: 5 };
  const cool: Rule = { name: 'cool-down', kind: 'cooldown', verdict: 'DELAY', delay_seconds: 30, seconds: 60 };
  const office: Rule = { name: 'office-hours', kind: 'time_window', verdict: 'APPROVAL', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' };
  const tx = solTransfer(S_FRIEND, 1000n);
  const exec = solExec({ walletSpends: 1000n + FEE_1_SIG, expect: { lamports: { [S_FRIEND]: '1000' } } });
  const spent = (n: bigint): VectorUsage => ({ spent: { 'native|86400': dec(n) } });
  const ago = (s: number) => new Date(Date.parse(DEFAULT_NOW) - s * 1000).toISOString();
  const evmPay: Rule = { name: 'pay-anyone', kind: 'transfer', verdict: 'INSTANT', asset: 'native' };
  const tokenPay: Rule = { name: 'pay-tokens', kind: 'transfer', verdict: 'INSTANT', asset: `erc20:${TOKEN}` };
  const tokenDaily: Rule = { name: 'token-daily', kind: 'spend_limit', verdict: 'NOTIFY', asset: `erc20:${TOKEN}`, window: '1d', max: '1000000' };
  const splAny = policy({ name: 'pay-any-token', kind: 'transfer', verdict: 'INSTANT', asset: '*' }, SOL_FEES, { name: 'mint-daily', kind: 'spend_limit', verdict: 'DENY', asset: `spl:${MINT}`, window: '24h', max: '1000000' });
  file('constraints', 'Constraint rules add their verdict when triggered: spend limits over a window (from the ledger snapshot in `usage`), count limits, cooldowns, UTC time windows (from `now`), chain lists; the strictest verdict wins.', [
    sol('spend-limit-reached-exactly', '9000 reserved + 1000 = 10 000, not more than the max: not triggered.', policy(pay, SOL_FEES, daily('APPROVAL')), tx, ok('INSTANT', 'pay'), { usage: spent(9000n), execute: exec }),
    sol('spend-limit-exceeded-by-one', '9001 + 1000 > 10 000: the limit\'s APPROVAL.', policy(pay, SOL_FEES, daily('APPROVAL')), tx, ok('APPROVAL', 'daily', '9001 already reserved in the window plus 1000 exceeds 10000'), { usage: spent(9001n), execute: exec }),
    sol('spend-limit-deny', 'A DENY limit.', policy(pay, SOL_FEES, daily('DENY')), tx, deny('daily', 'exceeds 10000'), { usage: spent(9500n) }),
    sol('count-limit-below', '4 requests in the window; this is the 5th of 5.', policy(pay, SOL_FEES, count), tx, ok('INSTANT', 'pay'), { usage: { counts: { '3600': 4 } }, execute: exec }),
    sol('count-limit-reached', 'A 6th request in the hour.', policy(pay, SOL_FEES, count), tx, deny('hourly-count', '5 requests already in the window'), { usage: { counts: { '3600': 5 } } }),
    sol('cooldown-active', 'Last signature 59 s ago, cooldown 60 s: DELAY 30 s.', policy(pay, SOL_FEES, cool), tx, ok('DELAY', 'cool-down', 'cooldown is 60 s'), { now: DEFAULT_NOW, usage: { last_signed: ago(59) }, execute: exec }),
    sol('cooldown-over', 'Last signature exactly 60 s ago.', policy(pay, SOL_FEES, cool), tx, ok('INSTANT', 'pay'), { now: DEFAULT_NOW, usage: { last_signed: ago(60) }, execute: exec }),
    sol('time-window-open', 'Wednesday 12:00 UTC is inside Mon-Fri 09:00-17:00.', policy(pay, SOL_FEES, office), tx, ok('INSTANT', 'pay'), { now: '2026-03-04T12:00:00Z', execute: exec }),
    sol('time-window-closed-on-saturday', 'Saturday.', policy(pay, SOL_FEES, office), tx, ok('APPROVAL', 'office-hours', 'outside the allowed UTC time window'), { now: '2026-03-07T12:00:00Z', execute: exec }),
    sol('time-window-end-is-exclusive', 'Wednesday 17:00 is outside [09:00, 17:00).', policy(pay, SOL_FEES, office), tx, ok('APPROVAL', 'office-hours'), { now: '2026-03-04T17:00:00Z', execute: exec }),
    sol('strictest-constraint-wins', 'Count limit NOTIFY, spend limit APPROVAL and cooldown DELAY all trigger: APPROVAL.', policy(pay, SOL_FEES, { ...count, verdict: 'NOTIFY' }, daily('APPROVAL'), cool), tx, ok('APPROVAL', 'daily'), { now: DEFAULT_NOW, usage: { spent: { 'native|86400': '9999' }, counts: { '3600': 9 }, last_signed: ago(1) }, execute: exec }),
    evm('chains-allowed', 'Chain 1 is listed.', policy(evmPay, EVM_FEES, { name: 'mainnets', kind: 'chains', verdict: 'DENY', chain_ids: [1, 8453] }), evmTx(FRIEND, { value: 1000n }), ok('INSTANT', 'pay-anyone'), { execute: evmExec({ expect: { balances: { [FRIEND]: '1000' } } }) }),
    vector({ name: 'chains-denied', note: 'A transaction for chain 56.', chain: 'evm', policy: policy(evmPay, EVM_FEES, { name: 'mainnets', kind: 'chains', verdict: 'DENY', chain_ids: [1, 8453] }), kind: 'evm_transaction', request: evmTx(FRIEND, { value: 1000n, chainId: 56n }), chain_id: 56, expect: deny('mainnets', 'chain id 56 is not allowed') }),
    evm('transfer-rule-for-another-chain', 'The only transfer rule is for chain 8453.', policy({ ...evmPay, chain_ids: [8453] }, EVM_FEES), evmTx(FRIEND, { value: 1000n }), deny('default-deny', 'native to')),
    evm('erc20-spend-limit-near-cap', '999 500 + 1000 > 1 000 000 of the token: NOTIFY. Executed.', policy(tokenPay, EVM_FEES, tokenDaily), evmTx(TOKEN, { data: transferData(FRIEND, 1000n) }), ok('NOTIFY', 'token-daily'), {
      usage: { spent: { [`erc20:${TOKEN}|86400`]: '999500' } },
      execute: evmExec({ erc20: [{ address: TOKEN, balances: { [WE]: '5000' } }], expect: { erc20_balances: [{ token: TOKEN, owner: FRIEND, amount: '1000' }, { token: TOKEN, owner: WE, amount: '4000' }] } }),
    }),
    sol('spl-spend-limit-checked-transfer', 'At the cap already: a TransferChecked of the mint trips its limit.', splAny, solTx([splTransferChecked({ source: W_ATA, mint: MINT, destination: FRIEND_ATA, authority: W, amount: 1n, decimals: 6 })]), deny('mint-daily', 'exceeds 1000000'), { usage: { spent: { [`spl:${MINT}|86400`]: '1000000' } } }),
    sol('spl-spend-limit-unchecked-transfer', 'The same tokens moved with the unchecked Transfer (asset unknown, covered by the any-asset rule): the limit of the mint should still hold, since the unknown asset may be that mint.', splAny, solTx([splTransfer({ source: W_ATA, destination: FRIEND_ATA, authority: W, amount: 500_000n })]), deny('mint-daily'), {
      usage: { spent: { [`spl:${MINT}|86400`]: '1000000' } },
    }),
  ]);
}

// 17. SPL TransferChecked to associated token accounts -------------------------------------------------------------
{
  const p = policy(
    { name: 'pay-friend-tokens', kind: 'transfer', verdict: 'INSTANT', asset: `spl:${MINT}`, recipients: [S_FRIEND] },
    { name: 'pay-friend-tokens-2022', kind: 'transfer', verdict: 'NOTIFY', asset: `spl:${MINT22}`, recipients: [S_FRIEND] },
    SOL_FEES,
  );
  const checked = (destination: string, amount: bigint, program?: string, mint = MINT, source = W_ATA) =>
    solTx([splTransferChecked({ source, mint, destination, authority: W, amount, decimals: 6, ...(program ? { program } : {}) })]);
  file('spl-ata', 'An SPL TransferChecked names a destination token account, not its owner: it is covered by a rule listing the owner only when the account is that owner\'s associated token account for the mint (derived when the policy is compiled).', [
    sol('transfer-checked-to-owners-ata', 'Friend\'s ATA for the mint. Executed: the balances move.', p, checked(FRIEND_ATA, 250_000n), ok('INSTANT', 'pay-friend-tokens'), {
      execute: solExec({ mints: mintSetup(), token_accounts: [walletTokens(), { address: FRIEND_ATA, mint: MINT, owner: S_FRIEND, amount: '0' }], walletSpends: FEE_1_SIG, expect: { token_accounts: { [W_ATA]: { amount: '750000' }, [FRIEND_ATA]: { amount: '250000', owner: S_FRIEND } } } }),
    }),
    sol('transfer-checked-to-non-ata-account-of-owner', 'A token account friend owns on chain, but not its ATA: the bytes do not say who owns it.', p, checked(FRIEND_OTHER_TOKEN_ACCOUNT, 250_000n), deny('default-deny', FRIEND_OTHER_TOKEN_ACCOUNT)),
    sol('transfer-checked-token-2022-ata', 'Token-2022: the ATA is derived under Token-2022. Executed.', p, checked(FRIEND_ATA22, 1000n, TOKEN_2022_PROGRAM, MINT22, W_ATA22), ok('NOTIFY', 'pay-friend-tokens-2022'), {
      execute: solExec({ mints: [{ address: MINT22, decimals: 6, program: TOKEN_2022_PROGRAM }], token_accounts: [{ address: W_ATA22, mint: MINT22, owner: W, amount: '5000', program: TOKEN_2022_PROGRAM }, { address: FRIEND_ATA22, mint: MINT22, owner: S_FRIEND, amount: '0', program: TOKEN_2022_PROGRAM }], walletSpends: FEE_1_SIG, expect: { token_accounts: { [W_ATA22]: { amount: '4000' }, [FRIEND_ATA22]: { amount: '1000' } } } }),
    }),
    sol('unchecked-transfer-to-owners-ata', 'Transfer (unchecked) does not name the mint: asset unknown, not covered by a rule for the mint.', p, solTx([splTransfer({ source: W_ATA, destination: FRIEND_ATA, authority: W, amount: 1000n })]), deny('default-deny', 'of unknown')),
    sol('transfer-checked-to-owners-ata-of-another-mint', 'Friend\'s ATA for mint 2022 (under SPL Token) is not friend\'s account for this mint.', p, checked(FRIEND_ATA_OF_MINT22_UNDER_TOKEN, 1000n), deny('default-deny', FRIEND_ATA_OF_MINT22_UNDER_TOKEN)),
    sol('transfer-checked-to-attacker-ata', 'The attacker\'s ATA.', p, checked(ATTACKER_ATA, 1000n), deny('default-deny', ATTACKER_ATA)),
    sol('any-asset-rule-derives-no-ata', 'A rule for any asset names no mint, so no ATA is derived and the owner\'s ATA is not recognised (documented: ATAs are derived for mints named in the policy).', policy({ name: 'pay-friend-anything', kind: 'transfer', verdict: 'INSTANT', asset: '*', recipients: [S_FRIEND] }, SOL_FEES), checked(FRIEND_ATA, 1000n), deny('default-deny', FRIEND_ATA)),
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// Write.

mkdirSync(OUT, { recursive: true });
const written = new Set<string>();
for (const f of files) {
  const name = `${f.class}.json`;
  if (written.has(name)) throw new Error(`class ${f.class} written twice`);
  const names = new Set<string>();
  for (const v of f.vectors) {
    if (names.has(v.name)) throw new Error(`${f.class}: vector ${v.name} twice`);
    names.add(v.name);
  }
  writeFileSync(join(OUT, name), `${JSON.stringify(f, null, 2)}\n`);
  written.add(name);
}
for (const existing of readdirSync(OUT)) {
  if (existing.endsWith('.json') && !written.has(existing)) rmSync(join(OUT, existing));
}
console.log(`wrote ${files.length} files, ${files.reduce((n, f) => n + f.vectors.length, 0)} vectors to ${OUT}`);
