/**
 * Failures at the PKCS#11 boundary, injected with interceptPkcs11 around the real SoftHSM2 module: errors map to
 * HsmError kinds, sessions always go back to the pool (and are replaced when they may be mid-operation), stale
 * handles and lost logins recover, and no unverified signature or unprotected key ever comes out.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Hsm, interceptPkcs11, newPkcs11, type KeyInfo, type Pkcs11Method } from '../../hsm/index.ts';
import { CKA_ID, CKA_NEVER_EXTRACTABLE, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, type Attribute } from '../../hsm/pkcs11.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';
import { hsmError, openHsm, rawSession, untilHealthy, type LogLine } from './helpers.ts';

const N = secp256k1.Point.Fn.ORDER;
let token: TestToken;
let edKey: KeyInfo;
let kKey: KeyInfo;

/** What the fault hook does to one call: return a value, throw, or undefined to pass through. */
type Fault = (method: Pkcs11Method, args: unknown[], call: () => unknown) => { value: unknown } | undefined;

let fault: Fault | undefined;
const calls: Pkcs11Method[] = [];
let logs: LogLine[] = [];

function faulty() {
  return interceptPkcs11(newPkcs11(), (method, args, call) => {
    calls.push(method);
    const injected = fault?.(method, args, call);
    return injected === undefined ? call() : injected.value;
  });
}

async function openFaulty(sessions = 1): Promise<Hsm> {
  logs = [];
  return openHsm(token, { pkcs11: faulty(), sessions, logs });
}

function compact(sig: { r: Uint8Array; s: Uint8Array }): Uint8Array {
  return Uint8Array.from([...sig.r, ...sig.s]);
}

beforeAll(async () => {
  token = await createTestToken({ label: 'faults' });
  const hsm = await openHsm(token);
  edKey = await hsm.generateKey('ed25519', 'faults-ed');
  kKey = await hsm.generateKey('secp256k1', 'faults-k1');
  await hsm.close();
});

afterEach(() => {
  fault = undefined;
  calls.length = 0;
});

afterAll(async () => {
  await token?.cleanup();
});

describe('a device removed during signing', () => {
  it('yields UNAVAILABLE (CKR_DEVICE_REMOVED), and the session returns to the pool: the next sign works', async () => {
    const hsm = await openFaulty(1);
    try {
      fault = (method) => (method === 'C_SignAsync' ? { value: Promise.reject(new Error('CKR_DEVICE_REMOVED')) } : undefined);
      const err = await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
      expect(err.ckr).toBe('CKR_DEVICE_REMOVED');
      expect(err.retryable).toBe(true);
      await hsmError(hsm.signSecp256k1(kKey.keyId, new Uint8Array(32)), 'UNAVAILABLE');

      fault = undefined;
      await untilHealthy(hsm); // refused while unhealthy; the Hsm re-initialises by itself
      const message = new Uint8Array([2]);
      expect(ed25519.verify(await hsm.signEd25519(edKey.keyId, message), message, edKey.publicKey)).toBe(true);
      // The failed sign left an operation active on its session: that session was closed and a new one opened.
      expect(calls.filter((m) => m === 'C_CloseSession').length).toBeGreaterThanOrEqual(1);
      expect(logs.some((l) => l.level === 'warn' && l.msg.includes('discarded a PKCS#11 session'))).toBe(true);
    } finally {
      await hsm.close();
    }
  });

  it('settles every queued call while failing, then serves them all again', async () => {
    const hsm = await openFaulty(2);
    try {
      fault = (method) => (method === 'C_SignAsync' ? { value: Promise.reject(new Error('CKR_DEVICE_REMOVED')) } : undefined);
      const failing = await Promise.allSettled(Array.from({ length: 20 }, () => hsm.signEd25519(edKey.keyId, new Uint8Array([3]))));
      expect(failing.every((r) => r.status === 'rejected')).toBe(true);
      fault = undefined;
      await untilHealthy(hsm);
      const ok = await Promise.all(Array.from({ length: 20 }, () => hsm.signEd25519(edKey.keyId, new Uint8Array([4]))));
      expect(ok.every((sig) => ed25519.verify(sig, new Uint8Array([4]), edKey.publicKey))).toBe(true);
    } finally {
      await hsm.close();
    }
  });

  it('yields UNAVAILABLE while no session can be opened, and recovers when the token is back', async () => {
    const hsm = await openFaulty(1);
    try {
      let removed = true;
      fault = (method) =>
        removed && (method === 'C_SignAsync' || method === 'C_OpenSession') ? { value: method === 'C_SignAsync' ? Promise.reject(new Error('CKR_DEVICE_REMOVED')) : throwing('CKR_DEVICE_REMOVED') } : undefined;
      await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([5])), 'UNAVAILABLE');
      const reopenErr = await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([5])), 'UNAVAILABLE');
      expect(reopenErr.ckr).toBe('CKR_DEVICE_REMOVED');
      removed = false;
      await untilHealthy(hsm);
      await hsm.signEd25519(edKey.keyId, new Uint8Array([5]));
    } finally {
      await hsm.close();
    }
  });
});

