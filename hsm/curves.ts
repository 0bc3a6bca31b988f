/**
 * Curve-specific encoding and checking: the CKA_EC_PARAMS each curve is generated with, decoding CKA_EC_POINT into
 * a plain public key, and checking every signature the token returns against the key it claims to come from, before
 * anything leaves hsm/.
 *
 * Why check signatures at all: a signature that does not verify is worse than none (a faulted deterministic
 * signature can leak the private key, and a stale object handle may point at a different key). For secp256k1 the
 * check is also how the recovery bit is found, so it costs nothing extra: the verification equation yields R, and
 * R.y's parity is the recovery bit.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';

/** The curves the HSM layer signs with. */
export type Curve = 'ed25519' | 'secp256k1';

/**
 * CKA_EC_PARAMS for Ed25519 at key generation: the DER PrintableString "edwards25519", the form PKCS#11 3.0 allows
 * and the only one YubiHSM2 accepts.
 */
export const EC_PARAMS_ED25519 = Uint8Array.from([0x13, 0x0c, ...new TextEncoder().encode('edwards25519')]);
/** The OID form of Ed25519's parameters (1.3.101.112), which some tokens report on read-back. */
export const EC_PARAMS_ED25519_OID = Uint8Array.from([0x06, 0x03, 0x2b, 0x65, 0x70]);
/** CKA_EC_PARAMS for secp256k1: the DER OID 1.3.132.0.10. */
export const EC_PARAMS_SECP256K1 = Uint8Array.from([0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]);

/** True when a key's CKA_EC_PARAMS names `curve`. */
export function ecParamsMatch(curve: Curve, params: Uint8Array): boolean {
  if (curve === 'secp256k1') return bytesEqual(params, EC_PARAMS_SECP256K1);
  return bytesEqual(params, EC_PARAMS_ED25519) || bytesEqual(params, EC_PARAMS_ED25519_OID);
}

/**
 * The public key in CKA_EC_POINT as plain bytes: 32 for Ed25519, 65 (0x04‖X‖Y) for secp256k1. Accepts the raw point
 * and the DER OCTET STRING around it (SoftHSM2 returns the latter), and compressed secp256k1 points. Returns
 * undefined when the bytes are not a valid point of the curve.
 */
export function decodeEcPoint(curve: Curve, ecPoint: Uint8Array): Uint8Array | undefined {
  const b = ecPoint;
  // The lengths are fixed per curve, so wrapped and raw forms are told apart by length, never by guessing from
  // the first byte (a raw uncompressed point also starts with 0x04).
  let inner: Uint8Array | undefined;
  if (curve === 'ed25519') {
    if (b.length === 32) inner = b;
    else if (b.length === 34 && b[0] === 0x04 && b[1] === 32) inner = b.subarray(2);
  } else {
    if (b.length === 65 || b.length === 33) inner = b;
    else if ((b.length === 67 || b.length === 35) && b[0] === 0x04 && b[1] === b.length - 2) inner = b.subarray(2);
  }
  if (inner === undefined) return undefined;
  try {
    if (curve === 'ed25519') {
      ed25519.Point.fromBytes(inner);
      return Uint8Array.from(inner);
    }
    return secp256k1.Point.fromBytes(inner).toBytes(false);
  } catch {
    return undefined;
  }
}

/** Checks Ed25519 signatures against one public key (OpenSSL via node:crypto: about 10x faster than pure JS). */
export class Ed25519Verifier {
  readonly #key: KeyObject;

  constructor(publicKey: Uint8Array) {
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]);
    this.#key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  }

  /** True when `signature` is a valid Ed25519 signature of `message` by this key. */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    try {
      return nodeVerify(null, message, this.#key, signature);
    } catch {
      return false;
    }
  }

  /**
   * `verify` on libuv's thread pool: keeps the check off the main thread, which also drives the session pool and
   * everything else in the process.
   */
  verifyAsync(message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return new Promise((resolve) => {
      try {
        nodeVerify(null, message, this.#key, signature, (err, ok) => resolve(err === null && ok));
      } catch {
        resolve(false);
      }
    });
  }
}

const Point = secp256k1.Point;
const Fn = Point.Fn;
const N = Fn.ORDER;
const HALF_N = N >> 1n;

/** A finished secp256k1 signature: low-S, with the bit that recovers the signer's public key. */
export interface Secp256k1Signature {
  r: Uint8Array;
  s: Uint8Array;
  recovery: 0 | 1;
}

/**
 * Finishes secp256k1 signatures for one public key. The point's multiplication table can be precomputed (`warm`)
 * for keys that sign often: it halves the cost of each check but holds about 300 KB, so the owner keeps only a
 * bounded number warm.
 */
export class Secp256k1Finisher {
  readonly publicKey: Uint8Array;
  #point: InstanceType<typeof Point>;
  #warm = false;

  constructor(publicKey: Uint8Array) {
    this.publicKey = publicKey;
    this.#point = Point.fromBytes(publicKey);
  }

  /** Whether the precomputed table is attached. */
  get warm(): boolean {
    return this.#warm;
  }

  /** Attaches the precomputed multiplication table. */
  warmUp(): void {
    if (this.#warm) return;
    this.#point.precompute(6, false);
    this.#warm = true;
  }

  /** Drops the table (it lives in a WeakMap keyed by the point object, so a fresh point lets it be collected). */
  coolDown(): void {
    if (!this.#warm) return;
    this.#point = Point.fromBytes(this.publicKey);
    this.#warm = false;
  }

  /**
   * Turns the token's raw r‖s over `digest` into a low-S signature with its recovery bit, or undefined when it
   * does not verify against this public key. The ECDSA verification equation R = (z·G + r·Q)/s is evaluated once:
   * x(R) ≡ r is the verification, and the parity of y(R) is the recovery bit (the low-S normalisation negates s,
   * which negates R, so evaluating with the normalised s gives the bit for the normalised signature).
   */
  finish(raw: Uint8Array, digest: Uint8Array): Secp256k1Signature | undefined {
    if (raw.length !== 64 || digest.length !== 32) return undefined;
    const r = toBig(raw.subarray(0, 32));
    let s = toBig(raw.subarray(32, 64));
    if (r <= 0n || r >= N || s <= 0n || s >= N) return undefined;
    if (s > HALF_N) s = N - s;
    const z = Fn.create(toBig(digest));
    const w = Fn.inv(s);
    const R = Point.BASE.multiplyUnsafe(Fn.mul(z, w)).add(this.#point.multiplyUnsafe(Fn.mul(r, w)));
    if (R.is0()) return undefined;
    const { x, y } = R.toAffine();
    // x(R) ≥ n would need recovery ids 2/3, which the 0|1 API cannot express (probability about 2^-128).
    if (x !== r) return undefined;
    return { r: toBytes32(r), s: toBytes32(s), recovery: (y & 1n) === 1n ? 1 : 0 };
  }
}

function toBig(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
}

function toBytes32(n: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
}

/** Constant-length byte comparison (not constant-time; nothing secret is compared here). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
