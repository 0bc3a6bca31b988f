/**
 * Owner changes, shared by `owners add`, `owners remove` and `owners threshold`: read the wallet's ownership, build
 * the whole new owner set, and call SetOwners — alone while the wallet is NONE or GRACE (the admin), or with the
 * current owners' quorum of signatures over the change message the appliance issues when it is LOCKED.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { OwnerKeyType, OwnerState, type OwnerChangeSchema, type WalletOwnership } from '../../../gen/waiaas/v1/owner_pb.js';
import type { Context } from './context.ts';
import { date, ownershipJson } from './convert.ts';
import { UsageError } from './errors.ts';
import { PROG } from './help.ts';
import { collectSignatures, hasSigning, printMessage, type Signing } from './signing.ts';

/** The change SetOwners takes. */
export type OwnerChangeInit = MessageInitShape<typeof OwnerChangeSchema>;

/** The owners of a wallet as a change (the fields SetOwners reads; proven_time is the appliance's). */
export function currentOwners(o: WalletOwnership): { keyType: OwnerKeyType; key: string; label: string }[] {
  return o.owners.map((w) => ({ keyType: w.keyType, key: w.key, label: w.label }));
}

/** Prints a wallet's ownership. */
export function printOwnership(ctx: Context, o: WalletOwnership): void {
  const j = ownershipJson(o)!;
  if (ctx.json) {
    ctx.out.data(j);
    return;
  }
  ctx.out.kv([
    ['wallet', j.walletId],
    ['state', `${j.state}${j.state === 'NONE' ? ' (no owner: the admin manages owners; APPROVAL becomes DELAY)' : j.state === 'GRACE' ? ' (no owner has signed yet; the admin may still change owners)' : ' (changes need the owners\' signed quorum)'}`],
    ['threshold', `${j.threshold} of ${j.owners.length}`],
    ['frozen', j.frozen ? 'YES: nothing is signed' : 'no'],
    ['ownership version', String(j.ownershipVersion)],
  ]);
  ctx.out.line();
  ctx.out.table(
    ['TYPE', 'KEY', 'LABEL', 'PROVEN'],
    j.owners.map((w) => [w.keyType, w.key, w.label || '-', w.provenTime ?? 'not yet']),
    '(no owners)',
  );
}

/**
 * Applies an owner change. `build` returns the new owner set and threshold from the current ownership (it may throw
 * a CtlError, e.g. "already an owner"). Returns after printing the new ownership, or the message with --print-message.
 */
export async function changeOwners(ctx: Context, walletId: string, signing: Signing, build: (current: WalletOwnership) => OwnerChangeInit, rerun: string): Promise<void> {
  const { owners } = await ctx.clients();
  const { ownership } = await owners.getOwnership({ walletId }, ctx.call());
  const change = build(ownership!);
  const locked = ownership!.state === OwnerState.LOCKED;
  if (!locked && !hasSigning(signing)) {
    const res = await owners.setOwners({ walletId, change }, ctx.call());
    if (!ctx.json) ctx.out.line(`owners of ${walletId} changed`);
    printOwnership(ctx, res.ownership!);
    return;
  }
  if (!hasSigning(signing)) {
    throw new UsageError(
      `wallet ${walletId} is LOCKED: changing its owners needs ${ownership!.threshold} owner signature(s)`,
      `add --key-file FILE (once per owner), or --print-message to sign elsewhere and then ${rerun} --signature KEY=HEX --message-file FILE`,
    );
  }
  let message = signing.message;
  let expire: Date | undefined;
  if (message === undefined) {
    const m = await owners.getOwnerChangeMessage({ walletId, change }, ctx.call());
    message = m.message;
    expire = date(m.expireTime);
  }
  if (signing.printMessage) {
    printMessage(ctx, message, expire, rerun);
    return;
  }
  const signatures = await collectSignatures(ctx, signing, message, expire, 'owner change');
  const res = await owners.setOwners({ walletId, change, message, signatures }, ctx.call());
  if (!ctx.json) ctx.out.line(`owners of ${walletId} changed`);
  printOwnership(ctx, res.ownership!);
}

/** `--key-type` / `--owner` → the owner key type; inferred from the key's form when --key-type is not given. */
export function ownerKeyType(type: 'ed25519' | 'evm' | undefined, key: string, inferred: 'ed25519' | 'evm' | undefined): OwnerKeyType {
  const t = type ?? inferred;
  if (!t) throw new UsageError(`--owner "${key}" is neither a Solana (base58) nor an EVM (0x…) address; give --key-type`);
  if (inferred !== t) throw new UsageError(`--owner "${key}" is not ${t === 'evm' ? 'an EVM (0x + 40 hex)' : 'a Solana (base58)'} address`);
  return t === 'evm' ? OwnerKeyType.EVM : OwnerKeyType.ED25519;
}

/** The rerun hint for --print-message, e.g. "waiaas-ctl owners add wlt_… …". */
export function rerunHint(words: string): string {
  return `${PROG} ${words}`;
}
