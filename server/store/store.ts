/**
 * The store: the only module that writes SQL. It keeps wallets and their keys, the versioned policy documents, and a
 * record of every sign request: the decision is committed (state SIGNING) before the HSM is asked to sign, and the
 * outcome (SIGNED with the response, or FAILED/REFUSED with the reason) is committed before the caller gets an answer.
 */
import type Database from 'better-sqlite3';
import { openDb, type Db } from './db.ts';
import { AuditLog } from '../audit/audit.ts';
import { ControlStore } from './control.ts';
import { Ledger } from './ledger.ts';

/** Chain family as stored. */
export type StoredChain = 'solana' | 'evm';

/** A wallet row. */
export interface WalletRecord {
  walletId: string;
  chain: StoredChain;
  address: string;
  keyId: Uint8Array;
  algorithm: 'ed25519' | 'secp256k1';
  publicKey: Uint8Array;
  tokenLabel: string;
  labels: Record<string, string>;
  creator: string;
  requestId: string | null;
  createTime: string;
  seq: number;
}

/** A stored policy version. */
export interface PolicyRecord {
  walletId: string;
  version: number;
  /** Canonical JSON of the document. */
  document: string;
  policyHash: string;
  setBy: string;
  createTime: string;
}

/** States of a sign request. */
export type SignState = 'PENDING' | 'SIGNING' | 'SIGNED' | 'REFUSED' | 'FAILED' | 'CANCELLED' | 'EXPIRED';

/** States after which nothing more happens to a request. */
export const FINAL_STATES: readonly SignState[] = ['SIGNED', 'REFUSED', 'FAILED', 'CANCELLED', 'EXPIRED'];

/** A sign request row. */
export interface SignRequestRecord {
  id: string;
  caller: string;
  requestId: string | null;
  walletId: string;
  kind: string;
  payloadHash: string;
  payload: Uint8Array | null;
  effects: string | null;
  verdict: string | null;
  delaySeconds: number;
  rule: string | null;
  detail: string | null;
  matched: string | null;
  policyVersion: number | null;
  policyHash: string | null;
  state: SignState;
  response: Uint8Array | null;
  errorReason: string | null;
  errorMessage: string | null;
  errorMetadata: Record<string, string> | null;
  createTime: string;
  updateTime: string;
  expireTime: string | null;
  notBeforeTime: string | null;
  seq: number;
}

/** What is recorded when a request is decided. */
export interface NewSignRequest {
  id: string;
  caller: string;
  requestId: string | null;
  walletId: string;
  kind: string;
  payloadHash: string;
  payload?: Uint8Array | null;
  effects: string | null;
  verdict: string | null;
  delaySeconds?: number;
  rule: string | null;
  detail?: string | null;
  matched?: string | null;
  policyVersion: number | null;
  policyHash: string | null;
  state: 'PENDING' | 'SIGNING' | 'REFUSED';
  error?: { reason: string; message: string; metadata: Record<string, string> } | undefined;
  time: string;
  expireTime?: string | null;
  notBeforeTime?: string | null;
}

interface WalletRow {
  seq: number;
  wallet_id: string;
  chain: StoredChain;
  address: string;
  key_id: Buffer;
  algorithm: 'ed25519' | 'secp256k1';
  public_key: Buffer;
  token_label: string;
  labels: string;
  creator: string;
  request_id: string | null;
  create_time: string;
}

interface SignRequestRow {
  seq: number;
  id: string;
  caller: string;
  request_id: string | null;
  wallet_id: string;
  kind: string;
  payload_hash: string;
  payload: Buffer | null;
  effects: string | null;
  verdict: string | null;
  delay_seconds: number;
  rule: string | null;
  detail: string | null;
  matched: string | null;
  policy_version: number | null;
  policy_hash: string | null;
  state: SignState;
  response: Buffer | null;
  error_reason: string | null;
  error_message: string | null;
  error_metadata: string | null;
  create_time: string;
  update_time: string;
  expire_time: string | null;
  not_before_time: string | null;
}

function walletFromRow(r: WalletRow): WalletRecord {
  return {
    walletId: r.wallet_id,
    chain: r.chain,
    address: r.address,
    keyId: new Uint8Array(r.key_id),
    algorithm: r.algorithm,
    publicKey: new Uint8Array(r.public_key),
    tokenLabel: r.token_label,
    labels: JSON.parse(r.labels) as Record<string, string>,
    creator: r.creator,
    requestId: r.request_id,
    createTime: r.create_time,
    seq: r.seq,
  };
}

