/**
 * Sign requests as resources: get, list, watch and cancel, with who may see what (an agent only its own requests;
 * owners and admins all), and the expiry of pending requests, which releases their reservations.
 */
import { requireDeps } from '../deps.ts';
import { WaiaasError } from '../errors/error.ts';
import { fromStoreError } from '../errors/map.ts';
import { inScope, type Identity } from '../grpc/identity.ts';
import { checkWalletId } from '../ids.ts';
import type { Logger } from '../log.ts';
import { FINAL_STATES, type SignRequestRecord, type SignState, type Store } from '../store/store.ts';
import type { SignRequestEvents } from './events.ts';
import { NO_NOTIFICATIONS, type Notifications } from './signer.ts';

/** Dependencies of the sign request service. */
export interface SignRequestServiceDeps {
  store: Store;
  events: SignRequestEvents;
  log: Logger;
  notifications?: Notifications;
  clock?: () => Date;
}

const REQUEST_ID = /^req_[0-9A-HJKMNP-TV-Z]{26}$/;

/** Reads, watches, cancels and expires sign requests. */
export class SignRequestService {
  private readonly deps: Required<SignRequestServiceDeps>;

  constructor(deps: SignRequestServiceDeps) {
    requireDeps('SignRequestService', deps, ['store', 'events', 'log']);
    this.deps = { clock: () => new Date(), notifications: NO_NOTIFICATIONS, ...deps };
  }

  private visible(rec: SignRequestRecord | undefined, who: Identity): rec is SignRequestRecord {
    if (rec === undefined) return false;
    return who.role === 'agent' ? rec.caller === who.uri : inScope(who, rec.walletId);
  }

  /** The request, if the caller may see it; NOT_FOUND otherwise (an agent cannot probe for others' requests). */
  get(id: string, who: Identity): SignRequestRecord {
    if (!REQUEST_ID.test(id)) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'sign_request_id must be "req_" followed by 26 base32 characters', { metadata: { field: 'sign_request_id' } });
    let rec: SignRequestRecord | undefined;
    try {
      rec = this.deps.store.getSignRequest(id);
    } catch (err) {
      throw fromStoreError(err);
    }
    if (!this.visible(rec, who)) throw new WaiaasError('WAIAAS_SIGN_REQUEST_NOT_FOUND', `no sign request ${id}`, { metadata: { sign_request_id: id } });
    return rec;
  }

  /** A page of requests, newest first. */
  list(input: { walletId: string; state?: SignState | undefined; pageSize: number; pageToken: string }, who: Identity): { requests: SignRequestRecord[]; nextPageToken: string } {
    if (input.walletId !== '') checkWalletId(input.walletId);
    if (input.pageSize < 0 || input.pageSize > 1000) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'page_size must be 0-1000', { metadata: { field: 'page_size' } });
    const limit = input.pageSize === 0 ? 100 : input.pageSize;
    let beforeSeq = Number.MAX_SAFE_INTEGER;
    if (input.pageToken !== '') {
      const m = /^r1\.(\d{1,15})$/.exec(Buffer.from(input.pageToken, 'base64url').toString('utf8'));
      if (!m) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'page_token is not one this server issued', { metadata: { field: 'page_token' } });
      beforeSeq = Number(m[1]);
    }
    const rows = this.deps.store
      .listSignRequests({ walletId: input.walletId || undefined, state: input.state, caller: who.role === 'agent' ? who.uri : undefined, beforeSeq, limit: limit + 1 })
      .filter((r) => this.visible(r, who));
    const requests = rows.slice(0, limit);
    const last = requests.at(-1);
    return { requests, nextPageToken: rows.length > limit && last ? Buffer.from(`r1.${last.seq}`).toString('base64url') : '' };
  }

  /**
   * Yields the request now and after every change until it reaches a final state, or `signal` aborts. Subscribes
   * before reading so that no change between the read and the subscription is missed.
   */
  async *watch(id: string, who: Identity, signal: AbortSignal): AsyncGenerator<SignRequestRecord> {
    const queue: SignRequestRecord[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.deps.events.subscribe(id, (rec) => {
      queue.push(rec);
      wake?.();
    });
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      let current = this.get(id, who);
      yield current;
      while (!FINAL_STATES.includes(current.state) && !signal.aborted) {
        if (queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const next = queue.shift();
        if (next === undefined) continue;
        if (next.state === current.state && next.updateTime === current.updateTime) continue;
        current = next;
        yield current;
      }
    } finally {
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Cancels a PENDING request and releases its reservation. The agent that made it, owners and admins may. */
  async cancel(id: string, who: Identity): Promise<SignRequestRecord> {
    const rec = this.get(id, who);
    const time = this.deps.clock().toISOString();
    let ok: boolean;
    try {
      ok = await this.deps.store.write(() => {
        const error = { reason: 'WAIAAS_SIGN_REQUEST_CANCELLED', message: `cancelled by ${who.uri}`, metadata: {} };
        if (!this.deps.store.transition(id, ['PENDING'], 'CANCELLED', time, error)) return false;
        this.deps.store.audit.append({ actor: who.uri, action: 'sign_request.cancelled', walletId: rec.walletId, signRequestId: id, data: { error } }, time);
        return true;
      });
    } catch (err) {
      throw fromStoreError(err);
    }
    if (!ok) throw new WaiaasError('WAIAAS_SIGN_REQUEST_NOT_PENDING', `sign request ${id} is ${rec.state}`, { metadata: { state: rec.state } });
    const updated = this.deps.store.getSignRequest(id)!;
    this.deps.log.info({ signRequestId: id, by: who.uri }, 'sign request cancelled');
    this.deps.events.changed(updated);
    return updated;
  }

  /** Expires every PENDING request past its expiry, releasing reservations; returns how many. */
  async expire(): Promise<number> {
    const now = this.deps.clock().toISOString();
    const ids = this.deps.store.expiredPending(now);
    if (ids.length === 0) return 0;
    const expired = await this.deps.store.write(() =>
      ids.filter((id) => {
        if (!this.deps.store.transition(id, ['PENDING'], 'EXPIRED', now, { reason: 'WAIAAS_SIGN_REQUEST_EXPIRED', message: 'expired before it was decided', metadata: {} })) return false;
        const rec = this.deps.store.getSignRequest(id)!;
        this.deps.store.audit.append({ actor: 'system', action: 'sign_request.expired', walletId: rec.walletId, signRequestId: id, data: { expire_time: rec.expireTime } }, now);
        this.deps.notifications.enqueue({ type: 'sign_request.expired', time: now, walletId: rec.walletId, signRequestId: id, verdict: rec.verdict ?? undefined, detail: 'expired before it was decided; its reservation is released' });
        return true;
      }),
    );
    this.deps.notifications.kick();
    for (const id of expired) this.deps.events.changed(this.deps.store.getSignRequest(id)!);
    if (expired.length > 0) this.deps.log.info({ expired: expired.length }, 'pending sign requests expired');
    return expired.length;
  }
}
