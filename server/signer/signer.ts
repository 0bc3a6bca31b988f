/**
 * The signing path. For every request: validate, find the wallet, decode the exact bytes into effects, then in ONE
 * store write transaction read the spend ledger, let the policy engine decide, record the decision and take the
 * spend reservation; then sign on the HSM (which verifies every signature before returning it), commit the outcome,
 * and only then answer. DELAY and APPROVAL requests are recorded PENDING with their payload and reservation and wait
 * (the owner workflow decides them). A retry with the same request_id is answered from the record and never signs
 * twice. If the store or the HSM cannot be used, nothing is signed (or, when the outcome cannot be recorded,
 * nothing signed is returned).
 */
import { metrics } from '../metrics/metrics.ts';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { createHash } from 'node:crypto';
import type { Hsm } from '../../hsm/index.ts';
import { SignPayloadSchema, SignResultSchema, type SignPayload } from '../../gen/waiaas/v1/sign_request_pb.js';
import { assembleEvmTransaction, decodeEip712, decodeEvmPersonalMessage, decodeEvmTransaction, evmEffects } from '../chains/evm/index.ts';
import { assembleSolanaTransaction, decodeSolanaMessage, decodeSolanaTransaction, signerIndex, solanaEffects } from '../chains/solana/index.ts';
import { requireDeps } from '../deps.ts';
import { WaiaasError } from '../errors/error.ts';
import { fromHsmError, fromStoreError } from '../errors/map.ts';
import { checkRequestId, newSignRequestId } from '../ids.ts';
import type { Logger } from '../log.ts';
import type { PolicyService } from '../policies/policies.ts';
import type { Effects } from '../policy/effects.ts';
import { evaluate, usageNeeds, type CompiledPolicy, type Decision, type UsageSnapshot } from '../policy/evaluate.ts';
import { COUNT_ASSET } from '../store/ledger.ts';
import type { SignRequestRecord, Store, StoredChain, WalletRecord } from '../store/store.ts';
import type { WalletService } from '../wallets/wallets.ts';
import type { NotifyEvent } from '../notify/events.ts';
import { summarizeEffects } from '../owners/summary.ts';
import type { SignRequestEvents } from './events.ts';

/** Where the signing path files owner notifications: `enqueue` runs inside a store write; `kick` after the commit. */
export interface Notifications {
  enqueue(event: NotifyEvent): void;
  kick(): void;
}

/** Notifications that go nowhere (no sinks configured, tests). */
export const NO_NOTIFICATIONS: Notifications = { enqueue: () => undefined, kick: () => undefined };

/** Dependencies of the signer; construction fails if one is missing. */
export interface SignerDeps {
  hsm: Pick<Hsm, 'signEd25519' | 'signSecp256k1'>;
  store: Store;
  wallets: WalletService;
  policies: PolicyService;
  events: SignRequestEvents;
  log: Logger;
  notifications?: Notifications;
  /** For a wallet without owners, APPROVAL becomes DELAY of this many seconds (default 3600). */
  noOwnerDelaySeconds?: number;
  clock?: () => Date;
}

/** Creates the signer, checking its wiring. */
export function createSigner(deps: SignerDeps): Signer {
  requireDeps('Signer', deps, ['hsm', 'store', 'wallets', 'policies', 'events', 'log']);
  return new Signer({ clock: () => new Date(), notifications: NO_NOTIFICATIONS, noOwnerDelaySeconds: 3600, ...deps });
}

/** The kinds of payload, as recorded. */
export type PayloadKind = NonNullable<SignPayload['payload']['case']>;

const RECORD_KIND: Record<PayloadKind, string> = {
  solanaTransaction: 'solana_transaction',
  evmTransaction: 'evm_transaction',
  evmMessage: 'evm_message',
  evmTypedData: 'evm_typed_data',
  solanaMessage: 'solana_message',
};

const CHAIN_OF: Record<PayloadKind, StoredChain> = {
  solanaTransaction: 'solana',
  solanaMessage: 'solana',
  evmTransaction: 'evm',
  evmMessage: 'evm',
  evmTypedData: 'evm',
};

