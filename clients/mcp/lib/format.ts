/**
 * Turning the appliance's protobuf messages into what a model reads: plain JSON with snake_case keys, enums as short
 * names, bytes in the encoding each chain uses (EVM 0x-hex, Solana base64 for transactions and base58 for
 * signatures), and effects as one readable line each, with native amounts also in ETH / SOL.
 */
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { getBase58Decoder } from '@solana/kit';
import type { Effects, MatchedRule } from '../../../gen/waiaas/v1/effects_pb.js';
import type { SignRequest, SignResult } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { Wallet } from '../../../gen/waiaas/v1/wallet_pb.js';
import { Chain, SignRequestState, Verdict } from '../../ts/src/index.ts';

/** A JSON object. */
export type Json = Record<string, unknown>;

/** Short enum names. */
export const verdictName = (v: Verdict): string => Verdict[v] ?? `VERDICT_${v}`;
export const stateName = (s: SignRequestState): string => SignRequestState[s] ?? `STATE_${s}`;
export const chainName = (c: Chain): string => (c === Chain.SOLANA ? 'solana' : c === Chain.EVM ? 'evm' : 'unspecified');

export const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString('hex')}`;
export const base64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
export const base58 = (b: Uint8Array): string => getBase58Decoder().decode(b);
export const time = (t: Timestamp | undefined): string | null => (t ? timestampDate(t).toISOString() : null);

/** States after which a request never changes again. */
export const FINAL_STATES: ReadonlySet<SignRequestState> = new Set([
  SignRequestState.SIGNED,
  SignRequestState.REFUSED,
  SignRequestState.FAILED,
  SignRequestState.CANCELLED,
  SignRequestState.EXPIRED,
]);

/** A wallet for list_wallets and the wallets resource. */
export function walletJson(w: Wallet): Json {
  return {
    wallet_id: w.walletId,
    chain: chainName(w.chain),
    address: w.address,
    labels: { ...w.labels },
    create_time: time(w.createTime),
    policy_resource: `waiaas://wallets/${w.walletId}/policy`,
  };
}

/** `amount` base units with `decimals` as a decimal number ("1.5"). */
export function formatUnits(amount: string, decimals: number): string {
  if (!/^\d+$/.test(amount) || decimals <= 0) return amount;
  const padded = amount.padStart(decimals + 1, '0');
  const whole = padded.slice(0, -decimals);
  const frac = padded.slice(-decimals).replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole;
}

/** "100000000000000000 native (0.1 ETH)", "5 erc20:0x… (6 decimals: 0.000005)". */
function amountText(amount: string, asset: string, chain: string, decimals: number): string {
  if (asset === 'native') {
    const [unit, d] = chain === 'solana' ? ['SOL', 9] : ['ETH', 18];
    return `${amount} native (${formatUnits(amount, d)} ${unit})`;
  }
  return decimals >= 0 ? `${amount} ${asset} (${decimals} decimals: ${formatUnits(amount, decimals)})` : `${amount} ${asset} (base units)`;
}

