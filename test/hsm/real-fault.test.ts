/**
 * A real fault, no injection: the SoftHSM2 token's files vanish from disk while the module is in use, then come
 * back. What SoftHSM2 2.6 (file object store) does, pinned down with raw PKCS#11 calls:
 * - it does not serve from memory: a cached private-key handle fails (CKR_OBJECT_HANDLE_INVALID) and
 *   C_FindObjects finds nothing, without an error;
 * - C_GetTokenInfo and C_Login (after a logout) answer CKR_GENERAL_ERROR, yet C_GetSessionInfo still reports a
 *   logged-in session;
 * - putting the files back does not heal the loaded library: only C_Finalize + C_Initialize does;
 * - C_Initialize itself fails (CKR_GENERAL_ERROR) while the whole token directory is missing.
 * And what the Hsm makes of it: UNAVAILABLE (never KEY_NOT_FOUND), unhealthy, re-initialisation attempts that fail
 * while the files are gone, and service again by itself once they are back.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { randomBytes } from 'node:crypto';
import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Hsm, KeyInfo } from '../../hsm/index.ts';
import { CKA_CLASS, CKA_ID, CKM_EDDSA, CKO_PRIVATE_KEY, CKS_RW_USER_FUNCTIONS, ckrName, errorCode, type Handle } from '../../hsm/pkcs11.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';
import { hsmError, openHsm, rawSession, untilHealthy, type LogLine } from './helpers.ts';

let token: TestToken;
let edKey: KeyInfo;
let kKey: KeyInfo;
let tokens: string;
/** Undo for whatever a test moved away. */
let restore: (() => Promise<void>) | undefined;
const opened: Hsm[] = [];

function ckrOfCall(fn: () => unknown): string {
  try {
    fn();
    return 'CKR_OK';
  } catch (e) {
    const code = errorCode(e);
    return code === undefined ? String(e) : ckrName(code);
  }
}

async function verifiesBoth(hsm: Hsm): Promise<void> {
  const m = randomBytes(20);
  expect(ed25519.verify(await hsm.signEd25519(edKey.keyId, m), m, edKey.publicKey)).toBe(true);
  const d = randomBytes(32);
  const s = await hsm.signSecp256k1(kKey.keyId, d);
  expect(secp256k1.verify(Uint8Array.from([...s.r, ...s.s]), d, kKey.publicKey, { prehash: false })).toBe(true);
}

beforeAll(async () => {
  token = await createTestToken({ label: 'vanishing' });
  tokens = join(token.dir, 'tokens');
  const hsm = await openHsm(token);
  edKey = await hsm.generateKey('ed25519', 'vanishing-ed');
  kKey = await hsm.generateKey('secp256k1', 'vanishing-k1');
  await hsm.close();
});

afterEach(async () => {
  await restore?.();
  restore = undefined;
  for (const h of opened.splice(0)) await h.close();
});

afterAll(async () => {
  await token?.cleanup();
});

/** Moves `<dir>/tokens` away (the whole token store). */
async function removeTokenStore(): Promise<() => Promise<void>> {
  await rename(tokens, `${tokens}.gone`);
  let done = false;
  restore = async () => {
    if (done) return;
    done = true;
    await rename(`${tokens}.gone`, tokens);
  };
  return restore;
}

/** Moves this token's own folder out of `<dir>/tokens` (the store stays, empty). */
async function removeTokenFolder(): Promise<() => Promise<void>> {
  const [folder] = await readdir(tokens);
  await rename(join(tokens, folder!), join(token.dir, 'moved-token'));
  let done = false;
  restore = async () => {
    if (done) return;
    done = true;
    await rename(join(token.dir, 'moved-token'), join(tokens, folder!));
  };
  return restore;
}

