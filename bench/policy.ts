/**
 * Policy decisions per second for a 20-rule policy, with 0, 100k and 1M past spends in the ledger. A decision here
 * is what the signing path does between decoding and the HSM: read the ledger windows the policy needs, evaluate,
 * record the request and take the reservation, all in one write transaction (group commit, synchronous = FULL).
 * The figure must stay flat as history grows: window totals are differences of per-minute running totals.
 *
 *   node bench/policy.ts [seconds]      (also part of `make bench`)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy } from '../server/policies/policies.ts';
import { policyHash, validatePolicy } from '../server/policy/document.ts';
import type { Effects } from '../server/policy/effects.ts';
import { evaluate, type CompiledPolicy } from '../server/policy/evaluate.ts';
import { usageSnapshot, effectsJson } from '../server/signer/signer.ts';
import { BUCKET_MS, COUNT_ASSET } from '../server/store/ledger.ts';
import { Store } from '../server/store/store.ts';
import { policyJson, type RuleJson } from '../test/support/policies.ts';
import { runLoad } from './load.ts';

const WALLET = 'wlt_BENCH0000000000000000000000';
const RECIPIENTS = Array.from({ length: 50 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}`);
const TOKEN = '0x00000000000000000000000000000000000000aa';

/** Twenty rules of every kind a real policy has. */
const RULES: RuleJson[] = [
  { name: 'small-eth', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: RECIPIENTS, max_amount: '1000000000000000000' },
  { name: 'large-eth', kind: 'transfer', verdict: 'APPROVAL', asset: 'native', recipients: RECIPIENTS, min_amount: '1000000000000000001' },
  { name: 'usdc', kind: 'transfer', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, recipients: RECIPIENTS, max_amount: '1000000000' },
  { name: 'usdc-approve', kind: 'approve', verdict: 'NOTIFY', asset: `erc20:${TOKEN}`, spenders: RECIPIENTS.slice(0, 5), max_amount: '1000000000' },
  { name: 'router', kind: 'call', verdict: 'NOTIFY', program: RECIPIENTS[0]!, discriminators: ['12345678'] },
  { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '10000000000000000' },
  { name: 'siwe', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip191'], text_prefix: 'example.com wants you to sign in' },
  { name: 'eth-1h', kind: 'spend_limit', verdict: 'APPROVAL', asset: 'native', window: '1h', max: '5000000000000000000' },
  { name: 'eth-24h', kind: 'spend_limit', verdict: 'APPROVAL', asset: 'native', window: '24h', max: '20000000000000000000' },
  { name: 'eth-7d', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '7d', max: '100000000000000000000' },
  { name: 'eth-30d', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '30d', max: '300000000000000000000' },
  { name: 'usdc-24h', kind: 'spend_limit', verdict: 'APPROVAL', asset: `erc20:${TOKEN}`, window: '24h', max: '10000000000' },
  { name: 'rate-1m', kind: 'count_limit', verdict: 'DELAY', delay_seconds: 60, window: '1m', max: 1_000_000 },
  { name: 'rate-1h', kind: 'count_limit', verdict: 'APPROVAL', window: '1h', max: 10_000_000 },
  { name: 'cooldown', kind: 'cooldown', verdict: 'DELAY', delay_seconds: 5, seconds: 1 },
  { name: 'blocked', kind: 'deny_addresses', verdict: 'DENY', addresses: ['0x000000000000000000000000000000000000dead'] },
  { name: 'hours', kind: 'time_window', verdict: 'APPROVAL', from: '00:00', to: '24:00' },
  { name: 'chains', kind: 'chains', verdict: 'DENY', chain_ids: [1, 8453, 10] },
  { name: 'nonce-flag', kind: 'flag', verdict: 'APPROVAL', flags: ['CONTRACT_CREATION'] },
  { name: 'usdc-7d', kind: 'spend_limit', verdict: 'DENY', asset: `erc20:${TOKEN}`, window: '7d', max: '50000000000' },
];

const EFFECTS: Effects = {
  chain: 'evm',
  chainId: 1n,
  outflows: [{ asset: 'native', amount: 1n, recipient: RECIPIENTS[7]!, recipientKind: 'owner', source: 'value' }],
  grants: [],
  calls: [],
  flags: [],
  maxFee: 21_000n * 30_000_000_000n,
};

/** Writes `n` past spends (requests, reservations and their buckets) spread over the last 30 days. */
function seedHistory(store: Store, n: number, nowMs: number): void {
  const insReq = store.db.prepare(
    `INSERT INTO sign_requests (id, caller, wallet_id, kind, payload_hash, state, create_time, update_time) VALUES (?, 'bench', ?, 'evm_transaction', 'h', 'SIGNED', ?, ?)`,
  );
  const insRes = store.db.prepare('INSERT INTO spend_reservations (sign_request_id, wallet_id, asset, amount, time_ms) VALUES (?, ?, ?, ?, ?)');
  const span = 30 * 86_400_000;
  const perMinute = new Map<number, bigint>();
  store.db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const t = nowMs - Math.floor((i / n) * span) - 1;
      const id = `req_SEED${String(i).padStart(22, '0')}`;
      const iso = new Date(t).toISOString();
      insReq.run(id, WALLET, iso, iso);
      insRes.run(id, WALLET, 'native', '1', t);
      insRes.run(id, WALLET, COUNT_ASSET, '1', t);
      const minute = Math.floor(t / BUCKET_MS) * BUCKET_MS;
      perMinute.set(minute, (perMinute.get(minute) ?? 0n) + 1n);
    }
    // The per-minute rows with their running totals, as Ledger.reserve would have left them.
    const insB = store.db.prepare('INSERT INTO spend_buckets (wallet_id, asset, start_ms, amount, cum) VALUES (?, ?, ?, ?, ?)');
    for (const asset of ['native', COUNT_ASSET]) {
      let cum = 0n;
      for (const minute of [...perMinute.keys()].sort((a, b) => a - b)) {
        cum += perMinute.get(minute)!;
        insB.run(WALLET, asset, minute, perMinute.get(minute)!.toString(), cum.toString());
      }
    }
  })();
}