function signRequestFromRow(r: SignRequestRow): SignRequestRecord {
  return {
    id: r.id,
    caller: r.caller,
    requestId: r.request_id,
    walletId: r.wallet_id,
    kind: r.kind,
    payloadHash: r.payload_hash,
    payload: r.payload ? new Uint8Array(r.payload) : null,
    effects: r.effects,
    verdict: r.verdict,
    delaySeconds: r.delay_seconds,
    rule: r.rule,
    detail: r.detail,
    matched: r.matched,
    policyVersion: r.policy_version,
    policyHash: r.policy_hash,
    state: r.state,
    response: r.response ? new Uint8Array(r.response) : null,
    errorReason: r.error_reason,
    errorMessage: r.error_message,
    errorMetadata: r.error_metadata ? (JSON.parse(r.error_metadata) as Record<string, string>) : null,
    createTime: r.create_time,
    updateTime: r.update_time,
    expireTime: r.expire_time,
    notBeforeTime: r.not_before_time,
    seq: r.seq,
  };
}

interface QueuedWrite {
  op: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Typed access to the appliance's database. Methods are synchronous, each write its own transaction; `write()` runs
 * writes of the signing path through group commit.
 */
export class Store {
  readonly db: Db;
  readonly path: string;
  /** The spend ledger on the same database; use it inside write(). */
  readonly ledger: Ledger;
  /** Owners, freezes and approvals on the same database; change them inside write(). */
  readonly control: ControlStore;
  /** The hash-chained audit log; append inside the write() that makes the change it records. */
  readonly audit: AuditLog;
  private queue: QueuedWrite[] = [];
  /** Told the duration of every group-commit transaction (metrics). */
  onCommit: ((seconds: number, ops: number, ok: boolean) => void) | undefined;
  private flushScheduled = false;

  /** Prepared statements by SQL text: preparing costs more than running on the signing path. */
  private readonly statements = new Map<string, Database.Statement>();

  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  private constructor(db: Db, path: string) {
    this.db = db;
    this.path = path;
    this.ledger = new Ledger(db);
    this.control = new ControlStore(db);
    this.audit = new AuditLog(db);
  }

  /** Opens and migrates the database file at `path`. */
  static open(path: string): Store {
    return new Store(openDb(path), path);
  }

