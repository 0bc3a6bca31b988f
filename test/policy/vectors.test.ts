/**
 * Runs the policy test vectors (test/vectors/policy/*.json, written by test/vectors/generate.ts): for each vector the
 * policy must validate and compile, the request is decoded by the server's own preparePayload for a wallet with the
 * deterministic test key, the engine decides with the vector's usage and time, and verdict, rule and detail must be
 * what the vector says. Every vector that is not denied is then signed (a local key with the HSM's interface) and
 * EXECUTED: Solana transactions in LiteSVM, EVM transactions in @ethereumjs/vm, with the vector's set-up, and the
 * state afterwards must be what the vector says; message signatures are verified against the wallet's key instead.
 *
 * Vectors marked `known_issue` describe server behaviour believed wrong; they are skipped and listed.
 */
import { create } from '@bufbuild/protobuf';
import { ed25519 } from '@noble/curves/ed25519.js';
import { createAddressFromString } from '@ethereumjs/util';
import { address } from '@solana/kit';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesToHex, hashMessage, hashTypedData, hexToBytes, keccak256, recoverMessageAddress, recoverTypedDataAddress, type Hex } from 'viem';
import { expect, test } from 'vitest';
import { SignPayloadSchema } from '../../gen/waiaas/v1/sign_request_pb.js';
import { isWaiaasError } from '../../server/errors/error.ts';
import { compilePolicy } from '../../server/policies/policies.ts';
import { policyHash, validatePolicy } from '../../server/policy/document.ts';
import type { Effects } from '../../server/policy/effects.ts';
import { evaluate, usageNeeds, type CompiledPolicy, type Decision, type UsageSnapshot } from '../../server/policy/evaluate.ts';
import { preparePayload, type Prepared } from '../../server/signer/signer.ts';
import type { WalletRecord } from '../../server/store/store.ts';
import { createEvm, deployErc20, erc20Allowance, erc20BalanceOf, evmBalance, executeEvm } from '../support/evm.ts';
import { createMint, createSvm, createTokenAccount, executeSolana, readTokenAccount, setLookupTable } from '../support/litesvm.ts';
import {
  DEFAULT_NOW,
  erc20AllowanceSlot,
  EVM_KEY_ID,
  EVM_PUBLIC_KEY,
  EVM_WALLET,
  localKeys,
  readNonce,
  setNonceAccount,
  SOLANA_KEY_ID,
  SOLANA_PUBLIC_KEY,
  SOLANA_WALLET,
  type EvmExecute,
  type SolanaExecute,
  type Vector,
  type VectorFile,
} from '../vectors/lib.ts';

/** The classes the vector files must cover (one file each, several variants each). */
const REQUIRED_CLASSES = [
  'unlimited-approve',
  'permit-eip2612',
  'permit2',
  'transfer-from',
  'multicall',
  'eip7702',
  'raw-hash',
  'deny-address-case',
  'lookup-table',
  'unknown-program',
  'spl-grants',
  'system-assign',
  'durable-nonce',
  'fee-drain',
  'discriminator-other-program',
  'constraints',
  'spl-ata',
];

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../vectors/policy');
const FILES: { file: string; data: VectorFile }[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, data: JSON.parse(readFileSync(join(DIR, file), 'utf8')) as VectorFile }));

function record(chain: 'solana' | 'evm'): WalletRecord {
  const solana = chain === 'solana';
  return {
    walletId: `w_vectors_${chain}`,
    chain,
    address: solana ? SOLANA_WALLET : EVM_WALLET,
    keyId: solana ? SOLANA_KEY_ID : EVM_KEY_ID,
    algorithm: solana ? 'ed25519' : 'secp256k1',
    publicKey: solana ? SOLANA_PUBLIC_KEY : EVM_PUBLIC_KEY,
    tokenLabel: 'vectors',
    labels: {},
    creator: 'vectors',
    requestId: null,
    createTime: DEFAULT_NOW,
    seq: 1,
  };
}

function bytes(hex: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new Error('request is not lower-case hex without 0x');
  return hexToBytes(`0x${hex}`);
}

