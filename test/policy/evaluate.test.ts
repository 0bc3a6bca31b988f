/** The policy engine as a pure function: effects + compiled policy + usage + time in, a closed decision out. */
import { describe, expect, test } from 'vitest';
import { policyHash, validatePolicy, canonicalPolicy, parseCanonicalPolicy } from '../../server/policy/document.ts';
import { emptyEffects, type Effects, type Grant, type Outflow } from '../../server/policy/effects.ts';
import { evaluate, usageNeeds, type CompiledPolicy, type UsageSnapshot } from '../../server/policy/evaluate.ts';
import { policyJson, type RuleJson } from '../support/policies.ts';

const NOW = new Date('2026-03-04T12:00:00Z'); // a Wednesday
const CTX = { now: NOW };
const NO_USAGE: UsageSnapshot = { spent: new Map(), counts: new Map(), lastSignedAt: null };
const SOL_A = 'So11111111111111111111111111111111111111112';
const SOL_B = 'Vote111111111111111111111111111111111111111';
const EVM_A = '0xabcdef0123456789abcdef0123456789abcdef01';
const EVM_B = '0x2222222222222222222222222222222222222222';
const TOKEN = '0x1111111111111111111111111111111111111111';
const FEE: RuleJson = { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '1000000' };

function compiled(chain: 'solana' | 'evm', rules: RuleJson[], tokenAccounts: [string, { owner: string; mint: string }][] = []): CompiledPolicy {
  const v = validatePolicy(policyJson(rules), chain);
  if (!v.ok) throw new Error(`${v.error.field}: ${v.error.message}`);
  return { version: 3, hash: policyHash(v.document), document: v.document, tokenAccounts: new Map(tokenAccounts) };
}

function out(recipient: string, amount: bigint, asset = 'native', extra: Partial<Outflow> = {}): Outflow {
  return { asset, amount, recipient, recipientKind: 'owner', source: 'test', ...extra };
}

function grant(extra: Partial<Grant>): Grant {
  return { kind: 'token_approval', asset: `erc20:${TOKEN}`, spender: EVM_B, amount: 100n, unlimited: false, source: 'ERC20.approve', ...extra };
}

function effects(chain: 'solana' | 'evm', e: Partial<Effects>): Effects {
  return { ...emptyEffects(chain, chain === 'evm' ? 1n : undefined), maxFee: 5000n, ...e };
}

