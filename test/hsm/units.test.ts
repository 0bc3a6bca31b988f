/**
 * The pieces of hsm/ that need no token: the session pool's ordering and draining, CKR parsing and error kinds,
 * the PKCS#11 constants against pkcs11js's own, and CKA_EC_POINT decoding.
 */
import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { decodeEcPoint, ecParamsMatch, EC_PARAMS_ED25519, EC_PARAMS_ED25519_OID, EC_PARAMS_SECP256K1 } from '../../hsm/curves.ts';
import { HsmError, toHsmError } from '../../hsm/errors.ts';
import * as pk from '../../hsm/pkcs11.ts';
import { Pool } from '../../hsm/pool.ts';

describe('the session pool', () => {
  it('serves waiting borrowers in arrival order', async () => {
    const pool = new Pool(['a'], () => new Error('closed'));
    const first = await pool.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3, 4].map((n) => pool.acquire().then((item) => {
      order.push(n);
      pool.release(item);
    }));
    expect(pool.waiting).toBe(4);
    pool.release(first);
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(pool.busy).toBe(0);
  });

  it('closes only after work already lent out or queued has given its items back, then refuses borrowers', async () => {
    const pool = new Pool([1, 2], () => new Error('pool closed'));
    const a = await pool.acquire();
    const b = await pool.acquire();
    const queued = pool.acquire();
    let closed = false;
    const closing = pool.close().then((items) => {
      closed = true;
      return items;
    });
    expect(pool.close()).toBe(pool.close());
    await expect(pool.acquire()).rejects.toThrow('pool closed');
    pool.release(a);
    const c = await queued;
    pool.release(b);
    await Promise.resolve();
    expect(closed).toBe(false);
    pool.release(c);
    expect((await closing).sort()).toEqual([1, 2]);
  });
});

describe('PKCS#11 errors', () => {
  it('reads the CKR from pkcs11js errors and from bare CKR names', () => {
    expect(pk.errorCode(new Error('CKR_DEVICE_REMOVED:50'))).toBe(0x32);
    expect(pk.errorCode(new Error('CKR_DEVICE_REMOVED'))).toBe(0x32);
    expect(pk.errorCode(new Error('CKR_VENDOR_DEFINED:320'))).toBe(0x140);
    expect(pk.errorCode(Object.assign(new Error('CKR_VENDOR_DEFINED'), { name: 'Pkcs11Error', code: 0x80000001 }))).toBe(0x80000001);
    expect(pk.errorCode(new Error('something else'))).toBeUndefined();
    expect(pk.ckrName(0x140)).toBe('CKR_CURVE_NOT_SUPPORTED');
    expect(pk.ckrName(0x80000001)).toBe('CKR_VENDOR_DEFINED(0x80000001)');
  });

  it('maps CKRs to kinds, with per-operation overrides, and never copies the wrapped message', () => {
    expect(toHsmError(new Error('CKR_DEVICE_REMOVED'), 'sign').kind).toBe('UNAVAILABLE');
    expect(toHsmError(new Error('CKR_SESSION_HANDLE_INVALID'), 'sign').kind).toBe('UNAVAILABLE');
    expect(toHsmError(new Error('CKR_GENERAL_ERROR'), 'sign').kind).toBe('UNAVAILABLE');
    expect(toHsmError(new Error('CKR_PIN_INCORRECT'), 'login').kind).toBe('LOGIN_FAILED');
    expect(toHsmError(new Error('CKR_CURVE_NOT_SUPPORTED'), 'keygen').kind).toBe('CURVE_UNSUPPORTED');
    expect(toHsmError(new Error('CKR_ATTRIBUTE_SENSITIVE'), 'read', { CKR_ATTRIBUTE_SENSITIVE: 'KEY_NOT_PROTECTED' }).kind).toBe('KEY_NOT_PROTECTED');
    const err = toHsmError(new Error('CKR_DEVICE_REMOVED: secret-ish detail'), 'sign');
    expect(err.message).toBe('sign: CKR_DEVICE_REMOVED');
    expect(err.ckr).toBe('CKR_DEVICE_REMOVED');
    expect(err.retryable).toBe(true);
    const plain = toHsmError(new TypeError('detail 1234'), 'sign');
    expect(plain.kind).toBe('UNAVAILABLE');
    expect(plain.message).not.toContain('1234');
    const passthrough = new HsmError('INVALID_INPUT', 'x');
    expect(toHsmError(passthrough, 'y')).toBe(passthrough);
  });
});

describe('PKCS#11 constants', () => {
  it('match pkcs11js wherever pkcs11js defines them', () => {
    let compared = 0;
    for (const [name, value] of Object.entries(pk)) {
      if (!/^CK[AFKMORSU]_/.test(name) || typeof value !== 'number') continue;
      const theirs = pk.pkcs11jsExports[name];
      if (theirs === undefined) continue;
      expect(value, name).toBe(theirs);
      compared++;
    }
    expect(compared).toBeGreaterThan(30);
  });

  it('give the EdDSA values of PKCS#11 3.0', () => {
    expect(pk.CKM_EC_EDWARDS_KEY_PAIR_GEN).toBe(0x1055);
    expect(pk.CKM_EDDSA).toBe(0x1057);
    expect(pk.CKK_EC_EDWARDS).toBe(0x40);
  });
});

describe('EC parameters and points', () => {
  it('use the PrintableString form for Ed25519 and the OID for secp256k1', () => {
    expect(Buffer.from(EC_PARAMS_ED25519).toString('hex')).toBe('130c' + Buffer.from('edwards25519').toString('hex'));
    expect(Buffer.from(EC_PARAMS_SECP256K1).toString('hex')).toBe('06052b8104000a');
    expect(ecParamsMatch('ed25519', EC_PARAMS_ED25519_OID)).toBe(true);
    expect(ecParamsMatch('secp256k1', EC_PARAMS_ED25519)).toBe(false);
  });

  it('decode raw and DER-wrapped points, and compressed secp256k1 points', () => {
    const edPub = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    expect(decodeEcPoint('ed25519', edPub)).toEqual(edPub);
    expect(decodeEcPoint('ed25519', Uint8Array.from([0x04, 32, ...edPub]))).toEqual(edPub);
    expect(decodeEcPoint('ed25519', Uint8Array.from([0x04, 31, ...edPub.subarray(1)]))).toBeUndefined();

    const sk = secp256k1.utils.randomSecretKey();
    const full = secp256k1.getPublicKey(sk, false);
    const short = secp256k1.getPublicKey(sk, true);
    expect(decodeEcPoint('secp256k1', full)).toEqual(full);
    expect(decodeEcPoint('secp256k1', Uint8Array.from([0x04, 65, ...full]))).toEqual(full);
    expect(decodeEcPoint('secp256k1', short)).toEqual(full);
    expect(decodeEcPoint('secp256k1', Uint8Array.from([0x04, 33, ...short]))).toEqual(full);
    const offCurve = Uint8Array.from(full);
    offCurve[64]! ^= 1;
    expect(decodeEcPoint('secp256k1', offCurve)).toBeUndefined();
    expect(decodeEcPoint('secp256k1', edPub)).toBeUndefined();
  });
});
