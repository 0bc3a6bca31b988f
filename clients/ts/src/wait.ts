/**
 * Waiting for a sign request to be signed, and the typed errors of the ways it can end otherwise.
 *
 * A DELAY or APPROVAL verdict answers PENDING: the request is signed later (when its delay ends, or when the owners
 * approve it) or not at all (vetoed, cancelled, expired, frozen). `waitForSignature` follows it with
 * SignRequestService.WatchSignRequest (a server stream, not polling) and re-subscribes when the stream drops.
 *
 *   const res = await client.signer.signEvmTransaction({ walletId, unsignedTransaction, chainId: 1n });
 *   const done = res.state === SignRequestState.SIGNED ? res.signRequest! : await waitForSignature(client, res.signRequestId, { timeoutMs: 60_000 });
 *   done.result!.signedTransaction;
 *
 * or, for any Sign* call, `signAndWait(client, () => client.signer.signEvmTransaction({...}))`, which also turns a
 * DENY into a WaiaasDeniedError.
 */
import { status } from '@grpc/grpc-js';
import { Verdict } from '../../../gen/waiaas/v1/effects_pb.js';
import { SignRequestState, type SignRequest, type SignResult } from '../../../gen/waiaas/v1/sign_request_pb.js';
import { WaiaasClientError } from './errors.ts';
import type { WaiaasClient } from './index.ts';

/** The part of a client `waitForSignature` and `signAndWait` use (a whole WaiaasClient will do). */
export type WaitClient = Pick<WaiaasClient, 'requests'>;

/** A rule that matched a denied request, with its verdict (`DENY`, `APPROVAL`, ...). */
export interface DeniedRule {
  name: string;
  verdict: string;
}

/** Names of the verdict enum values, for messages and DeniedRule.verdict. */
const VERDICT_NAMES: Record<number, string> = {
  [Verdict.UNSPECIFIED]: 'UNSPECIFIED',
  [Verdict.INSTANT]: 'INSTANT',
  [Verdict.NOTIFY]: 'NOTIFY',
  [Verdict.DELAY]: 'DELAY',
  [Verdict.APPROVAL]: 'APPROVAL',
  [Verdict.DENY]: 'DENY',
};

/**
 * The wallet's policy denied the request (the verdict DENY): nothing was signed. `rule` is the rule that decided,
 * `matchedRules` every rule that matched. Thrown by `signAndWait` and the viem / kit adapters in place of the
 * WaiaasClientError with reason WAIAAS_POLICY_DENIED (which it extends: `code` is PERMISSION_DENIED and `metadata`
 * is the server's).
 */
export class WaiaasDeniedError extends WaiaasClientError {
  override name = 'WaiaasDeniedError';
  declare readonly reason: 'WAIAAS_POLICY_DENIED';
  /** The rule that decided, e.g. `recipient-allowlist` or `default-deny`. */
  readonly rule: string;
  /** Every rule that matched or triggered, with its verdict. */
  readonly matchedRules: readonly DeniedRule[];
  /** The (REFUSED) sign request the denial was recorded as; `''` when the server did not name it. */
  readonly signRequestId: string;
  /** Hash of the policy document the decision was taken under. */
  readonly policyHash: string;

  constructor(message: string, fields: { rule: string; matchedRules: readonly DeniedRule[]; signRequestId: string; policyHash: string; metadata?: Record<string, string> }, cause?: unknown) {
    super(status.PERMISSION_DENIED, message, 'WAIAAS_POLICY_DENIED', fields.metadata ?? { rule: fields.rule }, cause);
    this.rule = fields.rule;
    this.matchedRules = fields.matchedRules;
    this.signRequestId = fields.signRequestId;
    this.policyHash = fields.policyHash;
  }

  /** The typed form of a WAIAAS_POLICY_DENIED error from a Sign* call (metadata: rule, matched_rules, ...). */
  static fromClientError(err: WaiaasClientError): WaiaasDeniedError {
    const m = err.metadata;
    const matchedRules = (m.matched_rules ?? '')
      .split(',')
      .filter((s) => s !== '')
      .map((s) => {
        const at = s.lastIndexOf(':');
        return at < 0 ? { name: s, verdict: '' } : { name: s.slice(0, at), verdict: s.slice(at + 1) };
      });
    return new WaiaasDeniedError(err.message, { rule: m.rule ?? '', matchedRules, signRequestId: m.sign_request_id ?? '', policyHash: m.policy_hash ?? '', metadata: m }, err);
  }

