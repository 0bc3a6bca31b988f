/**
 * Principals (agents and owners) and the certificates issued to them: storage, and an in-memory view that every
 * call consults. The view is reloaded after every change this process makes, so a revocation takes effect on the
 * very next call, without a restart.
 */
import type Database from 'better-sqlite3';
import type { Store } from '../store/store.ts';

/** Operations an agent can be granted. */
export const OPERATIONS = ['create_wallet', 'sign_transaction', 'sign_message', 'read', 'cancel_request'] as const;
/** An operation. */
export type Operation = (typeof OPERATIONS)[number];

/** A stored principal. */
export interface PrincipalRecord {
  uri: string;
  role: 'agent' | 'owner';
  /** Wallet ids, or ['*']. */
  wallets: string[];
  /** 'solana' / 'evm', or ['*']. */
  chains: string[];
  operations: Operation[];
  rateLimit: number;
  status: 'ACTIVE' | 'REVOKED';
  createTime: string;
  updateTime: string;
  createdBy: string;
}

/** A certificate the CA issued. */
export interface CertificateRecord {
  serial: string;
  uri: string;
  issueTime: string;
  expireTime: string;
  revokedTime: string | null;
}

interface Row {
  uri: string;
  role: 'agent' | 'owner';
  wallets: string;
  chains: string;
  operations: string;
  rate_limit: number;
  status: 'ACTIVE' | 'REVOKED';
  create_time: string;
  update_time: string;
  created_by: string;
}

/** Principals and certificates, with a cached view for the per-call checks. */
export class Principals {
  private readonly store: Store;
  private readonly st: Record<string, Database.Statement>;
  private byUri = new Map<string, PrincipalRecord>();
  private revokedSerials = new Set<string>();

  constructor(store: Store) {
    this.store = store;
    const db = store.db;
    this.st = {
      all: db.prepare('SELECT * FROM principals ORDER BY uri'),
      put: db.prepare(
        `INSERT INTO principals (uri, role, wallets, chains, operations, rate_limit, status, create_time, update_time, created_by)
         VALUES (@uri, @role, @wallets, @chains, @operations, @rateLimit, 'ACTIVE', @time, @time, @by)
         ON CONFLICT (uri) DO UPDATE SET wallets = @wallets, chains = @chains, operations = @operations, rate_limit = @rateLimit,
           status = 'ACTIVE', update_time = @time`,
      ),
      revoke: db.prepare(`UPDATE principals SET status = 'REVOKED', update_time = ? WHERE uri = ?`),
      addCert: db.prepare('INSERT INTO certificates (serial, uri, issue_time, expire_time) VALUES (?, ?, ?, ?)'),
      certs: db.prepare('SELECT * FROM certificates WHERE uri = ? AND revoked_time IS NULL AND expire_time > ? ORDER BY issue_time'),
      revokeCerts: db.prepare('UPDATE certificates SET revoked_time = ? WHERE uri = ? AND revoked_time IS NULL'),
      revokeCert: db.prepare('UPDATE certificates SET revoked_time = ? WHERE serial = ? AND revoked_time IS NULL'),
      revokedSerials: db.prepare('SELECT serial FROM certificates WHERE revoked_time IS NOT NULL'),
      grant: db.prepare(`UPDATE principals SET wallets = ?, update_time = ? WHERE uri = ?`),
    };
    this.reload();
  }

  /** Re-reads the view from the database (after a change). */
  reload(): void {
    const map = new Map<string, PrincipalRecord>();
    for (const r of this.st.all!.all() as Row[]) {
      map.set(r.uri, {
        uri: r.uri, role: r.role, wallets: JSON.parse(r.wallets) as string[], chains: JSON.parse(r.chains) as string[],
        operations: JSON.parse(r.operations) as Operation[], rateLimit: r.rate_limit, status: r.status, createTime: r.create_time,
        updateTime: r.update_time, createdBy: r.created_by,
      });
    }
    this.byUri = map;
    this.revokedSerials = new Set((this.st.revokedSerials!.all() as { serial: string }[]).map((r) => r.serial));
  }

  /** The principal with this URI, if registered. */
  get(uri: string): PrincipalRecord | undefined {
    return this.byUri.get(uri);
  }

  /** All principals. */
  list(): PrincipalRecord[] {
    return [...this.byUri.values()];
  }

  /** True when the certificate with this (lower-case hex) serial was revoked. */
  isRevoked(serial: string): boolean {
    return this.revokedSerials.has(serial);
  }

  /** Valid, unrevoked certificates of a principal. */
  certificates(uri: string, now: string): CertificateRecord[] {
    return (this.st.certs!.all(uri, now) as { serial: string; uri: string; issue_time: string; expire_time: string; revoked_time: string | null }[]).map((r) => ({
      serial: r.serial, uri: r.uri, issueTime: r.issue_time, expireTime: r.expire_time, revokedTime: r.revoked_time,
    }));
  }

  /** Registers or updates a principal (re-activating a revoked one). */
  async put(p: Omit<PrincipalRecord, 'status' | 'createTime' | 'updateTime' | 'createdBy'>, by: string, time: string): Promise<void> {
    await this.store.write(() => {
      this.st.put!.run({ uri: p.uri, role: p.role, wallets: JSON.stringify(p.wallets), chains: JSON.stringify(p.chains), operations: JSON.stringify(p.operations), rateLimit: p.rateLimit, time, by });
      this.store.audit.append({ actor: by, action: 'principal.put', data: { uri: p.uri, role: p.role, wallets: p.wallets, chains: p.chains, operations: p.operations, rate_limit: p.rateLimit } }, time);
    });
    this.reload();
  }

  /** Adds a wallet to a principal's scope (an agent that creates a wallet may use it). No-op for '*'. */
  async grant(uri: string, walletId: string): Promise<void> {
    const p = this.byUri.get(uri);
    if (!p || p.wallets.includes('*') || p.wallets.includes(walletId)) return;
    const wallets = [...p.wallets, walletId];
    await this.store.write(() => {
      const time = new Date().toISOString();
      this.st.grant!.run(JSON.stringify(wallets), time, uri);
      this.store.audit.append({ actor: uri, action: 'principal.put', data: { uri, role: p.role, wallets, chains: p.chains, operations: p.operations, rate_limit: p.rateLimit } }, time);
    });
    p.wallets = wallets;
  }

  /** Records an issued certificate. */
  async addCertificate(serial: string, uri: string, issueTime: string, expireTime: string, by: string, fingerprint: string): Promise<void> {
    await this.store.write(() => {
      this.st.addCert!.run(serial, uri, issueTime, expireTime);
      this.store.audit.append({ actor: by, action: 'agent.issued', data: { uri, serial, expire_time: expireTime, fingerprint_sha256: fingerprint } }, issueTime);
    });
  }

  /** Revokes a principal and all its certificates, or one certificate; returns the certificates newly revoked. */
  async revoke(target: { uri?: string; serial?: string }, time: string, by: string): Promise<number> {
    const n = await this.store.write(() => {
      let changes: number;
      if (target.uri) {
        this.st.revoke!.run(time, target.uri);
        changes = this.st.revokeCerts!.run(time, target.uri).changes;
      } else {
        changes = this.st.revokeCert!.run(time, target.serial).changes;
      }
      this.store.audit.append({ actor: by, action: 'agent.revoked', data: { uri: target.uri ?? null, serial: target.serial ?? null, certificates: changes } }, time);
      return changes;
    });
    this.reload();
    return n;
  }
}