describe('stale handles and lost logins', () => {
  it('looks a key up again when its cached handle is reported invalid, and the sign succeeds', async () => {
    const hsm = await openFaulty(1);
    try {
      await hsm.signEd25519(edKey.keyId, new Uint8Array([6])); // caches the handle
      let once = true;
      fault = (method) => {
        if (method === 'C_SignInit' && once) {
          once = false;
          return { value: throwing('CKR_KEY_HANDLE_INVALID') };
        }
        return undefined;
      };
      calls.length = 0;
      const sig = await hsm.signEd25519(edKey.keyId, new Uint8Array([7]));
      expect(ed25519.verify(sig, new Uint8Array([7]), edKey.publicKey)).toBe(true);
      expect(calls.filter((m) => m === 'C_FindObjectsInit').length).toBeGreaterThanOrEqual(1);
    } finally {
      await hsm.close();
    }
  });

  it('logs in again when the token forgot the login, for signing and for ping', async () => {
    const hsm = await openFaulty(2);
    try {
      await hsm.signSecp256k1(kKey.keyId, new Uint8Array(32).fill(1));
      const raw = await rawSession(token);
      raw.p.C_Logout(raw.session); // logs the whole application out
      raw.close();
      const digest = randomBytes(32);
      const sig = await hsm.signSecp256k1(kKey.keyId, digest);
      expect(secp256k1.verify(compact(sig), digest, kKey.publicKey, { prehash: false })).toBe(true);
      expect(logs.filter((l) => l.msg.includes('logged in to HSM token "faults" again'))).toHaveLength(1);
      await hsm.ping();

      const raw2 = await rawSession(token);
      raw2.p.C_Logout(raw2.session);
      raw2.close();
      await hsm.ping();
      expect(logs.filter((l) => l.msg.includes('again'))).toHaveLength(2);
      expect((await hsm.getKey(edKey.keyId, 'ed25519')).publicKey).toEqual(edKey.publicKey);
    } finally {
      await hsm.close();
    }
  });

  it('ping replaces an invalid login session, and reports UNAVAILABLE while the device is gone', async () => {
    const hsm = await openFaulty(1);
    try {
      let once = true;
      fault = (method) => {
        if (method === 'C_GetSessionInfo' && once) {
          once = false;
          return { value: throwing('CKR_SESSION_HANDLE_INVALID') };
        }
        return undefined;
      };
      await hsm.ping();
      fault = (method) => (method === 'C_GetSessionInfo' || method === 'C_OpenSession' ? { value: throwing('CKR_DEVICE_REMOVED') } : undefined);
      const err = await hsmError(hsm.ping(), 'UNAVAILABLE');
      expect(err.ckr).toBe('CKR_DEVICE_REMOVED');
      fault = undefined;
      await untilHealthy(hsm);
      await hsm.ping();
    } finally {
      await hsm.close();
    }
  });
});

describe('signatures that do not verify', () => {
  const corrupt: Fault = (method, _args, call) =>
    method === 'C_SignAsync'
      ? {
          value: (call() as Promise<Buffer>).then((sig) => {
            const bad = Buffer.from(sig);
            bad[10]! ^= 0x01;
            return bad;
          }),
        }
      : undefined;

  it('are never returned: a consistently faulty token yields UNAVAILABLE for both curves', async () => {
    const hsm = await openFaulty(1);
    try {
      fault = corrupt;
      const e1 = await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([8])), 'UNAVAILABLE');
      expect(e1.message).toContain('does not verify');
      const e2 = await hsmError(hsm.signSecp256k1(kKey.keyId, randomBytes(32)), 'UNAVAILABLE');
      expect(e2.message).toContain('does not verify');
      expect(logs.some((l) => l.level === 'error')).toBe(true);
    } finally {
      await hsm.close();
    }
  });

  it('are signed again once after a fresh key lookup, so a one-off fault still yields a good signature', async () => {
    const hsm = await openFaulty(1);
    try {
      let once = true;
      fault = (method, args, call) => {
        if (method !== 'C_SignAsync' || !once) return undefined;
        once = false;
        return corrupt(method, args, call);
      };
      const digest = randomBytes(32);
      const sig = await hsm.signSecp256k1(kKey.keyId, digest);
      expect(secp256k1.verify(compact(sig), digest, kKey.publicKey, { prehash: false })).toBe(true);
    } finally {
      await hsm.close();
    }
  });
});

