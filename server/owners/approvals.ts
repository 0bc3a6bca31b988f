/**
 * Owners deciding pending requests with their own keys. The server issues the approval message (see messages.ts);
 * an owner signs it on a device the appliance never touches; the server checks the message is exactly the one it
 * issues for this request and action, that it has not expired, that the signature verifies against a registered
 * owner key, that this signature and this owner's decision are new, and that the caller is not the one that made the
 * request. When the threshold of distinct owners approve, the request is signed; one rejection (a veto) ends it.
 */
import { createHash } from 'node:crypto';
import { requireDeps } from '../deps.ts';
import { WaiaasError } from '../errors/error.ts';
import { fromStoreError } from '../errors/map.ts';
import { inScope, requireRole, type Identity } from '../grpc/identity.ts';
import type { Logger } from '../log.ts';
import type { Effects } from '../policy/effects.ts';
import type { SignRequestEvents } from '../signer/events.ts';
import type { Notifications, Signer } from '../signer/signer.ts';
import type { ApprovalRecord } from '../store/control.ts';
import { FINAL_STATES, type SignRequestRecord, type Store } from '../store/store.ts';
import type { WalletService } from '../wallets/wallets.ts';
import { approvalMessage, checkIssuedMessage, MESSAGE_TTL_MS, messageField, verifyOwnerSignature, type ApprovalSubject } from './messages.ts';
import type { OwnerService, SubmittedSignature } from './owners.ts';
import { summarizeEffects } from './summary.ts';

/** A pending request with what owners need to decide it. */
export interface PendingView {
  record: SignRequestRecord;
  summary: string[];
  payloadHash: string;
  approvals: ApprovalRecord[];
  threshold: number;
}

/** Dependencies of the approval service. */
export interface ApprovalServiceDeps {
  store: Store;
  wallets: WalletService;
  owners: OwnerService;
  signer: Signer;
  events: SignRequestEvents;
  notifications: Notifications;
  log: Logger;
  clock?: () => Date;
}

const REQUEST_ID = /^req_[0-9A-HJKMNP-TV-Z]{26}$/;

/** Parses recorded effects JSON back into Effects (bigints restored). */
export function parseEffects(json: string): Effects {
  const e = JSON.parse(json) as Record<string, unknown> & { outflows: Record<string, unknown>[]; grants: Record<string, unknown>[]; calls: Record<string, unknown>[] };
  return {
    ...(e as unknown as Effects),
    ...(e.chainId === undefined ? {} : { chainId: BigInt(e.chainId as string) }),
    maxFee: BigInt(e.maxFee as string),
    outflows: e.outflows.map((o) => ({ ...(o as unknown as Effects['outflows'][number]), amount: BigInt(o.amount as string) })),
    grants: e.grants.map((g) => ({
      ...(g as unknown as Effects['grants'][number]),
      amount: g.amount === null ? null : BigInt(g.amount as string),
      ...(g.expiry === undefined ? {} : { expiry: BigInt(g.expiry as string) }),
    })),
    calls: e.calls.map((c) => ({ ...(c as unknown as Effects['calls'][number]), value: BigInt(c.value as string) })),
  };
}

/** Lists, shows and decides pending requests for owners. */
export class ApprovalService {
  private readonly deps: Required<ApprovalServiceDeps>;

  constructor(deps: ApprovalServiceDeps) {
    requireDeps('ApprovalService', deps, ['store', 'wallets', 'owners', 'signer', 'events', 'notifications', 'log']);
    this.deps = { clock: () => new Date(), ...deps };
  }

  /** The owner-facing view of a request. */
  view(rec: SignRequestRecord): PendingView {
    return {
      record: rec,
      summary: rec.effects ? summarizeEffects(parseEffects(rec.effects)) : [],
      payloadHash: rec.payload ? createHash('sha256').update(rec.payload).digest('hex') : '',
      approvals: this.deps.store.control.approvals(rec.id),
      threshold: this.deps.store.control.control(rec.walletId).threshold,
    };
  }

