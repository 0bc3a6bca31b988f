/**
 * Owner control of wallets: who the owners are (keys held elsewhere, e.g. hardware wallets), the M-of-N threshold,
 * the ownership state (NONE → GRACE → LOCKED), and the kill switch (freeze a wallet or the whole appliance).
 *
 * Who may do what:
 * - Owner changes: the admin alone while the wallet is NONE or GRACE (no owner has proven its key yet); once LOCKED,
 *   only a quorum of the current owners' signatures over the issued change message.
 * - Freeze: any owner or admin certificate (stopping is always safe). It cancels the wallet's pending requests.
 * - Unfreeze a wallet: the owners' quorum (or the admin while NONE/GRACE). Unfreeze the appliance: the admin, taking
 *   effect after the configured delay (during which anyone may freeze again).
 */
import { createHash } from 'node:crypto';
import { requireDeps } from '../deps.ts';
import { WaiaasError } from '../errors/error.ts';
import { fromStoreError } from '../errors/map.ts';
import { requireRole, type Identity } from '../grpc/identity.ts';
import type { Logger } from '../log.ts';
import type { SignRequestEvents } from '../signer/events.ts';
import type { Notifications } from '../signer/signer.ts';
import type { OwnerRecord } from '../store/control.ts';
import type { Store } from '../store/store.ts';
import type { WalletService } from '../wallets/wallets.ts';
import { changeMessage, checkIssuedMessage, MESSAGE_TTL_MS, verifyOwnerSignature, type ChangeSubject } from './messages.ts';

/** The state of a wallet's ownership. */
export type OwnerState = 'NONE' | 'GRACE' | 'LOCKED';

/** A wallet's owners, threshold, state and freeze. */
export interface Ownership {
  walletId: string;
  owners: OwnerRecord[];
  threshold: number;
  state: OwnerState;
  frozen: boolean;
  ownershipVersion: number;
}

/** A signature an owner made over an issued message. */
export interface SubmittedSignature {
  key: string;
  signature: Uint8Array;
}

/** Dependencies of the owner service. */
export interface OwnerServiceDeps {
  store: Store;
  wallets: WalletService;
  events: SignRequestEvents;
  notifications: Notifications;
  log: Logger;
  /** Delay before an admin's appliance unfreeze takes effect (default 3600 s). */
  applianceUnfreezeDelaySeconds?: number;
  clock?: () => Date;
}

const MAX_OWNERS = 16;
const BASE58 = /^[1-9A-HJ-NP-Za-km-z]{32,44}$/;
const EVM_ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** The state a set of owners is in. */
export function ownerState(owners: OwnerRecord[]): OwnerState {
  if (owners.length === 0) return 'NONE';
  return owners.some((o) => o.provenTime !== null) ? 'LOCKED' : 'GRACE';
}

/** Manages owners, thresholds and freezes. */
export class OwnerService {
  private readonly deps: Required<OwnerServiceDeps>;

  constructor(deps: OwnerServiceDeps) {
    requireDeps('OwnerService', deps, ['store', 'wallets', 'events', 'notifications', 'log']);
    this.deps = { clock: () => new Date(), applianceUnfreezeDelaySeconds: 3600, ...deps };
  }

  /** The wallet's ownership. */
  get(walletId: string): Ownership {
    this.deps.wallets.get(walletId);
    try {
      const owners = this.deps.store.control.owners(walletId);
      const c = this.deps.store.control.control(walletId);
      return { walletId, owners, threshold: c.threshold, state: ownerState(owners), frozen: c.frozen, ownershipVersion: c.ownershipVersion };
    } catch (err) {
      throw fromStoreError(err);
    }
  }

  private subject(walletId: string, action: ChangeSubject['action'], change?: { owners: Omit<OwnerRecord, 'provenTime'>[]; threshold: number }): ChangeSubject {
    const wallet = this.deps.wallets.get(walletId);
    const o = this.get(walletId);
    return {
      applianceId: this.deps.store.control.applianceId(),
      action,
      walletId,
      walletAddress: wallet.address,
      ownershipVersion: o.ownershipVersion,
      ...(change ? { owners: change.owners.map((x) => ({ keyType: x.keyType, key: x.key, label: x.label })), threshold: change.threshold } : {}),
    };
  }

