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
  ckrCode,
  errorCode,
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
  CKR_USER_ALREADY_LOGGED_IN,
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
}

/** Log levels hsm/ uses. */
export type HsmLogLevel = 'info' | 'warn' | 'error';
/** Structured log sink; `fields` never holds secrets. */
export type HsmLog = (level: HsmLogLevel, msg: string, fields?: Record<string, unknown>) => void;

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
const SESSION_LOST = new Set(
  ['CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_DEVICE_ERROR',
    'CKR_CRYPTOKI_NOT_INITIALIZED', 'CKR_USER_NOT_LOGGED_IN'].map((n) => ckrCode(n) ?? -1),
);
const CKR_USER_NOT_LOGGED_IN = ckrCode('CKR_USER_NOT_LOGGED_IN') ?? -1;
const STALE_HANDLE = new Set(['CKR_KEY_HANDLE_INVALID', 'CKR_OBJECT_HANDLE_INVALID'].map((n) => ckrCode(n) ?? -1));

interface SessionSlot {
  /** Undefined after the session was discarded; the next borrower opens a new one. */
  handle: Handle | undefined;
}

interface Lease {
  readonly handle: Handle;
  /** An operation (find, sign) was started on the session and may still be active if we bail out now. */
  dirty: boolean;
}

interface CachedKey {
  readonly cacheKey: string;
  readonly keyId: Uint8Array;
  readonly curve: Curve;
  readonly priv: Handle;
  readonly publicKey: Uint8Array;
  readonly ed?: Ed25519Verifier;
  readonly secp?: Secp256k1Finisher;
  uses: number;
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
  readonly #pool: Pool<SessionSlot>;
  readonly #keys = new Map<string, CachedKey>();
  readonly #warm = new Set<CachedKey>();
  #closing: Promise<void> | undefined;
  /** Public operations started and not yet settled (close waits for them, signature checks included). */
  #active = 0;
  #whenIdle: (() => void) | undefined;

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
    this.#pool = new Pool<SessionSlot>(
      init.sessions.map((handle) => ({ handle })),
      () => new HsmError('UNAVAILABLE', 'the HSM is closed'),
    );
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
    // The PIN file is checked before the module is touched: a misconfigured file should not cost a C_Initialize.
    const pin = await readPinFile(config.pinFile);

    let module: LoadedModule;
    try {
      module = openModule(config.module, options.pkcs11);
    } catch (e) {
      throw toHsmError(e, `cannot load the PKCS#11 module ${config.module}`);
    }
    const p = module.pkcs11;
    const opened: Handle[] = [];
    try {
      const slot = findToken(p, config.tokenLabel, config.module);
      const flags = call(() => p.C_GetTokenInfo(slot).flags, `cannot read token "${config.tokenLabel}"`);
      if ((flags & CKF_USER_PIN_LOCKED) !== 0) {
        throw new HsmError('LOGIN_FAILED', `the user PIN of token "${config.tokenLabel}" is locked; the security officer must reset it`);
      }
      if ((flags & CKF_USER_PIN_FINAL_TRY) !== 0) {
        log('warn', `token "${config.tokenLabel}" is one wrong PIN away from locking the user PIN`, { tokenLabel: config.tokenLabel });
      }

      const loginSession = call(() => p.C_OpenSession(slot, SESSION_FLAGS), 'cannot open a PKCS#11 session');
      opened.push(loginSession);
      login(p, loginSession, pin, config.tokenLabel, config.pinFile);

      const mechanisms = new Set(call(() => p.C_GetMechanismList(slot), 'cannot list the token mechanisms'));
      const capabilities: HsmCapabilities = {
        ed25519: mechanisms.has(CKM_EC_EDWARDS_KEY_PAIR_GEN) && mechanisms.has(CKM_EDDSA),
        secp256k1: mechanisms.has(CKM_EC_KEY_PAIR_GEN) && mechanisms.has(CKM_ECDSA),
      };

      const sessions: Handle[] = [];
      for (let i = 0; i < sessionCount; i++) {
        const s = call(() => p.C_OpenSession(slot, SESSION_FLAGS), `cannot open PKCS#11 session ${i + 1} of ${sessionCount}`);
        opened.push(s);
        sessions.push(s);
      }

      const hsm = new Hsm({ tokenLabel: config.tokenLabel, capabilities, module, log, slot, pin, pinFile: config.pinFile, loginSession, sessions });
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
      for (const s of opened) {
        try {
          p.C_CloseSession(s);
        } catch {
          // The library is about to be released anyway.
        }
      }
      module.release();
      throw toHsmError(e, `cannot open HSM token "${config.tokenLabel}"`);
    }
  }

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

        let pair;
        try {
          pair = await p.C_GenerateKeyPairAsync(lease.handle, { mechanism: mech.keyGen }, publicTemplate, privateTemplate);
        } catch (e) {
          throw toHsmError(e, `the token refused to generate a ${curve} key`, {
            CKR_MECHANISM_INVALID: 'CURVE_UNSUPPORTED',
            CKR_MECHANISM_PARAM_INVALID: 'CURVE_UNSUPPORTED',
            CKR_ATTRIBUTE_VALUE_INVALID: 'CURVE_UNSUPPORTED',
            CKR_CURVE_NOT_SUPPORTED: 'CURVE_UNSUPPORTED',
            CKR_DOMAIN_PARAMS_INVALID: 'CURVE_UNSUPPORTED',
            CKR_TEMPLATE_INCONSISTENT: 'KEY_NOT_PROTECTED',
          });
        }

        try {
          const protection = readProtection(p, lease.handle, pair.privateKey);
          const wrong = protectionProblems(protection);
          if (wrong.length > 0) {
            throw new HsmError('KEY_NOT_PROTECTED', `the token generated a ${curve} key whose private half is not protected as required (${wrong.join(', ')})`);
          }
          const [ecPoint] = call(
            () => p.C_GetAttributeValue(lease.handle, pair.publicKey, [{ type: CKA_EC_POINT }]),
            `cannot read the public key of a new ${curve} key`,
          );
          const publicKey = ecPoint === undefined ? undefined : decodeEcPoint(curve, ecPoint.value);
          if (publicKey === undefined) {
            throw new HsmError('CURVE_UNSUPPORTED', `the token generated a ${curve} key whose public key is not a valid ${curve} point`);
          }
          const entry = this.#cache(keyId, curve, pair.privateKey, publicKey);
          return { keyId: Uint8Array.from(keyId), curve, publicKey: Uint8Array.from(entry.publicKey) };
        } catch (e) {
          // Never leave a key behind that was not handed out: destroy both halves, then report why.
          for (const [what, handle] of [['private', pair.privateKey], ['public', pair.publicKey]] as const) {
            try {
              p.C_DestroyObject(lease.handle, handle);
            } catch (destroyError) {
              this.#log('error', `cannot destroy the ${what} half of a rejected ${curve} key`, {
                keyId: hex(keyId),
                ckr: toHsmError(destroyError, 'destroy').ckr,
              });
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
        const entry = this.#lookup(lease, keyId, curve);
        return { keyId: Uint8Array.from(keyId), curve, publicKey: Uint8Array.from(entry.publicKey) };
      });
    });
  }

  /** The protection attributes of the private key with CKA_ID `keyId` (any curve). */
  keyProtection(keyId: Uint8Array): Promise<KeyProtection> {
    return this.#op(async () => {
      checkKeyId(keyId);
      return this.#run('key protection read', async (lease) => {
        const found = this.#find(lease, [{ type: CKA_CLASS, value: CKO_PRIVATE_KEY }, { type: CKA_ID, value: Buffer.from(keyId) }]);
        const priv = single(found, `private key with CKA_ID ${hex(keyId)}`);
        return readProtection(this.#p, lease.handle, priv);
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
   * Cheap liveness check: the login session exists and is logged in (logging in again if the token forgot).
   * Throws UNAVAILABLE otherwise.
   */
  async ping(): Promise<void> {
    this.#assertOpen();
    try {
      this.#ensureLoggedIn();
    } catch (e) {
      const err = toHsmError(e, `HSM token "${this.tokenLabel}" is not usable`);
      throw err.kind === 'UNAVAILABLE' ? err : new HsmError('UNAVAILABLE', err.message, { ckr: err.ckr, cause: err });
    }
  }

  /** Waits for operations already accepted, closes every session and releases the module. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  // ---- internals ----

  async #shutdown(): Promise<void> {
    // New calls are refused from here on (#assertOpen); wait for the accepted ones, retries and checks included.
    if (this.#active > 0) {
      await new Promise<void>((resolve) => {
        this.#whenIdle = resolve;
      });
    }
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
    this.#module.release();
    this.#log('info', `HSM token "${this.tokenLabel}" closed`, { tokenLabel: this.tokenLabel });
  }

  /** Runs a public operation: refused once closing, counted until it settles. */
  async #op<T>(fn: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    this.#active++;
    try {
      return await fn();
    } finally {
      this.#active--;
      if (this.#active === 0 && this.#whenIdle !== undefined) {
        const idle = this.#whenIdle;
        this.#whenIdle = undefined;
        idle();
      }
    }
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new HsmError('UNAVAILABLE', 'the HSM is closed');
  }

  #assertCurve(curve: Curve): void {
    if (!this.capabilities[curve]) {
      throw new HsmError('CURVE_UNSUPPORTED', `HSM token "${this.tokenLabel}" cannot do ${curve} (it lacks ${MECHANISMS[curve].names})`);
    }
  }

  /**
   * Runs `fn` on a session borrowed from the pool and always gives it back. A session is discarded (closed, and
   * reopened by its next borrower) when `fn` fails with the session possibly mid-operation or unusable.
   */
  async #run<T>(what: string, fn: (lease: Lease) => Promise<T>): Promise<T> {
    const slot = await this.#pool.acquire();
    let lease: Lease | undefined;
    try {
      lease = { handle: slot.handle ?? this.#reopen(slot), dirty: false };
      return await fn(lease);
    } catch (e) {
      const err = toHsmError(e, what);
      const code = err.ckr === undefined ? undefined : ckrCode(err.ckr);
      if (lease?.dirty === true || err.kind === 'UNAVAILABLE' || (code !== undefined && SESSION_LOST.has(code))) {
        this.#discard(slot, err);
      }
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

  /** Opens a replacement pool session, logging in again first if the token lost the login. */
  #reopen(slot: SessionSlot): Handle {
    const p = this.#p;
    let handle: Handle;
    try {
      handle = p.C_OpenSession(this.#slot, SESSION_FLAGS);
    } catch (e) {
      // A token that was removed and reinserted may sit in another slot now.
      const code = errorCode(e);
      if (code !== ckrCode('CKR_SLOT_ID_INVALID') && code !== ckrCode('CKR_TOKEN_NOT_PRESENT') && code !== ckrCode('CKR_DEVICE_REMOVED')) {
        throw toHsmError(e, 'cannot open a PKCS#11 session');
      }
      try {
        this.#slot = findToken(p, this.tokenLabel, this.#module.path);
      } catch (findError) {
        const err = toHsmError(findError, 'token lookup');
        throw new HsmError('UNAVAILABLE', `cannot open a PKCS#11 session: ${err.message}`, { ckr: err.ckr, cause: findError });
      }
      handle = call(() => p.C_OpenSession(this.#slot, SESSION_FLAGS), 'cannot open a PKCS#11 session');
      const stale = this.#loginSession;
      if (stale !== undefined) quietly(() => p.C_CloseSession(stale));
      this.#loginSession = undefined;
    }
    try {
      if (!isUserState(p.C_GetSessionInfo(handle).state)) this.#ensureLoggedIn();
    } catch (e) {
      quietly(() => p.C_CloseSession(handle));
      throw toHsmError(e, 'cannot log in again');
    }
    slot.handle = handle;
    return handle;
  }

  /** Makes sure the login session exists and the application is logged in as user. */
  #ensureLoggedIn(): void {
    const p = this.#p;
    if (this.#loginSession !== undefined) {
      try {
        if (isUserState(p.C_GetSessionInfo(this.#loginSession).state)) return;
      } catch (e) {
        const code = errorCode(e);
        if (code === undefined || !SESSION_LOST.has(code)) throw e;
        quietly(() => p.C_CloseSession(this.#loginSession as Handle));
        this.#loginSession = undefined;
      }
    }
    if (this.#loginSession === undefined) {
      this.#loginSession = call(() => p.C_OpenSession(this.#slot, SESSION_FLAGS), 'cannot open the login session');
    }
    login(p, this.#loginSession, this.#pin, this.tokenLabel, this.#pinFile);
    if (!isUserState(p.C_GetSessionInfo(this.#loginSession).state)) {
      throw new HsmError('UNAVAILABLE', `HSM token "${this.tokenLabel}" does not report a logged-in session after C_Login`);
    }
    this.#log('info', `logged in to HSM token "${this.tokenLabel}" again`, { tokenLabel: this.tokenLabel });
  }

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

  /** One C_SignInit + C_SignAsync with the cached (or freshly found) key; a stale handle is looked up once more. */
  async #signOnce(lease: Lease, keyId: Uint8Array, curve: Curve, data: Buffer): Promise<{ entry: CachedKey; signature: Buffer }> {
    const p = this.#p;
    for (let attempt = 1; ; attempt++) {
      const entry = this.#keyFor(lease, keyId, curve);
      try {
        p.C_SignInit(lease.handle, { mechanism: MECHANISMS[curve].sign }, entry.priv);
      } catch (e) {
        const code = errorCode(e);
        if (attempt === 1 && code !== undefined && STALE_HANDLE.has(code)) {
          this.#forget(entry);
          continue;
        }
        if (attempt === 1 && code === CKR_USER_NOT_LOGGED_IN) {
          this.#ensureLoggedIn();
          continue;
        }
        throw toHsmError(e, `${curve} sign: C_SignInit refused`, {
          CKR_MECHANISM_INVALID: 'CURVE_UNSUPPORTED',
          CKR_KEY_HANDLE_INVALID: 'UNAVAILABLE',
          CKR_OBJECT_HANDLE_INVALID: 'UNAVAILABLE',
        });
      }
      lease.dirty = true;
      let signature: Buffer;
      try {
        // Both signatures here are 64 bytes (Ed25519 R‖S; ECDSA r‖s on a 256-bit curve).
        signature = await p.C_SignAsync(lease.handle, data, Buffer.alloc(64));
      } catch (e) {
        throw toHsmError(e, `${curve} sign failed`);
      }
      lease.dirty = false;
      entry.uses++;
      return { entry, signature };
    }
  }

  #keyFor(lease: Lease, keyId: Uint8Array, curve: Curve): CachedKey {
    const cacheKey = `${curve}:${hex(keyId)}`;
    const hit = this.#keys.get(cacheKey);
    if (hit !== undefined) {
      // Re-insert to keep the Map in least-recently-used order.
      this.#keys.delete(cacheKey);
      this.#keys.set(cacheKey, hit);
      return hit;
    }
    return this.#lookup(lease, keyId, curve);
  }

  /** Finds the key pair on the token, checks its curve and public point, and caches the private handle. */
  #lookup(lease: Lease, keyId: Uint8Array, curve: Curve): CachedKey {
    const p = this.#p;
    const id = Buffer.from(keyId);
    const keyType = MECHANISMS[curve].keyType;
    const what = `${curve} key with CKA_ID ${hex(keyId)}`;
    const privTemplate: Template = [{ type: CKA_CLASS, value: CKO_PRIVATE_KEY }, { type: CKA_KEY_TYPE, value: keyType }, { type: CKA_ID, value: id }];
    let privs = this.#find(lease, privTemplate);
    // Private objects are invisible to a session that is not logged in: before calling the key missing, make sure
    // the token has not forgotten the login (a logout elsewhere in the process, a token reset).
    if (privs.length === 0 && !isUserState(call(() => p.C_GetSessionInfo(lease.handle).state, 'C_GetSessionInfo failed'))) {
      this.#ensureLoggedIn();
      privs = this.#find(lease, privTemplate);
    }
    const priv = single(privs, `private ${what}`);
    const pub = single(
      this.#find(lease, [{ type: CKA_CLASS, value: CKO_PUBLIC_KEY }, { type: CKA_KEY_TYPE, value: keyType }, { type: CKA_ID, value: id }]),
      `public ${what}`,
    );
    const attrs = call(
      () => p.C_GetAttributeValue(lease.handle, pub, [{ type: CKA_EC_PARAMS }, { type: CKA_EC_POINT }]),
      `cannot read the public ${what}`,
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
    if (cached !== undefined && bytesEqual(cached.publicKey, publicKey) && cached.priv.equals(priv)) return cached;
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
  #find(lease: Lease, template: Template): Handle[] {
    const p = this.#p;
    call(() => p.C_FindObjectsInit(lease.handle, template), 'C_FindObjectsInit failed');
    lease.dirty = true;
    const found = call(() => p.C_FindObjects(lease.handle, 2), 'C_FindObjects failed');
    call(() => p.C_FindObjectsFinal(lease.handle), 'C_FindObjectsFinal failed');
    lease.dirty = false;
    return found;
  }
}

// ---- helpers (no state) ----

function stderrLog(level: HsmLogLevel, msg: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${new Date().toISOString()} ${level} hsm: ${msg}${fields === undefined ? '' : ' ' + JSON.stringify(fields)}\n`);
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

/** Runs a synchronous PKCS#11 call, mapping its failure to an HsmError described by `what`. */
function call<T>(fn: () => T, what: string, kinds?: Partial<Record<string, HsmErrorKind>>): T {
  try {
    return fn();
  } catch (e) {
    throw toHsmError(e, what, kinds);
  }
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // Best effort: used only where the outcome does not change what happens next.
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
function login(p: Pkcs11Like, session: Handle, pin: string, tokenLabel: string, pinFile: string): void {
  try {
    p.C_Login(session, CKU_USER, pin);
  } catch (e) {
    if (errorCode(e) === CKR_USER_ALREADY_LOGGED_IN) return;
    const err = toHsmError(e, 'C_Login');
    if (err.kind === 'LOGIN_FAILED') {
      throw new HsmError('LOGIN_FAILED', `HSM token "${tokenLabel}" refused the PIN from ${pinFile} (${err.ckr})`, { ckr: err.ckr, cause: e });
    }
    throw new HsmError(err.kind, `cannot log in to HSM token "${tokenLabel}" (${err.ckr ?? 'no CKR'})`, { ckr: err.ckr, cause: e });
  }
}

/** Finds the slot holding the initialised token labelled `label`; TOKEN_NOT_FOUND names the labels present. */
function findToken(p: Pkcs11Like, label: string, module: string): Handle {
  const slots = call(() => p.C_GetSlotList(true), 'cannot list PKCS#11 slots');
  const labels: string[] = [];
  const matches: Handle[] = [];
  for (const slot of slots) {
    let info;
    try {
      info = p.C_GetTokenInfo(slot);
    } catch {
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

/** Reads the six protection attributes of a private key; KEY_NOT_PROTECTED when the token will not say. */
function readProtection(p: Pkcs11Like, session: Handle, priv: Handle): KeyProtection {
  const types = [CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_TOKEN, CKA_PRIVATE];
  const attrs = call(
    () => p.C_GetAttributeValue(session, priv, types.map((type) => ({ type }))),
    'cannot read the protection attributes of the private key',
    { CKR_ATTRIBUTE_TYPE_INVALID: 'KEY_NOT_PROTECTED', CKR_ATTRIBUTE_SENSITIVE: 'KEY_NOT_PROTECTED' },
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