function payloadOf(v: Vector) {
  switch (v.kind) {
    case 'solana_transaction':
      return create(SignPayloadSchema, { payload: { case: 'solanaTransaction', value: bytes(v.request) } });
    case 'evm_transaction':
      if (v.chain_id === undefined) throw new Error('an evm_transaction vector needs chain_id');
      return create(SignPayloadSchema, { payload: { case: 'evmTransaction', value: { unsignedTransaction: bytes(v.request), chainId: BigInt(v.chain_id) } } });
    case 'evm_message':
      return create(SignPayloadSchema, { payload: { case: 'evmMessage', value: bytes(v.request) } });
    case 'evm_typed_data':
      return create(SignPayloadSchema, { payload: { case: 'evmTypedData', value: v.request } });
    case 'solana_message':
      return create(SignPayloadSchema, { payload: { case: 'solanaMessage', value: bytes(v.request) } });
  }
}

/** The usage snapshot of a vector; every entry must be one the policy actually reads (a vector typo fails loudly). */
function usageOf(v: Vector, policy: CompiledPolicy): UsageSnapshot {
  const needs = usageNeeds(policy);
  const u = v.usage ?? {};
  const spentKeys = new Set(needs.spend.map((n) => `${n.asset}|${n.windowSeconds}`));
  for (const k of Object.keys(u.spent ?? {})) expect(spentKeys, `usage.spent["${k}"] is not a window the policy reads`).toContain(k);
  for (const k of Object.keys(u.counts ?? {})) expect(needs.counts, `usage.counts["${k}"] is not a window the policy reads`).toContain(Number(k));
  if (u.last_signed !== undefined) expect(needs.lastSigned, 'usage.last_signed but the policy has no cooldown').toBe(true);
  return {
    spent: new Map(Object.entries(u.spent ?? {}).map(([k, a]) => [k, BigInt(a)])),
    counts: new Map(Object.entries(u.counts ?? {}).map(([k, n]) => [Number(k), n])),
    lastSignedAt: u.last_signed === undefined ? null : new Date(u.last_signed),
  };
}