describe('secp256k1 normalisation', () => {
  it('turns the token\'s high-S signatures into low-S ones (s → n − s) with the matching recovery bit', async () => {
    const hsm = await openFaulty(1);
    try {
      const raws: Buffer[] = [];
      fault = (method, _args, call) => (method === 'C_SignAsync' ? { value: (call() as Promise<Buffer>).then((sig) => (raws.push(Buffer.from(sig)), sig)) } : undefined);
      let highS = 0;
      for (let i = 0; i < 64; i++) {
        const digest = randomBytes(32);
        const sig = await hsm.signSecp256k1(kKey.keyId, digest);
        const raw = raws[i]!;
        const rawS = BigInt('0x' + raw.subarray(32).toString('hex'));
        const s = BigInt('0x' + Buffer.from(sig.s).toString('hex'));
        expect(Buffer.from(sig.r)).toEqual(raw.subarray(0, 32));
        if (rawS > N / 2n) {
          highS++;
          expect(s).toBe(N - rawS);
        } else {
          expect(s).toBe(rawS);
        }
        const recovered = secp256k1.Signature.fromBytes(compact(sig), 'compact').addRecoveryBit(sig.recovery).recoverPublicKey(digest);
        expect(recovered.toBytes(false)).toEqual(kKey.publicKey);
      }
      expect(highS, 'SoftHSM2 returns high-S about half the time').toBeGreaterThan(0);
    } finally {
      await hsm.close();
    }
  });
});

describe('key generation whose protection cannot be confirmed', () => {
  function generatedId(args: unknown[]): Buffer {
    const template = args[3] as Attribute[];
    return template.find((a) => a.type === CKA_ID)!.value as Buffer;
  }

  it('destroys both halves and throws KEY_NOT_PROTECTED when the token reports an attribute as not required', async () => {
    const hsm = await openFaulty(1);
    try {
      let id: Buffer | undefined;
      fault = (method, args, call) => {
        if (method === 'C_GenerateKeyPairAsync') id = generatedId(args);
        if (method !== 'C_GetAttributeValue') return undefined;
        const result = call() as { type: number; value: Buffer }[];
        return { value: result.map((a) => (a.type === CKA_NEVER_EXTRACTABLE ? { ...a, value: Buffer.from([0]) } : a)) };
      };
      const err = await hsmError(hsm.generateKey('ed25519', 'unprotected'), 'KEY_NOT_PROTECTED');
      expect(err.message).toContain('CKA_NEVER_EXTRACTABLE');
      fault = undefined;
      const raw = await rawSession(token);
      try {
        expect(raw.find(CKO_PRIVATE_KEY, id!)).toHaveLength(0);
        expect(raw.find(CKO_PUBLIC_KEY, id!)).toHaveLength(0);
      } finally {
        raw.close();
      }
    } finally {
      await hsm.close();
    }
  });

  it('destroys both halves and throws KEY_NOT_PROTECTED when the attributes cannot be read back', async () => {
    const hsm = await openFaulty(1);
    try {
      let id: Buffer | undefined;
      fault = (method, args) => {
        if (method === 'C_GenerateKeyPairAsync') id = generatedId(args);
        return method === 'C_GetAttributeValue' ? { value: throwing('CKR_ATTRIBUTE_TYPE_INVALID') } : undefined;
      };
      const err = await hsmError(hsm.generateKey('secp256k1', 'unreadable'), 'KEY_NOT_PROTECTED');
      expect(err.ckr).toBe('CKR_ATTRIBUTE_TYPE_INVALID');
      fault = undefined;
      const raw = await rawSession(token);
      try {
        expect(raw.find(CKO_PRIVATE_KEY, id!)).toHaveLength(0);
        expect(raw.find(CKO_PUBLIC_KEY, id!)).toHaveLength(0);
      } finally {
        raw.close();
      }
      // The pool still works afterwards.
      expect((await hsm.generateKey('secp256k1', 'fine')).publicKey).toHaveLength(65);
    } finally {
      await hsm.close();
    }
  });
});

function throwing(ckr: string): never {
  throw new Error(ckr);
}