  /**
   * Group commit: runs `op` inside one write transaction shared with every other write queued before the next turn
   * of the event loop, so a burst of requests costs one fsync instead of one each (synchronous = FULL makes each
   * commit durable). Each op runs in its own savepoint: its failure rolls back only its own changes and rejects only
   * its own promise. The promise settles after the commit, so "committed before the signature leaves" still holds.
   */
  write<T>(op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const t0 = process.hrtime.bigint();
    const observe = (ok: boolean): void => this.onCommit?.(Number(process.hrtime.bigint() - t0) / 1e9, batch.length, ok);
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          try {
            results.push({ ok: true, value: this.db.transaction(item.op)() });
          } catch (error) {
            results.push({ ok: false, error });
          }
        }
      }).immediate();
    } catch (commitError) {
      observe(false);
      for (const item of batch) item.reject(commitError);
      return;
    }
    observe(true);
    batch.forEach((item, i) => {
      const r = results[i]!;
      if (r.ok) item.resolve(r.value);
      else item.reject(r.error);
    });
  }

  /** Checks that the database answers and is writable; throws otherwise. */
  ping(): void {
    this.stmt('SELECT 1').get();
  }

  // --- wallets -----------------------------------------------------------------------------------------------

  /** Inserts a new wallet. */
  insertWallet(w: Omit<WalletRecord, 'seq'>): WalletRecord {
    this
      .stmt(
        `INSERT INTO wallets (wallet_id, chain, address, key_id, algorithm, public_key, token_label, labels, creator, request_id, create_time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(w.walletId, w.chain, w.address, Buffer.from(w.keyId), w.algorithm, Buffer.from(w.publicKey), w.tokenLabel,
        JSON.stringify(w.labels), w.creator, w.requestId, w.createTime);
    return this.getWallet(w.walletId)!;
  }

  /** The wallet with this id, if any. */
  getWallet(walletId: string): WalletRecord | undefined {
    const row = this.stmt('SELECT * FROM wallets WHERE wallet_id = ?').get(walletId) as WalletRow | undefined;
    return row && walletFromRow(row);
  }

  /** The wallet a caller created with this idempotency key, if any. */
  getWalletByRequestId(creator: string, requestId: string): WalletRecord | undefined {
    const row = this.stmt('SELECT * FROM wallets WHERE creator = ? AND request_id = ?').get(creator, requestId) as WalletRow | undefined;
    return row && walletFromRow(row);
  }

  /** Wallets after `afterSeq`, in creation order, at most `limit`, optionally of one chain. */
  listWallets(opts: { afterSeq: number; limit: number; chain?: StoredChain | undefined }): WalletRecord[] {
    const rows = (opts.chain
      ? this.stmt('SELECT * FROM wallets WHERE seq > ? AND chain = ? ORDER BY seq LIMIT ?').all(opts.afterSeq, opts.chain, opts.limit)
      : this.stmt('SELECT * FROM wallets WHERE seq > ? ORDER BY seq LIMIT ?').all(opts.afterSeq, opts.limit)) as WalletRow[];
    return rows.map(walletFromRow);
  }

  /** Every wallet (used at start-up to check that every key is reachable on the HSM). */
  allWallets(): WalletRecord[] {
    return (this.stmt('SELECT * FROM wallets ORDER BY seq').all() as WalletRow[]).map(walletFromRow);
  }

  // --- policies ----------------------------------------------------------------------------------------------

  /** The wallet's current (highest-version) policy, if any. */
  getPolicy(walletId: string): PolicyRecord | undefined {
    const row = this
      .stmt('SELECT wallet_id, version, document, policy_hash, set_by, create_time FROM policies WHERE wallet_id = ? ORDER BY version DESC LIMIT 1')
      .get(walletId) as { wallet_id: string; version: number; document: string; policy_hash: string; set_by: string; create_time: string } | undefined;
    return row && {
      walletId: row.wallet_id, version: row.version, document: row.document, policyHash: row.policy_hash, setBy: row.set_by, createTime: row.create_time,
    };
  }

  /** Stores a new policy version (current + 1) atomically and returns it. */
  putPolicy(p: { walletId: string; document: string; policyHash: string; setBy: string; time: string }): PolicyRecord {
    return this.db.transaction(() => {
      const cur = this.stmt('SELECT COALESCE(MAX(version), 0) AS v FROM policies WHERE wallet_id = ?').get(p.walletId) as { v: number };
      const version = cur.v + 1;
      this
        .stmt('INSERT INTO policies (wallet_id, version, document, policy_hash, set_by, create_time) VALUES (?, ?, ?, ?, ?, ?)')
        .run(p.walletId, version, p.document, p.policyHash, p.setBy, p.time);
      return { walletId: p.walletId, version, document: p.document, policyHash: p.policyHash, setBy: p.setBy, createTime: p.time };
    }).immediate();
  }

  // --- sign requests -----------------------------------------------------------------------------------------

  /** The request a caller made with this idempotency key, if any. */
  getSignRequestByRequestId(caller: string, requestId: string): SignRequestRecord | undefined {
    const row = this.stmt('SELECT * FROM sign_requests WHERE caller = ? AND request_id = ?').get(caller, requestId) as SignRequestRow | undefined;
    return row && signRequestFromRow(row);
  }

  /** The sign request with this server id, if any. */
  getSignRequest(id: string): SignRequestRecord | undefined {
    const row = this.stmt('SELECT * FROM sign_requests WHERE id = ?').get(id) as SignRequestRow | undefined;
    return row && signRequestFromRow(row);
  }

  /**
   * Records a decided request. For state SIGNING this commit happens before the HSM signs, so a signature can never
   * exist without its record. Throws SQLITE_CONSTRAINT_UNIQUE when the caller's request_id is already recorded.
   */
  insertSignRequest(r: NewSignRequest): void {
    this.stmt(
      `INSERT INTO sign_requests (id, caller, request_id, wallet_id, kind, payload_hash, payload, effects, verdict, delay_seconds, rule, detail, matched,
         policy_version, policy_hash, state, error_reason, error_message, error_metadata, create_time, update_time, expire_time, not_before_time)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(r.id, r.caller, r.requestId, r.walletId, r.kind, r.payloadHash, r.payload ? Buffer.from(r.payload) : null, r.effects, r.verdict,
      r.delaySeconds ?? 0, r.rule, r.detail ?? null, r.matched ?? null, r.policyVersion, r.policyHash, r.state, r.error?.reason ?? null,
      r.error?.message ?? null, r.error ? JSON.stringify(r.error.metadata) : null, r.time, r.time, r.expireTime ?? null, r.notBeforeTime ?? null);
  }

  /**
   * Moves a request from one of `from` to state `to` (with an error for the final states other than SIGNED), and
   * releases its reservation when it ends unsigned. Returns false when the request was not in one of `from`.
   */
  transition(id: string, from: readonly SignState[], to: SignState, time: string, error?: { reason: string; message: string; metadata: Record<string, string> }): boolean {
    const placeholders = from.map(() => '?').join(', ');
    const res = this.stmt(
      `UPDATE sign_requests SET state = ?, error_reason = COALESCE(?, error_reason), error_message = COALESCE(?, error_message),
         error_metadata = COALESCE(?, error_metadata), update_time = ?, payload = CASE WHEN ? THEN NULL ELSE payload END
       WHERE id = ? AND state IN (${placeholders})`,
    ).run(to, error?.reason ?? null, error?.message ?? null, error ? JSON.stringify(error.metadata) : null, time, FINAL_STATES.includes(to) ? 1 : 0, id, ...from);
    if (res.changes !== 1) return false;
    if (to === 'CANCELLED' || to === 'EXPIRED' || to === 'FAILED' || to === 'REFUSED') this.ledger.release(id);
    return true;
  }

  /** Pending requests, oldest first, of one wallet or all. */
  pendingRequests(walletId?: string): SignRequestRecord[] {
    const rows = walletId
      ? this.stmt(`SELECT * FROM sign_requests WHERE state = 'PENDING' AND wallet_id = ? ORDER BY seq`).all(walletId)
      : this.stmt(`SELECT * FROM sign_requests WHERE state = 'PENDING' ORDER BY seq`).all();
    return (rows as SignRequestRow[]).map(signRequestFromRow);
  }

  /** Pending DELAY requests whose delay has passed at `time` (and that have not expired). */
  dueDelayed(time: string, limit = 100): string[] {
    return (this.stmt(`SELECT id FROM sign_requests WHERE state = 'PENDING' AND verdict = 'DELAY' AND not_before_time <= ? AND expire_time > ? ORDER BY not_before_time LIMIT ?`).all(time, time, limit) as { id: string }[]).map((r) => r.id);
  }

  /** Pending requests whose expiry is at or before `time`. */
  expiredPending(time: string, limit = 500): string[] {
    return (this.stmt(`SELECT id FROM sign_requests WHERE state = 'PENDING' AND expire_time <= ? ORDER BY expire_time LIMIT ?`).all(time, limit) as { id: string }[]).map((r) => r.id);
  }

  /** Sign requests newest first, optionally of one wallet, state or caller, after the position `beforeSeq`. */
  listSignRequests(opts: { walletId?: string | undefined; state?: SignState | undefined; caller?: string | undefined; beforeSeq: number; limit: number }): SignRequestRecord[] {
    const where = ['seq < ?'];
    const args: (string | number)[] = [opts.beforeSeq];
    if (opts.walletId) {
      where.push('wallet_id = ?');
      args.push(opts.walletId);
    }
    if (opts.state) {
      where.push('state = ?');
      args.push(opts.state);
    }
    if (opts.caller) {
      where.push('caller = ?');
      args.push(opts.caller);
    }
    args.push(opts.limit);
    return (this.stmt(`SELECT * FROM sign_requests WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ?`).all(...args) as SignRequestRow[]).map(signRequestFromRow);
  }

  /** Marks a SIGNING request SIGNED with the response returned to the caller (and to any retry). */
  completeSignRequest(id: string, response: Uint8Array, time: string): void {
    const res = this
      .stmt(`UPDATE sign_requests SET state = 'SIGNED', response = ?, payload = NULL, update_time = ? WHERE id = ? AND state = 'SIGNING'`)
      .run(Buffer.from(response), time, id);
    if (res.changes !== 1) throw new Error(`sign request ${id} is not in state SIGNING`);
  }

  /** Marks a SIGNING request FAILED (nothing was returned to the caller) and releases its reservation. */
  failSignRequest(id: string, error: { reason: string; message: string; metadata: Record<string, string> }, time: string): void {
    this.transition(id, ['SIGNING'], 'FAILED', time, error);
  }

  /**
   * At start-up: requests left in SIGNING by a previous process that stopped mid-sign never returned a signature.
   * They become FAILED so that a retry of the same request_id is answered from the record instead of signing again.
   */
  failInterruptedSignRequests(time: string): number {
    return this
      .stmt(`UPDATE sign_requests SET state = 'FAILED', error_reason = 'WAIAAS_REQUEST_INTERRUPTED',
                error_message = 'the server stopped while this request was being signed; send a new request', error_metadata = '{}', update_time = ?
                WHERE state = 'SIGNING'`)
      .run(time).changes;
  }

  /** Number of sign requests in each state (for tests and metrics). */
  countSignRequests(walletId?: string): Record<SignState, number> {
    const rows = (walletId
      ? this.stmt('SELECT state, COUNT(*) AS n FROM sign_requests WHERE wallet_id = ? GROUP BY state').all(walletId)
      : this.stmt('SELECT state, COUNT(*) AS n FROM sign_requests GROUP BY state').all()) as { state: SignState; n: number }[];
    const out: Record<SignState, number> = { PENDING: 0, SIGNING: 0, SIGNED: 0, REFUSED: 0, FAILED: 0, CANCELLED: 0, EXPIRED: 0 };
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  /** Closes the database. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}