  /** The message the owners must sign for a change (or an unfreeze), valid for an hour. */
  changeMessage(walletId: string, change: { owners: Omit<OwnerRecord, 'provenTime'>[]; threshold: number } | null, who: Identity): { message: string; expireTime: Date } {
    requireRole(who, ['owner', 'admin'], 'GetOwnerChangeMessage');
    const normalized = change ? this.validate(change) : undefined;
    const now = this.deps.clock();
    const expires = new Date(now.getTime() + MESSAGE_TTL_MS);
    return { message: changeMessage(this.subject(walletId, change ? 'SET_OWNERS' : 'UNFREEZE', normalized), now, expires), expireTime: expires };
  }

  /** Checks and normalises a new owner set: unique keys in their canonical form, threshold within bounds. */
  private validate(change: { owners: Omit<OwnerRecord, 'provenTime'>[]; threshold: number }): { owners: Omit<OwnerRecord, 'provenTime'>[]; threshold: number } {
    if (change.owners.length > MAX_OWNERS) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `at most ${MAX_OWNERS} owners`, { metadata: { field: 'change.owners' } });
    const seen = new Set<string>();
    const owners = change.owners.map((o, i) => {
      const field = `change.owners[${i}]`;
      let key: string;
      if (o.keyType === 'ed25519') {
        if (!BASE58.test(o.key)) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'an ed25519 owner key is a base58 Solana address', { metadata: { field: `${field}.key` } });
        key = o.key;
      } else if (o.keyType === 'evm') {
        if (!EVM_ADDRESS.test(o.key)) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'an evm owner key is a 0x address', { metadata: { field: `${field}.key` } });
        key = o.key.toLowerCase();
      } else {
        throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'key_type must be ED25519 or EVM', { metadata: { field: `${field}.key_type` } });
      }
      if (seen.has(key)) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'an owner is listed twice', { metadata: { field: `${field}.key` } });
      seen.add(key);
      if (o.label.length > 64) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'labels are at most 64 characters', { metadata: { field: `${field}.label` } });
      return { key, keyType: o.keyType, label: o.label };
    });
    const min = owners.length === 0 ? 0 : 1;
    if (change.threshold < min || change.threshold > owners.length) {
      throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `threshold must be from ${min} to ${owners.length}`, { metadata: { field: 'change.threshold' } });
    }
    return { owners, threshold: change.threshold };
  }

  /**
   * Verifies a quorum: at least `threshold` distinct current owners signed `message`, which must be the exact
   * message issued for `build`. Returns the keys that signed. Every signature is registered as used.
   */
  private async quorum(walletId: string, message: string, signatures: SubmittedSignature[], build: (i: Date, e: Date) => string, purpose: string): Promise<{ keys: string[]; hashes: string[] }> {
    const now = this.deps.clock();
    checkIssuedMessage(message, build, now, 'WAIAAS_OWNER_SIGNATURE_INVALID');
    const o = this.get(walletId);
    const byKey = new Map(o.owners.map((x) => [x.key, x]));
    const keys: string[] = [];
    const hashes: string[] = [];
    for (const s of signatures) {
      const owner = byKey.get(s.key) ?? byKey.get(s.key.toLowerCase());
      if (!owner) throw new WaiaasError('WAIAAS_OWNER_SIGNATURE_INVALID', 'a signature is from a key that is not an owner of this wallet', { metadata: { problem: 'not_owner', key: s.key } });
      if (!(await verifyOwnerSignature(owner.keyType, owner.key, message, s.signature))) {
        throw new WaiaasError('WAIAAS_OWNER_SIGNATURE_INVALID', 'a signature does not verify over the message', { metadata: { problem: 'bad_signature', key: s.key } });
      }
      if (!keys.includes(owner.key)) {
        keys.push(owner.key);
        hashes.push(createHash('sha256').update(s.signature).digest('hex'));
      }
    }
    if (keys.length < o.threshold) {
      throw new WaiaasError('WAIAAS_OWNER_QUORUM_REQUIRED', `${keys.length} of the ${o.threshold} owner signatures needed`, { metadata: { have: String(keys.length), need: String(o.threshold), purpose } });
    }
    return { keys, hashes };
  }

  /** Replaces the owners and threshold (see the module comment for who may). */
  async setOwners(walletId: string, change: { owners: Omit<OwnerRecord, 'provenTime'>[]; threshold: number }, message: string, signatures: SubmittedSignature[], who: Identity): Promise<Ownership> {
    requireRole(who, ['owner', 'admin'], 'SetOwners');
    const normalized = this.validate(change);
    const current = this.get(walletId);
    let signed: { keys: string[]; hashes: string[] } = { keys: [], hashes: [] };
    if (current.state === 'LOCKED' || (who.role !== 'admin' && current.state !== 'NONE') || signatures.length > 0) {
      if (signatures.length === 0) throw new WaiaasError('WAIAAS_OWNER_QUORUM_REQUIRED', 'the wallet has proven owners: the change needs their signatures', { metadata: { need: String(current.threshold) } });
      signed = await this.quorum(walletId, message, signatures, (i, e) => changeMessage(this.subject(walletId, 'SET_OWNERS', normalized), i, e), 'set_owners');
    } else if (who.role !== 'admin') {
      throw new WaiaasError('WAIAAS_PERMISSION_DENIED', 'only the admin sets the first owners of a wallet', { metadata: { role: who.role } });
    }
    const { store, log, clock } = this.deps;
    const time = clock().toISOString();
    await this.write(() => {
      for (const h of signed.hashes) store.control.useSignature(h, 'set_owners', time);
      for (const k of signed.keys) store.control.prove(walletId, k, time);
      store.control.setOwners(walletId, normalized.owners, normalized.threshold, time);
      store.audit.append({
        actor: who.uri, action: 'owners.set', walletId,
        data: {
          owners: normalized.owners.map((o) => ({ key: o.key, key_type: o.keyType, label: o.label })), threshold: normalized.threshold, signed_by: signed.keys,
          previous_owners: current.owners.map((o) => o.key), previous_threshold: current.threshold,
        },
      }, time);
    });
    log.info({ walletId, owners: normalized.owners.length, threshold: normalized.threshold, by: who.uri, signedBy: signed.keys }, 'owners set');
    return this.get(walletId);
  }

  private async write<T>(fn: () => T): Promise<T> {
    try {
      return await this.deps.store.write(fn);
    } catch (err) {
      if (typeof err === 'object' && err !== null && String((err as { code?: string }).code).startsWith('SQLITE_CONSTRAINT')) {
        throw new WaiaasError('WAIAAS_OWNER_SIGNATURE_INVALID', 'a signature was already used', { metadata: { problem: 'replayed' } });
      }
      throw fromStoreError(err);
    }
  }

  /** Cancels every pending request of one wallet (or all) because of a freeze; runs inside a write. */
  private cancelPending(walletId: string | undefined, reason: string, time: string): string[] {
    const { store } = this.deps;
    return store
      .pendingRequests(walletId)
      .map((r) => r.id)
      .filter((id) => store.transition(id, ['PENDING'], 'CANCELLED', time, { reason: 'WAIAAS_FROZEN', message: reason, metadata: {} }));
  }

  /** Freezes one wallet, or the appliance when `walletId` is empty. Returns the number of cancelled requests. */
  async freeze(walletId: string, reason: string, who: Identity): Promise<number> {
    requireRole(who, ['owner', 'admin'], 'Freeze');
    if (reason.length > 512) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'reason is at most 512 characters', { metadata: { field: 'reason' } });
    if (walletId !== '') this.deps.wallets.get(walletId);
    const { store, notifications, log, clock, events } = this.deps;
    const cancelled = await this.write(() => {
      // The time is taken inside the transaction, so it orders the freeze among the commits around it.
      const time = clock().toISOString();
      if (walletId === '') store.control.setAppliance(true, reason || null, who.uri, time, null);
      else store.control.setFrozen(walletId, true, reason || null, who.uri, time);
      const ids = this.cancelPending(walletId || undefined, walletId === '' ? 'the appliance was frozen' : 'the wallet was frozen', time);
      for (const id of ids) {
        const rec = store.getSignRequest(id)!;
        store.audit.append({ actor: who.uri, action: 'sign_request.cancelled', walletId: rec.walletId, signRequestId: id, data: { error: { reason: 'WAIAAS_FROZEN', message: 'frozen', metadata: {} } } }, time);
      }
      if (walletId === '') store.audit.append({ actor: who.uri, action: 'appliance.frozen', data: { reason: reason || null, cancelled: ids } }, time);
      else store.audit.append({ actor: who.uri, action: 'wallet.frozen', walletId, data: { reason: reason || null, cancelled: ids } }, time);
      notifications.enqueue({
        type: walletId === '' ? 'appliance.frozen' : 'wallet.frozen', time, ...(walletId ? { walletId } : {}),
        detail: `${walletId === '' ? 'the appliance' : `wallet ${walletId}`} was frozen by ${who.uri}${reason ? `: ${reason}` : ''}; ${ids.length} pending request(s) cancelled`,
      });
      return ids;
    });
    notifications.kick();
    for (const id of cancelled) events.changed(store.getSignRequest(id)!);
    log.warn({ walletId: walletId || '(appliance)', by: who.uri, reason, cancelled: cancelled.length }, 'frozen');
    return cancelled.length;
  }

  /** Unfreezes a wallet (owners' quorum) or schedules the appliance's unfreeze (admin). Returns when it takes effect. */
  async unfreeze(walletId: string, message: string, signatures: SubmittedSignature[], who: Identity): Promise<Date> {
    requireRole(who, ['owner', 'admin'], 'Unfreeze');
    const { store, notifications, log, clock } = this.deps;
    const now = clock();
    const time = now.toISOString();
    if (walletId === '') {
      requireRole(who, ['admin'], 'Unfreeze of the appliance');
      const when = new Date(now.getTime() + this.deps.applianceUnfreezeDelaySeconds * 1000);
      await this.write(() => {
        const a = store.control.appliance();
        if (!a.frozen) return;
        store.control.setAppliance(true, a.reason, who.uri, time, when.toISOString());
        store.audit.append({ actor: who.uri, action: 'appliance.unfreeze_scheduled', data: { unfreeze_time: when.toISOString() } }, time);
        notifications.enqueue({ type: 'appliance.unfrozen', time, detail: `the admin ${who.uri} unfreezes the appliance at ${when.toISOString()}; freeze again before then to stop it` });
      });
      notifications.kick();
      log.warn({ by: who.uri, at: when.toISOString() }, 'appliance unfreeze scheduled');
      return when;
    }
    const o = this.get(walletId);
    let signed: { keys: string[]; hashes: string[] } = { keys: [], hashes: [] };
    if (o.state === 'LOCKED' || signatures.length > 0) {
      if (signatures.length === 0) throw new WaiaasError('WAIAAS_OWNER_QUORUM_REQUIRED', 'unfreezing needs the owners\' signatures', { metadata: { need: String(o.threshold) } });
      signed = await this.quorum(walletId, message, signatures, (i, e) => changeMessage(this.subject(walletId, 'UNFREEZE'), i, e), 'unfreeze');
    } else {
      requireRole(who, ['admin'], 'Unfreeze without owner signatures');
    }
    await this.write(() => {
      for (const h of signed.hashes) store.control.useSignature(h, 'unfreeze', time);
      for (const k of signed.keys) store.control.prove(walletId, k, time);
      store.control.setFrozen(walletId, false, null, who.uri, time);
      store.audit.append({ actor: who.uri, action: 'wallet.unfrozen', walletId, data: { signed_by: signed.keys } }, time);
      notifications.enqueue({ type: 'wallet.unfrozen', time, walletId, detail: `wallet ${walletId} was unfrozen (${signed.keys.length ? `signed by ${signed.keys.join(', ')}` : `by ${who.uri}`})` });
    });
    notifications.kick();
    log.warn({ walletId, by: who.uri, signedBy: signed.keys }, 'wallet unfrozen');
    return now;
  }

  /** The appliance-wide state. */
  appliance(): { frozen: boolean; unfreezeTime: string | null; applianceId: string } {
    const a = this.deps.store.control.appliance();
    return { frozen: a.frozen, unfreezeTime: a.unfreezeTime, applianceId: this.deps.store.control.applianceId() };
  }

  /** Applies a scheduled appliance unfreeze whose time has come; called by the server's sweeper. */
  async applyScheduledUnfreeze(): Promise<boolean> {
    const { store, clock, log } = this.deps;
    const time = clock().toISOString();
    const done = await this.write(() => {
      const a = store.control.appliance();
      if (!a.frozen || a.unfreezeTime === null || a.unfreezeTime > time) return false;
      store.control.setAppliance(false, null, 'schedule', time, null);
      store.audit.append({ actor: 'system', action: 'appliance.unfrozen', data: {} }, time);
      return true;
    });
    if (done) log.warn('appliance unfrozen (scheduled)');
    return done;
  }
}
