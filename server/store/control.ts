/**
 * Owner control tables: a wallet's owners and threshold, wallet and appliance freezes, owners' approvals, and the
 * register of every owner signature ever accepted (so none is used twice). Functions that change state run inside
 * the caller's Store.write transaction.
 */
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type { Db } from './db.ts';

/** An owner row. */
export interface OwnerRecord {
  key: string;
  keyType: 'ed25519' | 'evm';
  label: string;
  provenTime: string | null;
}

/** A wallet's control row (defaults when the wallet never had one). */
export interface ControlRecord {
  threshold: number;
  ownershipVersion: number;
  frozen: boolean;
  frozenReason: string | null;
}

/** The appliance-wide state. */
export interface ApplianceRecord {
  frozen: boolean;
  reason: string | null;
  unfreezeTime: string | null;
}

/** A recorded approval or rejection. */
export interface ApprovalRecord {
  ownerKey: string;
  action: 'APPROVE' | 'REJECT';
  caller: string;
  createTime: string;
}

type S = Database.Statement;

/** Reads and writes the owner control tables. */
export class ControlStore {
  private readonly st: Record<string, S>;

  constructor(db: Db) {
    this.st = {
      owners: db.prepare('SELECT key, key_type, label, proven_time FROM wallet_owners WHERE wallet_id = ? ORDER BY key'),
      deleteOwners: db.prepare('DELETE FROM wallet_owners WHERE wallet_id = ?'),
      insertOwner: db.prepare('INSERT INTO wallet_owners (wallet_id, key, key_type, label, proven_time) VALUES (?, ?, ?, ?, ?)'),
      prove: db.prepare('UPDATE wallet_owners SET proven_time = COALESCE(proven_time, ?) WHERE wallet_id = ? AND key = ?'),
      control: db.prepare('SELECT threshold, ownership_version, frozen, frozen_reason FROM wallet_control WHERE wallet_id = ?'),
      upsertControl: db.prepare(
        `INSERT INTO wallet_control (wallet_id, threshold, ownership_version, frozen, frozen_reason, frozen_by, frozen_time) VALUES (@wallet, @threshold, 1, @frozen, @reason, @by, @time)
         ON CONFLICT (wallet_id) DO UPDATE SET threshold = @threshold, ownership_version = ownership_version + 1, frozen = @frozen,
           frozen_reason = @reason, frozen_by = @by, frozen_time = @time`,
      ),
      appliance: db.prepare('SELECT frozen, reason, unfreeze_time FROM appliance_state WHERE id = 1'),
      setAppliance: db.prepare('UPDATE appliance_state SET frozen = ?, reason = ?, frozen_by = ?, frozen_time = ?, unfreeze_time = ? WHERE id = 1'),
      approvals: db.prepare('SELECT owner_key, action, caller, create_time FROM approvals WHERE sign_request_id = ? ORDER BY create_time, owner_key'),
      insertApproval: db.prepare('INSERT INTO approvals (sign_request_id, owner_key, action, signature, caller, create_time) VALUES (?, ?, ?, ?, ?, ?)'),
      useSignature: db.prepare('INSERT INTO used_signatures (signature_hash, purpose, create_time) VALUES (?, ?, ?)'),
      metaGet: db.prepare('SELECT value FROM meta WHERE key = ?'),
      metaPut: db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
    };
  }

  /** The appliance id named in every owner message; made once, kept forever. */
  applianceId(): string {
    const row = this.st.metaGet!.get('appliance_id') as { value: string } | undefined;
    if (row) return row.value;
    this.st.metaPut!.run('appliance_id', `waiaas-${randomBytes(8).toString('hex')}`);
    return (this.st.metaGet!.get('appliance_id') as { value: string }).value;
  }

  /** The wallet's owners, by key. */
  owners(walletId: string): OwnerRecord[] {
    return (this.st.owners!.all(walletId) as { key: string; key_type: 'ed25519' | 'evm'; label: string; proven_time: string | null }[]).map((r) => ({
      key: r.key, keyType: r.key_type, label: r.label, provenTime: r.proven_time,
    }));
  }

