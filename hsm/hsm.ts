/**
 * The HSM: one logged-in PKCS#11 token, a pool of sessions for concurrent work, and the operations the signer
 * needs (generate a key pair, find it again, report its protection, sign). Owns the PKCS#11 session life cycle,
 * the object-handle cache, and the rule that nothing leaves this class unchecked: every generated key's protection
 * attributes are read back, and every signature is verified against the key before it is returned.
 *
 * Sessions: one long-lived "login" session keeps the application logged in (PKCS#11 logs out when the last
 * session closes) and serves `ping`; `sessions` more are lent out one operation at a time, because a session runs
 * one operation at a time. A session whose operation failed in a way that may leave it unusable is closed and
 * reopened lazily by its next borrower, which also logs back in if the token forgot the login.
 *
 * Failing closed and recovering: every PKCS#11 call is bounded by a timeout; a call that times out makes its
 * session quarantined (never reused, closed only once the abandoned native call has returned). A timeout, or a
 * token error that says the device, session or login is gone, marks the Hsm unhealthy: from then on every call is
 * refused (UNAVAILABLE, reason 'unhealthy') without touching the token, and a supervisor re-initialises in the
 * background with exponential, jittered backoff: it waits until no call is in flight, abandons every session,
 * finalises and initialises the library again (only when this Hsm is its only holder and nothing native is still
 * running), finds the token by label, logs in, reopens the pool and pings. Key handles are looked up again lazily.
 */
import { randomBytes } from 'node:crypto';
import {
  bytesEqual,
  decodeEcPoint,
  EC_PARAMS_ED25519,
  EC_PARAMS_SECP256K1,
  ecParamsMatch,
  Ed25519Verifier,
  Secp256k1Finisher,
  type Curve,
  type Secp256k1Signature,
} from './curves.ts';
import { HsmError, toHsmError, type HsmErrorKind } from './errors.ts';
import { readPinFile } from './pin-file.ts';
import {
  openModule,
  CKA_ALWAYS_SENSITIVE,
  CKA_CLASS,
  CKA_EC_PARAMS,
  CKA_EC_POINT,
  CKA_EXTRACTABLE,
  CKA_ID,
  CKA_KEY_TYPE,
  CKA_LABEL,
  CKA_NEVER_EXTRACTABLE,
  CKA_PRIVATE,
  CKA_SENSITIVE,
  CKA_SIGN,
  CKA_TOKEN,
  CKA_VERIFY,
  CKF_RW_SESSION,
  CKF_SERIAL_SESSION,
  CKF_TOKEN_INITIALIZED,
  CKF_USER_PIN_FINAL_TRY,
  CKF_USER_PIN_LOCKED,
  CKK_EC,
  CKK_EC_EDWARDS,
  CKM_EC_EDWARDS_KEY_PAIR_GEN,
  CKM_EC_KEY_PAIR_GEN,
  CKM_ECDSA,
  CKM_EDDSA,
  CKO_PRIVATE_KEY,
  CKO_PUBLIC_KEY,
  CKS_RO_USER_FUNCTIONS,
  CKS_RW_USER_FUNCTIONS,
  CKU_USER,
  type Handle,
  type LoadedModule,
  type Pkcs11Like,
  type Template,
} from './pkcs11.ts';
import { Pool } from './pool.ts';

export type { Curve, Secp256k1Signature } from './curves.ts';

/** How long one PKCS#11 call may take, in milliseconds. */
export interface HsmTimeouts {
  /** C_SignAsync. Default 5000. */
  signMs?: number;
  /** C_GenerateKeyPairAsync. Default 30000. */
  generateMs?: number;
  /** Every other call: find, attribute read, login, session open and info, token info, sign init. Default 5000. */
  callMs?: number;
}

/** How the Hsm notices trouble on its own and re-initialises after it. */
export interface HsmRecovery {
  /** Delay before the first re-initialisation attempt; doubled after each failed one. Default 250. */
  initialDelayMs?: number;
  /** Cap of the backoff. Default 30000. */
  maxDelayMs?: number;
  /**
   * While healthy, `ping` every this many milliseconds, so a token that vanished is noticed without traffic.
   * 0 turns the probe off. Default 5000.
   */
  probeIntervalMs?: number;
}

/** Where the token is and how to log in to it. */
export interface HsmConfig {
  /** Path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  module: string;
  /** CKA label of the token (as set at C_InitToken; trailing blanks are ignored). */
  tokenLabel: string;
  /** File holding the user PIN; mode must be 0600 or 0400. */
  pinFile: string;
  /** Sessions in the signing pool: the most operations in flight at once. Default 4. */
  sessions?: number;
  /** Bounds of PKCS#11 calls. */
  timeouts?: HsmTimeouts;
  /** Health probe and re-initialisation backoff. */
  recovery?: HsmRecovery;
}

/** Log levels hsm/ uses. */
export type HsmLogLevel = 'info' | 'warn' | 'error';
/** Structured log sink; `fields` never holds secrets. */
export type HsmLog = (level: HsmLogLevel, msg: string, fields?: Record<string, unknown>) => void;

/**
 * Told of every change of `Hsm.healthy`: false with the error that made it unhealthy (or the "closed" error when
 * the Hsm is closed), true with no error once it has re-initialised.
 */
export type HsmHealthListener = (healthy: boolean, error: HsmError | undefined) => void;

/** Dependencies of `Hsm.open` that tests and fault injection replace. */
export interface HsmOptions {
  /** An unloaded PKCS#11 instance (or a wrapper around one); `open` loads `config.module` into it. */
  pkcs11?: Pkcs11Like;
  /** Log sink; defaults to one line per event on stderr. */
  log?: HsmLog;
}

/** Which curves the token offers the mechanisms for. */
export interface HsmCapabilities {
  /** CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA. */
  ed25519: boolean;
  /** CKM_EC_KEY_PAIR_GEN and CKM_ECDSA (the curve itself is only confirmed at key generation). */
  secp256k1: boolean;
}

/** A key pair on the token. */
export interface KeyInfo {
  /** The CKA_ID shared by the private and public key objects. */
  keyId: Uint8Array;
  curve: Curve;
  /** Ed25519: 32 bytes. secp256k1: 65 bytes, uncompressed (0x04‖X‖Y). */
  publicKey: Uint8Array;
}

/** The private key's protection attributes as the token reports them. */
export interface KeyProtection {
  sensitive: boolean;
  extractable: boolean;
  neverExtractable: boolean;
  alwaysSensitive: boolean;
  token: boolean;
  private: boolean;
}

const DEFAULT_SESSIONS = 4;
const MAX_SESSIONS = 256;
const DEFAULT_TIMEOUTS: Required<HsmTimeouts> = { signMs: 5_000, generateMs: 30_000, callMs: 5_000 };
const DEFAULT_RECOVERY: Required<HsmRecovery> = { initialDelayMs: 250, maxDelayMs: 30_000, probeIntervalMs: 5_000 };
/** Longest timeout or delay accepted in the config (one day; setTimeout's own limit is about 24.8 days). */
const MAX_MS = 86_400_000;
const KEY_ID_BYTES = 16;
const MAX_KEY_ID_BYTES = 255;
const MAX_LABEL_BYTES = 128;
const SESSION_FLAGS = CKF_SERIAL_SESSION | CKF_RW_SESSION;
/** Object handles cached (each entry is a few hundred bytes). */
const MAX_CACHED_KEYS = 4096;
/** secp256k1 keys with a precomputed verification table (about 300 KB each; halves the per-signature check). */
const MAX_WARM_SECP256K1_KEYS = 32;
/** Signatures by one secp256k1 key before its table is worth computing. */
const WARM_AFTER_USES = 3;

const MECHANISMS: Record<Curve, { keyGen: number; sign: number; keyType: number; names: string }> = {
  ed25519: { keyGen: CKM_EC_EDWARDS_KEY_PAIR_GEN, sign: CKM_EDDSA, keyType: CKK_EC_EDWARDS, names: 'CKM_EC_EDWARDS_KEY_PAIR_GEN + CKM_EDDSA' },
  secp256k1: { keyGen: CKM_EC_KEY_PAIR_GEN, sign: CKM_ECDSA, keyType: CKK_EC, names: 'CKM_EC_KEY_PAIR_GEN + CKM_ECDSA' },
};

