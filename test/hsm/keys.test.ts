/**
 * Key generation and lookup against a real SoftHSM2 token: the private half is locked down on the token (as hsm/
 * reports it and as the token itself answers a raw request for CKA_VALUE), and keys are found again by CKA_ID
 * from a fresh Hsm.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Hsm, type Curve } from '../../hsm/index.ts';
import { CKA_VALUE, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, ckrName, errorCode } from '../../hsm/pkcs11.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';
import { hsmError, openHsm, rawSession } from './helpers.ts';

let token: TestToken;
let hsm: Hsm;

beforeAll(async () => {
  token = await createTestToken();
  hsm = await openHsm(token);
});

afterAll(async () => {
  await hsm?.close();
  await token?.cleanup();
});

describe.each<Curve>(['ed25519', 'secp256k1'])('a generated %s key', (curve) => {
  it('has a private half that is sensitive, non-extractable, never-extractable, always-sensitive, token and private', async () => {
    const key = await hsm.generateKey(curve, `protection-${curve}`);
    const protection = await hsm.keyProtection(key.keyId);
    expect(protection.sensitive).toBe(true);
    expect(protection.extractable).toBe(false);
    expect(protection.neverExtractable).toBe(true);
    expect(protection.alwaysSensitive).toBe(true);
    expect(protection.token).toBe(true);
    expect(protection.private).toBe(true);
  });

  it('refuses to reveal its private value to a separate raw PKCS#11 session (CKR_ATTRIBUTE_SENSITIVE)', async () => {
    const key = await hsm.generateKey(curve, `raw-${curve}`);
    const raw = await rawSession(token);
    try {
      const [priv, more] = raw.find(CKO_PRIVATE_KEY, key.keyId);
      expect(priv).toBeDefined();
      expect(more).toBeUndefined();
      let thrown: unknown;
      try {
        raw.p.C_GetAttributeValue(raw.session, priv!, [{ type: CKA_VALUE }]);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, 'reading CKA_VALUE must fail').toBeDefined();
      expect(ckrName(errorCode(thrown) ?? -1)).toBe('CKR_ATTRIBUTE_SENSITIVE');
      expect(raw.find(CKO_PUBLIC_KEY, key.keyId)).toHaveLength(1);
    } finally {
      raw.close();
    }
  });

  it('has a 16-byte CKA_ID and a public key of the curve', async () => {
    const key = await hsm.generateKey(curve, `shape-${curve}`);
    expect(key.curve).toBe(curve);
    expect(key.keyId).toHaveLength(16);
    if (curve === 'ed25519') {
      expect(key.publicKey).toHaveLength(32);
      expect(() => ed25519.Point.fromBytes(key.publicKey)).not.toThrow();
    } else {
      expect(key.publicKey).toHaveLength(65);
      expect(key.publicKey[0]).toBe(0x04);
      expect(() => secp256k1.Point.fromBytes(key.publicKey)).not.toThrow();
    }
  });

  it('is found again by a new Hsm instance after close and reopen, with the same public key', async () => {
    const key = await hsm.generateKey(curve, `reopen-${curve}`);
    await hsm.close();
    hsm = await openHsm(token);
    const found = await hsm.getKey(key.keyId, curve);
    expect(found.keyId).toEqual(key.keyId);
    expect(found.curve).toBe(curve);
    expect(found.publicKey).toEqual(key.publicKey);
  });
});

describe('key lookup', () => {
  it('reports KEY_NOT_FOUND for an unknown key id', async () => {
    const err = await hsmError(hsm.getKey(new Uint8Array(16).fill(0xab), 'ed25519'), 'KEY_NOT_FOUND');
    expect(err.message).toContain('abababab');
    await hsmError(hsm.keyProtection(new Uint8Array(16).fill(0xab)), 'KEY_NOT_FOUND');
    await hsmError(hsm.signEd25519(new Uint8Array(16).fill(0xab), new Uint8Array(1)), 'KEY_NOT_FOUND');
  });

  it('reports KEY_NOT_FOUND when the key exists on the other curve', async () => {
    const key = await hsm.generateKey('ed25519', 'other-curve');
    await hsmError(hsm.getKey(key.keyId, 'secp256k1'), 'KEY_NOT_FOUND');
    await hsmError(hsm.signSecp256k1(key.keyId, new Uint8Array(32)), 'KEY_NOT_FOUND');
  });

  it('gives each key its own random CKA_ID', async () => {
    const a = await hsm.generateKey('ed25519', 'same-label');
    const b = await hsm.generateKey('ed25519', 'same-label');
    expect(a.keyId).not.toEqual(b.keyId);
    expect(a.publicKey).not.toEqual(b.publicKey);
  });

  it('rejects bad arguments with INVALID_INPUT before touching the token', async () => {
    await hsmError(hsm.generateKey('p256' as Curve, 'x'), 'INVALID_INPUT');
    await hsmError(hsm.generateKey('ed25519', ''), 'INVALID_INPUT');
    await hsmError(hsm.generateKey('ed25519', 'x'.repeat(129)), 'INVALID_INPUT');
    await hsmError(hsm.getKey(new Uint8Array(0), 'ed25519'), 'INVALID_INPUT');
    await hsmError(hsm.keyProtection('abc' as unknown as Uint8Array), 'INVALID_INPUT');
  });
});