function effectsText(e: Effects): string {
  return JSON.stringify(e, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
}

/** Validates, compiles, decodes and decides. `prepared` is undefined when decoding refused the request. */
async function decide(v: Vector): Promise<{ prepared?: Prepared; decision?: Decision; error?: unknown }> {
  const valid = validatePolicy(JSON.stringify(v.policy), v.chain);
  if (!valid.ok) throw new Error(`policy does not validate at ${valid.error.field}: ${valid.error.message}`);
  const compiled = await compilePolicy({ version: 1, hash: policyHash(valid.document), document: valid.document }, v.chain);
  let prepared: Prepared;
  try {
    prepared = preparePayload(payloadOf(v), record(v.chain), localKeys);
  } catch (error) {
    return { error };
  }
  const decision = evaluate(prepared.effects, compiled, usageOf(v, compiled), { now: new Date(v.now ?? DEFAULT_NOW) });
  return { prepared, decision };
}

// ---------------------------------------------------------------------------------------------------------------
// Execution.

const stats = {
  vectors: 0,
  refusedAtDecoding: 0,
  denied: 0,
  executed: { solana: 0, evm: 0 },
  signaturesVerified: 0,
  skipped: [] as string[],
  knownIssues: [] as { title: string; issue: string }[],
};

type SignResultInit = Awaited<ReturnType<Prepared['sign']>>;

async function executeSolanaVector(title: string, exec: SolanaExecute, signed: Uint8Array): Promise<void> {
  const svm = createSvm();
  for (const m of exec.mints ?? []) {
    createMint(svm, { mint: m.address, decimals: m.decimals, ...(m.authority ? { authority: m.authority } : {}), ...(m.supply ? { supply: BigInt(m.supply) } : {}), ...(m.program ? { program: m.program } : {}) });
  }
  for (const t of exec.token_accounts ?? []) {
    createTokenAccount(svm, {
      address: t.address,
      mint: t.mint,
      owner: t.owner,
      amount: BigInt(t.amount),
      ...(t.program ? { program: t.program } : {}),
      ...(t.delegate ? { delegate: t.delegate } : {}),
      ...(t.delegated_amount ? { delegatedAmount: BigInt(t.delegated_amount) } : {}),
    });
  }
  for (const [table, addrs] of Object.entries(exec.lookup_tables ?? {})) setLookupTable(svm, table, addrs);
  for (const n of exec.nonce_accounts ?? []) setNonceAccount(svm, n);
  const fund = Object.fromEntries(Object.entries(exec.accounts ?? {}).map(([a, l]) => [a, BigInt(l)]));
  const run = executeSolana({ svm, signedTx: signed, fund });
  expect(run.error, `${title}: the signed transaction failed in LiteSVM (logs: ${run.logs.join(' | ')})`).toBeUndefined();
  expect(run.ok).toBe(true);

  const want = exec.expect;
  for (const [a, l] of Object.entries(want.lamports ?? {})) expect(run.balances(a), `lamports of ${a}`).toBe(BigInt(l));
  for (const [a, state] of Object.entries(want.token_accounts ?? {})) {
    const acc = readTokenAccount(svm, a);
    expect(acc, `token account ${a} exists`).toBeDefined();
    if (state.amount !== undefined) expect(acc!.amount, `token amount of ${a}`).toBe(BigInt(state.amount));
    if (state.owner !== undefined) expect(acc!.owner, `owner of token account ${a}`).toBe(state.owner);
    if (state.delegate !== undefined) expect(acc!.delegate ?? null, `delegate of ${a}`).toBe(state.delegate);
    if (state.delegated_amount !== undefined) expect(acc!.delegatedAmount, `delegated amount of ${a}`).toBe(BigInt(state.delegated_amount));
  }
  for (const [a, program] of Object.entries(want.owners ?? {})) {
    const acc = svm.getAccount(address(a));
    expect(acc.exists && acc.programAddress, `owner program of ${a}`).toBe(program);
  }
  for (const s of want.logs_contain ?? []) expect(run.logs.some((l) => l.includes(s)), `a log line contains ${s}`).toBe(true);
  for (const n of exec.nonce_accounts ?? []) expect(readNonce(svm, n.address), `nonce account ${n.address} advanced`).not.toBe(n.nonce);
  stats.executed.solana++;
}

async function executeEvmVector(title: string, exec: EvmExecute, chainId: bigint, result: SignResultInit): Promise<void> {
  const vm = await createEvm(chainId);
  for (const [a, code] of Object.entries(exec.code ?? {})) await vm.stateManager.putCode(createAddressFromString(a), hexToBytes(code as Hex));
  for (const t of exec.erc20 ?? []) {
    const balances = Object.fromEntries(Object.entries(t.balances ?? {}).map(([h, n]) => [h, BigInt(n)]));
    await deployErc20(vm, { address: t.address, balances });
    if (t.code) await vm.stateManager.putCode(createAddressFromString(t.address), hexToBytes(t.code as Hex));
    for (const al of t.allowances ?? []) {
      await vm.stateManager.putStorage(createAddressFromString(t.address), hexToBytes(erc20AllowanceSlot(al.owner, al.spender)), hexToBytes(`0x${BigInt(al.amount).toString(16).padStart(64, '0')}`));
    }
  }
  const signed = result.signedTransaction!;
  expect(bytesToHex(result.transactionHash!)).toBe(keccak256(signed));
  const fund = Object.fromEntries(Object.entries(exec.accounts ?? {}).map(([a, w]) => [a, BigInt(w)]));
  const run = await executeEvm({ vm, chainId, signedTx: signed, fund });
  expect(run.error, `${title}: the signed transaction failed in the EVM`).toBeUndefined();
  expect(run.ok).toBe(true);
  expect(run.sender, 'the transaction is from the wallet').toBe(EVM_WALLET.toLowerCase());

  const want = exec.expect;
  for (const [a, w] of Object.entries(want.balances ?? {})) expect(await evmBalance(vm, a), `wei of ${a}`).toBe(BigInt(w));
  for (const b of want.erc20_balances ?? []) expect(await erc20BalanceOf(vm, b.token, b.owner), `balanceOf(${b.owner}) on ${b.token}`).toBe(BigInt(b.amount));
  for (const al of want.erc20_allowances ?? []) {
    expect(await erc20Allowance(vm, al.token, al.owner, al.spender), `allowance(${al.owner}, ${al.spender}) on ${al.token}`).toBe(BigInt(al.amount));
  }
  for (const [a, code] of Object.entries(want.code ?? {})) expect(bytesToHex(await vm.stateManager.getCode(createAddressFromString(a))), `code of ${a}`).toBe(code);
  for (const s of want.storage ?? []) {
    const slot = hexToBytes(`0x${BigInt(s.slot).toString(16).padStart(64, '0')}`);
    const value = await vm.stateManager.getStorage(createAddressFromString(s.address), slot);
    expect(value.length === 0 ? 0n : BigInt(bytesToHex(value)), `storage ${s.slot} of ${s.address}`).toBe(BigInt(s.value));
  }
  stats.executed.evm++;
}

/** Typed data as viem takes it: integers as bigint, addresses lower-case (viem refuses upper-case hex). */
function viemTypedData(json: string) {
  const doc = JSON.parse(json) as { types: Record<string, { name: string; type: string }[]>; primaryType: string; domain: Record<string, unknown>; message: Record<string, unknown> };
  const convert = (type: string, value: unknown): unknown => {
    if (type.endsWith(']')) {
      const inner = type.slice(0, type.lastIndexOf('['));
      return (value as unknown[]).map((x) => convert(inner, x));
    }
    if (/^u?int[0-9]*$/.test(type)) return BigInt(value as string | number);
    if (type === 'address') return (value as string).toLowerCase();
    const fields = doc.types[type];
    if (fields) return Object.fromEntries(fields.map((f) => [f.name, convert(f.type, (value as Record<string, unknown>)[f.name])]));
    return value;
  };
  return { types: doc.types, primaryType: doc.primaryType, domain: convert('EIP712Domain', doc.domain), message: convert(doc.primaryType, doc.message) } as never;
}

async function verifyMessage(v: Vector, result: SignResultInit): Promise<void> {
  const signature = result.signature!;
  switch (v.kind) {
    case 'evm_message': {
      const raw = bytes(v.request);
      expect(bytesToHex(result.digest!)).toBe(hashMessage({ raw }));
      expect((await recoverMessageAddress({ message: { raw }, signature: bytesToHex(signature) })).toLowerCase()).toBe(EVM_WALLET.toLowerCase());
      break;
    }
    case 'evm_typed_data': {
      const typed = viemTypedData(v.request);
      expect(bytesToHex(result.digest!)).toBe(hashTypedData(typed));
      expect((await recoverTypedDataAddress({ ...(typed as object), signature: bytesToHex(signature) } as never)).toLowerCase()).toBe(EVM_WALLET.toLowerCase());
      break;
    }
    case 'solana_message':
      expect(bytesToHex(result.signedMessage!)).toBe(`0x${v.request}`);
      expect(ed25519.verify(signature, result.signedMessage!, SOLANA_PUBLIC_KEY)).toBe(true);
      break;
    default:
      throw new Error(`verify_signature is for messages, not ${v.kind}`);
  }
  stats.signaturesVerified++;
}

async function run(cls: string, v: Vector): Promise<void> {
  const title = `${cls}: ${v.name}`;
  stats.vectors++;
  const { prepared, decision, error } = await decide(v);
  if ('error' in v.expect) {
    expect(error, `${title}: expected decoding to refuse with ${v.expect.error}`).toBeDefined();
    expect(isWaiaasError(error, v.expect.error as never), `${title}: refused with ${String(error)}`).toBe(true);
    expect(v.execute).toBeUndefined();
    stats.refusedAtDecoding++;
    return;
  }
  if (error !== undefined) throw error;
  const d = decision!;
  const why = `${title}\n  detail: ${d.detail}\n  matched: ${d.matched.map((m) => `${m.name}:${m.verdict} (${m.reason})`).join('; ')}\n  effects: ${effectsText(prepared!.effects)}`;
  expect({ verdict: d.verdict, rule: d.rule }, why).toEqual({ verdict: v.expect.verdict, rule: v.expect.rule });
  if (v.expect.detail_contains !== undefined) expect(d.detail, why).toContain(v.expect.detail_contains);

  if (d.verdict === 'DENY') {
    expect(v.execute, `${title}: a denied vector has nothing to execute`).toBeUndefined();
    stats.denied++;
    return;
  }
  expect(v.execute, `${title}: every allowed vector says how to execute it`).toBeDefined();
  const exec = v.execute!;
  const result = await prepared!.sign();
  if ('skip' in exec) {
    stats.skipped.push(`${title}: ${exec.skip}`);
    return;
  }
  if ('verify_signature' in exec) return verifyMessage(v, result);
  if (v.kind === 'solana_transaction') return executeSolanaVector(title, exec as SolanaExecute, result.signedTransaction!);
  if (v.kind === 'evm_transaction') return executeEvmVector(title, exec as EvmExecute, BigInt(v.chain_id!), result);
  throw new Error(`${title}: messages are verified (verify_signature), not executed`);
}

for (const { data } of FILES) {
  for (const v of data.vectors) {
    const title = `${data.class}: ${v.name}`;
    if (v.known_issue !== undefined) {
      stats.knownIssues.push({ title, issue: v.known_issue });
      test.skip(title, () => undefined);
      continue;
    }
    test(title, () => run(data.class, v));
  }
}

test('the vector files cover every class, each with allowed and refused variants', () => {
  const byClass = new Map(FILES.map(({ file, data }) => [data.class, { file, data }]));
  for (const { file, data } of FILES) expect(file, 'one file per class, named after it').toBe(`${data.class}.json`);
  for (const cls of REQUIRED_CLASSES) {
    const f = byClass.get(cls);
    expect(f, `a vector file for class ${cls}`).toBeDefined();
    const vectors = f!.data.vectors.filter((v) => v.known_issue === undefined);
    expect(vectors.length, `${cls} has several variants`).toBeGreaterThanOrEqual(3);
    const refusedVariant = vectors.some((v) => 'error' in v.expect || v.expect.verdict === 'DENY');
    const allowedVariant = vectors.some((v) => 'verdict' in v.expect && v.expect.verdict !== 'DENY');
    expect([refusedVariant, allowedVariant], `${cls} has a refused and an allowed variant`).toEqual([true, true]);
  }
});

test('summary: what ran, what executed, what was skipped', async () => {
  const lines = [
    `policy vectors: ${stats.vectors} checked in ${FILES.length} files (${stats.refusedAtDecoding} refused at decoding, ${stats.denied} denied)`,
    `executed: ${stats.executed.solana + stats.executed.evm} (LiteSVM ${stats.executed.solana}, EVM ${stats.executed.evm}); message signatures verified: ${stats.signaturesVerified}`,
    `executions skipped: ${stats.skipped.length}${stats.skipped.map((s) => `\n  - ${s}`).join('')}`,
    `known issues (vectors skipped): ${stats.knownIssues.length}`,
  ];
  for (const k of stats.knownIssues) {
    const cls = k.title.slice(0, k.title.indexOf(': '));
    const v = FILES.find((f) => f.data.class === cls)!.data.vectors.find((x) => `${cls}: ${x.name}` === k.title)!;
    const now = await decide(v);
    const expected = 'error' in v.expect ? v.expect.error : `${v.expect.verdict} by ${v.expect.rule}`;
    const actual = now.decision ? `${now.decision.verdict} by ${now.decision.rule}` : String(now.error);
    lines.push(`  - ${k.title}\n      expected ${expected}; the server says ${actual}\n      ${k.issue}`);
  }
  console.log(lines.join('\n'));
  // Every non-denied vector that ran was executed, verified, or listed as skipped.
  const allowed = stats.vectors - stats.refusedAtDecoding - stats.denied;
  expect(stats.executed.solana + stats.executed.evm + stats.signaturesVerified + stats.skipped.length).toBe(allowed);
});