// CKRs after which a session may be unusable (or the login gone): the session is closed and reopened.
const SESSION_LOST = new Set([
  'CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_DEVICE_ERROR',
  'CKR_CRYPTOKI_NOT_INITIALIZED', 'CKR_USER_NOT_LOGGED_IN',
]);
// CKRs that say the device, the library, a session or the login is gone or broken: the Hsm turns unhealthy and
// re-initialises. (Per-operation refusals — bad arguments, an operation already active, a stale object handle —
// only cost the session.) CKR_GENERAL_ERROR is what SoftHSM2 answers once its token files have vanished.
const HEALTH_FAULTS = new Set([
  ...SESSION_LOST, 'CKR_GENERAL_ERROR', 'CKR_DEVICE_MEMORY', 'CKR_TOKEN_NOT_RECOGNIZED', 'CKR_SLOT_ID_INVALID',
]);
const STALE_HANDLE = new Set(['CKR_KEY_HANDLE_INVALID', 'CKR_OBJECT_HANDLE_INVALID']);
const SLOT_MOVED = new Set(['CKR_SLOT_ID_INVALID', 'CKR_TOKEN_NOT_PRESENT', 'CKR_DEVICE_REMOVED']);

/** True when `err` means the token (not just one operation) is in trouble: the Hsm must re-initialise. */
function isHealthFault(err: HsmError): boolean {
  if (err.kind !== 'UNAVAILABLE') return false;
  if (err.reason === 'timeout' || err.reason === 'token-gone') return true;
  if (err.reason !== undefined) return false; // 'unhealthy', 'closed': refusals, not new faults
  return err.ckr !== undefined && HEALTH_FAULTS.has(err.ckr);
}

interface SessionSlot {
  /** Undefined after the session was discarded; the next borrower opens a new one. */
  handle: Handle | undefined;
}

interface Lease {
  readonly handle: Handle;
  /** An operation (find, sign) was started on the session and may still be active if we bail out now. */
  dirty: boolean;
  /** A call on the session timed out: the session is quarantined, not closed (see `Straggler`). */
  timedOut?: { straggler: Straggler | undefined };
}

interface CachedKey {
  readonly cacheKey: string;
  readonly keyId: Uint8Array;
  readonly curve: Curve;
  /** The private key's handle, valid for library/session generation `generation`. */
  priv: Handle;
  generation: number;
  readonly publicKey: Uint8Array;
  readonly ed?: Ed25519Verifier;
  readonly secp?: Secp256k1Finisher;
  uses: number;
}

/**
 * A PKCS#11 call abandoned after its timeout: settles (with the call's value, or undefined if it failed) when the
 * native call finally returns. Undefined for a synchronous call that returned, late.
 */
type Straggler = Promise<unknown>;

interface CallOptions {
  /** The bound, in ms; the `callMs` timeout when omitted. */
  ms?: number;
  /** CKR name → error kind overrides for this call. */
  kinds?: Partial<Record<string, HsmErrorKind>>;
  /** Told when the call timed out, before the timeout error is thrown. */
  onTimeout?: (straggler: Straggler | undefined) => void;
}

/** Makes one PKCS#11 call under a timeout; failures come out as HsmError (`what: CKR_…`). */
type Caller = <T>(what: string, fn: () => T, opts?: CallOptions) => Promise<Awaited<T>>;

/** Native calls started and not yet returned, timed-out ones included. */
interface NativeCalls {
  pending: number;
}

/** A logged-in PKCS#11 token. Create with `Hsm.open`, release with `close`. */
export class Hsm {
  /** The token's label, as configured. */
  readonly tokenLabel: string;
  /** Curves the token offers mechanisms for (probed once at open). */
  readonly capabilities: Readonly<HsmCapabilities>;

  readonly #module: LoadedModule;
  readonly #p: Pkcs11Like;
  readonly #log: HsmLog;
  #slot: Handle;
  #pin: string;
  readonly #pinFile: string;
  #loginSession: Handle | undefined;
  /** Every slot of the pool (the pool lends these same objects). */
  readonly #slots: SessionSlot[];
  readonly #pool: Pool<SessionSlot>;
  readonly #keys = new Map<string, CachedKey>();
  readonly #warm = new Set<CachedKey>();
  #closing: Promise<void> | undefined;
  /** Public operations started and not yet settled (close and re-initialisation wait for them, checks included). */
  #active = 0;
  #idleWaiters: (() => void)[] = [];

  readonly #timeouts: Required<HsmTimeouts>;
  readonly #recovery: Required<HsmRecovery>;
  readonly #native: NativeCalls;
  readonly #call: Caller;

  #healthy = true;
  #lastError: HsmError | undefined;
  readonly #listeners = new Set<HsmHealthListener>();
  #reinitializations = 0;
  /** The supervisor loop, while the Hsm is unhealthy. */
  #supervisor: Promise<void> | undefined;
  /** Cuts the supervisor's backoff sleep short (close). */
  #wake: (() => void) | undefined;
  /** Set when re-initialisation must not be retried automatically (it could lock the PIN). */
  #gaveUp = false;
  /** When the last re-initialisation succeeded, and after how many attempts (a fault soon after continues the backoff). */
  #recoveredAt = 0;
  #recoveredAfter = 0;
  /** Bumped whenever cached key handles may no longer be valid (every re-initialisation). */
  #keyGeneration = 0;
  /** Bumped whenever the library is finalised: session handles from before name nothing, or something else. */
  #libraryGeneration = 0;
  #quarantined = 0;
  #probeTimer: ReturnType<typeof setInterval> | undefined;
  #probing = false;

  private constructor(init: {
    tokenLabel: string;
    capabilities: HsmCapabilities;
    module: LoadedModule;
    log: HsmLog;
    slot: Handle;
    pin: string;
    pinFile: string;
    loginSession: Handle;
    sessions: Handle[];
    timeouts: Required<HsmTimeouts>;
    recovery: Required<HsmRecovery>;
    native: NativeCalls;
    call: Caller;
  }) {
    this.tokenLabel = init.tokenLabel;
    this.capabilities = Object.freeze({ ...init.capabilities });
    this.#module = init.module;
    this.#p = init.module.pkcs11;
    this.#log = init.log;
    this.#slot = init.slot;
    this.#pin = init.pin;
    this.#pinFile = init.pinFile;
    this.#loginSession = init.loginSession;
    this.#timeouts = init.timeouts;
    this.#recovery = init.recovery;
    this.#native = init.native;
    this.#call = init.call;
    this.#slots = init.sessions.map((handle) => ({ handle }));
    this.#pool = new Pool<SessionSlot>(this.#slots, () => closedError());
    if (this.#recovery.probeIntervalMs > 0) {
      this.#probeTimer = setInterval(() => this.#probeTick(), this.#recovery.probeIntervalMs);
      this.#probeTimer.unref();
    }
  }

  /**
   * Loads the module, finds the token by label, logs in with the PIN from `config.pinFile`, opens the session pool
   * and probes which curves the token can do. Throws INVALID_INPUT (bad config), LOGIN_FAILED (PIN file or PIN
   * refused), TOKEN_NOT_FOUND, or UNAVAILABLE.
   */
  static async open(config: HsmConfig, options: HsmOptions = {}): Promise<Hsm> {
    const log = options.log ?? stderrLog;
    checkConfig(config);
    const sessionCount = config.sessions ?? DEFAULT_SESSIONS;
    const timeouts = { ...DEFAULT_TIMEOUTS, ...definedOnly(config.timeouts) };
    const recovery = { ...DEFAULT_RECOVERY, ...definedOnly(config.recovery) };
    // The PIN file is checked before the module is touched: a misconfigured file should not cost a C_Initialize.
    const pin = await readPinFile(config.pinFile);

    let module: LoadedModule;
    try {
      module = openModule(config.module, options.pkcs11);
    } catch (e) {
      throw toHsmError(e, `cannot load the PKCS#11 module ${config.module}`);
    }
    const p = module.pkcs11;
    const native: NativeCalls = { pending: 0 };
    const call = makeCaller(native, timeouts.callMs);
    let connected: Connection | undefined;
    try {
      connected = await connect(call, p, { tokenLabel: config.tokenLabel, module: config.module, pin, pinFile: config.pinFile, sessions: sessionCount }, log, 'warn');
      const slot = connected.slot;
      const mechanisms = new Set(await call('cannot list the token mechanisms', () => p.C_GetMechanismList(slot)));
      const capabilities: HsmCapabilities = {
        ed25519: mechanisms.has(CKM_EC_EDWARDS_KEY_PAIR_GEN) && mechanisms.has(CKM_EDDSA),
        secp256k1: mechanisms.has(CKM_EC_KEY_PAIR_GEN) && mechanisms.has(CKM_ECDSA),
      };

      const hsm = new Hsm({
        tokenLabel: config.tokenLabel, capabilities, module, log, slot, pin, pinFile: config.pinFile,
        loginSession: connected.loginSession, sessions: connected.sessions, timeouts, recovery, native, call,
      });
      const missing = (Object.keys(MECHANISMS) as Curve[]).filter((c) => !capabilities[c]);
      if (missing.length > 0) {
        log(
          missing.length === 2 ? 'error' : 'warn',
          `HSM token "${config.tokenLabel}" cannot do ${missing.join(' or ')} ` +
            `(missing ${missing.map((c) => MECHANISMS[c].names).join('; ')}): keys on that curve cannot be generated or used`,
          { tokenLabel: config.tokenLabel, missing },
        );
      }
      log('info', `HSM token "${config.tokenLabel}" open`, { tokenLabel: config.tokenLabel, sessions: sessionCount, capabilities });
      return hsm;
    } catch (e) {
      if (connected !== undefined) {
        for (const s of [connected.loginSession, ...connected.sessions]) quietly(() => p.C_CloseSession(s));
      }
      module.release({ finalize: native.pending === 0 });
      throw toHsmError(e, `cannot open HSM token "${config.tokenLabel}"`);
    }
  }