/** One line per outflow, grant, undecoded call, flag and message, then the worst-case fee. */
export function summarizeEffects(e: Effects | undefined): string[] {
  if (!e) return [];
  const lines: string[] = [];
  for (const o of e.outflows) {
    const to = o.recipientKind === 'burn' ? 'burn' : `to ${o.recipient}${o.recipientKind === 'token_account' ? ' (token account)' : ''}`;
    lines.push(`send ${amountText(o.amount, o.asset, e.chain, o.decimals)} ${to}${o.from ? ` from ${o.from}` : ''} [${o.source}]`);
  }
  for (const g of e.grants) {
    const amount = g.revoke ? 'revoke' : g.unlimited || g.amount === '' ? 'UNLIMITED' : `up to ${g.amount}`;
    const until = g.expiry > 0n ? `, until ${new Date(Number(g.expiry) * 1000).toISOString()}` : '';
    lines.push(`grant ${g.kind} on ${g.asset} to ${g.spender || '(nobody)'}: ${amount}${until} [${g.source}]`);
  }
  for (const c of e.calls) {
    const value = c.value && c.value !== '0' ? ` with ${amountText(c.value, 'native', e.chain, -1)}` : '';
    lines.push(`call ${c.program}${c.discriminator ? ` (selector/discriminator ${c.discriminator})` : ''}${value}${c.description ? `: ${c.description}` : ''}`);
  }
  for (const f of e.flags) lines.push(`flag ${f}`);
  if (e.message) {
    const m = e.message;
    if (m.kind === 'eip712') lines.push(`sign typed data ${m.primaryType || '?'} for ${m.domain.name ?? '?'} (${m.domain.verifyingContract ?? 'no contract'})`);
    else lines.push(`sign ${m.kind} message: ${JSON.stringify((m.text || '(binary)').slice(0, 200))}`);
  }
  if (e.maxFee && e.maxFee !== '0') lines.push(`network fee up to ${amountText(e.maxFee, 'native', e.chain, -1)}`);
  if (e.chainId > 0n) lines.push(`EVM chain id ${e.chainId}`);
  return lines.map((l) => l.replace(/[\r\n]+/g, ' '));
}

/** Matched rules as JSON. */
export function matchedRulesJson(rules: MatchedRule[]): Json[] {
  return rules.map((r) => ({
    name: r.name,
    kind: r.kind,
    verdict: verdictName(r.verdict),
    ...(r.delaySeconds ? { delay_seconds: r.delaySeconds } : {}),
    reason: r.reason,
  }));
}

/** What a SIGNED request produced, in its chain's encodings (by the request's kind). */
export function resultJson(kind: string, r: SignResult | undefined): Json {
  if (!r) return {};
  switch (kind) {
    case 'solana_transaction':
      return { signed_transaction_base64: base64(r.signedTransaction), signature: base58(r.signature) };
    case 'evm_transaction':
      return { signed_transaction: hex(r.signedTransaction), transaction_hash: hex(r.transactionHash), signature: hex(r.signature), y_parity: r.yParity };
    case 'evm_message':
    case 'evm_typed_data':
      return { signature: hex(r.signature), digest: hex(r.digest) };
    case 'solana_message':
      return { signature: base58(r.signature), signature_hex: hex(r.signature), signed_message_base64: base64(r.signedMessage) };
    default:
      return { signature: hex(r.signature) };
  }
}

/** A sign request record as JSON (get_request, wait_for_request). */
export function signRequestJson(r: SignRequest): Json {
  const state = stateName(r.state);
  return {
    sign_request_id: r.signRequestId,
    wallet_id: r.walletId,
    kind: r.kind,
    state,
    verdict: verdictName(r.verdict),
    rule: r.rule,
    detail: r.detail,
    ...(r.delaySeconds ? { delay_seconds: r.delaySeconds } : {}),
    effects: summarizeEffects(r.effects),
    matched_rules: matchedRulesJson(r.matchedRules),
    policy_hash: r.policyHash,
    request_id: r.requestId || null,
    create_time: time(r.createTime),
    update_time: time(r.updateTime),
    ...(r.state === SignRequestState.PENDING ? { expire_time: time(r.expireTime), not_before_time: time(r.notBeforeTime) } : {}),
    ...(r.state === SignRequestState.SIGNED ? { result: resultJson(r.kind, r.result) } : {}),
    ...(r.errorReason || r.errorMessage ? { error: { reason: r.errorReason, message: r.errorMessage } } : {}),
  };
}

/** Seconds from now until `t` (0 when past or absent). */
export function secondsUntil(t: Timestamp | undefined): number {
  return t ? Math.max(0, Math.ceil((timestampDate(t).getTime() - Date.now()) / 1000)) : 0;
}