  /** The wallet's control row, or the defaults of a wallet that never had owners or a freeze. */
  control(walletId: string): ControlRecord {
    const r = this.st.control!.get(walletId) as { threshold: number; ownership_version: number; frozen: number; frozen_reason: string | null } | undefined;
    return r ? { threshold: r.threshold, ownershipVersion: r.ownership_version, frozen: r.frozen === 1, frozenReason: r.frozen_reason } : { threshold: 0, ownershipVersion: 0, frozen: false, frozenReason: null };
  }

  /** Replaces the owners and threshold; keeps the proof of owners that stay. Bumps the ownership version. */
  setOwners(walletId: string, owners: Omit<OwnerRecord, 'provenTime'>[], threshold: number, time: string): void {
    const proven = new Map(this.owners(walletId).map((o) => [o.key, o.provenTime]));
    this.st.deleteOwners!.run(walletId);
    for (const o of owners) this.st.insertOwner!.run(walletId, o.key, o.keyType, o.label, proven.get(o.key) ?? null);
    const c = this.control(walletId);
    this.st.upsertControl!.run({ wallet: walletId, threshold, frozen: c.frozen ? 1 : 0, reason: c.frozenReason, by: null, time: c.frozen ? time : null });
  }

  /** Freezes or unfreezes a wallet. Bumps the ownership version (so an old unfreeze message cannot be replayed). */
  setFrozen(walletId: string, frozen: boolean, reason: string | null, by: string, time: string): void {
    const c = this.control(walletId);
    this.st.upsertControl!.run({ wallet: walletId, threshold: c.threshold, frozen: frozen ? 1 : 0, reason: frozen ? reason : null, by, time });
  }

  /** Marks an owner's key proven by a first accepted signature. */
  prove(walletId: string, key: string, time: string): void {
    this.st.prove!.run(time, walletId, key);
  }

  /** The appliance-wide freeze. */
  appliance(): ApplianceRecord {
    const r = this.st.appliance!.get() as { frozen: number; reason: string | null; unfreeze_time: string | null };
    return { frozen: r.frozen === 1, reason: r.reason, unfreezeTime: r.unfreeze_time };
  }

  /** Sets the appliance-wide freeze (with an optional scheduled unfreeze). */
  setAppliance(frozen: boolean, reason: string | null, by: string, time: string, unfreezeTime: string | null): void {
    this.st.setAppliance!.run(frozen ? 1 : 0, reason, by, time, unfreezeTime);
  }

  /** Whether signing for the wallet is stopped at `now`, and why. */
  frozenReason(walletId: string, now: string): string | null {
    const a = this.appliance();
    if (a.frozen && (a.unfreezeTime === null || a.unfreezeTime > now)) return `the appliance is frozen${a.reason ? `: ${a.reason}` : ''}`;
    const c = this.control(walletId);
    return c.frozen ? `the wallet is frozen${c.frozenReason ? `: ${c.frozenReason}` : ''}` : null;
  }

  /** Approvals recorded for a request. */
  approvals(signRequestId: string): ApprovalRecord[] {
    return (this.st.approvals!.all(signRequestId) as { owner_key: string; action: 'APPROVE' | 'REJECT'; caller: string; create_time: string }[]).map((r) => ({
      ownerKey: r.owner_key, action: r.action, caller: r.caller, createTime: r.create_time,
    }));
  }

  /** Records an approval; throws SQLITE_CONSTRAINT when this owner already decided this request. */
  addApproval(signRequestId: string, ownerKey: string, action: 'APPROVE' | 'REJECT', signature: Uint8Array, caller: string, time: string): void {
    this.st.insertApproval!.run(signRequestId, ownerKey, action, Buffer.from(signature), caller, time);
  }

  /** Registers a signature as used; throws SQLITE_CONSTRAINT when it was used before (a replay). */
  useSignature(signatureHash: string, purpose: string, time: string): void {
    this.st.useSignature!.run(signatureHash, purpose, time);
  }
}