  /** The typed form of a sign request recorded with the verdict DENY. */
  static fromSignRequest(r: SignRequest): WaiaasDeniedError {
    return new WaiaasDeniedError(r.errorMessage || r.detail || `denied by rule ${r.rule}`, {
      rule: r.rule,
      matchedRules: r.matchedRules.map((x) => ({ name: x.name, verdict: VERDICT_NAMES[x.verdict] ?? String(x.verdict) })),
      signRequestId: r.signRequestId,
      policyHash: r.policyHash,
    });
  }
}

/** The final states other than SIGNED. */
export type EndedState = 'CANCELLED' | 'EXPIRED' | 'REFUSED' | 'FAILED';

/**
 * Reasons a pending request ends unsigned, as the server records them: cancelled by the agent or an owner, expired,
 * vetoed or rejected by an owner (WAIAAS_POLICY_DENIED, rule `owner-rejection`), cancelled by a freeze, interrupted,
 * or the HSM / store failing. Other WAIAAS_ reasons may be added by the server.
 */
export type EndedReason =
  | 'WAIAAS_SIGN_REQUEST_CANCELLED'
  | 'WAIAAS_SIGN_REQUEST_EXPIRED'
  | 'WAIAAS_POLICY_DENIED'
  | 'WAIAAS_FROZEN'
  | 'WAIAAS_REQUEST_INTERRUPTED'
  | 'WAIAAS_HSM_UNAVAILABLE'
  | 'WAIAAS_STORE_UNAVAILABLE'
  | (string & {});

const ENDED: Partial<Record<SignRequestState, { state: EndedState; code: status; fallbackReason: string }>> = {
  [SignRequestState.CANCELLED]: { state: 'CANCELLED', code: status.ABORTED, fallbackReason: 'WAIAAS_SIGN_REQUEST_CANCELLED' },
  [SignRequestState.EXPIRED]: { state: 'EXPIRED', code: status.DEADLINE_EXCEEDED, fallbackReason: 'WAIAAS_SIGN_REQUEST_EXPIRED' },
  [SignRequestState.REFUSED]: { state: 'REFUSED', code: status.PERMISSION_DENIED, fallbackReason: 'WAIAAS_POLICY_DENIED' },
  [SignRequestState.FAILED]: { state: 'FAILED', code: status.UNAVAILABLE, fallbackReason: 'WAIAAS_INTERNAL' },
};

/**
 * A pending request ended without being signed: CANCELLED, EXPIRED, REFUSED (an owner rejected or vetoed it) or
 * FAILED. `reason` is the reason the server recorded (e.g. WAIAAS_SIGN_REQUEST_EXPIRED), `signRequest` the final
 * record.
 */
export class WaiaasRequestEndedError extends WaiaasClientError {
  override name = 'WaiaasRequestEndedError';
  declare readonly reason: EndedReason;
  /** How it ended. */
  readonly state: EndedState;
  readonly signRequestId: string;
  /** The request as it ended. */
  readonly signRequest: SignRequest;

  constructor(signRequest: SignRequest) {
    const ended = ENDED[signRequest.state] ?? { state: 'FAILED' as const, code: status.UNKNOWN, fallbackReason: 'WAIAAS_INTERNAL' };
    const reason = signRequest.errorReason || ended.fallbackReason;
    super(ended.code, `sign request ${signRequest.signRequestId} ended ${ended.state}${signRequest.errorMessage ? `: ${signRequest.errorMessage}` : ''} [${reason}]`, reason, {
      sign_request_id: signRequest.signRequestId,
      state: ended.state,
    });
    this.state = ended.state;
    this.signRequestId = signRequest.signRequestId;
    this.signRequest = signRequest;
  }
}

/**
 * The request was still not signed when `timeoutMs` ran out. It is left PENDING on the appliance (unless
 * `cancelOnTimeout` was set): wait again with its id, or cancel it.
 */
export class WaiaasTimeoutError extends WaiaasClientError {
  override name = 'WaiaasTimeoutError';
  declare readonly reason: 'WAIAAS_WAIT_TIMEOUT';
  readonly signRequestId: string;
  readonly timeoutMs: number;
  /** The request as last seen (e.g. PENDING with verdict APPROVAL); undefined when nothing was received. */
  readonly lastSeen: SignRequest | undefined;
  /** True when the request was cancelled on the appliance because of the timeout (`cancelOnTimeout`). */
  readonly cancelled: boolean;