  // ---- health ----

  /**
   * False from the first fault that says the token is in trouble (a timeout; CKR_DEVICE_REMOVED, CKR_DEVICE_ERROR,
   * CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_USER_NOT_LOGGED_IN, CKR_GENERAL_ERROR,
   * CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED, …; the token gone from its slot) until the Hsm has
   * re-initialised; false once closed. While false every call is refused with UNAVAILABLE (reason 'unhealthy').
   */
  get healthy(): boolean {
    return this.#healthy && this.#closing === undefined;
  }

  /** The error that last made the Hsm unhealthy or failed a re-initialisation; kept after recovery. */
  get lastError(): HsmError | undefined {
    return this.#lastError;
  }

  /** Successful re-initialisations since open. */
  get reinitializations(): number {
    return this.#reinitializations;
  }

  /** Public calls accepted and not yet settled. */
  get inFlight(): number {
    return this.#active;
  }

  /** Sessions abandoned after a timed-out call whose native call has not returned yet. */
  get quarantinedSessions(): number {
    return this.#quarantined;
  }

  /**
   * Calls `listener` on every change of `healthy` (synchronously, in the order of changes). Returns a function
   * that removes it. A listener that throws is logged and otherwise ignored.
   */
  onHealthChange(listener: HsmHealthListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  // ---- operations ----

  /**
   * Generates a key pair on the token: the private half sensitive, never extractable, on the token, private and
   * for signing only; a random 16-byte CKA_ID shared by both halves. Reads the protection attributes back and
   * destroys the pair (KEY_NOT_PROTECTED) if the token did not honour them. CURVE_UNSUPPORTED when the token lacks
   * the mechanisms or refuses the curve.
   */
  generateKey(curve: Curve, label: string): Promise<KeyInfo> {
    return this.#op(async () => {
      checkCurve(curve);
      if (typeof label !== 'string' || label.length === 0 || Buffer.byteLength(label, 'utf8') > MAX_LABEL_BYTES) {
        throw new HsmError('INVALID_INPUT', `a key label must be 1 to ${MAX_LABEL_BYTES} bytes of UTF-8`);
      }
      this.#assertCurve(curve);
      const mech = MECHANISMS[curve];
      const keyId = randomBytes(KEY_ID_BYTES);
      const p = this.#p;

      return this.#run(`${curve} key generation`, async (lease) => {
        const shared: Template = [
          { type: CKA_KEY_TYPE, value: mech.keyType },
          { type: CKA_ID, value: keyId },
          { type: CKA_LABEL, value: label },
          { type: CKA_TOKEN, value: true },
        ];
        const publicTemplate: Template = [
          { type: CKA_CLASS, value: CKO_PUBLIC_KEY },
          ...shared,
          { type: CKA_VERIFY, value: true },
          { type: CKA_EC_PARAMS, value: Buffer.from(curve === 'ed25519' ? EC_PARAMS_ED25519 : EC_PARAMS_SECP256K1) },
        ];
        const privateTemplate: Template = [
          { type: CKA_CLASS, value: CKO_PRIVATE_KEY },
          ...shared,
          { type: CKA_PRIVATE, value: true },
          { type: CKA_SENSITIVE, value: true },
          { type: CKA_EXTRACTABLE, value: false },
          { type: CKA_SIGN, value: true },
        ];

        this.#assertHealthy();
        const pair = await this.#onLease(lease, `the token refused to generate a ${curve} key`, () =>
          p.C_GenerateKeyPairAsync(lease.handle, { mechanism: mech.keyGen }, publicTemplate, privateTemplate), {
          ms: this.#timeouts.generateMs,
          kinds: {
            CKR_MECHANISM_INVALID: 'CURVE_UNSUPPORTED',
            CKR_MECHANISM_PARAM_INVALID: 'CURVE_UNSUPPORTED',
            CKR_ATTRIBUTE_VALUE_INVALID: 'CURVE_UNSUPPORTED',
            CKR_CURVE_NOT_SUPPORTED: 'CURVE_UNSUPPORTED',
            CKR_DOMAIN_PARAMS_INVALID: 'CURVE_UNSUPPORTED',
            CKR_TEMPLATE_INCONSISTENT: 'KEY_NOT_PROTECTED',
          },
        });

        try {
          const protection = await readProtection((what, fn, opts) => this.#onLease(lease, what, fn, opts), p, lease.handle, pair.privateKey);
          const wrong = protectionProblems(protection);
          if (wrong.length > 0) {
            throw new HsmError('KEY_NOT_PROTECTED', `the token generated a ${curve} key whose private half is not protected as required (${wrong.join(', ')})`);
          }
          const [ecPoint] = await this.#onLease(lease, `cannot read the public key of a new ${curve} key`, () =>
            p.C_GetAttributeValue(lease.handle, pair.publicKey, [{ type: CKA_EC_POINT }]),
          );
          const publicKey = ecPoint === undefined ? undefined : decodeEcPoint(curve, ecPoint.value);
          if (publicKey === undefined) {
            throw new HsmError('CURVE_UNSUPPORTED', `the token generated a ${curve} key whose public key is not a valid ${curve} point`);
          }
          const entry = this.#cache(keyId, curve, pair.privateKey, publicKey);
          return { keyId: Uint8Array.from(keyId), curve, publicKey: Uint8Array.from(entry.publicKey) };
        } catch (e) {
          // Never leave a key behind that was not handed out: destroy both halves, then report why.
          if (lease.timedOut !== undefined) {
            // The session is still busy with the call that timed out; its CKA_ID was never handed out, so the pair
            // is unreachable through this appliance, but it stays on the token.
            this.#log('error', `a ${curve} key pair was left on the token: its check timed out`, { keyId: hex(keyId) });
          } else {
            for (const [what, handle] of [['private', pair.privateKey], ['public', pair.publicKey]] as const) {
              try {
                await this.#onLease(lease, 'destroy', () => p.C_DestroyObject(lease.handle, handle));
              } catch (destroyError) {
                this.#log('error', `cannot destroy the ${what} half of a rejected ${curve} key`, {
                  keyId: hex(keyId),
                  ckr: toHsmError(destroyError, 'destroy').ckr,
                });
                if (lease.timedOut !== undefined) break;
              }
            }
          }
          throw toHsmError(e, `cannot check the new ${curve} key`);
        }
      });
    });
  }

  /**
   * Finds the key pair with CKA_ID `keyId` on `curve` and returns its public key. Always asks the token (and
   * refreshes the handle cache), so a key deleted from the token is reported as KEY_NOT_FOUND.
   */
  getKey(keyId: Uint8Array, curve: Curve): Promise<KeyInfo> {
    return this.#op(async () => {
      checkKeyId(keyId);
      checkCurve(curve);
      this.#assertCurve(curve);
      return this.#run(`${curve} key lookup`, async (lease) => {
        const entry = await this.#lookup(lease, keyId, curve);
        return { keyId: Uint8Array.from(keyId), curve, publicKey: Uint8Array.from(entry.publicKey) };
      });
    });
  }

  /** The protection attributes of the private key with CKA_ID `keyId` (any curve). */
  keyProtection(keyId: Uint8Array): Promise<KeyProtection> {
    return this.#op(async () => {
      checkKeyId(keyId);
      return this.#run('key protection read', async (lease) => {
        const priv = await this.#findOne(lease, [{ type: CKA_CLASS, value: CKO_PRIVATE_KEY }, { type: CKA_ID, value: Buffer.from(keyId) }], `private key with CKA_ID ${hex(keyId)}`);
        return readProtection((what, fn, opts) => this.#onLease(lease, what, fn, opts), this.#p, lease.handle, priv);
      });
    });
  }

  /**
   * Signs `message` (non-empty) with the Ed25519 key `keyId` (pure EdDSA: the token hashes). Returns the 64-byte
   * signature, verified against the key's public key.
   */
  signEd25519(keyId: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
    return this.#op(async () => {
      checkKeyId(keyId);
      // Empty messages are refused: pkcs11js hands the module a NULL pointer for them, which tokens reject
      // (CKR_ARGUMENTS_BAD), and no signing use here has an empty message.
      if (!(message instanceof Uint8Array) || message.length === 0) {
        throw new HsmError('INVALID_INPUT', 'the message must be a non-empty Uint8Array');
      }
      this.#assertCurve('ed25519');
      // A private copy: the caller may reuse its buffer while the token works, and the check must see what was signed.
      const data = Buffer.from(message);
      return this.#signChecked(keyId, 'ed25519', data, async (entry, sig) =>
        (await entry.ed?.verifyAsync(data, sig)) === true ? Uint8Array.from(sig) : undefined,
      );
    });
  }

  /**
   * Signs the 32-byte `digest` with the secp256k1 key `keyId`. The result is low-S, carries the recovery bit that
   * recovers this key's public key, and has been verified against it.
   */
  signSecp256k1(keyId: Uint8Array, digest: Uint8Array): Promise<Secp256k1Signature> {
    return this.#op(async () => {
      checkKeyId(keyId);
      if (!(digest instanceof Uint8Array) || digest.length !== 32) {
        throw new HsmError('INVALID_INPUT', `a secp256k1 digest must be exactly 32 bytes (got ${digest instanceof Uint8Array ? digest.length : typeof digest})`);
      }
      this.#assertCurve('secp256k1');
      const data = Buffer.from(digest);
      return this.#signChecked(keyId, 'secp256k1', data, (entry, sig) => {
        const finisher = entry.secp;
        if (finisher === undefined) return undefined;
        this.#maybeWarm(entry, finisher);
        return finisher.finish(sig, data);
      });
    });
  }

  /**
   * Cheap liveness check: the token is still in its slot, and the login session exists and is logged in (logging
   * in again if the token forgot). Throws UNAVAILABLE otherwise (and a fault marks the Hsm unhealthy).
   */
  ping(): Promise<void> {
    return this.#op(async () => {
      try {
        await this.#probe();
      } catch (e) {
        const err = toHsmError(e, `HSM token "${this.tokenLabel}" is not usable`);
        const out = err.kind === 'UNAVAILABLE' ? err : new HsmError('UNAVAILABLE', err.message, { ckr: err.ckr, cause: err });
        if (isHealthFault(out)) this.#markUnhealthy(out);
        throw out;
      }
    });
  }

  /**
   * Stops the health probe and the re-initialisation supervisor, waits for operations already accepted, closes
   * every session and releases the module. Health listeners hear `false` once. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  // ---- internals: life cycle ----

  async #shutdown(): Promise<void> {
    // New calls are refused from here on (#assertOpen); wait for the accepted ones, retries and checks included.
    if (this.#probeTimer !== undefined) clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
    this.#wake?.();
    // Calls already accepted still run to the end (the health gate inside them looks at faults only).
    if (this.#healthy) this.#emit(false, closedError());
    await this.#idle();
    await this.#supervisor;
    const slots = await this.#pool.close();
    const p = this.#p;
    for (const slot of slots) {
      if (slot.handle !== undefined) quietly(() => p.C_CloseSession(slot.handle as Handle));
      slot.handle = undefined;
    }
    if (this.#loginSession !== undefined) quietly(() => p.C_CloseSession(this.#loginSession as Handle));
    this.#loginSession = undefined;
    for (const entry of this.#warm) entry.secp?.coolDown();
    this.#warm.clear();
    this.#keys.clear();
    this.#pin = '';
    this.#libraryGeneration++;
    const stragglers = this.#native.pending;
    if (stragglers > 0) {
      this.#log('warn', `${stragglers} PKCS#11 call(s) never returned; releasing the module without C_Finalize`, { tokenLabel: this.tokenLabel });
    }
    this.#module.release({ finalize: stragglers === 0 });
    this.#listeners.clear();
    this.#log('info', `HSM token "${this.tokenLabel}" closed`, { tokenLabel: this.tokenLabel });
  }

  /** Runs a public operation: refused once closing or while unhealthy, counted until it settles. */
  async #op<T>(fn: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    this.#assertHealthy();
    this.#active++;
    try {
      return await fn();
    } finally {
      this.#active--;
      if (this.#active === 0 && this.#idleWaiters.length > 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** Resolves once no public operation is in flight. */
  #idle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw closedError();
  }

  #assertHealthy(): void {
    if (this.#healthy) return;
    const why = this.#lastError;
    throw new HsmError(
      'UNAVAILABLE',
      this.#gaveUp ? 'hsm unhealthy, automatic re-initialisation stopped (see the log); restart once the token is fixed' : 'hsm unhealthy, re-initialising',
      { ckr: why?.ckr, cause: why, reason: 'unhealthy' },
    );
  }

  #assertCurve(curve: Curve): void {
    if (!this.capabilities[curve]) {
      throw new HsmError('CURVE_UNSUPPORTED', `HSM token "${this.tokenLabel}" cannot do ${curve} (it lacks ${MECHANISMS[curve].names})`);
    }
  }

  #emit(healthy: boolean, error: HsmError | undefined): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(healthy, error);
      } catch (e) {
        this.#log('error', 'an HSM health listener threw', { error: e instanceof Error ? e.name : typeof e });
      }
    }
  }

  /** Turns the Hsm unhealthy (once per episode), tells the listeners, and starts the supervisor. */
  #markUnhealthy(err: HsmError): void {
    if (!this.#healthy) return;
    this.#lastError = err;
    this.#healthy = false;
    // Closing: the calls still draining are refused from here on, but nothing is re-initialised or announced.
    if (this.#closing !== undefined) return;
    this.#log('error', `HSM token "${this.tokenLabel}" is unhealthy; refusing calls and re-initialising: ${err.message}`, {
      tokenLabel: this.tokenLabel,
      ckr: err.ckr,
      reason: err.reason,
      inFlight: this.#active,
    });
    this.#emit(false, err);
    // #supervise clears #supervisor itself before it announces recovery, so a fault right after always starts anew.
    if (!this.#gaveUp && this.#supervisor === undefined) this.#supervisor = this.#supervise();
  }

  /** Equal jitter: somewhere in [d/2, d] for d = initial × 2^attempt, capped. Never shorter than the attempt before. */
  #backoff(attempt: number): number {
    const { initialDelayMs, maxDelayMs } = this.#recovery;
    const d = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt, 40));
    return d / 2 + (Math.random() * d) / 2;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /** Re-initialises with backoff until it works, the Hsm closes, or retrying could lock the PIN. */
  async #supervise(): Promise<void> {
    // A fault soon after the last recovery continues that backoff instead of starting over: a token that keeps
    // failing is not hammered with C_Initialize every 250 ms.
    let attempt = Date.now() - this.#recoveredAt < this.#recovery.maxDelayMs ? this.#recoveredAfter : 0;
    for (; ; attempt++) {
      const delay = this.#backoff(attempt);
      await this.#sleep(delay);
      this.#wake = undefined;
      if (this.#closing !== undefined) return;
      // New calls are refused meanwhile; the ones accepted before the fault finish or time out.
      await this.#idle();
      if (this.#closing !== undefined) return;
      let mode: string;
      try {
        mode = await this.#reinitialise();
      } catch (e) {
        const err = toHsmError(e, 'HSM re-initialisation');
        this.#lastError = err;
        if (err.kind === 'LOGIN_FAILED') {
          this.#gaveUp = true;
          this.#log('error', `HSM re-initialisation stopped: ${err.message}; retrying could lock the user PIN`, { tokenLabel: this.tokenLabel, ckr: err.ckr, attempt: attempt + 1 });
          return;
        }
        this.#log('warn', `HSM re-initialisation attempt failed: ${err.message}`, {
          tokenLabel: this.tokenLabel,
          ckr: err.ckr,
          reason: err.reason,
          attempt: attempt + 1,
          nextInMs: Math.round(Math.min(this.#recovery.maxDelayMs, this.#recovery.initialDelayMs * 2 ** Math.min(attempt + 1, 40))),
        });
        continue;
      }
      if (this.#closing !== undefined) return;
      this.#reinitializations++;
      this.#recoveredAt = Date.now();
      this.#recoveredAfter = attempt + 1;
      this.#supervisor = undefined;
      this.#healthy = true;
      this.#log('info', 'HSM re-initialised', {
        tokenLabel: this.tokenLabel,
        attempts: attempt + 1,
        mode,
        reinitializations: this.#reinitializations,
        quarantinedSessions: this.#quarantined,
      });
      this.#emit(true, undefined);
      return;
    }
  }

  /**
   * One re-initialisation attempt, with no public call in flight: abandon every session, finalise and initialise
   * the library (when allowed), find the token by label, log in, reopen the pool, ping. Returns which it was.
   */
  async #reinitialise(): Promise<'finalize' | 'sessions'> {
    const p = this.#p;
    // C_Finalize under a native call that never returned (a quarantined session) could pull memory from under it;
    // and another holder of the module would lose its sessions. Then only this Hsm's sessions are replaced.
    const full = this.#native.pending === 0 && this.#module.exclusive;
    if (!full) {
      for (const s of this.#slots) {
        const h = s.handle;
        if (h !== undefined) quietly(() => p.C_CloseSession(h));
      }
      const login = this.#loginSession;
      if (login !== undefined) quietly(() => p.C_CloseSession(login));
    }
    for (const s of this.#slots) s.handle = undefined;
    this.#loginSession = undefined;
    this.#keyGeneration++;
    if (full) {
      this.#libraryGeneration++;
      try {
        this.#module.reinitialize();
      } catch (e) {
        throw toHsmError(e, 'C_Finalize + C_Initialize');
      }
    }
    const c = await connect(
      this.#call, p,
      { tokenLabel: this.tokenLabel, module: this.#module.path, pin: this.#pin, pinFile: this.#pinFile, sessions: this.#slots.length },
      this.#log, 'refuse',
    );
    this.#slot = c.slot;
    this.#loginSession = c.loginSession;
    c.sessions.forEach((h, i) => {
      (this.#slots[i] as SessionSlot).handle = h;
    });
    await this.#probe();
    return full ? 'finalize' : 'sessions';
  }

  #probeTick(): void {
    if (this.#probing || !this.#healthy || this.#closing !== undefined) return;
    this.#probing = true;
    this.ping()
      .catch(() => undefined) // ping logged and marked it
      .finally(() => (this.#probing = false));
  }

  /** The token is still in its slot, and the application is logged in (again, if need be). */
  async #probe(): Promise<void> {
    await this.#assertTokenPresent();
    await this.#ensureLoggedIn();
  }

  /**
   * UNAVAILABLE unless the slot still holds the initialised token with our label. SoftHSM2 whose token files
   * vanished answers CKR_GENERAL_ERROR here, while C_FindObjects quietly finds nothing.
   */
  async #assertTokenPresent(): Promise<void> {
    const p = this.#p;
    const slot = this.#slot;
    const info = await this.#call(`cannot read token "${this.tokenLabel}"`, () => p.C_GetTokenInfo(slot));
    if ((info.flags & CKF_TOKEN_INITIALIZED) === 0 || info.label.replace(/[\s\0]+$/, '') !== this.tokenLabel) {
      throw new HsmError('UNAVAILABLE', `HSM token "${this.tokenLabel}" is no longer in its slot`, { reason: 'token-gone' });
    }
  }

  // ---- internals: sessions ----

  /** A call on a leased session: a timeout marks the lease, so `#run` quarantines the session. */
  #onLease<T>(lease: Lease, what: string, fn: () => T, opts: CallOptions = {}): Promise<Awaited<T>> {
    return this.#call(what, fn, {
      ...opts,
      onTimeout: (straggler) => {
        lease.timedOut ??= { straggler };
      },
    });
  }

  /**
   * Runs `fn` on a session borrowed from the pool and always gives the slot back. A session is discarded (closed,
   * and reopened by its next borrower) when `fn` fails with the session possibly mid-operation or unusable, and
   * quarantined (abandoned, never closed while its call may still run) when a call on it timed out. A health fault
   * marks the Hsm unhealthy before the slot goes back, so the next borrower is refused.
   */
  async #run<T>(what: string, fn: (lease: Lease) => Promise<T>): Promise<T> {
    const slot = await this.#pool.acquire();
    let lease: Lease | undefined;
    try {
      // A call that waited for a session while the Hsm turned unhealthy does not start.
      this.#assertHealthy();
      lease = { handle: slot.handle ?? (await this.#reopen(slot)), dirty: false };
      return await fn(lease);
    } catch (e) {
      const err = toHsmError(e, what);
      if (lease?.timedOut !== undefined) {
        this.#quarantine(slot, lease, err);
      } else if (
        lease?.dirty === true ||
        (err.kind === 'UNAVAILABLE' && err.reason !== 'unhealthy' && err.reason !== 'closed') ||
        (err.ckr !== undefined && SESSION_LOST.has(err.ckr))
      ) {
        this.#discard(slot, err);
      }
      if (isHealthFault(err)) this.#markUnhealthy(err);
      throw err;
    } finally {
      this.#pool.release(slot);
    }
  }

  #discard(slot: SessionSlot, why: HsmError): void {
    const handle = slot.handle;
    if (handle === undefined) return;
    slot.handle = undefined;
    quietly(() => this.#p.C_CloseSession(handle));
    this.#log('warn', 'discarded a PKCS#11 session after a failed operation; it is reopened on next use', {
      tokenLabel: this.tokenLabel,
      ckr: why.ckr,
      kind: why.kind,
    });
  }

  /** Takes a session whose call timed out out of the pool for good; its slot gets a new session on next use. */
  #quarantine(slot: SessionSlot, lease: Lease, why: HsmError): void {
    if (slot.handle !== undefined && slot.handle.equals(lease.handle)) slot.handle = undefined;
    this.#log('warn', 'quarantined a PKCS#11 session after a timed-out call; it is never reused', {
      tokenLabel: this.tokenLabel,
      call: why.message,
    });
    this.#abandon(lease.handle, lease.timedOut?.straggler);
  }

  /**
   * Forgets a session that a timed-out call may still be using. Once that call returns, the session is closed
   * (unless the library was finalised meanwhile: the handle may name a new session by then).
   */
  #abandon(session: Handle, straggler: Straggler | undefined): void {
    const generation = this.#libraryGeneration;
    const closeIt = (): void => {
      if (generation === this.#libraryGeneration) quietly(() => this.#p.C_CloseSession(session));
    };
    if (straggler === undefined) {
      closeIt(); // the late call has returned already
      return;
    }
    this.#quarantined++;
    void straggler.then(() => {
      this.#quarantined--;
      closeIt();
    });
  }

  /** A C_OpenSession that timed out may still open a session: close it when it does. */
  #closeLateSession(straggler: Straggler | undefined): void {
    const generation = this.#libraryGeneration;
    void straggler?.then((h) => {
      if (Buffer.isBuffer(h) && generation === this.#libraryGeneration) quietly(() => this.#p.C_CloseSession(h));
    });
  }

  /** Opens a replacement pool session, logging in again first if the token lost the login. */
  async #reopen(slot: SessionSlot): Promise<Handle> {
    const p = this.#p;
    const open = (): Promise<Handle> =>
      this.#call('cannot open a PKCS#11 session', () => p.C_OpenSession(this.#slot, SESSION_FLAGS), {
        onTimeout: (s) => this.#closeLateSession(s),
      });
    let handle: Handle;
    try {
      handle = await open();
    } catch (e) {
      // A token that was removed and reinserted may sit in another slot now.
      const err = toHsmError(e, 'cannot open a PKCS#11 session');
      if (err.ckr === undefined || !SLOT_MOVED.has(err.ckr)) throw err;
      try {
        this.#slot = await findToken(this.#call, p, this.tokenLabel, this.#module.path);
      } catch (findError) {
        const fe = toHsmError(findError, 'token lookup');
        throw new HsmError('UNAVAILABLE', `cannot open a PKCS#11 session: ${fe.message}`, {
          ckr: fe.ckr,
          cause: findError,
          ...(fe.kind === 'TOKEN_NOT_FOUND' ? { reason: 'token-gone' as const } : {}),
        });
      }
      handle = await open();
      const stale = this.#loginSession;
      if (stale !== undefined) quietly(() => p.C_CloseSession(stale));
      this.#loginSession = undefined;
    }
    try {
      const info = await this.#call('C_GetSessionInfo failed', () => p.C_GetSessionInfo(handle), {
        onTimeout: (s) => this.#abandon(handle, s),
      });
      if (!isUserState(info.state)) await this.#ensureLoggedIn();
    } catch (e) {
      const err = toHsmError(e, 'cannot log in again');
      if (err.reason !== 'timeout') quietly(() => p.C_CloseSession(handle));
      throw err;
    }
    slot.handle = handle;
    return handle;
  }

  /** Makes sure the login session exists and the application is logged in as user. */
  async #ensureLoggedIn(): Promise<void> {
    const p = this.#p;
    // A call on the login session that times out abandons it; the next caller opens another.
    const abandonLogin = (session: Handle) => (straggler: Straggler | undefined) => {
      if (this.#loginSession !== undefined && this.#loginSession.equals(session)) this.#loginSession = undefined;
      this.#abandon(session, straggler);
    };
    const current = this.#loginSession;
    if (current !== undefined) {
      try {
        const info = await this.#call('C_GetSessionInfo failed', () => p.C_GetSessionInfo(current), { onTimeout: abandonLogin(current) });
        if (isUserState(info.state)) return;
      } catch (e) {
        const err = toHsmError(e, 'C_GetSessionInfo failed');
        if (err.ckr === undefined || !SESSION_LOST.has(err.ckr)) throw err;
        quietly(() => p.C_CloseSession(current));
        this.#loginSession = undefined;
      }
    }
    let session = this.#loginSession;
    if (session === undefined) {
      session = await this.#call('cannot open the login session', () => p.C_OpenSession(this.#slot, SESSION_FLAGS), {
        onTimeout: (s) => this.#closeLateSession(s),
      });
      this.#loginSession = session;
    }
    const s = session;
    await login(this.#call, p, s, this.#pin, this.tokenLabel, this.#pinFile, abandonLogin(s));
    const after = await this.#call('C_GetSessionInfo failed', () => p.C_GetSessionInfo(s), { onTimeout: abandonLogin(s) });
    if (!isUserState(after.state)) {
      throw new HsmError('UNAVAILABLE', `HSM token "${this.tokenLabel}" does not report a logged-in session after C_Login`);
    }
    this.#log('info', `logged in to HSM token "${this.tokenLabel}" again`, { tokenLabel: this.tokenLabel });
  }

  // ---- internals: signing and keys ----

  /**
   * Signs `data` and checks the signature with `check`, which returns the finished result or undefined when the
   * signature does not verify. The session is held only for the token's part: the check runs after it is back in
   * the pool, so the token is never idle while JavaScript verifies. A signature that fails the check is signed again
   * once after a fresh key lookup (a fault in the token, or a cached handle that now names another object); a
   * second failure is refused.
   */
  async #signChecked<T>(
    keyId: Uint8Array,
    curve: Curve,
    data: Buffer,
    check: (entry: CachedKey, signature: Buffer) => T | undefined | Promise<T | undefined>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { entry, signature } = await this.#run(`${curve} sign`, (lease) => this.#signOnce(lease, keyId, curve, data));
      const result = await check(entry, signature);
      if (result !== undefined) return result;
      this.#forget(entry);
      if (attempt === 1) {
        this.#log('warn', `${curve} signature did not verify against the key; signing again after a fresh key lookup`, {
          keyId: hex(keyId),
        });
        continue;
      }
      this.#log('error', `${curve} signature did not verify against the key twice; refusing it`, { keyId: hex(keyId) });
      throw new HsmError('UNAVAILABLE', `the token returned a ${curve} signature that does not verify against key ${hex(keyId)}; refused`);
    }
  }

  /**
   * One C_SignInit + C_SignAsync with the cached (or freshly found) key; a stale handle is looked up once more.
   * Nothing is started on the token once the Hsm is unhealthy; a signature the token was already computing when
   * it turned unhealthy is still checked and returned.
   */
  async #signOnce(lease: Lease, keyId: Uint8Array, curve: Curve, data: Buffer): Promise<{ entry: CachedKey; signature: Buffer }> {
    const p = this.#p;
    for (let attempt = 1; ; attempt++) {
      const entry = await this.#keyFor(lease, keyId, curve);
      this.#assertHealthy();
      try {
        await this.#onLease(lease, `${curve} sign: C_SignInit refused`, () => p.C_SignInit(lease.handle, { mechanism: MECHANISMS[curve].sign }, entry.priv), {
          kinds: {
            CKR_MECHANISM_INVALID: 'CURVE_UNSUPPORTED',
            CKR_KEY_HANDLE_INVALID: 'UNAVAILABLE',
            CKR_OBJECT_HANDLE_INVALID: 'UNAVAILABLE',
          },
        });
      } catch (e) {
        const err = toHsmError(e, `${curve} sign: C_SignInit refused`);
        if (attempt === 1 && err.ckr !== undefined && STALE_HANDLE.has(err.ckr)) {
          this.#forget(entry);
          continue;
        }
        if (attempt === 1 && err.ckr === 'CKR_USER_NOT_LOGGED_IN') {
          await this.#ensureLoggedIn();
          continue;
        }
        throw err;
      }
      lease.dirty = true;
      // Both signatures here are 64 bytes (Ed25519 R‖S; ECDSA r‖s on a 256-bit curve).
      const signature = await this.#onLease(lease, `${curve} sign failed`, () => p.C_SignAsync(lease.handle, data, Buffer.alloc(64)), {
        ms: this.#timeouts.signMs,
      });
      lease.dirty = false;
      entry.uses++;
      return { entry, signature };
    }
  }

  async #keyFor(lease: Lease, keyId: Uint8Array, curve: Curve): Promise<CachedKey> {
    const cacheKey = `${curve}:${hex(keyId)}`;
    const hit = this.#keys.get(cacheKey);
    if (hit !== undefined && hit.generation === this.#keyGeneration) {
      // Re-insert to keep the Map in least-recently-used order.
      this.#keys.delete(cacheKey);
      this.#keys.set(cacheKey, hit);
      return hit;
    }
    // Not cached, or cached before a re-initialisation (its handle may name nothing now): ask the token.
    return this.#lookup(lease, keyId, curve);
  }

  /** Finds the key pair on the token, checks its curve and public point, and caches the private handle. */
  async #lookup(lease: Lease, keyId: Uint8Array, curve: Curve): Promise<CachedKey> {
    const p = this.#p;
    const id = Buffer.from(keyId);
    const keyType = MECHANISMS[curve].keyType;
    const what = `${curve} key with CKA_ID ${hex(keyId)}`;
    const privTemplate: Template = [{ type: CKA_CLASS, value: CKO_PRIVATE_KEY }, { type: CKA_KEY_TYPE, value: keyType }, { type: CKA_ID, value: id }];
    let privs = await this.#find(lease, privTemplate);
    // Private objects are invisible to a session that is not logged in: before calling the key missing, make sure
    // the token has not forgotten the login (a logout elsewhere in the process, a token reset).
    if (privs.length === 0) {
      const info = await this.#onLease(lease, 'C_GetSessionInfo failed', () => p.C_GetSessionInfo(lease.handle));
      if (!isUserState(info.state)) {
        await this.#ensureLoggedIn();
        privs = await this.#find(lease, privTemplate);
      }
    }
    if (privs.length === 0) await this.#assertTokenPresent();
    const priv = single(privs, `private ${what}`);
    const pub = await this.#findOne(lease, [{ type: CKA_CLASS, value: CKO_PUBLIC_KEY }, { type: CKA_KEY_TYPE, value: keyType }, { type: CKA_ID, value: id }], `public ${what}`);
    const attrs = await this.#onLease(lease, `cannot read the public ${what}`, () =>
      p.C_GetAttributeValue(lease.handle, pub, [{ type: CKA_EC_PARAMS }, { type: CKA_EC_POINT }]),
    );
    const params = attrs[0]?.value;
    const point = attrs[1]?.value;
    if (params === undefined || !ecParamsMatch(curve, params)) {
      throw new HsmError('KEY_NOT_FOUND', `the key with CKA_ID ${hex(keyId)} is not on ${curve}`);
    }
    const publicKey = point === undefined ? undefined : decodeEcPoint(curve, point);
    if (publicKey === undefined) {
      throw new HsmError('KEY_NOT_FOUND', `the public ${what} does not hold a valid ${curve} point`);
    }
    const cached = this.#keys.get(`${curve}:${hex(keyId)}`);
    if (cached !== undefined && bytesEqual(cached.publicKey, publicKey)) {
      // The same key (after a re-initialisation, say): keep its verifier and warm table, refresh the handle.
      cached.priv = priv;
      cached.generation = this.#keyGeneration;
      return cached;
    }
    return this.#cache(keyId, curve, priv, publicKey);
  }

  #cache(keyId: Uint8Array, curve: Curve, priv: Handle, publicKey: Uint8Array): CachedKey {
    const cacheKey = `${curve}:${hex(keyId)}`;
    const old = this.#keys.get(cacheKey);
    if (old !== undefined) this.#forget(old);
    const entry: CachedKey = {
      cacheKey,
      keyId: Uint8Array.from(keyId),
      curve,
      priv,
      generation: this.#keyGeneration,
      publicKey,
      uses: 0,
      ...(curve === 'ed25519' ? { ed: new Ed25519Verifier(publicKey) } : { secp: new Secp256k1Finisher(publicKey) }),
    };
    this.#keys.set(cacheKey, entry);
    if (this.#keys.size > MAX_CACHED_KEYS) {
      const oldest = this.#keys.values().next().value;
      if (oldest !== undefined) this.#forget(oldest);
    }
    return entry;
  }

  #forget(entry: CachedKey): void {
    if (this.#keys.get(entry.cacheKey) === entry) this.#keys.delete(entry.cacheKey);
    if (this.#warm.delete(entry)) entry.secp?.coolDown();
  }

  /** Keeps the most recently busy secp256k1 keys' verification tables warm, a bounded number of them. */
  #maybeWarm(entry: CachedKey, finisher: Secp256k1Finisher): void {
    if (finisher.warm) {
      this.#warm.delete(entry);
      this.#warm.add(entry);
      return;
    }
    if (entry.uses < WARM_AFTER_USES) return;
    finisher.warmUp();
    this.#warm.add(entry);
    if (this.#warm.size > MAX_WARM_SECP256K1_KEYS) {
      const coldest = this.#warm.values().next().value;
      if (coldest !== undefined) {
        this.#warm.delete(coldest);
        coldest.secp?.coolDown();
      }
    }
  }

  /** C_FindObjects for `template` (at most 2 hits: enough to tell "one" from "ambiguous"). */
  async #find(lease: Lease, template: Template): Promise<Handle[]> {
    const p = this.#p;
    await this.#onLease(lease, 'C_FindObjectsInit failed', () => p.C_FindObjectsInit(lease.handle, template));
    lease.dirty = true;
    const found = await this.#onLease(lease, 'C_FindObjects failed', () => p.C_FindObjects(lease.handle, 2));
    await this.#onLease(lease, 'C_FindObjectsFinal failed', () => p.C_FindObjectsFinal(lease.handle));
    lease.dirty = false;
    return found;
  }

  /**
   * The one object matching `template`; KEY_NOT_FOUND when there is none, but only once the token is confirmed
   * present: a token whose files vanished finds nothing without an error (SoftHSM2), and that is not a missing key.
   */
  async #findOne(lease: Lease, template: Template, what: string): Promise<Handle> {
    const found = await this.#find(lease, template);
    if (found.length === 0) await this.#assertTokenPresent();
    return single(found, what);
  }
}

