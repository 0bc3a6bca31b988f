/** The first policy, as a pure function: effects + policy document in, a closed verdict out. */
import { describe, expect, test } from 'vitest';
import { canonicalPolicy, parseCanonicalPolicy, policyHash, validatePolicy, type Policy } from '../../server/policy/document.ts';
import type { Effects } from '../../server/policy/effects.ts';
import { evaluate } from '../../server/policy/evaluate.ts';

const NOW = { now: new Date('2026-01-01T00:00:00Z') };
const SOL_A = 'So11111111111111111111111111111111111111112';
const SOL_B = 'Vote111111111111111111111111111111111111111';
const EVM_A = '0xAbCdEf0123456789abcdef0123456789ABCDEF01';

function policy(chain: 'solana' | 'evm', recipients: string[], max: string): Policy {
  const v = validatePolicy({ allowedRecipients: recipients, maxNativePerTransaction: max }, chain);
  if (!v.ok) throw new Error(v.error.message);
  return { version: 1, hash: policyHash(v.document), document: v.document };
}

function sol(outflows: [string, bigint][], extra: Partial<Effects> = {}): Effects {
  return { chain: 'solana', outflows: outflows.map(([recipient, amount]) => ({ asset: 'native', recipient, amount })), calls: [], flags: [], maxFee: 5000n, ...extra };
}

describe('evaluate', () => {
  test('denies everything when the wallet has no policy', () => {
    const d = evaluate(sol([[SOL_A, 1n]]), null, NOW);
    expect(d).toMatchObject({ verdict: 'DENY', rule: 'default-deny', policyHash: null });
  });

  test('allows a transfer to an allowlisted recipient within the limit, and names the policy hash', () => {
    const p = policy('solana', [SOL_A], '100');
    const d = evaluate(sol([[SOL_A, 100n]]), p, NOW);
    expect(d.verdict).toBe('INSTANT');
    expect(d.policyHash).toBe(p.hash);
    expect(d.policyVersion).toBe(1);
  });

  test('denies a recipient not on the allowlist, even when another transfer in the same transaction is allowed', () => {
    const d = evaluate(sol([[SOL_A, 1n], [SOL_B, 1n]]), policy('solana', [SOL_A], '100'), NOW);
    expect(d).toMatchObject({ verdict: 'DENY', rule: 'recipient-allowlist' });
  });

  test('sums every transfer of a transaction against the per-transaction limit', () => {
    const p = policy('solana', [SOL_A], '100');
    expect(evaluate(sol([[SOL_A, 50n], [SOL_A, 50n]]), p, NOW).verdict).toBe('INSTANT');
    expect(evaluate(sol([[SOL_A, 50n], [SOL_A, 51n]]), p, NOW)).toMatchObject({ verdict: 'DENY', rule: 'native-amount-limit' });
  });

  test('an empty limit lets nothing move', () => {
    expect(evaluate(sol([[SOL_A, 1n]]), policy('solana', [SOL_A], ''), NOW)).toMatchObject({ verdict: 'DENY', rule: 'native-amount-limit' });
  });

  test('compares EVM recipients case-insensitively and Solana recipients exactly', () => {
    const evm: Effects = { chain: 'evm', chainId: 1n, outflows: [{ asset: 'native', recipient: EVM_A.toLowerCase(), amount: 1n }], calls: [], flags: [], maxFee: 0n };
    expect(evaluate(evm, policy('evm', [EVM_A], '1'), NOW).verdict).toBe('INSTANT');
    expect(evaluate({ ...evm, outflows: [{ asset: 'native', recipient: EVM_A.toUpperCase().replace('0X', '0x'), amount: 1n }] }, policy('evm', [EVM_A], '1'), NOW).verdict).toBe('INSTANT');
    const lower = SOL_A.toLowerCase();
    expect(evaluate(sol([[lower, 1n]]), policy('solana', [SOL_A], '1'), NOW)).toMatchObject({ verdict: 'DENY', rule: 'recipient-allowlist' });
  });

  test('denies any call, even alongside an allowed transfer', () => {
    const e = sol([[SOL_A, 1n]], { calls: [{ program: 'ComputeBudget111111111111111111111111111111', discriminator: '03', description: 'ComputeBudget.SetComputeUnitPrice' }] });
    expect(evaluate(e, policy('solana', [SOL_A], '100'), NOW)).toMatchObject({ verdict: 'DENY', rule: 'call-not-allowed' });
  });

  test('denies every flag', () => {
    for (const flag of ['ADDRESS_LOOKUP_TABLE', 'DURABLE_NONCE', 'CONTRACT_CREATION', 'EIP7702_AUTHORIZATION', 'MISSING_CHAIN_ID'] as const) {
      expect(evaluate(sol([[SOL_A, 1n]], { flags: [flag] }), policy('solana', [SOL_A], '100'), NOW)).toMatchObject({ verdict: 'DENY', rule: `flag:${flag}` });
    }
  });

  test('denies a transaction that moves nothing', () => {
    expect(evaluate(sol([]), policy('solana', [SOL_A], '100'), NOW)).toMatchObject({ verdict: 'DENY', rule: 'default-deny' });
  });
});

describe('policy document', () => {
  test('validation errors name the field path', () => {
    const r = validatePolicy({ allowedRecipients: [SOL_A, 'not-an-address'], maxNativePerTransaction: '1' }, 'solana');
    expect(r).toEqual({ ok: false, error: { field: 'allowed_recipients[1]', message: expect.stringContaining('Solana') } });
    const r2 = validatePolicy({ allowedRecipients: [], maxNativePerTransaction: '-1' }, 'evm');
    expect(r2).toMatchObject({ ok: false, error: { field: 'max_native_per_transaction' } });
    const r3 = validatePolicy({ allowedRecipients: [SOL_A], maxNativePerTransaction: '1' }, 'evm');
    expect(r3).toMatchObject({ ok: false, error: { field: 'allowed_recipients[0]' } });
    const r4 = validatePolicy({ allowedRecipients: [], maxNativePerTransaction: '01' }, 'evm');
    expect(r4).toMatchObject({ ok: false, error: { field: 'max_native_per_transaction' } });
  });

  test('a 31-byte base58 string is not a Solana address', () => {
    // 43 characters of base58 can encode fewer than 32 bytes.
    expect(validatePolicy({ allowedRecipients: ['1111111111111111111111111111111111111111111'], maxNativePerTransaction: '' }, 'solana').ok).toBe(false);
  });

  test('the hash does not depend on recipient order, letter case of EVM addresses or duplicates', () => {
    const a = policy('evm', [EVM_A, '0x' + '1'.repeat(40)], '5');
    const b = policy('evm', ['0x' + '1'.repeat(40), EVM_A.toLowerCase(), EVM_A], '5');
    expect(a.hash).toBe(b.hash);
    expect(policy('evm', [EVM_A], '6').hash).not.toBe(policy('evm', [EVM_A], '5').hash);
  });

  test('the canonical form round-trips', () => {
    const p = policy('solana', [SOL_B, SOL_A], '12345678901234567890');
    expect(parseCanonicalPolicy(canonicalPolicy(p.document))).toEqual(p.document);
  });
});