  constructor(signRequestId: string, timeoutMs: number, lastSeen: SignRequest | undefined, cancelled: boolean) {
    const verdict = lastSeen ? ` (${VERDICT_NAMES[lastSeen.verdict] ?? lastSeen.verdict}${lastSeen.rule ? `, rule ${lastSeen.rule}` : ''})` : '';
    super(status.DEADLINE_EXCEEDED, `sign request ${signRequestId}${verdict} was not signed within ${timeoutMs} ms${cancelled ? '; it was cancelled' : ''}`, 'WAIAAS_WAIT_TIMEOUT', {
      sign_request_id: signRequestId,
    });
    this.signRequestId = signRequestId;
    this.timeoutMs = timeoutMs;
    this.lastSeen = lastSeen;
    this.cancelled = cancelled;
  }
}

/** Options of waitForSignature. */
export interface WaitOptions {
  /** Give up after this many milliseconds with WaiaasTimeoutError. Default: no limit (the request's expiry ends it). */
  timeoutMs?: number;
  /** Stops waiting; the promise rejects with the signal's reason. The request itself stays as it is. */
  signal?: AbortSignal;
  /** On timeout, also cancel the request on the appliance (so it can no longer be signed). Default false. */
  cancelOnTimeout?: boolean;
  /** Called with the request each time the watch reports it (first its current state, then each change). */
  onUpdate?: (signRequest: SignRequest) => void;
  /**
   * Each subscription lasts at most this long before it is renewed, so a silently dead connection is noticed.
   * Default 60 000.
   */
  resubscribeMs?: number;
}

/** A SignRequest in state SIGNED, with its result. */
export type SignedRequest = SignRequest & { result: SignResult };

/** gRPC codes after which the watch is opened again (with backoff) rather than failing the wait. */
const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.UNKNOWN, status.INTERNAL, status.ABORTED, status.RESOURCE_EXHAUSTED]);