// ---- helpers (no state) ----

function stderrLog(level: HsmLogLevel, msg: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${new Date().toISOString()} ${level} hsm: ${msg}${fields === undefined ? '' : ' ' + JSON.stringify(fields)}\n`);
}

function closedError(): HsmError {
  return new HsmError('UNAVAILABLE', 'the HSM is closed', { reason: 'closed' });
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  if (o === undefined) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkConfig(config: HsmConfig): void {
  if (typeof config !== 'object' || config === null) throw new HsmError('INVALID_INPUT', 'the HSM config is missing');
  for (const field of ['module', 'tokenLabel', 'pinFile'] as const) {
    if (typeof config[field] !== 'string' || config[field].length === 0) {
      throw new HsmError('INVALID_INPUT', `the HSM config needs a non-empty ${field}`);
    }
  }
  const n = config.sessions;
  if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > MAX_SESSIONS)) {
    throw new HsmError('INVALID_INPUT', `hsm sessions must be an integer from 1 to ${MAX_SESSIONS} (got ${String(n)})`);
  }
  const ms = (group: 'timeouts' | 'recovery', field: string, value: unknown, min: number): void => {
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_MS) {
      throw new HsmError('INVALID_INPUT', `hsm ${group}.${field} must be an integer number of milliseconds from ${min} to ${MAX_MS} (got ${String(value)})`);
    }
  };
  for (const [group, value] of [['timeouts', config.timeouts], ['recovery', config.recovery]] as const) {
    if (value !== undefined && (typeof value !== 'object' || value === null)) {
      throw new HsmError('INVALID_INPUT', `hsm ${group} must be an object`);
    }
  }
  for (const field of ['signMs', 'generateMs', 'callMs'] as const) ms('timeouts', field, config.timeouts?.[field], 1);
  ms('recovery', 'initialDelayMs', config.recovery?.initialDelayMs, 1);
  ms('recovery', 'maxDelayMs', config.recovery?.maxDelayMs, 1);
  ms('recovery', 'probeIntervalMs', config.recovery?.probeIntervalMs, 0);
  const initial = config.recovery?.initialDelayMs ?? DEFAULT_RECOVERY.initialDelayMs;
  const max = config.recovery?.maxDelayMs ?? DEFAULT_RECOVERY.maxDelayMs;
  if (max < initial) {
    throw new HsmError('INVALID_INPUT', `hsm recovery.maxDelayMs (${max}) must not be below recovery.initialDelayMs (${initial})`);
  }
}

function checkCurve(curve: Curve): void {
  if (curve !== 'ed25519' && curve !== 'secp256k1') {
    throw new HsmError('INVALID_INPUT', `unknown curve ${JSON.stringify(curve)}; expected ed25519 or secp256k1`);
  }
}

function checkKeyId(keyId: Uint8Array): void {
  if (!(keyId instanceof Uint8Array) || keyId.length === 0 || keyId.length > MAX_KEY_ID_BYTES) {
    throw new HsmError('INVALID_INPUT', `a key id must be 1 to ${MAX_KEY_ID_BYTES} bytes`);
  }
}

function isUserState(state: number): boolean {
  return state === CKS_RW_USER_FUNCTIONS || state === CKS_RO_USER_FUNCTIONS;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function timeoutError(what: string, ms: number): HsmError {
  return new HsmError('UNAVAILABLE', `${what}: timed out after ${ms} ms`, { reason: 'timeout' });
}

/**
 * The one way hsm/ calls PKCS#11 after loading the module: failures become HsmErrors (`what: CKR_…`), and every
 * call is bounded. A call that returns a promise (pkcs11js's *Async methods, or a wrapper) is raced against a
 * timer: on timeout it is abandoned (its promise still settles later and is counted in `native` until then). A
 * synchronous call holds the JavaScript thread and cannot be cut short: one that returns after its bound is
 * treated as timed out all the same, and its result is discarded.
 */
function makeCaller(native: NativeCalls, defaultMs: number): Caller {
  return <T,>(what: string, fn: () => T, opts: CallOptions = {}): Promise<Awaited<T>> => {
    const ms = opts.ms ?? defaultMs;
    const started = performance.now();
    let result: T;
    try {
      result = fn();
    } catch (e) {
      return Promise.reject(toHsmError(e, what, opts.kinds));
    }
    if (!isThenable(result)) {
      if (performance.now() - started > ms) {
        opts.onTimeout?.(undefined);
        return Promise.reject(timeoutError(what, ms));
      }
      return Promise.resolve(result as Awaited<T>);
    }
    const promise = Promise.resolve(result) as Promise<Awaited<T>>;
    native.pending++;
    const straggler: Straggler = promise.then(
      (v) => v,
      () => undefined,
    );
    void straggler.finally(() => native.pending--);
    return new Promise<Awaited<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        opts.onTimeout?.(straggler);
        reject(timeoutError(what, ms));
      }, ms);
      promise.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(toHsmError(e, what, opts.kinds));
        },
      );
    });
  };
}

/** Best effort: used only where the outcome does not change what happens next (a promise result is let go). */
function quietly(fn: () => unknown): void {
  try {
    const r = fn();
    if (isThenable(r)) (r as PromiseLike<unknown>).then(undefined, () => undefined);
  } catch {
    // Best effort.
  }
}

function single(found: Handle[], what: string): Handle {
  if (found.length === 0) throw new HsmError('KEY_NOT_FOUND', `no ${what} on the token`);
  if (found.length > 1) throw new HsmError('KEY_NOT_FOUND', `more than one ${what} on the token; refusing to guess`);
  return found[0] as Handle;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Logs in as user on `session`. An application already logged in (by any of its sessions) is fine. */
async function login(
  call: Caller,
  p: Pkcs11Like,
  session: Handle,
  pin: string,
  tokenLabel: string,
  pinFile: string,
  onTimeout?: (straggler: Straggler | undefined) => void,
): Promise<void> {
  try {
    await call('C_Login', () => p.C_Login(session, CKU_USER, pin), onTimeout === undefined ? {} : { onTimeout });
  } catch (e) {
    const err = toHsmError(e, 'C_Login');
    if (err.ckr === 'CKR_USER_ALREADY_LOGGED_IN') return;
    if (err.reason !== undefined) throw err; // a timeout
    if (err.kind === 'LOGIN_FAILED') {
      throw new HsmError('LOGIN_FAILED', `HSM token "${tokenLabel}" refused the PIN from ${pinFile} (${err.ckr})`, { ckr: err.ckr, cause: e });
    }
    throw new HsmError(err.kind, `cannot log in to HSM token "${tokenLabel}" (${err.ckr ?? 'no CKR'})`, { ckr: err.ckr, cause: e });
  }
}

/** Finds the slot holding the initialised token labelled `label`; TOKEN_NOT_FOUND names the labels present. */
async function findToken(call: Caller, p: Pkcs11Like, label: string, module: string): Promise<Handle> {
  const slots = await call('cannot list PKCS#11 slots', () => p.C_GetSlotList(true));
  const labels: string[] = [];
  const matches: Handle[] = [];
  for (const slot of slots) {
    let info;
    try {
      info = await call('C_GetTokenInfo', () => p.C_GetTokenInfo(slot));
    } catch (e) {
      if (toHsmError(e, 'C_GetTokenInfo').reason === 'timeout') throw e;
      continue; // a slot whose token vanished between the two calls
    }
    if ((info.flags & CKF_TOKEN_INITIALIZED) === 0) continue;
    const tokenLabel = info.label.replace(/[\s\0]+$/, '');
    labels.push(tokenLabel);
    if (tokenLabel === label) matches.push(slot);
  }
  if (matches.length > 1) {
    throw new HsmError('TOKEN_NOT_FOUND', `${matches.length} tokens are labelled "${label}" in ${module}; labels must be unique`);
  }
  const slot = matches[0];
  if (slot === undefined) {
    const present = labels.length === 0 ? 'no initialised tokens' : `tokens present: ${labels.map((l) => JSON.stringify(l)).join(', ')}`;
    throw new HsmError('TOKEN_NOT_FOUND', `no token labelled "${label}" in ${module} (${present})`);
  }
  return slot;
}

interface Connection {
  slot: Handle;
  loginSession: Handle;
  sessions: Handle[];
}

/**
 * Finds the token by label, checks its PIN flags, opens and logs in the login session and opens `sessions` pool
 * sessions; closes what it opened when it fails. `finalTry`: what to do when one more wrong PIN would lock the
 * user PIN — at open, warn and try (an operator is watching); at re-initialisation, refuse (LOGIN_FAILED) rather
 * than risk locking the token unattended.
 */
async function connect(
  call: Caller,
  p: Pkcs11Like,
  c: { tokenLabel: string; module: string; pin: string; pinFile: string; sessions: number },
  log: HsmLog,
  finalTry: 'warn' | 'refuse',
): Promise<Connection> {
  const opened: Handle[] = [];
  try {
    const slot = await findToken(call, p, c.tokenLabel, c.module);
    const { flags } = await call(`cannot read token "${c.tokenLabel}"`, () => p.C_GetTokenInfo(slot));
    if ((flags & CKF_USER_PIN_LOCKED) !== 0) {
      throw new HsmError('LOGIN_FAILED', `the user PIN of token "${c.tokenLabel}" is locked; the security officer must reset it`);
    }
    if ((flags & CKF_USER_PIN_FINAL_TRY) !== 0) {
      if (finalTry === 'refuse') {
        throw new HsmError('LOGIN_FAILED', `token "${c.tokenLabel}" is one wrong PIN away from locking the user PIN; not logging in unattended`);
      }
      log('warn', `token "${c.tokenLabel}" is one wrong PIN away from locking the user PIN`, { tokenLabel: c.tokenLabel });
    }

    const loginSession = await call('cannot open a PKCS#11 session', () => p.C_OpenSession(slot, SESSION_FLAGS));
    opened.push(loginSession);
    await login(call, p, loginSession, c.pin, c.tokenLabel, c.pinFile, () => {
      opened.splice(opened.indexOf(loginSession), 1); // still in use by the timed-out C_Login: never close it
    });

    const sessions: Handle[] = [];
    for (let i = 0; i < c.sessions; i++) {
      const s = await call(`cannot open PKCS#11 session ${i + 1} of ${c.sessions}`, () => p.C_OpenSession(slot, SESSION_FLAGS));
      opened.push(s);
      sessions.push(s);
    }
    return { slot, loginSession, sessions };
  } catch (e) {
    for (const s of opened) quietly(() => p.C_CloseSession(s));
    throw e;
  }
}

