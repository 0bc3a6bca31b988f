/**
 * Policy documents for tests: JSON text in the waiaas.policy.v1 schema, built from a few common shapes.
 */

/** A rule as written in a document (snake_case keys). */
export type RuleJson = Record<string, unknown> & { name: string; kind: string; verdict: string };

/** A whole document from rules. */
export function policyJson(rules: RuleJson[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ schema: 'waiaas.policy.v1', rules, ...extra });
}

/**
 * The walking-skeleton policy: native transfers to `recipients` up to `maxPerTransaction` base units each, INSTANT,
 * and a fee allowance (default 0.01 SOL / 0.01 ETH at most).
 */
export function nativeTransferPolicy(recipients: string[], maxPerTransaction: bigint | string, opts: { maxFee?: bigint; extra?: RuleJson[] } = {}): string {
  return policyJson([
    { name: 'pay-allowlisted', kind: 'transfer', verdict: 'INSTANT', asset: 'native', recipients, max_amount: String(maxPerTransaction) },
    { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: String(opts.maxFee ?? 10_000_000_000_000_000n) },
    ...(opts.extra ?? []),
  ]);
}