async function measure(past: number, seconds: number, policy: CompiledPolicy): Promise<{ pure: number; decide: number; p99: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'waiaas-bench-policy-'));
  const store = Store.open(join(dir, 'db.sqlite'));
  try {
    store.insertWallet({ walletId: WALLET, chain: 'evm', address: '0x00000000000000000000000000000000000000bb', keyId: new Uint8Array([1]), algorithm: 'secp256k1', publicKey: new Uint8Array(65), tokenLabel: 'bench', labels: {}, creator: 'bench', requestId: null, createTime: new Date().toISOString() });
    const now = Date.now();
    seedHistory(store, past, now);
    // The engine alone (no ledger): usage as a fixed snapshot.
    const usage = usageSnapshot(store, WALLET, policy, now);
    let n = 0;
    const pureEnd = performance.now() + seconds * 1000;
    while (performance.now() < pureEnd) {
      for (let i = 0; i < 1000; i++) evaluate(EFFECTS, policy, usage, { now: new Date() });
      n += 1000;
    }
    const pure = n / seconds;
    // The decision as the signing path takes it: ledger reads + evaluate + record + reservation, group-committed.
    let seq = 0;
    const decide = await runLoad(
      () =>
        store.write(() => {
          const t = Date.now();
          const u = usageSnapshot(store, WALLET, policy, t);
          const d = evaluate(EFFECTS, policy, u, { now: new Date(t) });
          const id = `req_BENCH${String(seq++).padStart(21, '0')}`;
          store.insertSignRequest({ id, caller: 'bench', requestId: null, walletId: WALLET, kind: 'evm_transaction', payloadHash: 'h', effects: effectsJson(EFFECTS), verdict: d.verdict, rule: d.rule, policyVersion: 1, policyHash: policy.hash, state: 'SIGNING', time: new Date(t).toISOString() });
          store.ledger.reserve(WALLET, id, d.reservation, t);
          return d.verdict;
        }),
      { concurrency: 64, seconds },
    );
    return { pure, decide: decide.perSecond, p99: decide.p99ms };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the policy benchmark and prints its table; returns the figures. */
export async function benchPolicy(seconds = 2): Promise<{ past: number; pure: number; decide: number; p99: number }[]> {
  const v = validatePolicy(policyJson(RULES), 'evm');
  if (!v.ok) throw new Error(`${v.error.field}: ${v.error.message}`);
  const policy = await compilePolicy({ version: 1, hash: policyHash(v.document), document: v.document }, 'evm');
  const rows = [];
  for (const past of [0, 100_000, 1_000_000]) rows.push({ past, ...(await measure(past, seconds, policy)) });
  console.log(`Policy decisions, ${RULES.length}-rule policy (7 ledger windows read per decision)`);
  console.log('    past spends   engine only      decision + ledger + record (64 in flight)   p99');
  for (const r of rows) {
    console.log(
      `    ${String(r.past).padStart(11)}   ${r.pure.toFixed(0).padStart(7)}/s       ${r.decide.toFixed(0).padStart(7)}/s   (${(r.decide / rows[0]!.decide).toFixed(2)} of the empty ledger)          ${r.p99.toFixed(2)} ms`,
    );
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPolicy(Number(process.argv[2] ?? 2));