describe('SoftHSM2 with its token files gone (raw PKCS#11)', () => {
  it('does not serve from memory, lies about the login, and heals only through C_Finalize + C_Initialize', async () => {
    const raw = await rawSession(token);
    const p = raw.p;
    let back: (() => Promise<void>) | undefined;
    try {
      const [priv] = raw.find(CKO_PRIVATE_KEY, edKey.keyId) as [Handle];
      const sign = () => {
        p.C_SignInit(raw.session, { mechanism: CKM_EDDSA }, priv);
        return p.C_Sign(raw.session, Buffer.from([1]), Buffer.alloc(64));
      };
      expect(ckrOfCall(sign)).toBe('CKR_OK');
      const slot = p.C_GetSessionInfo(raw.session).slotID;

      back = await removeTokenStore();
      expect(ckrOfCall(sign)).toBe('CKR_OBJECT_HANDLE_INVALID');
      expect(raw.find(CKO_PRIVATE_KEY, edKey.keyId)).toHaveLength(0); // no error: just nothing
      expect(p.C_GetSessionInfo(raw.session).state).toBe(CKS_RW_USER_FUNCTIONS); // "still logged in"
      expect(ckrOfCall(() => p.C_GetTokenInfo(slot))).toBe('CKR_GENERAL_ERROR');
      // Logging out works; logging in again does not (the token cannot be read).
      expect(ckrOfCall(() => p.C_Logout(raw.session))).toBe('CKR_OK');
      expect(ckrOfCall(() => p.C_Login(raw.session, 1, 'whatever'))).toBe('CKR_GENERAL_ERROR');

      await back();
      // The files are back, but the loaded library still treats the token as broken.
      expect(ckrOfCall(() => p.C_GetTokenInfo(slot))).toBe('CKR_GENERAL_ERROR');
      expect(raw.find(CKO_PRIVATE_KEY, edKey.keyId)).toHaveLength(0);

      // C_Initialize fails while the token store is missing, and works once it is back.
      back = await removeTokenStore();
      p.C_Finalize();
      expect(ckrOfCall(() => p.C_Initialize({ flags: 2 }))).toBe('CKR_GENERAL_ERROR');
      await back();
      expect(ckrOfCall(() => p.C_Initialize({ flags: 2 }))).toBe('CKR_OK');
      const again = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token.tokenLabel)!;
      const session = p.C_OpenSession(again, 6);
      const pin = (await import('node:fs')).readFileSync(token.pinFile, 'utf8').trim();
      p.C_Login(session, 1, pin);
      p.C_FindObjectsInit(session, [{ type: CKA_CLASS, value: CKO_PRIVATE_KEY }, { type: CKA_ID, value: Buffer.from(edKey.keyId) }]);
      expect(p.C_FindObjects(session, 2)).toHaveLength(1);
      p.C_FindObjectsFinal(session);
      p.C_CloseSession(session);
    } finally {
      await back?.();
      try {
        raw.close();
      } catch {
        // its session died with the C_Finalize above
      }
    }
  });
});

describe('the Hsm on a real SoftHSM2 token whose files vanish and come back', () => {
  it('token store removed: UNAVAILABLE (not KEY_NOT_FOUND), unhealthy, failed re-initialisations, then serves again by itself', async () => {
    const logs: LogLine[] = [];
    const hsm = await openHsm(token, { logs, recovery: { initialDelayMs: 50, maxDelayMs: 400, probeIntervalMs: 0 } });
    opened.push(hsm);
    await verifiesBoth(hsm);
    const changes: boolean[] = [];
    hsm.onHealthChange((h) => changes.push(h));

    const back = await removeTokenStore();
    // A key lookup finds nothing (SoftHSM2 says so without an error): the Hsm checks the token before calling the
    // key missing, and the token is gone.
    const err = await hsmError(hsm.getKey(edKey.keyId, 'ed25519'), 'UNAVAILABLE');
    expect(err.ckr).toBe('CKR_GENERAL_ERROR');
    expect(hsm.healthy).toBe(false);
    expect(changes).toEqual([false]);
    // Nothing is signed meanwhile.
    for (let i = 0; i < 3; i++) {
      await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array([1])), 'UNAVAILABLE');
      await new Promise((r) => setTimeout(r, 200));
    }
    const failed = logs.filter((l) => l.msg.startsWith('HSM re-initialisation attempt failed'));
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed[0]!.msg).toContain('C_Finalize + C_Initialize: CKR_GENERAL_ERROR');
    expect(hsm.healthy).toBe(false);

    await back();
    await untilHealthy(hsm, 5_000);
    expect(changes).toEqual([false, true]);
    expect(hsm.reinitializations).toBe(1);
    expect(logs.find((l) => l.msg === 'HSM re-initialised')?.fields?.mode).toBe('finalize');
    await verifiesBoth(hsm);
    expect((await hsm.getKey(kKey.keyId, 'secp256k1')).publicKey).toEqual(kKey.publicKey);
  });

  it('token folder removed, no traffic: the probe notices, re-initialisation finds no token until it is back', async () => {
    const logs: LogLine[] = [];
    const hsm = await openHsm(token, { logs, recovery: { initialDelayMs: 50, maxDelayMs: 400, probeIntervalMs: 50 } });
    opened.push(hsm);
    await verifiesBoth(hsm); // both keys cached

    const back = await removeTokenFolder();
    const t = Date.now();
    while (hsm.healthy && Date.now() - t < 2_000) await new Promise((r) => setTimeout(r, 10));
    expect(hsm.healthy).toBe(false);
    expect(hsm.lastError?.ckr).toBe('CKR_GENERAL_ERROR');
    await new Promise((r) => setTimeout(r, 500));
    // The library initialises (the store is there) but holds no token with the label.
    const failed = logs.filter((l) => l.msg.startsWith('HSM re-initialisation attempt failed'));
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed.at(-1)!.msg).toContain('no token labelled "vanishing"');
    await hsmError(hsm.signSecp256k1(kKey.keyId, randomBytes(32)), 'UNAVAILABLE');

    await back();
    await untilHealthy(hsm, 5_000);
    // Cached handles are looked up again: same keys, signatures verify.
    await verifiesBoth(hsm);
    expect((await hsm.getKey(edKey.keyId, 'ed25519')).publicKey).toEqual(edKey.publicKey);
    expect((await hsm.keyProtection(edKey.keyId)).sensitive).toBe(true);
  });
});
