/**
 * Failing closed and recovering by itself, with faults injected at the PKCS#11 boundary (interceptPkcs11 around
 * the real SoftHSM2 module): every fault CKR on sign, sign init, find and session info makes calls fail with
 * UNAVAILABLE and the Hsm unhealthy; nothing is signed meanwhile; once the fault clears the Hsm re-initialises on
 * its own (never while a call is in flight, with a backoff that grows) and signs again. Hung calls time out and
 * quarantine their session. Re-initialisation that could lock the PIN is not retried.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Hsm, HsmError, interceptPkcs11, newPkcs11, type HsmRecovery, type HsmTimeouts, type KeyInfo, type Pkcs11Method } from '../../hsm/index.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';
import { hsmError, openHsm, rawSession, untilHealthy, type LogLine } from './helpers.ts';

let token: TestToken;
let edKey: KeyInfo;
let kKey: KeyInfo;

/** What the fault hook does to one call: `{ value }` replaces the result (or rejection); undefined passes through. */
type Fault = (method: Pkcs11Method, args: unknown[], call: () => unknown) => { value: unknown } | undefined;

/** Every call through the wrapper, with what was in flight at the boundary when it started. */
interface CallRecord {
  method: Pkcs11Method;
  args: unknown[];
  at: number;
  /** Other calls into the module that had not returned (or settled) yet. */
  inFlight: number;
  /** hsm.inFlight at that moment (public calls accepted and not settled). */
  hsmInFlight: number;
}

let fault: Fault | undefined;
let records: CallRecord[] = [];
let logs: LogLine[] = [];
let boundaryInFlight = 0;
let current: Hsm | undefined;
const opened: Hsm[] = [];

/** A pkcs11js instance whose every call is recorded, counted while in flight, and may be faulted. */
function instrumented() {
  return interceptPkcs11(newPkcs11(), (method, args, call) => {
    records.push({ method, args, at: performance.now(), inFlight: boundaryInFlight, hsmInFlight: current?.inFlight ?? 0 });
    boundaryInFlight++;
    let result: unknown;
    try {
      const injected = fault?.(method, args, call);
      result = injected === undefined ? call() : injected.value;
    } catch (e) {
      boundaryInFlight--;
      throw e;
    }
    if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
      const settle = () => boundaryInFlight--;
      (result as Promise<unknown>).then(settle, settle);
    } else {
      boundaryInFlight--;
    }
    return result;
  });
}

/** Methods whose first argument is a session handle. */
const SESSION_METHODS = new Set<Pkcs11Method>([
  'C_CloseSession', 'C_GetSessionInfo', 'C_Login', 'C_Logout', 'C_FindObjectsInit', 'C_FindObjects', 'C_FindObjectsFinal',
  'C_GetAttributeValue', 'C_DestroyObject', 'C_GenerateKeyPairAsync', 'C_SignInit', 'C_Sign', 'C_SignAsync',
]);

const FAST: HsmRecovery = { initialDelayMs: 20, maxDelayMs: 200, probeIntervalMs: 0 };

async function openFaulty(opts: { sessions?: number; recovery?: HsmRecovery; timeouts?: HsmTimeouts } = {}): Promise<Hsm> {
  logs = [];
  records = [];
  const hsm = await openHsm(token, { pkcs11: instrumented(), sessions: opts.sessions ?? 2, logs, recovery: opts.recovery ?? FAST, ...(opts.timeouts ? { timeouts: opts.timeouts } : {}) });
  current = hsm;
  opened.push(hsm);
  return hsm;
}