/** A payload decoded for one wallet: its effects, and how to sign it. */
export interface Prepared {
  effects: Effects;
  /** Signs on the HSM and returns what the caller gets back. */
  sign(): Promise<MessageInitShape<typeof SignResultSchema>>;
}

/** A request as submitted to the signer. */
export interface SignInput {
  walletId: string;
  payload: SignPayload;
  requestId: string;
  caller: string;
}

/** Decodes `payload` for `wallet`; throws a WaiaasError for anything malformed. */
export function preparePayload(payload: SignPayload, wallet: WalletRecord, hsm: SignerDeps['hsm']): Prepared {
  const p = payload.payload;
  const hsmCall = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw fromHsmError(err);
    }
  };
  switch (p.case) {
    case 'solanaTransaction': {
      const tx = decodeSolanaTransaction(p.value);
      const index = signerIndex(tx, wallet.address);
      return {
        effects: solanaEffects(tx, wallet.address),
        sign: async () => {
          const signature = await hsmCall(() => hsm.signEd25519(wallet.keyId, tx.messageBytes));
          return { signedTransaction: assembleSolanaTransaction(tx, index, signature), signature };
        },
      };
    }
    case 'evmTransaction': {
      if (p.value.chainId === 0n) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'chain_id is required', { metadata: { field: 'chain_id' } });
      const tx = decodeEvmTransaction(p.value.unsignedTransaction, p.value.chainId);
      return {
        effects: evmEffects(tx),
        sign: async () => {
          const sig = await hsmCall(() => hsm.signSecp256k1(wallet.keyId, tx.signingHash));
          const { signed, hash } = assembleEvmTransaction(tx, { r: sig.r, s: sig.s, yParity: sig.recovery });
          return { signedTransaction: signed, transactionHash: hash, signature: concat(sig.r, sig.s), yParity: sig.recovery };
        },
      };
    }
    case 'evmMessage':
    case 'evmTypedData': {
      const decoded = p.case === 'evmMessage' ? decodeEvmPersonalMessage(p.value) : decodeEip712(p.value);
      return {
        effects: decoded.effects,
        sign: async () => {
          const sig = await hsmCall(() => hsm.signSecp256k1(wallet.keyId, decoded.digest));
          return { signature: concat(sig.r, sig.s, new Uint8Array([27 + sig.recovery])), yParity: sig.recovery, digest: decoded.digest };
        },
      };
    }
    case 'solanaMessage': {
      const decoded = decodeSolanaMessage(p.value);
      return {
        effects: decoded.effects,
        sign: async () => {
          const signature = await hsmCall(() => hsm.signEd25519(wallet.keyId, decoded.messageBytes));
          return { signature, signedMessage: decoded.messageBytes };
        },
      };
    }
    default:
      throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'payload is required', { metadata: { field: 'payload' } });
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Reads the ledger windows a policy needs (inside the caller's transaction). */
export function usageSnapshot(store: Store, walletId: string, policy: CompiledPolicy | null, nowMs: number): UsageSnapshot {
  const needs = usageNeeds(policy);
  const spent = new Map<string, bigint>();
  for (const n of needs.spend) spent.set(`${n.asset}|${n.windowSeconds}`, store.ledger.total(walletId, n.asset, n.windowSeconds, nowMs));
  const counts = new Map<number, number>();
  for (const w of needs.counts) counts.set(w, Number(store.ledger.total(walletId, COUNT_ASSET, w, nowMs)));
  return { spent, counts, lastSignedAt: needs.lastSigned ? store.ledger.lastSigned(walletId) : null };
}

/** Effects as JSON for the record (bigints as decimal strings). */
export function effectsJson(effects: Effects): string {
  return JSON.stringify(effects, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function reused(requestId: string): WaiaasError {
  return new WaiaasError('WAIAAS_REQUEST_ID_REUSED', 'request_id was already used for a different request', { metadata: { request_id: requestId } });
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}

function errorRecord(e: WaiaasError): { reason: string; message: string; metadata: Record<string, string> } {
  return { reason: e.reason, message: e.message, metadata: e.metadata };
}

/** The error a DENY decision is answered with. */
export function denial(decision: Decision, signRequestId: string): WaiaasError {
  return new WaiaasError('WAIAAS_POLICY_DENIED', decision.detail, {
    metadata: {
      verdict: decision.verdict,
      rule: decision.rule,
      policy_hash: decision.policyHash ?? '',
      sign_request_id: signRequestId,
      matched_rules: decision.matched.map((m) => `${m.name}:${m.verdict}`).join(','),
    },
  });
}

/** Signs payloads for wallets, under their policies. */
export class Signer {
  private readonly deps: Required<SignerDeps>;
  /** Requests in flight by caller + request_id: a concurrent retry waits for the first answer. */
  private readonly inflight = new Map<string, { payloadHash: string; done: Promise<unknown> }>();

  constructor(deps: Required<SignerDeps>) {
    this.deps = deps;
  }

  /**
   * Submits a request. Resolves with its record: SIGNED (with the result in `response`) or PENDING. A DENY, bad
   * input, or an unusable HSM or store rejects with the WaiaasError to answer with.
   */
  async submit(input: SignInput): Promise<SignRequestRecord> {
    const kind = input.payload.payload.case;
    if (kind === undefined) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'payload is required', { metadata: { field: 'payload' } });
    const requestId = checkRequestId(input.requestId);
    const wallet = this.deps.wallets.get(input.walletId);
    if (wallet.chain !== CHAIN_OF[kind]) {
      throw new WaiaasError('WAIAAS_WALLET_CHAIN_MISMATCH', `wallet ${wallet.walletId} is a ${wallet.chain} wallet`, {
        metadata: { wallet_id: wallet.walletId, wallet_chain: wallet.chain, request_chain: CHAIN_OF[kind] },
      });
    }
    const payloadBytes = toBinary(SignPayloadSchema, input.payload);
    const payloadHash = createHash('sha256').update(wallet.walletId).update('\0').update(payloadBytes).digest('hex');
    if (requestId === null) return this.execute(input, wallet, null, payloadBytes, payloadHash);

    const key = `${input.caller}\n${requestId}`;
    const running = this.inflight.get(key);
    if (running) {
      if (running.payloadHash !== payloadHash) throw reused(requestId);
      await running.done.catch(() => undefined);
    }
    const previous = this.read(() => this.deps.store.getSignRequestByRequestId(input.caller, requestId));
    if (previous) {
      if (previous.payloadHash !== payloadHash) throw reused(requestId);
      if (previous.state === 'SIGNED' || previous.state === 'PENDING') return previous;
      throw new WaiaasError((previous.errorReason ?? 'WAIAAS_INTERNAL') as WaiaasError['reason'], previous.errorMessage ?? undefined, { metadata: previous.errorMetadata ?? {} });
    }
    const done = this.execute(input, wallet, requestId, payloadBytes, payloadHash);
    this.inflight.set(key, { payloadHash, done });
    try {
      return await done;
    } finally {
      this.inflight.delete(key);
    }
  }

  /** Dry run: decodes and evaluates against the current (or a candidate) policy without signing or reserving. */
  async evaluate(input: { walletId: string; payload: SignPayload; candidate?: CompiledPolicy }): Promise<{ effects: Effects; decision: Decision }> {
    const wallet = this.deps.wallets.get(input.walletId);
    const kind = input.payload.payload.case;
    if (kind !== undefined && wallet.chain !== CHAIN_OF[kind]) {
      throw new WaiaasError('WAIAAS_WALLET_CHAIN_MISMATCH', `wallet ${wallet.walletId} is a ${wallet.chain} wallet`, { metadata: { wallet_id: wallet.walletId } });
    }
    const prepared = preparePayload(input.payload, wallet, this.deps.hsm);
    const policy = input.candidate ?? (await this.deps.policies.current(wallet.walletId));
    const now = this.deps.clock();
    const usage = this.read(() => usageSnapshot(this.deps.store, wallet.walletId, policy, now.getTime()));
    return { effects: prepared.effects, decision: evaluate(prepared.effects, policy, usage, { now }) };
  }

  private read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw fromStoreError(err);
    }
  }

  private async write<T>(fn: () => T, requestId: string | null): Promise<T> {
    try {
      return await this.deps.store.write(fn);
    } catch (err) {
      if (requestId !== null && isUniqueViolation(err)) throw reused(requestId);
      throw fromStoreError(err);
    }
  }

  private async execute(input: SignInput, wallet: WalletRecord, requestId: string | null, payloadBytes: Uint8Array, payloadHash: string): Promise<SignRequestRecord> {
    const { store, log, clock, events } = this.deps;
    const id = newSignRequestId();
    const kind = RECORD_KIND[input.payload.payload.case!];
    const base = { id, caller: input.caller, requestId, walletId: wallet.walletId, kind, payloadHash };

    let prepared: Prepared;
    try {
      prepared = preparePayload(input.payload, wallet, this.deps.hsm);
    } catch (err) {
      const e = err instanceof WaiaasError ? err : new WaiaasError('WAIAAS_TX_MALFORMED', undefined, { cause: err });
      const time = clock().toISOString();
      await this.write(() => {
        store.insertSignRequest({ ...base, effects: null, verdict: null, rule: null, policyVersion: null, policyHash: null, state: 'REFUSED', error: errorRecord(e), time });
        store.audit.append({ actor: input.caller, action: 'sign_request.refused', walletId: wallet.walletId, signRequestId: id, data: { from_state: null, error: errorRecord(e), kind, payload_hash: payloadHash, request_id: requestId } }, time);
      }, requestId);
      metrics.signRequest({ kind, verdict: null, state: 'REFUSED' });
      throw e;
    }
    const policy = await this.deps.policies.current(wallet.walletId);

    // Decision and reservation in one write transaction: concurrent requests see each other's reservations, and a
    // freeze committed before this transaction stops it.
    const notifications = this.deps.notifications;
    const decided = await this.write(() => {
      const now = clock();
      const time = now.toISOString();
      const frozen = store.control.frozenReason(wallet.walletId, time);
      if (frozen !== null) {
        const e = new WaiaasError('WAIAAS_FROZEN', frozen, { metadata: { wallet_id: wallet.walletId } });
        store.insertSignRequest({ ...base, effects: effectsJson(prepared.effects), verdict: null, rule: null, policyVersion: null, policyHash: null, state: 'REFUSED', error: errorRecord(e), time });
        store.audit.append({ actor: input.caller, action: 'sign_request.refused', walletId: wallet.walletId, signRequestId: id, data: { from_state: null, error: errorRecord(e), kind, payload_hash: payloadHash, request_id: requestId, effects: prepared.effects } }, time);
        return { frozen: e } as const;
      }
      const usage = usageSnapshot(store, wallet.walletId, policy, now.getTime());
      let decision = evaluate(prepared.effects, policy, usage, { now });
      let downgraded = false;
      if (decision.verdict === 'APPROVAL' && store.control.owners(wallet.walletId).length === 0) {
        // No owner can approve: the owner's control becomes a delay during which the admin can still freeze.
        decision = { ...decision, verdict: 'DELAY', delaySeconds: this.deps.noOwnerDelaySeconds, detail: `${decision.detail} (no owner: APPROVAL becomes DELAY)` };
        downgraded = true;
      }
      const summary = summarizeEffects(prepared.effects);
      const record = {
        ...base,
        effects: effectsJson(prepared.effects),
        verdict: decision.verdict,
        delaySeconds: decision.delaySeconds,
        rule: decision.rule,
        detail: decision.detail,
        matched: JSON.stringify(decision.matched),
        policyVersion: decision.policyVersion,
        policyHash: decision.policyHash,
        time,
      };
      const audit = (state: 'SIGNING' | 'PENDING' | 'REFUSED', extra: { expire_time?: string | null; not_before_time?: string | null } = {}): void => {
        store.audit.append({
          actor: input.caller, action: 'sign_request.decided', walletId: wallet.walletId, signRequestId: id,
          data: {
            kind, payload_hash: payloadHash, request_id: requestId, effects: prepared.effects, verdict: decision.verdict, rule: decision.rule, detail: decision.detail,
            matched: decision.matched, policy_version: decision.policyVersion, policy_hash: decision.policyHash, delay_seconds: decision.delaySeconds, state,
            approval_downgraded: downgraded, reservation: decision.reservation, ...extra,
          },
        }, time);
      };
      const note = (type: NotifyEvent['type'], detail: string): void =>
        notifications.enqueue({ type, time, walletId: wallet.walletId, signRequestId: id, verdict: decision.verdict, rule: decision.rule, summary, detail });
      if (decision.verdict === 'DENY') {
        store.insertSignRequest({ ...record, state: 'REFUSED', error: errorRecord(denial(decision, id)) });
        audit('REFUSED');
        note('sign_request.denied', `denied by rule ${decision.rule}: ${decision.detail}`);
      } else if (decision.verdict === 'DELAY' || decision.verdict === 'APPROVAL') {
        const timeout = Math.max(policy?.document.pendingTimeoutSeconds ?? 86_400, decision.verdict === 'DELAY' ? decision.delaySeconds + 300 : 0);
        const expireTime = new Date(now.getTime() + timeout * 1000).toISOString();
        const notBeforeTime = decision.verdict === 'DELAY' ? new Date(now.getTime() + decision.delaySeconds * 1000).toISOString() : null;
        store.insertSignRequest({ ...record, state: 'PENDING', payload: payloadBytes, expireTime, notBeforeTime });
        audit('PENDING', { expire_time: expireTime, not_before_time: notBeforeTime });
        store.ledger.reserve(wallet.walletId, id, decision.reservation, now.getTime());
        if (downgraded) note('sign_request.approval_downgraded', `needs approval but the wallet has no owner: it will be signed after ${decision.delaySeconds} s unless the wallet is frozen`);
        else if (decision.verdict === 'DELAY') note('sign_request.pending_delay', `will be signed after ${decision.delaySeconds} s unless an owner vetoes it`);
        else note('sign_request.pending_approval', `waits for the approval of the wallet's owners (rule ${decision.rule})`);
      } else {
        store.insertSignRequest({ ...record, state: 'SIGNING' });
        audit('SIGNING');
        store.ledger.reserve(wallet.walletId, id, decision.reservation, now.getTime());
        store.ledger.signed(wallet.walletId, now.getTime());
      }
      return { decision } as const;
    }, requestId);
    notifications.kick();
    if ('frozen' in decided) {
      metrics.signRequest({ kind, verdict: null, state: 'REFUSED' });
      throw decided.frozen;
    }
    const decision = decided.decision;

    const logFields = { signRequestId: id, walletId: wallet.walletId, kind, verdict: decision.verdict, rule: decision.rule };
    if (decision.verdict === 'DENY') {
      log.info(logFields, 'sign request denied');
      metrics.signRequest({ kind, verdict: 'DENY', state: 'REFUSED' });
      throw denial(decision, id);
    }
    if (decision.verdict === 'DELAY' || decision.verdict === 'APPROVAL') {
      log.info(logFields, 'sign request pending');
      const rec = this.read(() => store.getSignRequest(id))!;
      events.changed(rec);
      return rec;
    }
    return this.signAndComplete(id, wallet, prepared);
  }

  /**
   * Signs a PENDING request whose delay passed or whose owners approved: PENDING → SIGNING in a write transaction
   * that also checks the freeze, then the same signing and recording as an immediate request. Returns null when the
   * request was no longer pending (cancelled, expired, already being signed).
   */
  async executePending(id: string): Promise<SignRequestRecord | null> {
    const { store, clock } = this.deps;
    const rec = this.read(() => store.getSignRequest(id));
    if (!rec || rec.state !== 'PENDING' || !rec.payload) return null;
    const wallet = this.deps.wallets.get(rec.walletId);
    const payload = fromBinary(SignPayloadSchema, rec.payload);
    const prepared = preparePayload(payload, wallet, this.deps.hsm);
    const started = await this.write(() => {
      const now = clock();
      const frozen = store.control.frozenReason(wallet.walletId, now.toISOString());
      if (frozen !== null) {
        const error = { reason: 'WAIAAS_FROZEN', message: frozen, metadata: {} };
        if (store.transition(id, ['PENDING'], 'CANCELLED', now.toISOString(), error)) {
          store.audit.append({ actor: 'system', action: 'sign_request.cancelled', walletId: wallet.walletId, signRequestId: id, data: { error } }, now.toISOString());
        }
        return false;
      }
      if (!store.transition(id, ['PENDING'], 'SIGNING', now.toISOString())) return false;
      store.audit.append({ actor: 'system', action: 'sign_request.released', walletId: wallet.walletId, signRequestId: id, data: { cause: rec.verdict === 'DELAY' && store.control.approvals(id).length === 0 ? 'delay_elapsed' : 'approved', verdict: rec.verdict } }, now.toISOString());
      store.ledger.signed(wallet.walletId, now.getTime());
      return true;
    }, null);
    if (!started) {
      const after = this.read(() => store.getSignRequest(id));
      if (after) this.deps.events.changed(after);
      return null;
    }
    return this.signAndComplete(id, wallet, prepared);
  }

  /** Signs a request already recorded SIGNING, and records the outcome (re-checking the freeze) before returning. */
  private async signAndComplete(id: string, wallet: WalletRecord, prepared: Prepared): Promise<SignRequestRecord> {
    const { store, log, clock, events } = this.deps;
    let result: MessageInitShape<typeof SignResultSchema>;
    try {
      result = await prepared.sign();
    } catch (err) {
      const e = err instanceof WaiaasError ? err : new WaiaasError('WAIAAS_INTERNAL', undefined, { cause: err });
      try {
        await store.write(() => {
          const time = clock().toISOString();
          store.failSignRequest(id, errorRecord(e), time);
          store.audit.append({ actor: 'system', action: 'sign_request.failed', walletId: wallet.walletId, signRequestId: id, data: { error: errorRecord(e) } }, time);
        });
        const failed = store.getSignRequest(id);
        if (failed) events.changed(failed);
      } catch (storeErr) {
        log.error({ signRequestId: id, err: storeErr }, 'could not record a failed sign request');
      }
      throw e;
    }
    const bytes = toBinary(SignResultSchema, create(SignResultSchema, result));
    let frozen: string | null;
    try {
      frozen = await store.write(() => {
        const time = clock().toISOString();
        // A freeze committed while the HSM was signing wins: the signature is dropped, never returned.
        const reason = store.control.frozenReason(wallet.walletId, time);
        if (reason !== null) {
          const error = { reason: 'WAIAAS_FROZEN', message: reason, metadata: {} };
          store.failSignRequest(id, error, time);
          store.audit.append({ actor: 'system', action: 'sign_request.failed', walletId: wallet.walletId, signRequestId: id, data: { error, signature_dropped: true } }, time);
          return reason;
        }
        store.completeSignRequest(id, bytes, time);
        const rec = store.getSignRequest(id)!;
        store.audit.append({
          actor: rec.caller, action: 'sign_request.signed', walletId: wallet.walletId, signRequestId: id,
          data: {
            kind: rec.kind, verdict: rec.verdict, response_sha256: createHash('sha256').update(bytes).digest('hex'),
            ...(result.signature ? { signature: result.signature } : {}),
            ...(result.transactionHash ? { transaction_hash: result.transactionHash } : {}),
            ...(result.digest ? { digest: result.digest } : {}),
            ...(result.signedTransaction ? { signed_transaction_sha256: createHash('sha256').update(result.signedTransaction).digest('hex') } : {}),
          },
        }, time);
        if (rec.verdict === 'NOTIFY' || rec.verdict === 'DELAY' || rec.verdict === 'APPROVAL') {
          this.deps.notifications.enqueue({
            type: 'sign_request.signed_with_notice', time, walletId: wallet.walletId, signRequestId: id, verdict: rec.verdict, rule: rec.rule ?? undefined,
            summary: summarizeEffects(prepared.effects), detail: `signed (verdict ${rec.verdict})`,
          });
        }
        return null;
      });
    } catch (err) {
      // The signature was made but cannot be recorded: it is dropped here, never returned (fail closed).
      throw fromStoreError(err);
    }
    this.deps.notifications.kick();
    const rec = this.read(() => store.getSignRequest(id))!;
    events.changed(rec);
    if (frozen !== null) throw new WaiaasError('WAIAAS_FROZEN', frozen, { metadata: { wallet_id: wallet.walletId } });
    log.info({ signRequestId: id, walletId: wallet.walletId, kind: rec.kind, verdict: rec.verdict }, 'signed');
    return rec;
  }
}