describe('coverage', () => {
  test('no policy: DENY by default-deny', () => {
    const d = evaluate(effects('solana', { outflows: [out(SOL_A, 1n)] }), null, NO_USAGE, CTX);
    expect(d).toMatchObject({ verdict: 'DENY', rule: 'default-deny', policyHash: null });
  });

  test('a transfer covered by a rule, with its fee covered, takes the rule verdict', () => {
    const p = compiled('solana', [{ name: 'pay', kind: 'transfer', verdict: 'NOTIFY', asset: 'native', recipients: [SOL_A], max_amount: '100' }, FEE]);
    const d = evaluate(effects('solana', { outflows: [out(SOL_A, 100n)] }), p, NO_USAGE, CTX);
    expect(d).toMatchObject({ verdict: 'NOTIFY', rule: 'pay', policyVersion: 3, policyHash: p.hash });
    expect(d.matched.map((m) => m.name).sort()).toEqual(['fees', 'pay']);
    expect(d.reservation.get('native')).toBe(100n);
  });

  test('an uncovered fee denies even a covered transfer (fee drain)', () => {
    const p = compiled('solana', [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, { ...FEE, max: '10000' }]);
    const d = evaluate(effects('solana', { outflows: [out(SOL_A, 1n)], maxFee: 1_400_005_000n }), p, NO_USAGE, CTX);
    expect(d).toMatchObject({ verdict: 'DENY', rule: 'default-deny' });
    expect(d.detail).toContain('fee of up to 1400005000');
  });

  test('each effect needs its own cover: one allowed and one not is DENY', () => {
    const p = compiled('solana', [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [SOL_A] }, FEE]);
    const d = evaluate(effects('solana', { outflows: [out(SOL_A, 1n), out(SOL_B, 1n)] }), p, NO_USAGE, CTX);
    expect(d.verdict).toBe('DENY');
    expect(d.detail).toContain(SOL_B);
  });

  test('an amount outside [min, max] is not covered; tiers by amount pick the right verdict', () => {
    const p = compiled('evm', [
      { name: 'small', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '100' },
      { name: 'large', kind: 'transfer', verdict: 'APPROVAL', asset: 'native', min_amount: '101', max_amount: '1000' },
      FEE,
    ]);
    expect(evaluate(effects('evm', { outflows: [out(EVM_A, 100n)] }), p, NO_USAGE, CTX).verdict).toBe('INSTANT');
    expect(evaluate(effects('evm', { outflows: [out(EVM_A, 101n)] }), p, NO_USAGE, CTX)).toMatchObject({ verdict: 'APPROVAL', rule: 'large' });
    expect(evaluate(effects('evm', { outflows: [out(EVM_A, 1001n)] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
  });

  test('the strictest covering rule wins, and among DELAYs the longest', () => {
    const p = compiled('evm', [
      { name: 'any', kind: 'transfer', verdict: 'DELAY', delay_seconds: 60, asset: 'native' },
      { name: 'to-a', kind: 'transfer', verdict: 'DELAY', delay_seconds: 600, asset: 'native', recipients: [EVM_A] },
      { name: 'fee', kind: 'fee', verdict: 'NOTIFY', max: '1000000' },
    ]);
    const d = evaluate(effects('evm', { outflows: [out(EVM_A, 1n)] }), p, NO_USAGE, CTX);
    expect(d).toMatchObject({ verdict: 'DELAY', delaySeconds: 600, rule: 'to-a' });
  });

  test('EVM recipients compare case-insensitively (the document is normalised), Solana exactly', () => {
    const p = compiled('evm', [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [EVM_A.toUpperCase().replace('0X', '0x')] }, FEE]);
    expect(evaluate(effects('evm', { outflows: [out(EVM_A, 1n)] }), p, NO_USAGE, CTX).verdict).toBe('INSTANT');
    const s = compiled('solana', [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [SOL_A] }, FEE]);
    expect(evaluate(effects('solana', { outflows: [out(SOL_A.toLowerCase(), 1n)] }), s, NO_USAGE, CTX).verdict).toBe('DENY');
  });

  test('a lookup-table recipient never matches an allowlist', () => {
    const p = compiled('solana', [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [SOL_A] }, FEE]);
    const d = evaluate(effects('solana', { outflows: [out(`lookup:${SOL_B}:0`, 1n)] }), p, NO_USAGE, CTX);
    expect(d.verdict).toBe('DENY');
  });

  test('an SPL transfer to the associated token account of an allowlisted owner is covered; to another token account it is not', () => {
    const mint = 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v';
    const ata = 'Gh9ZwEmdLJ8DscKNTkTqPbNwLNNBjuSzaG9Vp2KGtKJr';
    const p = compiled('solana', [{ name: 'usdc', kind: 'transfer', verdict: 'INSTANT', asset: `spl:${mint}`, recipients: [SOL_A] }, FEE], [[ata, { owner: SOL_A, mint }]]);
    const ok = out(ata, 5n, `spl:${mint}`, { recipientKind: 'token_account', decimals: 6 });
    expect(evaluate(effects('solana', { outflows: [ok] }), p, NO_USAGE, CTX).verdict).toBe('INSTANT');
    expect(evaluate(effects('solana', { outflows: [{ ...ok, recipient: SOL_B }] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
    // The same token account for another mint is not the owner's account for this one.
    expect(evaluate(effects('solana', { outflows: [{ ...ok, asset: `spl:${SOL_B}` }] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
  });

  test('an unchecked SPL transfer (asset unknown) is covered only by an any-asset rule', () => {
    const p = compiled('solana', [{ name: 'native', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, FEE]);
    const unknown = out(SOL_A, 5n, 'unknown', { recipientKind: 'token_account' });
    expect(evaluate(effects('solana', { outflows: [unknown] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
    const any = compiled('solana', [{ name: 'any', kind: 'transfer', verdict: 'APPROVAL', asset: '*' }, FEE]);
    expect(evaluate(effects('solana', { outflows: [unknown] }), any, NO_USAGE, CTX).verdict).toBe('APPROVAL');
  });

  test('transferFrom(victim, attacker) is judged by its recipient like any outflow', () => {
    const p = compiled('evm', [{ name: 'usdc', kind: 'transfer', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, recipients: [EVM_A] }, FEE]);
    const theft = out(EVM_B, 1000n, `erc20:${TOKEN}`, { from: '0x9999999999999999999999999999999999999999', source: 'ERC20.transferFrom' });
    expect(evaluate(effects('evm', { outflows: [theft] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
  });

  test('a request that does nothing is denied', () => {
    const p = compiled('evm', [FEE]);
    expect(evaluate(effects('evm', { maxFee: 0n }), p, NO_USAGE, CTX)).toMatchObject({ verdict: 'DENY', rule: 'default-deny' });
  });

  test('rules restricted to chain ids do not cover other chains', () => {
    const p = compiled('evm', [{ name: 'base-only', kind: 'transfer', verdict: 'INSTANT', asset: 'native', chain_ids: [8453] }, FEE]);
    expect(evaluate(effects('evm', { chainId: 8453n, outflows: [out(EVM_A, 1n)] }), p, NO_USAGE, CTX).verdict).toBe('INSTANT');
    expect(evaluate(effects('evm', { chainId: 1n, outflows: [out(EVM_A, 1n)] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
  });
});

describe('grants', () => {
  const approveRule: RuleJson = { name: 'approve-router', kind: 'approve', verdict: 'INSTANT', asset: `erc20:${TOKEN}`, spenders: [EVM_B], max_amount: '1000' };

  test('a bounded approval to a listed spender is covered', () => {
    const p = compiled('evm', [approveRule, FEE]);
    expect(evaluate(effects('evm', { grants: [grant({ amount: 1000n })] }), p, NO_USAGE, CTX).verdict).toBe('INSTANT');
    expect(evaluate(effects('evm', { grants: [grant({ amount: 1001n })] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
    expect(evaluate(effects('evm', { grants: [grant({ spender: EVM_A })] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
  });

  test('an unlimited approval never matches a rule with max_amount, and is never below APPROVAL even when a rule says INSTANT', () => {
    const bounded = compiled('evm', [approveRule, FEE]);
    expect(evaluate(effects('evm', { grants: [grant({ amount: (1n << 256n) - 1n, unlimited: true })] }), bounded, NO_USAGE, CTX).verdict).toBe('DENY');
    const loose = compiled('evm', [{ name: 'any-approve', kind: 'approve', verdict: 'INSTANT', asset: `erc20:${TOKEN}` }, FEE]);
    const d = evaluate(effects('evm', { grants: [grant({ amount: null, unlimited: true })] }), loose, NO_USAGE, CTX);
    expect(d).toMatchObject({ verdict: 'APPROVAL', rule: 'unlimited-grant' });
  });

  test('a permit with a lifetime longer than allowed is not covered; one without expiry neither', () => {
    const p = compiled('evm', [{ name: 'short-permits', kind: 'approve', verdict: 'NOTIFY', asset: '*', grant_kinds: ['permit', 'permit2'], max_duration_seconds: 3600 }]);
    const nowS = BigInt(NOW.getTime() / 1000);
    const e = (g: Partial<Grant>): Effects => effects('evm', { maxFee: 0n, grants: [grant({ kind: 'permit', ...g })] });
    expect(evaluate(e({ expiry: nowS + 3600n }), p, NO_USAGE, CTX).verdict).toBe('NOTIFY');
    expect(evaluate(e({ expiry: nowS + 3601n }), p, NO_USAGE, CTX).verdict).toBe('DENY');
    expect(evaluate(e({}), p, NO_USAGE, CTX).verdict).toBe('DENY');
    expect(evaluate(e({ kind: 'token_approval', expiry: nowS + 10n }), p, NO_USAGE, CTX).verdict).toBe('DENY');
  });

  test('SPL setAuthority and closeAccount to an attacker are grants no transfer rule covers', () => {
    const p = compiled('solana', [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: '*' }, FEE]);
    for (const kind of ['set_authority', 'close_account', 'assign'] as const) {
      const d = evaluate(effects('solana', { grants: [grant({ kind, asset: 'unknown', spender: SOL_B, amount: null, unlimited: true })] }), p, NO_USAGE, CTX);
      expect(d.verdict, kind).toBe('DENY');
    }
  });
});

describe('calls', () => {
  const PROGRAM = 'JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4';
  test('a call is covered only by a rule for its program, down to the discriminator', () => {
    const p = compiled('solana', [{ name: 'jup', kind: 'call', verdict: 'NOTIFY', program: PROGRAM, discriminators: ['e517cb977ae3ad2a'] }, FEE]);
    const call = { program: PROGRAM, discriminator: 'e517cb977ae3ad2a', data: 'e517cb977ae3ad2a0102', accounts: [], value: 0n, description: 'route' };
    expect(evaluate(effects('solana', { calls: [call] }), p, NO_USAGE, CTX).verdict).toBe('NOTIFY');
    expect(evaluate(effects('solana', { calls: [{ ...call, data: 'ffffcb977ae3ad2a' }] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
    // The allowlisted discriminator sent to another program is not allowed.
    expect(evaluate(effects('solana', { calls: [{ ...call, program: SOL_B }] }), p, NO_USAGE, CTX).verdict).toBe('DENY');
  });

  test('Solana account constraints and EVM ABI argument constraints', () => {
    const s = compiled('solana', [{ name: 'jup', kind: 'call', verdict: 'INSTANT', program: PROGRAM, accounts: { '1': { in: [SOL_A] } } }, FEE]);
    const call = { program: PROGRAM, discriminator: '00', data: '00', accounts: [SOL_B, SOL_A], value: 0n, description: 'x' };
    expect(evaluate(effects('solana', { calls: [call] }), s, NO_USAGE, CTX).verdict).toBe('INSTANT');
    expect(evaluate(effects('solana', { calls: [{ ...call, accounts: [SOL_A, SOL_B] }] }), s, NO_USAGE, CTX).verdict).toBe('DENY');

    const e = compiled('evm', [{ name: 'swap', kind: 'call', verdict: 'INSTANT', program: EVM_A, abi: 'swap(address to,uint256 amount)', args: { '0': { in: [EVM_B] }, '1': { max: '500' } } }, FEE]);
    // The selector of swap(address,uint256); the engine derives it from the rule's ABI.
    const selector = 'd004f0f7';
    const data = (to: string, amt: bigint): string => `${selector}${to.slice(2).padStart(64, '0')}${amt.toString(16).padStart(64, '0')}`;
    const c = (d: string) => ({ program: EVM_A, discriminator: selector, data: d, accounts: [], value: 0n, description: 'swap' });
    expect(evaluate(effects('evm', { calls: [c(data(EVM_B, 500n))] }), e, NO_USAGE, CTX).verdict).toBe('INSTANT');
    expect(evaluate(effects('evm', { calls: [c(data(EVM_B, 501n))] }), e, NO_USAGE, CTX).verdict).toBe('DENY');
    expect(evaluate(effects('evm', { calls: [c(data(EVM_A, 1n))] }), e, NO_USAGE, CTX).verdict).toBe('DENY');
    expect(evaluate(effects('evm', { calls: [c('deadbeef')] }), e, NO_USAGE, CTX).verdict).toBe('DENY');
  });
});

describe('flags and messages', () => {
  test('every flag is DENY unless a flag rule names it', () => {
    const p = compiled('solana', [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, FEE]);
    const withFlag = compiled('solana', [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, FEE, { name: 'nonce', kind: 'flag', verdict: 'NOTIFY', flags: ['DURABLE_NONCE'] }]);
    const e = effects('solana', { outflows: [out(SOL_A, 1n)], flags: ['DURABLE_NONCE'] });
    expect(evaluate(e, p, NO_USAGE, CTX).verdict).toBe('DENY');
    expect(evaluate(e, withFlag, NO_USAGE, CTX)).toMatchObject({ verdict: 'NOTIFY', rule: 'nonce' });
    expect(evaluate({ ...e, flags: ['ADDRESS_LOOKUP_TABLE'] }, withFlag, NO_USAGE, CTX).verdict).toBe('DENY');
  });

  test('message rules by kind, prefix, full-match pattern and EIP-712 domain', () => {
    const p = compiled('evm', [
      { name: 'siwe', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip191'], text_pattern: 'app\\.example\\.com wants you to sign in[\\s\\S]*' },
      { name: 'orders', kind: 'message', verdict: 'NOTIFY', message_kinds: ['eip712'], domain: { name: 'Exchange', chain_id: 1, verifying_contract: EVM_A }, primary_types: ['Order'] },
    ]);
    const msg = (text: string): Effects => ({ ...emptyEffects('evm'), message: { kind: 'eip191', text } });
    expect(evaluate(msg('app.example.com wants you to sign in\nNonce: 1'), p, NO_USAGE, CTX).verdict).toBe('INSTANT');
    expect(evaluate(msg('evil.com app.example.com wants you to sign in'), p, NO_USAGE, CTX).verdict).toBe('DENY');
    const typed = (domain: Record<string, string>, primaryType: string): Effects => ({ ...emptyEffects('evm', 1n), message: { kind: 'eip712', domain, primaryType } });
    expect(evaluate(typed({ name: 'Exchange', chainId: '1', verifyingContract: EVM_A }, 'Order'), p, NO_USAGE, CTX).verdict).toBe('NOTIFY');
    expect(evaluate(typed({ name: 'Exchange', chainId: '1', verifyingContract: EVM_B }, 'Order'), p, NO_USAGE, CTX).verdict).toBe('DENY');
    expect(evaluate(typed({ name: 'Exchange', chainId: '1', verifyingContract: EVM_A }, 'Cancel'), p, NO_USAGE, CTX).verdict).toBe('DENY');
  });

  test('a permit needs both a message rule and an approve rule for its grant', () => {
    const permit: Effects = {
      ...emptyEffects('evm', 1n),
      message: { kind: 'eip712', domain: { name: 'USD Coin', chainId: '1', verifyingContract: TOKEN }, primaryType: 'Permit' },
      grants: [grant({ kind: 'permit', amount: 10n, expiry: BigInt(NOW.getTime() / 1000) + 60n })],
    };
    const onlyMessage = compiled('evm', [{ name: 'permits', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip712'] }]);
    expect(evaluate(permit, onlyMessage, NO_USAGE, CTX).verdict).toBe('DENY');
    const both = compiled('evm', [
      { name: 'permits', kind: 'message', verdict: 'INSTANT', message_kinds: ['eip712'] },
      { name: 'router', kind: 'approve', verdict: 'NOTIFY', asset: `erc20:${TOKEN}`, spenders: [EVM_B], max_amount: '100' },
    ]);
    expect(evaluate(permit, both, NO_USAGE, CTX)).toMatchObject({ verdict: 'NOTIFY', rule: 'router' });
  });
});

describe('constraints', () => {
  const base: RuleJson[] = [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, FEE];

  test('a spend limit triggers when the window total plus this request exceeds it, and says how', () => {
    const p = compiled('solana', [...base, { name: 'daily', kind: 'spend_limit', verdict: 'APPROVAL', asset: 'native', window: '24h', max: '1000' }]);
    expect(usageNeeds(p)).toEqual({ spend: [{ asset: 'native', windowSeconds: 86400 }], counts: [], lastSigned: false });
    const usage = (spent: bigint): UsageSnapshot => ({ ...NO_USAGE, spent: new Map([['native|86400', spent]]) });
    const e = effects('solana', { outflows: [out(SOL_A, 300n)] });
    expect(evaluate(e, p, usage(700n), CTX).verdict).toBe('INSTANT');
    const d = evaluate(e, p, usage(701n), CTX);
    expect(d).toMatchObject({ verdict: 'APPROVAL', rule: 'daily' });
    expect(d.detail).toContain('701');
    // A request that moves none of the asset does not trip its limit.
    expect(evaluate(effects('solana', { outflows: [] , calls: [] , maxFee: 5000n }), compiled('solana', [FEE, { name: 'daily', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '24h', max: '0' }]), usage(5000n), CTX).verdict).toBe('INSTANT');
  });

  test('count limits, cooldowns, deny lists, time windows and chain lists trigger with their verdicts', () => {
    const e = effects('evm', { outflows: [out(EVM_A, 1n)] });
    const evmBase: RuleJson[] = [{ name: 'pay', kind: 'transfer', verdict: 'INSTANT', asset: 'native' }, FEE];
    const count = compiled('evm', [...evmBase, { name: 'rate', kind: 'count_limit', verdict: 'DENY', window: '1h', max: 3 }]);
    expect(evaluate(e, count, { ...NO_USAGE, counts: new Map([[3600, 2]]) }, CTX).verdict).toBe('INSTANT');
    expect(evaluate(e, count, { ...NO_USAGE, counts: new Map([[3600, 3]]) }, CTX)).toMatchObject({ verdict: 'DENY', rule: 'rate' });

    const cool = compiled('evm', [...evmBase, { name: 'cool', kind: 'cooldown', verdict: 'DELAY', delay_seconds: 30, seconds: 60 }]);
    expect(evaluate(e, cool, { ...NO_USAGE, lastSignedAt: new Date(NOW.getTime() - 59_000) }, CTX)).toMatchObject({ verdict: 'DELAY', delaySeconds: 30 });
    expect(evaluate(e, cool, { ...NO_USAGE, lastSignedAt: new Date(NOW.getTime() - 60_000) }, CTX).verdict).toBe('INSTANT');

    const deny = compiled('evm', [...evmBase, { name: 'blocked', kind: 'deny_addresses', verdict: 'DENY', addresses: [EVM_A.toUpperCase().replace('0X', '0x')] }]);
    expect(evaluate(e, deny, NO_USAGE, CTX)).toMatchObject({ verdict: 'DENY', rule: 'blocked' });

    const hours = compiled('evm', [...evmBase, { name: 'office', kind: 'time_window', verdict: 'APPROVAL', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }]);
    expect(evaluate(e, hours, NO_USAGE, CTX).verdict).toBe('INSTANT');
    expect(evaluate(e, hours, NO_USAGE, { now: new Date('2026-03-04T17:00:00Z') }).verdict).toBe('APPROVAL');
    expect(evaluate(e, hours, NO_USAGE, { now: new Date('2026-03-07T12:00:00Z') }).verdict).toBe('APPROVAL'); // Saturday

    const chains = compiled('evm', [...evmBase, { name: 'mainnets', kind: 'chains', verdict: 'DENY', chain_ids: [1, 8453] }]);
    expect(evaluate(e, chains, NO_USAGE, CTX).verdict).toBe('INSTANT');
    expect(evaluate({ ...e, chainId: 56n }, chains, NO_USAGE, CTX)).toMatchObject({ verdict: 'DENY', rule: 'mainnets' });
  });
});

describe('policy document', () => {
  const ok = (rules: RuleJson[], chain: 'solana' | 'evm' = 'evm') => validatePolicy(policyJson(rules), chain);

  test('validation errors name the field path', () => {
    const cases: [unknown, string][] = [
      [{ name: 'a', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [EVM_A, 'nope'] }, 'rules[0].recipients[1]'],
      [{ name: 'a', kind: 'transfer', verdict: 'SOMETIMES', asset: 'native' }, 'rules[0].verdict'],
      [{ name: 'a', kind: 'transfer', verdict: 'DELAY', asset: 'native' }, 'rules[0].delay_seconds'],
      [{ name: 'a', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '1.5' }, 'rules[0].max_amount'],
      [{ name: 'a', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipent: [] }, 'rules[0].recipent'],
      [{ name: 'a', kind: 'transfer', verdict: 'INSTANT', asset: 'spl:xyz' }, 'rules[0].asset'],
      [{ name: 'a', kind: 'spend_limit', verdict: 'DENY', asset: 'native', window: '45d', max: '1' }, 'rules[0].window'],
      [{ name: 'a', kind: 'spend_limit', verdict: 'DENY', asset: '*', window: '1d', max: '1' }, 'rules[0].asset'],
      [{ name: 'a', kind: 'call', verdict: 'INSTANT', program: EVM_A, args: { '0': { max: '1' } } }, 'rules[0].args'],
      [{ name: 'a', kind: 'message', verdict: 'INSTANT', text_pattern: '([' }, 'rules[0].text_pattern'],
      [{ name: 'a', kind: 'time_window', verdict: 'DENY', from: '17:00', to: '09:00' }, 'rules[0].to'],
      [{ name: 'a', kind: 'teleport', verdict: 'DENY' }, 'rules[0].kind'],
    ];
    for (const [rule, field] of cases) {
      const r = ok([rule as RuleJson]);
      expect(r.ok, field).toBe(false);
      if (!r.ok) expect(r.error.field, JSON.stringify(rule)).toBe(field);
    }
    const dup = ok([FEE, FEE]);
    expect(dup).toMatchObject({ ok: false, error: { field: 'rules[1].name' } });
    expect(validatePolicy('{"schema":"waiaas.policy.v1","rules":[],"extra":1}', 'evm')).toMatchObject({ ok: false, error: { field: 'extra' } });
    expect(validatePolicy('{not json', 'evm')).toMatchObject({ ok: false, error: { field: '(document)' } });
    expect(validatePolicy('{"schema":"v0","rules":[]}', 'evm')).toMatchObject({ ok: false, error: { field: 'schema' } });
  });

  test('the canonical form round-trips and its hash ignores address case and order', () => {
    const a = ok([{ name: 'a', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [EVM_A.toUpperCase().replace('0X', '0x'), EVM_B] }]);
    const b = ok([{ name: 'a', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients: [EVM_B, EVM_A] }]);
    if (!a.ok || !b.ok) throw new Error('valid');
    expect(policyHash(a.document)).toBe(policyHash(b.document));
    expect(parseCanonicalPolicy(canonicalPolicy(a.document), 'evm')).toEqual(a.document);
  });
});