function throwing(ckr: string): never {
  throw new Error(ckr);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function compact(sig: { r: Uint8Array; s: Uint8Array }): Uint8Array {
  return Uint8Array.from([...sig.r, ...sig.s]);
}

async function signsAndVerifies(hsm: Hsm): Promise<void> {
  const message = randomBytes(24);
  expect(ed25519.verify(await hsm.signEd25519(edKey.keyId, message), message, edKey.publicKey)).toBe(true);
  const digest = randomBytes(32);
  expect(secp256k1.verify(compact(await hsm.signSecp256k1(kKey.keyId, digest)), digest, kKey.publicKey, { prehash: false })).toBe(true);
}

function count(method: Pkcs11Method, since = 0): number {
  return records.filter((r) => r.method === method && r.at >= since).length;
}

beforeAll(async () => {
  token = await createTestToken({ label: 'recovery' });
  const hsm = await openHsm(token);
  edKey = await hsm.generateKey('ed25519', 'recovery-ed');
  kKey = await hsm.generateKey('secp256k1', 'recovery-k1');
  await hsm.close();
});

afterEach(async () => {
  fault = undefined;
  for (const h of opened.splice(0)) await h.close();
  current = undefined;
});

afterAll(async () => {
  await token?.cleanup();
});

const FAULT_CKRS = [
  'CKR_DEVICE_REMOVED',
  'CKR_DEVICE_ERROR',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_GENERAL_ERROR',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
] as const;

/** Where each fault is injected, and which call makes the Hsm hit it. */
const FAULT_SITES: { method: Pkcs11Method; trigger: (hsm: Hsm) => Promise<unknown> }[] = [
  { method: 'C_SignAsync', trigger: (hsm) => hsm.signEd25519(edKey.keyId, new Uint8Array([1])) },
  { method: 'C_SignInit', trigger: (hsm) => hsm.signSecp256k1(kKey.keyId, randomBytes(32)) },
  // A fresh Hsm has no cached key handle: its first sign looks the key up.
  { method: 'C_FindObjectsInit', trigger: (hsm) => hsm.signEd25519(edKey.keyId, new Uint8Array([2])) },
  { method: 'C_FindObjects', trigger: (hsm) => hsm.signSecp256k1(kKey.keyId, randomBytes(32)) },
  // Signing with a cached key never asks for session info; the health probe (ping) does.
  { method: 'C_GetSessionInfo', trigger: (hsm) => hsm.ping() },
];

describe('each fault at the PKCS#11 boundary: fail closed while it lasts, recover by itself when it clears', () => {
  for (const site of FAULT_SITES) {
    describe(site.method, () => {
      it.each(FAULT_CKRS)('%s', async (ckr) => {
        const hsm = await openFaulty();
        const changes: [boolean, string | undefined][] = [];
        hsm.onHealthChange((healthy, err) => changes.push([healthy, err?.ckr]));
        let signaturesWhileFaulted = 0;
        fault = (method, _args, call) => {
          if (method === site.method) {
            return { value: method === 'C_SignAsync' ? Promise.reject(new Error(ckr)) : throwing(ckr) };
          }
          if (method === 'C_SignAsync') {
            // Anything signed while the fault is on would be counted here.
            return { value: (call() as Promise<Buffer>).then((sig) => (signaturesWhileFaulted++, sig)) };
          }
          return undefined;
        };

        const err = await hsmError(site.trigger(hsm), 'UNAVAILABLE');
        expect(err.ckr).toBe(ckr);
        expect(hsm.healthy).toBe(false);
        expect(hsm.lastError?.ckr).toBe(ckr);
        expect(changes[0]).toEqual([false, ckr]);

        // While the fault lasts, nothing is signed: calls are refused (fast, or by the faulted token).
        for (let i = 0; i < 4; i++) {
          const r = await Promise.allSettled([hsm.signEd25519(edKey.keyId, new Uint8Array([9])), hsm.signSecp256k1(kKey.keyId, randomBytes(32))]);
          for (const x of r) {
            expect(x.status).toBe('rejected');
            expect((x as PromiseRejectedResult).reason).toBeInstanceOf(HsmError);
            expect(((x as PromiseRejectedResult).reason as HsmError).kind).toBe('UNAVAILABLE');
          }
          await sleep(15);
        }
        expect(signaturesWhileFaulted).toBe(0);

        fault = undefined;
        await untilHealthy(hsm, 5_000);
        expect(hsm.reinitializations).toBeGreaterThanOrEqual(1);
        expect(logs.some((l) => l.level === 'info' && l.msg === 'HSM re-initialised')).toBe(true);
        expect(changes.at(-1)).toEqual([true, undefined]);
        await signsAndVerifies(hsm);
      });
    });
  }
});

describe('fail closed', () => {
  it('refuses fast (reason "unhealthy", the cause attached) and starts nothing on the token while unhealthy', async () => {
    const hsm = await openFaulty({ sessions: 1, recovery: { initialDelayMs: 500, maxDelayMs: 500, probeIntervalMs: 0 } });
    await hsm.signEd25519(edKey.keyId, new Uint8Array([1])); // cache the key
    fault = (method) =>
      method === 'C_SignAsync' ? { value: new Promise((_, reject) => setTimeout(() => reject(new Error('CKR_DEVICE_ERROR')), 50)) } : undefined;
    const before = count('C_SignInit');
    // One session: the second and third calls wait in the pool queue behind the first.
    const results = await Promise.allSettled([
      hsm.signEd25519(edKey.keyId, new Uint8Array([2])),
      hsm.signEd25519(edKey.keyId, new Uint8Array([3])),
      hsm.signSecp256k1(kKey.keyId, randomBytes(32)),
    ]);
    const errors = results.map((r) => (r as PromiseRejectedResult).reason as HsmError);
    expect(errors.map((e) => e.kind)).toEqual(['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
    expect(errors[0]!.ckr).toBe('CKR_DEVICE_ERROR');
    expect(errors[0]!.reason).toBeUndefined();
    // The queued calls got their session after the fault and never reached the token.
    for (const e of errors.slice(1)) {
      expect(e.reason).toBe('unhealthy');
      expect(e.message).toBe('hsm unhealthy, re-initialising');
      expect(e.ckr).toBe('CKR_DEVICE_ERROR');
      expect(e.cause).toBe(hsm.lastError);
    }
    expect(count('C_SignInit') - before).toBe(1);
    // New calls of every kind are refused without a PKCS#11 call.
    const n = records.length;
    await hsmError(hsm.generateKey('ed25519', 'refused'), 'UNAVAILABLE');
    await hsmError(hsm.getKey(edKey.keyId, 'ed25519'), 'UNAVAILABLE');
    await hsmError(hsm.keyProtection(edKey.keyId), 'UNAVAILABLE');
    await hsmError(hsm.ping(), 'UNAVAILABLE');
    expect(records.length).toBe(n);
    fault = undefined;
    await untilHealthy(hsm);
    await signsAndVerifies(hsm);
  });

  it('reports a key as UNAVAILABLE, not KEY_NOT_FOUND, when finds come back empty because the token is gone', async () => {
    const hsm = await openFaulty();
    fault = (method) => (method === 'C_FindObjects' ? { value: [] } : method === 'C_GetTokenInfo' ? { value: throwing('CKR_GENERAL_ERROR') } : undefined);
    const err = await hsmError(hsm.getKey(edKey.keyId, 'ed25519'), 'UNAVAILABLE');
    expect(err.ckr).toBe('CKR_GENERAL_ERROR');
    expect(hsm.healthy).toBe(false);
    fault = undefined;
    await untilHealthy(hsm);
    // A key that really is absent is still KEY_NOT_FOUND, and does not make the Hsm unhealthy.
    await hsmError(hsm.getKey(randomBytes(16), 'ed25519'), 'KEY_NOT_FOUND');
    expect(hsm.healthy).toBe(true);
  });
});

describe('re-initialisation', () => {
  it('never runs while a call is in flight: it waits for the slow sign to finish first', async () => {
    const hsm = await openFaulty({ sessions: 3, recovery: { initialDelayMs: 10, maxDelayMs: 100, probeIntervalMs: 0 } });
    await signsAndVerifies(hsm); // cache both keys
    let slowSettled = 0;
    let first = true;
    fault = (method, _args, call) => {
      if (method !== 'C_SignAsync') return undefined;
      if (first) {
        first = false;
        // The slow one: the token takes 400 ms.
        return { value: sleep(400).then(() => call() as Promise<Buffer>).finally(() => (slowSettled = performance.now())) };
      }
      return { value: Promise.reject(new Error('CKR_DEVICE_ERROR')) };
    };
    const message = new Uint8Array([7]);
    const slow = hsm.signEd25519(edKey.keyId, message);
    await sleep(20);
    await hsmError(hsm.signSecp256k1(kKey.keyId, randomBytes(32)), 'UNAVAILABLE');
    const faultAt = performance.now();
    expect(hsm.healthy).toBe(false);
    expect(hsm.inFlight).toBe(1);
    fault = undefined;
    // The backoff (5–10 ms) elapses long before the slow sign ends; re-initialisation must wait for it.
    await sleep(100);
    expect(count('C_Finalize', faultAt)).toBe(0);
    expect(hsm.healthy).toBe(false);
    // It was started while healthy: its signature is checked and returned.
    expect(ed25519.verify(await slow, message, edKey.publicKey)).toBe(true);
    await untilHealthy(hsm);
    const finalizes = records.filter((r) => r.method === 'C_Finalize' && r.at >= faultAt);
    expect(finalizes.length).toBeGreaterThanOrEqual(1);
    for (const f of finalizes) {
      expect(f.inFlight, 'no PKCS#11 call in flight at C_Finalize').toBe(0);
      expect(f.hsmInFlight, 'no public call in flight at C_Finalize').toBe(0);
      expect(f.at).toBeGreaterThanOrEqual(slowSettled);
    }
    expect(count('C_Initialize', faultAt)).toBe(finalizes.length);
    expect(logs.find((l) => l.msg === 'HSM re-initialised')?.fields?.mode).toBe('finalize');
    await signsAndVerifies(hsm);
  });

  it('finds the token by label again, logs in again with the PIN it kept, and looks keys up again lazily', async () => {
    const hsm = await openFaulty();
    await signsAndVerifies(hsm);
    fault = (method) => (method === 'C_SignAsync' ? { value: Promise.reject(new Error('CKR_DEVICE_REMOVED')) } : undefined);
    await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
    const faultAt = performance.now();
    fault = undefined;
    await untilHealthy(hsm);
    const during = records.filter((r) => r.at >= faultAt).map((r) => r.method);
    // Library re-initialised, token found by label, logged in, pool reopened, ping.
    expect(during.indexOf('C_Finalize')).toBeLessThan(during.indexOf('C_Initialize'));
    expect(during.indexOf('C_Initialize')).toBeLessThan(during.indexOf('C_GetSlotList'));
    expect(during.indexOf('C_GetSlotList')).toBeLessThan(during.indexOf('C_Login'));
    expect(during.filter((m) => m === 'C_OpenSession').length).toBe(1 + 2);
    expect(during).not.toContain('C_FindObjectsInit'); // keys are not looked up eagerly
    const healthyAt = performance.now();
    await signsAndVerifies(hsm);
    // Cached handles from before the re-initialisation are not trusted: each key is looked up once, then cached.
    expect(count('C_FindObjectsInit', healthyAt)).toBe(4); // private + public, for each of the two keys
    await signsAndVerifies(hsm);
    expect(count('C_FindObjectsInit', healthyAt)).toBe(4);
  });

  it('backs off exponentially (jittered) between failed attempts, then recovers once the token is back', async () => {
    const hsm = await openFaulty({ recovery: { initialDelayMs: 40, maxDelayMs: 640, probeIntervalMs: 0 } });
    let down = true;
    fault = (method) => {
      if (method === 'C_SignAsync') return { value: Promise.reject(new Error('CKR_DEVICE_REMOVED')) };
      if (down && method === 'C_GetSlotList') return { value: throwing('CKR_DEVICE_ERROR') };
      return undefined;
    };
    await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
    const start = performance.now();
    await sleep(2_500);
    const attempts = records.filter((r) => r.method === 'C_GetSlotList' && r.at >= start).map((r) => r.at);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    // Delays of 20–40, 40–80, 80–160, 160–320, 320–640, then 320–640 ms: 6 to 10 attempts in 2.5 s, where a
    // fixed 40 ms retry would make about 60.
    expect(attempts.length).toBeGreaterThanOrEqual(5);
    expect(attempts.length).toBeLessThanOrEqual(11);
    for (let i = 0; i < gaps.length; i++) {
      const d = Math.min(640, 40 * 2 ** (i + 1));
      expect(gaps[i]!, `gap ${i}`).toBeGreaterThanOrEqual(d / 2 - 5);
      if (i > 0 && d < 640) expect(gaps[i]!, `gap ${i} never shorter than the one before`).toBeGreaterThanOrEqual(gaps[i - 1]! - 10);
    }
    expect(hsm.healthy).toBe(false);
    expect(hsm.lastError?.ckr).toBe('CKR_DEVICE_ERROR'); // the failing attempt's error
    expect(logs.filter((l) => l.msg.startsWith('HSM re-initialisation attempt failed')).length).toBe(attempts.length);
    // Attempts wait for nothing in flight, and refuse calls meanwhile.
    await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
    down = false;
    fault = undefined;
    await untilHealthy(hsm, 2_000);
    expect(hsm.reinitializations).toBe(1);
    await signsAndVerifies(hsm);
  });

  it('replaces only its own sessions (no C_Finalize) while another holder shares the module', async () => {
    const hsm = await openFaulty();
    const raw = await rawSession(token); // a second holder of the same library
    try {
      fault = (method) => (method === 'C_SignAsync' ? { value: Promise.reject(new Error('CKR_SESSION_HANDLE_INVALID')) } : undefined);
      await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
      const faultAt = performance.now();
      fault = undefined;
      await untilHealthy(hsm);
      expect(count('C_Finalize', faultAt)).toBe(0);
      expect(logs.find((l) => l.msg === 'HSM re-initialised')?.fields?.mode).toBe('sessions');
      await signsAndVerifies(hsm);
      // The other holder's session was left alone.
      expect(raw.find(3, edKey.keyId)).toHaveLength(1);
    } finally {
      raw.close();
    }
  });

  it('stops retrying when logging in again is refused, rather than risk locking the user PIN', async () => {
    const hsm = await openFaulty();
    fault = (method) => {
      if (method === 'C_SignAsync') return { value: Promise.reject(new Error('CKR_DEVICE_REMOVED')) };
      if (method === 'C_Login') return { value: throwing('CKR_PIN_INCORRECT') };
      return undefined;
    };
    await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
    const faultAt = performance.now();
    await sleep(600);
    expect(count('C_Login', faultAt)).toBe(1); // one attempt, then no more
    expect(hsm.healthy).toBe(false);
    expect(hsm.lastError?.kind).toBe('LOGIN_FAILED');
    expect(logs.some((l) => l.level === 'error' && l.msg.includes('re-initialisation stopped'))).toBe(true);
    const err = await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
    expect(err.reason).toBe('unhealthy');
    expect(err.message).toContain('automatic re-initialisation stopped');
  });

  it('a fault the instant it recovers (from inside a health listener) starts a new re-initialisation', async () => {
    const hsm = await openFaulty();
    fault = (method) => (method === 'C_SignAsync' ? { value: Promise.reject(new Error('CKR_DEVICE_ERROR')) } : undefined);
    let recoveries = 0;
    hsm.onHealthChange((healthy) => {
      if (healthy && ++recoveries === 1) void hsm.signEd25519(edKey.keyId, new Uint8Array([1])).catch(() => undefined);
    });
    await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
    const t = performance.now();
    while (hsm.reinitializations < 2 && performance.now() - t < 5_000) await sleep(5);
    expect(hsm.reinitializations).toBe(2);
    fault = undefined;
    await untilHealthy(hsm);
    await signsAndVerifies(hsm);
  });

  it('continues the backoff when the token fails again soon after a recovery (no C_Initialize storm)', async () => {
    const hsm = await openFaulty({ recovery: { initialDelayMs: 20, maxDelayMs: 1_000, probeIntervalMs: 0 } });
    fault = (method) => (method === 'C_SignAsync' ? { value: Promise.reject(new Error('CKR_DEVICE_ERROR')) } : undefined);
    // A sign-only fault: each re-initialisation succeeds (it signs nothing), and the next sign fails again.
    const episodes: number[] = [];
    for (let i = 0; i < 4; i++) {
      await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
      const t = performance.now();
      await untilHealthy(hsm);
      episodes.push(performance.now() - t);
    }
    expect(hsm.reinitializations).toBe(4);
    // 10–20, 20–40, 40–80, 80–160 ms (plus the work itself).
    expect(episodes[3]!).toBeGreaterThanOrEqual(80);
    expect(episodes[3]!).toBeGreaterThan(episodes[0]!);
  });
});

describe('timeouts', () => {
  it('a hung C_SignAsync times out, its session is quarantined (never reused), and the pool keeps working', async () => {
    const hsm = await openFaulty({ sessions: 3, timeouts: { signMs: 150 }, recovery: { initialDelayMs: 20, maxDelayMs: 200, probeIntervalMs: 0 } });
    await signsAndVerifies(hsm);
    let hungSession: Buffer | undefined;
    let release: ((sig: Buffer) => void) | undefined;
    fault = (method, args) => {
      if (method !== 'C_SignAsync' || hungSession !== undefined) return undefined;
      hungSession = args[0] as Buffer;
      return { value: new Promise<Buffer>((resolve) => (release = resolve)) }; // never settles on its own
    };
    const hung = hsm.signEd25519(edKey.keyId, new Uint8Array([1]));
    // Calls already on the other sessions finish normally.
    await sleep(10);
    const others = await Promise.all([hsm.signEd25519(edKey.keyId, new Uint8Array([2])), hsm.signEd25519(edKey.keyId, new Uint8Array([3]))]);
    expect(ed25519.verify(others[0]!, new Uint8Array([2]), edKey.publicKey)).toBe(true);
    const t0 = performance.now();
    const err = await hsmError(hung, 'UNAVAILABLE');
    const timedOutAt = performance.now();
    expect(err.reason).toBe('timeout');
    expect(err.message).toContain('timed out after 150 ms');
    // Timed out rather than hung (generous bound: a loaded CI machine delays timers).
    expect(timedOutAt - t0).toBeLessThan(3000);
    expect(hsm.healthy).toBe(false);
    expect(hsm.quarantinedSessions).toBe(1);
    expect(logs.some((l) => l.msg.includes('quarantined a PKCS#11 session'))).toBe(true);

    await untilHealthy(hsm);
    // The abandoned native call may still be running: the library is not finalised under it.
    expect(count('C_Finalize', timedOutAt)).toBe(0);
    expect(logs.find((l) => l.msg === 'HSM re-initialised')?.fields?.mode).toBe('sessions');
    const sigs = await Promise.all(Array.from({ length: 30 }, (_, i) => hsm.signEd25519(edKey.keyId, new Uint8Array([i + 10]))));
    sigs.forEach((s, i) => expect(ed25519.verify(s, new Uint8Array([i + 10]), edKey.publicKey)).toBe(true));
    await signsAndVerifies(hsm);
    // Never reused: no call after the timeout names the quarantined session.
    const reused = records.filter((r) => r.at >= timedOutAt && SESSION_METHODS.has(r.method) && (r.args[0] as Buffer).equals(hungSession!));
    expect(reused.map((r) => r.method)).toEqual([]);

    // When the native call finally returns, its session is closed, and only then.
    release!(Buffer.alloc(64));
    await sleep(10);
    expect(hsm.quarantinedSessions).toBe(0);
    const closes = records.filter((r) => r.method === 'C_CloseSession' && (r.args[0] as Buffer).equals(hungSession!));
    expect(closes).toHaveLength(1);
    expect(closes[0]!.at).toBeGreaterThan(timedOutAt + 1);
  });

  it('bounds the other calls too: a hung C_FindObjects times out, and so does a synchronous call that returns late', async () => {
    const hsm = await openFaulty({ timeouts: { callMs: 60 } });
    fault = (method) => (method === 'C_FindObjects' ? { value: new Promise(() => undefined) } : undefined);
    const err = await hsmError(hsm.getKey(edKey.keyId, 'ed25519'), 'UNAVAILABLE');
    expect(err.reason).toBe('timeout');
    expect(err.message).toContain('C_FindObjects');
    expect(hsm.healthy).toBe(false);
    expect(hsm.quarantinedSessions).toBe(1);
    fault = undefined;
    await untilHealthy(hsm);

    // A synchronous call cannot be cut short (it holds the thread), but one that returns after its bound is a
    // timeout too: its result is not used.
    fault = (method, _args, call) => {
      if (method !== 'C_GetAttributeValue') return undefined;
      const end = performance.now() + 80;
      while (performance.now() < end) {
        // the token is slow
      }
      return { value: call() };
    };
    const late = await hsmError(hsm.getKey(kKey.keyId, 'secp256k1'), 'UNAVAILABLE');
    expect(late.reason).toBe('timeout');
    expect(hsm.healthy).toBe(false);
    fault = undefined;
    await untilHealthy(hsm);
    await signsAndVerifies(hsm);
  });

  it('rejects nonsense timeouts and delays in the config', async () => {
    for (const bad of [{ timeouts: { signMs: 0 } }, { timeouts: { callMs: 1.5 } }, { recovery: { initialDelayMs: -1 } }, { recovery: { initialDelayMs: 500, maxDelayMs: 100 } }]) {
      await hsmError(
        Hsm.open({ module: token.module, tokenLabel: token.tokenLabel, pinFile: token.pinFile, ...bad } as never, { log: () => undefined }),
        'INVALID_INPUT',
      );
    }
  });
});

describe('health reporting', () => {
  it('the probe notices a fault without any traffic, and listeners hear every change', async () => {
    const hsm = await openFaulty({ recovery: { initialDelayMs: 20, maxDelayMs: 200, probeIntervalMs: 25 } });
    const changes: boolean[] = [];
    const stop = hsm.onHealthChange((healthy) => changes.push(healthy));
    hsm.onHealthChange(() => {
      throw new Error('a broken listener');
    });
    fault = (method) => (method === 'C_GetTokenInfo' ? { value: throwing('CKR_DEVICE_ERROR') } : undefined);
    const t = performance.now();
    while (hsm.healthy && performance.now() - t < 1_000) await sleep(5);
    expect(hsm.healthy).toBe(false);
    expect(hsm.lastError?.ckr).toBe('CKR_DEVICE_ERROR');
    await sleep(150);
    expect(hsm.healthy).toBe(false); // the re-initialisation's own ping fails too
    fault = undefined;
    await untilHealthy(hsm);
    expect(changes).toEqual([false, true]);
    expect(logs.some((l) => l.msg === 'an HSM health listener threw')).toBe(true);
    stop();
    await hsm.close();
    expect(changes).toEqual([false, true]); // unsubscribed
    expect(hsm.healthy).toBe(false);
  });

  it('close() stops the supervisor, tells listeners once, and needs no further attempt', async () => {
    const hsm = await openFaulty({ recovery: { initialDelayMs: 100, maxDelayMs: 100, probeIntervalMs: 0 } });
    const changes: boolean[] = [];
    hsm.onHealthChange((healthy) => changes.push(healthy));
    fault = (method) => (method === 'C_SignAsync' ? { value: Promise.reject(new Error('CKR_DEVICE_REMOVED')) } : method === 'C_GetSlotList' ? { value: throwing('CKR_DEVICE_ERROR') } : undefined);
    await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
    await sleep(130); // one failed attempt
    const t = performance.now();
    await hsm.close();
    // close() does not wait for the backoff (generous bound for a loaded machine).
    expect(performance.now() - t).toBeLessThan(1000);
    const closedAt = performance.now();
    await sleep(300);
    expect(count('C_GetSlotList', closedAt)).toBe(0);
    expect(changes).toEqual([false]);
    await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
  });

  it('a healthy Hsm reports healthy, no error and no re-initialisation', async () => {
    const hsm = await openFaulty();
    expect(hsm.healthy).toBe(true);
    expect(hsm.lastError).toBeUndefined();
    expect(hsm.reinitializations).toBe(0);
    expect(hsm.inFlight).toBe(0);
    expect(hsm.quarantinedSessions).toBe(0);
    await signsAndVerifies(hsm);
    await hsm.ping();
    expect(hsm.healthy).toBe(true);
  });
});
