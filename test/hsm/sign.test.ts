/**
 * Signing against a real SoftHSM2 token: Ed25519 signatures verify, secp256k1 signatures are low-S, verify and
 * recover the HSM's public key, and the session pool carries many concurrent signs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Hsm, type KeyInfo } from '../../hsm/index.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';
import { hsmError, openHsm } from './helpers.ts';

const N = secp256k1.Point.Fn.ORDER;
let token: TestToken;
let hsm: Hsm;
let edKey: KeyInfo;
let kKey: KeyInfo;

beforeAll(async () => {
  token = await createTestToken();
  hsm = await openHsm(token, { sessions: 4 });
  edKey = await hsm.generateKey('ed25519', 'sign-ed');
  kKey = await hsm.generateKey('secp256k1', 'sign-k1');
});

afterAll(async () => {
  await hsm?.close();
  await token?.cleanup();
});

function compact(sig: { r: Uint8Array; s: Uint8Array }): Uint8Array {
  return Uint8Array.from([...sig.r, ...sig.s]);
}

function big(bytes: Uint8Array): bigint {
  return BigInt('0x' + Buffer.from(bytes).toString('hex'));
}

describe('Ed25519 signing', () => {
  it('produces 64-byte signatures that verify with @noble/curves against the returned public key', async () => {
    for (const size of [1, 32, 200, 1232]) {
      const message = randomBytes(size);
      const sig = await hsm.signEd25519(edKey.keyId, message);
      expect(sig).toHaveLength(64);
      expect(ed25519.verify(sig, message, edKey.publicKey)).toBe(true);
      const tampered = Uint8Array.from(message);
      tampered[0]! ^= 1;
      expect(ed25519.verify(sig, tampered, edKey.publicKey)).toBe(false);
    }
  });

  it('refuses an empty message with INVALID_INPUT', async () => {
    await hsmError(hsm.signEd25519(edKey.keyId, new Uint8Array(0)), 'INVALID_INPUT');
  });

  it('signs the message as given, even if the caller reuses its buffer while the token works', async () => {
    const message = Uint8Array.from(randomBytes(64));
    const original = Uint8Array.from(message);
    const pending = hsm.signEd25519(edKey.keyId, message);
    message.fill(0);
    const sig = await pending;
    expect(ed25519.verify(sig, original, edKey.publicKey)).toBe(true);
  });
});

describe('secp256k1 signing', () => {
  it('returns low-S signatures (every one of 64) that verify and whose recovery bit recovers the HSM public key', async () => {
    const recoveries = new Set<number>();
    for (let i = 0; i < 64; i++) {
      const digest = randomBytes(32);
      const sig = await hsm.signSecp256k1(kKey.keyId, digest);
      expect(sig.r).toHaveLength(32);
      expect(sig.s).toHaveLength(32);
      expect(big(sig.s) <= N / 2n, 'low-S').toBe(true);
      expect(secp256k1.verify(compact(sig), digest, kKey.publicKey, { prehash: false, lowS: true })).toBe(true);
      const recovered = secp256k1.Signature.fromBytes(compact(sig), 'compact').addRecoveryBit(sig.recovery).recoverPublicKey(digest);
      expect(recovered.toBytes(false)).toEqual(kKey.publicKey);
      recoveries.add(sig.recovery);
    }
    // Both parities turn up in 64 random signatures (a fixed bit would fail this with probability 2^-63).
    expect([...recoveries].sort()).toEqual([0, 1]);
  });

  it('refuses a digest that is not exactly 32 bytes with INVALID_INPUT', async () => {
    await hsmError(hsm.signSecp256k1(kKey.keyId, new Uint8Array(31)), 'INVALID_INPUT');
    await hsmError(hsm.signSecp256k1(kKey.keyId, new Uint8Array(33)), 'INVALID_INPUT');
    await hsmError(hsm.signSecp256k1(kKey.keyId, 'ab'.repeat(16) as unknown as Uint8Array), 'INVALID_INPUT');
  });

  it('signs the all-zero and all-0xff digests', async () => {
    for (const digest of [new Uint8Array(32), new Uint8Array(32).fill(0xff)]) {
      const sig = await hsm.signSecp256k1(kKey.keyId, digest);
      expect(secp256k1.verify(compact(sig), digest, kKey.publicKey, { prehash: false })).toBe(true);
    }
  });
});

describe('the session pool', () => {
  it('carries 200 concurrent signs on 4 sessions, all of which verify', async () => {
    const jobs = Array.from({ length: 200 }, (_, i) => {
      const data = randomBytes(32);
      return i % 2 === 0
        ? hsm.signEd25519(edKey.keyId, data).then((sig) => ed25519.verify(sig, data, edKey.publicKey))
        : hsm.signSecp256k1(kKey.keyId, data).then((sig) => {
            const recovered = secp256k1.Signature.fromBytes(compact(sig), 'compact').addRecoveryBit(sig.recovery).recoverPublicKey(data);
            return secp256k1.verify(compact(sig), data, kKey.publicKey, { prehash: false }) && Buffer.from(recovered.toBytes(false)).equals(kKey.publicKey);
          });
    });
    const results = await Promise.all(jobs);
    expect(results.filter((ok) => ok)).toHaveLength(200);
  });

  it('lets close() finish the signs already accepted, then refuses new work with UNAVAILABLE', async () => {
    const local = await openHsm(token, { sessions: 2 });
    let settled = 0;
    const inFlight = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? local.signEd25519(edKey.keyId, randomBytes(16)) : local.signSecp256k1(kKey.keyId, randomBytes(32))).finally(() => settled++),
    );
    const closed = local.close();
    expect(local.close()).toBe(closed);
    await closed;
    expect(settled, 'close() resolves only after every accepted call settled').toBe(20);
    expect(await Promise.all(inFlight)).toHaveLength(20);
    await hsmError(local.signEd25519(edKey.keyId, new Uint8Array(1)), 'UNAVAILABLE');
    await hsmError(local.ping(), 'UNAVAILABLE');
    // The shared library stays initialised for the Hsm still open in this process.
    await hsm.ping();
    expect(ed25519.verify(await hsm.signEd25519(edKey.keyId, new Uint8Array(1)), new Uint8Array(1), edKey.publicKey)).toBe(true);
  });
});