function isFinal(state: SignRequestState): boolean {
  return state === SignRequestState.SIGNED || ENDED[state] !== undefined;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits until sign request `signRequestId` is SIGNED and returns it (with `result`). Throws WaiaasRequestEndedError
 * when it ends otherwise (CANCELLED, EXPIRED, REFUSED, FAILED), WaiaasTimeoutError after `timeoutMs`, the signal's
 * reason when `signal` aborts, and the WaiaasClientError of a call that cannot succeed (NOT_FOUND,
 * PERMISSION_DENIED, ...). A stream that drops (the appliance restarting, a network blip) is opened again with
 * backoff; each opening first reports the current state, so no change is missed.
 */
export async function waitForSignature(client: WaitClient, signRequestId: string, options: WaitOptions = {}): Promise<SignedRequest> {
  const { timeoutMs, signal, onUpdate } = options;
  const resubscribeMs = options.resubscribeMs ?? 60_000;
  if (signal?.aborted) throw abortReason(signal);
  const stop = new AbortController();
  let timedOut = false;
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          stop.abort();
        }, Math.max(0, timeoutMs));
  let lastSeen: SignRequest | undefined;
  let failures = 0;
  try {
    for (;;) {
      const opened = Date.now();
      // One controller per subscription, linked to `stop` only while it lasts: the calls' abort listeners go with it.
      const sub = new AbortController();
      const link = () => sub.abort();
      stop.signal.addEventListener('abort', link, { once: true });
      try {
        for await (const m of client.requests.watchSignRequest({ signRequestId }, { signal: sub.signal, deadline: resubscribeMs })) {
          const r = m.signRequest;
          if (!r) continue;
          failures = 0;
          lastSeen = r;
          onUpdate?.(r);
          if (r.state === SignRequestState.SIGNED) {
            if (r.result) return r as SignedRequest;
            // A SIGNED record always carries its result; read it again if this one did not.
            const again = (await client.requests.getSignRequest({ signRequestId }, { signal: sub.signal })).signRequest;
            if (again?.result) return again as SignedRequest;
            throw new WaiaasClientError(status.INTERNAL, `sign request ${signRequestId} is SIGNED but has no result`, '', {});
          }
          if (isFinal(r.state)) throw new WaiaasRequestEndedError(r);
        }
        // The stream ended without a final state: open it again.
      } catch (err) {
        if (stop.signal.aborted) break;
        if (err instanceof WaiaasRequestEndedError) throw err;
        if (!(err instanceof WaiaasClientError) || !RETRYABLE.has(err.code) || err.reason === 'WAIAAS_SIGN_REQUEST_NOT_FOUND') throw err;
        // A renewal at the end of a subscription window is expected: no backoff for it.
        if (err.code === status.DEADLINE_EXCEEDED && Date.now() - opened >= resubscribeMs / 2) continue;
      } finally {
        stop.signal.removeEventListener('abort', link);
      }
      await sleep(Math.min(5_000, 200 * 2 ** failures++) * (0.5 + Math.random() / 2), stop.signal);
      if (stop.signal.aborted) break;
    }
    // Aborted: by the timeout or by the caller.
    if (!timedOut && signal?.aborted) throw abortReason(signal);
    let cancelled = false;
    if (options.cancelOnTimeout) {
      try {
        const c = await client.requests.cancelSignRequest({ signRequestId }, { deadline: 10_000 });
        cancelled = c.signRequest?.state === SignRequestState.CANCELLED;
      } catch (err) {
        // Signed or ended in the meantime: report what it is now.
        if (err instanceof WaiaasClientError && err.reason === 'WAIAAS_SIGN_REQUEST_NOT_PENDING') {
          const now = (await client.requests.getSignRequest({ signRequestId })).signRequest;
          if (now?.state === SignRequestState.SIGNED && now.result) return now as SignedRequest;
          if (now && isFinal(now.state)) throw new WaiaasRequestEndedError(now);
        }
        throw err;
      }
    }
    throw new WaiaasTimeoutError(signRequestId, timeoutMs ?? 0, lastSeen, cancelled);
  } finally {
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** What every Sign* RPC answers (the fields signAndWait reads). */
export interface SignResponseLike {
  signRequestId: string;
  verdict: Verdict;
  state: SignRequestState;
  signRequest?: SignRequest | undefined;
}

/** Options of signAndWait. */
export interface SignAndWaitOptions extends Omit<WaitOptions, 'onUpdate'> {
  /** Called once when the answer is PENDING (DELAY or APPROVAL), with the request, before waiting. */
  onPending?: (signRequest: SignRequest) => void;
}

/**
 * Makes a Sign* call and returns the signed request, whatever the verdict: INSTANT and NOTIFY at once, DELAY and
 * APPROVAL after waiting (waitForSignature). A DENY throws WaiaasDeniedError; other errors are the call's
 * WaiaasClientError.
 */
export async function signAndWait(client: WaitClient, call: () => Promise<SignResponseLike>, options: SignAndWaitOptions = {}): Promise<SignedRequest> {
  let res: SignResponseLike;
  try {
    res = await call();
  } catch (err) {
    if (err instanceof WaiaasClientError && err.reason === 'WAIAAS_POLICY_DENIED' && !(err instanceof WaiaasDeniedError)) throw WaiaasDeniedError.fromClientError(err);
    throw err;
  }
  const rec = res.signRequest;
  if (res.state === SignRequestState.SIGNED && rec?.result) return rec as SignedRequest;
  // The server answers a DENY with an error; a DENY record in an answer is treated the same way.
  if (res.verdict === Verdict.DENY && rec) throw WaiaasDeniedError.fromSignRequest(rec);
  if (rec && ENDED[res.state] !== undefined) throw new WaiaasRequestEndedError(rec);
  if (res.state === SignRequestState.PENDING && rec) options.onPending?.(rec);
  const { onPending: _onPending, ...wait } = options;
  return waitForSignature(client, res.signRequestId, wait);
}

/**
 * The WaiaasClientError (WaiaasDeniedError, WaiaasTimeoutError, ...) behind an error, following its `cause` chain:
 * viem wraps what an account throws (sendTransaction rejects with a TransactionExecutionError whose cause is the
 * WaiaasDeniedError). Undefined when there is none.
 */
export function waiaasErrorOf(err: unknown): WaiaasClientError | undefined {
  const seen = new Set<unknown>();
  for (let cur: unknown = err; cur !== null && typeof cur === 'object' && !seen.has(cur); cur = (cur as { cause?: unknown }).cause) {
    if (cur instanceof WaiaasClientError) return cur;
    seen.add(cur);
  }
  return undefined;
}