  private visible(rec: SignRequestRecord, who: Identity): boolean {
    return who.role === 'agent' ? rec.caller === who.uri : inScope(who, rec.walletId);
  }

  /** Pending requests the caller may see, oldest first. */
  list(walletId: string, who: Identity): PendingView[] {
    if (walletId !== '') this.deps.wallets.get(walletId);
    return this.deps.store.pendingRequests(walletId || undefined).filter((r) => this.visible(r, who)).map((r) => this.view(r));
  }

  /** One request the caller may see. */
  get(id: string, who: Identity): PendingView {
    if (!REQUEST_ID.test(id)) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'sign_request_id must be "req_" followed by 26 base32 characters', { metadata: { field: 'sign_request_id' } });
    const rec = this.deps.store.getSignRequest(id);
    if (!rec || !this.visible(rec, who)) throw new WaiaasError('WAIAAS_SIGN_REQUEST_NOT_FOUND', `no sign request ${id}`, { metadata: { sign_request_id: id } });
    return this.view(rec);
  }

  private subject(v: PendingView, action: 'APPROVE' | 'REJECT'): ApprovalSubject {
    const rec = v.record;
    const wallet = this.deps.wallets.get(rec.walletId);
    const effects = rec.effects ? parseEffects(rec.effects) : undefined;
    return {
      applianceId: this.deps.store.control.applianceId(),
      action,
      signRequestId: rec.id,
      walletId: rec.walletId,
      walletAddress: wallet.address,
      chain: wallet.chain === 'solana' ? 'solana' : `evm chain ${effects?.chainId ?? 'any'}`,
      summary: v.summary,
      payloadHash: v.payloadHash,
      policyHash: rec.policyHash ?? '',
      verdict: rec.verdict ?? '',
    };
  }

  /** The message an owner signs to approve or reject `id`, valid for an hour or until the request expires. */
  message(id: string, action: 'APPROVE' | 'REJECT', who: Identity): { message: string; expireTime: Date } {
    requireRole(who, ['owner', 'admin'], 'GetApprovalMessage');
    const v = this.get(id, who);
    if (v.record.state !== 'PENDING') throw new WaiaasError('WAIAAS_SIGN_REQUEST_NOT_PENDING', `sign request ${id} is ${v.record.state}`, { metadata: { state: v.record.state } });
    const now = this.deps.clock();
    const expires = new Date(Math.min(now.getTime() + MESSAGE_TTL_MS, new Date(v.record.expireTime ?? now.toISOString()).getTime()));
    return { message: approvalMessage(this.subject(v, action), now, expires), expireTime: expires };
  }

  /** Records a signed approval or rejection; signs the request when approvals reach the threshold. */
  async decide(id: string, action: 'APPROVE' | 'REJECT', message: string, sig: SubmittedSignature, who: Identity): Promise<PendingView> {
    requireRole(who, ['owner', 'admin'], action === 'APPROVE' ? 'Approve' : 'Reject');
    const invalid = (problem: string, msg: string): WaiaasError => new WaiaasError('WAIAAS_APPROVAL_INVALID', msg, { metadata: { problem, sign_request_id: id } });
    const named = messageField(message, 'Request');
    if (named !== undefined && named !== id) throw invalid('wrong_request', `the signed message is for ${named}, not ${id}`);
    if (messageField(message, 'Action') !== undefined && messageField(message, 'Action') !== action) throw invalid('wrong_request', `the signed message is for ${messageField(message, 'Action')}, not ${action}`);
    const v = this.get(id, who);
    const rec = v.record;
    if (rec.caller === who.uri) throw invalid('requester', 'the caller that made a request can never approve or reject it');
    if (rec.state !== 'PENDING') throw new WaiaasError('WAIAAS_SIGN_REQUEST_NOT_PENDING', `sign request ${id} is ${rec.state}`, { metadata: { state: rec.state } });
    const now = this.deps.clock();
    checkIssuedMessage(message, (i, e) => approvalMessage(this.subject(v, action), i, e), now, 'WAIAAS_APPROVAL_INVALID');
    const owner = this.deps.store.control.owners(rec.walletId).find((o) => o.key === sig.key || o.key === sig.key.toLowerCase());
    if (!owner) throw invalid('not_owner', 'the key is not an owner of this wallet');
    if (!(await verifyOwnerSignature(owner.keyType, owner.key, message, sig.signature))) throw invalid('bad_signature', 'the signature does not verify over the message with that owner key');
    if (v.approvals.some((a) => a.ownerKey === owner.key)) throw invalid('replayed', 'this owner has already decided this request');

    const { store, notifications, events, log } = this.deps;
    const time = now.toISOString();
    const hash = createHash('sha256').update(sig.signature).digest('hex');
    let outcome: 'recorded' | 'threshold' | 'rejected';
    try {
      outcome = await store.write(() => {
        store.control.useSignature(hash, `approval:${id}`, time);
        store.control.addApproval(id, owner.key, action, sig.signature, who.uri, time);
        store.control.prove(rec.walletId, owner.key, time);
        const threshold = Math.max(1, store.control.control(rec.walletId).threshold);
        const approvals = store.control.approvals(id).filter((a) => a.action === 'APPROVE').length;
        const outcome = action === 'REJECT' ? 'rejected' : approvals >= threshold ? 'threshold' : 'recorded';
        store.audit.append({
          actor: who.uri, action: 'approval.recorded', walletId: rec.walletId, signRequestId: id,
          data: { owner_key: owner.key, decision: action, message, signature: sig.signature, outcome, approvals, threshold },
        }, time);
        if (action === 'REJECT') {
          const error = { reason: 'WAIAAS_POLICY_DENIED', message: `rejected by owner ${owner.key}`, metadata: { rule: 'owner-rejection', owner: owner.key } };
          store.transition(id, ['PENDING'], 'REFUSED', time, error);
          store.audit.append({ actor: who.uri, action: 'sign_request.refused', walletId: rec.walletId, signRequestId: id, data: { from_state: 'PENDING', error, owner_key: owner.key } }, time);
          notifications.enqueue({ type: 'sign_request.rejected', time, walletId: rec.walletId, signRequestId: id, verdict: rec.verdict ?? undefined, summary: v.summary, detail: `rejected by owner ${owner.key}` });
          return 'rejected';
        }
        // A DELAY request that owners approve is signed at once: approval is the stronger consent.
        return approvals >= threshold ? 'threshold' : 'recorded';
      });
    } catch (err) {
      if (typeof err === 'object' && err !== null && String((err as { code?: string }).code).startsWith('SQLITE_CONSTRAINT')) throw invalid('replayed', 'this signature or this owner\'s decision was already recorded');
      throw fromStoreError(err);
    }
    notifications.kick();
    log.info({ signRequestId: id, owner: owner.key, action, outcome, by: who.uri }, 'owner decision recorded');
    events.changed(store.getSignRequest(id)!);
    if (outcome === 'threshold') await this.deps.signer.executePending(id);
    return this.view(store.getSignRequest(id)!);
  }

  /** Yields every pending request now, then each change of any request of the wallet (or all) until aborted. */
  async *watch(walletId: string, who: Identity, signal: AbortSignal): AsyncGenerator<PendingView> {
    const queue: SignRequestRecord[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.deps.events.subscribe('*', (rec) => {
      if ((walletId === '' || rec.walletId === walletId) && this.visible(rec, who) && (rec.state === 'PENDING' || FINAL_STATES.includes(rec.state))) {
        queue.push(rec);
        wake?.();
      }
    });
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      for (const v of this.list(walletId, who)) yield v;
      while (!signal.aborted) {
        if (queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const next = queue.shift();
        if (next !== undefined) yield this.view(next);
      }
    } finally {
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
    }
  }
}