/** Reads the six protection attributes of a private key; KEY_NOT_PROTECTED when the token will not say. */
async function readProtection(call: Caller, p: Pkcs11Like, session: Handle, priv: Handle): Promise<KeyProtection> {
  const types = [CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_TOKEN, CKA_PRIVATE];
  const attrs = await call(
    'cannot read the protection attributes of the private key',
    () => p.C_GetAttributeValue(session, priv, types.map((type) => ({ type }))),
    { kinds: { CKR_ATTRIBUTE_TYPE_INVALID: 'KEY_NOT_PROTECTED', CKR_ATTRIBUTE_SENSITIVE: 'KEY_NOT_PROTECTED' } },
  );
  const bool = (i: number): boolean => {
    const v = attrs[i]?.value;
    if (v === undefined || v.length < 1) {
      throw new HsmError('KEY_NOT_PROTECTED', 'the token returned an empty protection attribute for the private key');
    }
    return v.some((b) => b !== 0);
  };
  return {
    sensitive: bool(0),
    extractable: bool(1),
    neverExtractable: bool(2),
    alwaysSensitive: bool(3),
    token: bool(4),
    private: bool(5),
  };
}

/** The attributes that are not as a signing key on this appliance requires. */
function protectionProblems(k: KeyProtection): string[] {
  const wrong: string[] = [];
  if (!k.sensitive) wrong.push('CKA_SENSITIVE is false');
  if (k.extractable) wrong.push('CKA_EXTRACTABLE is true');
  if (!k.neverExtractable) wrong.push('CKA_NEVER_EXTRACTABLE is false');
  if (!k.alwaysSensitive) wrong.push('CKA_ALWAYS_SENSITIVE is false');
  if (!k.token) wrong.push('CKA_TOKEN is false');
  if (!k.private) wrong.push('CKA_PRIVATE is false');
  return wrong;
}
