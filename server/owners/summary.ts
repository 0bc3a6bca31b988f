/**
 * A readable, one-line-per-effect summary of what a request does, for owners: shown by their tools, sent in
 * notifications, and written into the approval message they sign. Amounts are in base units with the asset id: the
 * server does not guess decimals it cannot read from the bytes.
 */
import type { Effects } from '../policy/effects.ts';

/** One line per outflow, grant, call, flag and message, then the fee. */
export function summarizeEffects(e: Effects): string[] {
  const lines: string[] = [];
  for (const o of e.outflows) {
    const to = o.recipientKind === 'burn' ? 'burn' : `to ${o.recipient}${o.recipientKind === 'token_account' ? ' (token account)' : ''}`;
    lines.push(`send ${o.amount} ${o.asset}${o.decimals === undefined ? '' : ` (${o.decimals} decimals)`} ${to}${o.from ? ` from ${o.from}` : ''} [${o.source}]`);
  }
  for (const g of e.grants) {
    const amount = g.revoke ? 'revoke' : g.unlimited || g.amount === null ? 'UNLIMITED' : `up to ${g.amount}`;
    lines.push(`grant ${g.kind} on ${g.asset} to ${g.spender || '(nobody)'}: ${amount}${g.expiry === undefined ? '' : `, until ${g.expiry}`} [${g.source}]`);
  }
  for (const c of e.calls) lines.push(`call ${c.program} ${c.discriminator ? `discriminator ${c.discriminator}` : ''}${c.value > 0n ? ` with ${c.value} native` : ''}`.trim());
  for (const f of e.flags) lines.push(`flag ${f}`);
  if (e.message) {
    const m = e.message;
    if (m.kind === 'eip712') lines.push(`sign typed data ${m.primaryType ?? ''} for ${m.domain?.name ?? '?'} (${m.domain?.verifyingContract ?? 'no contract'})`);
    else lines.push(`sign ${m.kind} message: ${JSON.stringify((m.text ?? '(binary)').slice(0, 200))}`);
  }
  if (e.maxFee > 0n) lines.push(`fee up to ${e.maxFee} native`);
  return lines.map((l) => l.replace(/[\r\n]+/g, ' '));
}
