/**
 * The PKCS#11 boundary. Owns loading pkcs11js, the numeric constants of the standard that the HSM layer uses
 * (including the PKCS#11 3.0 EdDSA ones pkcs11js does not ship), the `Pkcs11Like` type that every other file in
 * hsm/ talks to instead of the concrete pkcs11js class, and the per-process reference count that decides who calls
 * C_Initialize and C_Finalize.
 *
 * Why a narrow `Pkcs11Like` instead of pkcs11js's PKCS11 class: a fault-injecting wrapper (device removed, session
 * invalid, hung call) has to sit exactly here, and it can only do so if the rest of hsm/ never reaches past it.
 *
 * Why a reference count: a Cryptoki library is initialised once per process, not once per handle. Two pkcs11js
 * instances that load the same module share one library state, so the second C_Initialize fails with
 * CKR_CRYPTOKI_ALREADY_INITIALIZED and the first C_Finalize would silently kill the other's sessions.
 */
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as pkcs11js from 'pkcs11js';

/** A PKCS#11 handle (slot, session or object) as pkcs11js represents it: an opaque little-endian CK_ULONG. */
export type Handle = Buffer;
/** One attribute of a template given to the token. */
export type Attribute = pkcs11js.Attribute;
/** A template: the attributes to set, match or read. */
export type Template = pkcs11js.Attribute[];
/** Attributes as read back by C_GetAttributeValue. */
export type TemplateResult = pkcs11js.AttributeResult[];
/** A mechanism and its parameter. */
export type Mechanism = pkcs11js.Mechanism;
/** C_GetTokenInfo's answer. */
export type TokenInfo = pkcs11js.TokenInfo;
/** C_GetSessionInfo's answer. */
export type SessionInfo = pkcs11js.SessionInfo;
/** The two handles C_GenerateKeyPair returns. */
export type KeyPair = pkcs11js.KeyPair;

/**
 * The subset of pkcs11js's PKCS11 class that hsm/ calls. A real pkcs11js instance satisfies it; so does any wrapper
 * that forwards to one (see `interceptPkcs11`). Every call that can fail throws an Error whose message (or `code`)
 * carries the CKR value, as pkcs11js does.
 *
 * The Hsm class also accepts a promise in place of any method's return value (a wrapper that injects delays or
 * moves calls off the JavaScript thread): it awaits every result, and bounds the wait by its call timeouts. A plain
 * synchronous pkcs11js call holds the JavaScript thread until the library returns; it cannot be pre-empted, only
 * measured (one that returns after its timeout is treated as timed out).
 */
export interface Pkcs11Like {
  load(path: string): void;
  C_Initialize(options?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): TokenInfo;
  C_GetMechanismList(slot: Handle): number[];
  C_InitToken(slot: Handle, pin?: string, label?: string): unknown;
  C_InitPIN(session: Handle, pin?: string): void;
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_GetSessionInfo(session: Handle): SessionInfo;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_Logout(session: Handle): void;
  C_FindObjectsInit(session: Handle, template: Template): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Template): TemplateResult;
  C_DestroyObject(session: Handle, object: Handle): void;
  C_GenerateKeyPairAsync(session: Handle, mechanism: Mechanism, publicTmpl: Template, privateTmpl: Template): Promise<KeyPair>;
  C_SignInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_Sign(session: Handle, inData: Buffer, outData: Buffer): Buffer;
  C_SignAsync(session: Handle, inData: Buffer, outData: Buffer): Promise<Buffer>;
}

/** Name of one `Pkcs11Like` method. */
export type Pkcs11Method = keyof Pkcs11Like;

/** Every method of `Pkcs11Like`, so wrappers can be built without reflection on the native object. */
export const PKCS11_METHODS: readonly Pkcs11Method[] = [
  'load', 'C_Initialize', 'C_Finalize', 'C_GetSlotList', 'C_GetTokenInfo', 'C_GetMechanismList',
  'C_InitToken', 'C_InitPIN', 'C_OpenSession', 'C_CloseSession', 'C_GetSessionInfo', 'C_Login', 'C_Logout',
  'C_FindObjectsInit', 'C_FindObjects', 'C_FindObjectsFinal', 'C_GetAttributeValue', 'C_DestroyObject',
  'C_GenerateKeyPairAsync', 'C_SignInit', 'C_Sign', 'C_SignAsync',
];

// pkcs11js is CommonJS and sets its constants as properties of module.exports; `import * as` under ESM interop
// only sees the statically detectable names, which loses every constant, hence require().
const lib = createRequire(import.meta.url)('pkcs11js') as typeof pkcs11js;

/** A fresh, unloaded pkcs11js instance. */
export function newPkcs11(): Pkcs11Like {
  return new lib.PKCS11();
}

/**
 * Wraps a `Pkcs11Like` so every call goes through `hook(method, args, call)`; `call()` forwards to the wrapped
 * instance with the original arguments. This is the seam for fault injection: a hook can throw a CKR error, delay,
 * or never settle instead of calling through.
 */
export function interceptPkcs11(
  inner: Pkcs11Like,
  hook: (method: Pkcs11Method, args: unknown[], call: () => unknown) => unknown,
): Pkcs11Like {
  const out: Record<string, (...args: unknown[]) => unknown> = {};
  for (const method of PKCS11_METHODS) {
    out[method] = (...args: unknown[]) =>
      hook(method, args, () => (inner[method] as (...a: unknown[]) => unknown).apply(inner, args));
  }
  return out as unknown as Pkcs11Like;
}

// ---- Constants (values fixed by the PKCS#11 standard; pkcs11js lacks the 3.0 EdDSA ones and CKS_*) ----

/** C_Initialize flag: the library may use OS mutexes. Without it, concurrent C_SignAsync calls corrupt memory. */
export const CKF_OS_LOCKING_OK = 0x2;
/** Session flag: read/write session (needed to create token objects). */
export const CKF_RW_SESSION = 0x2;
/** Session flag: must always be set (legacy parallel sessions are gone). */
export const CKF_SERIAL_SESSION = 0x4;
/** Token flag: the token needs a login before private objects can be used. */
export const CKF_LOGIN_REQUIRED = 0x4;
/** Token flag: the user PIN has been set. */
export const CKF_USER_PIN_INITIALIZED = 0x8;
/** Token flag: the token has been initialised (has a label and an SO PIN). */
export const CKF_TOKEN_INITIALIZED = 0x400;
/** Token flag: a wrong user PIN was entered since the last successful login. */
export const CKF_USER_PIN_COUNT_LOW = 0x10000;
/** Token flag: one more wrong user PIN locks it. */
export const CKF_USER_PIN_FINAL_TRY = 0x20000;
/** Token flag: the user PIN is locked. */
export const CKF_USER_PIN_LOCKED = 0x40000;

/** C_Login user type: security officer. */
export const CKU_SO = 0;
/** C_Login user type: normal user (the one that signs). */
export const CKU_USER = 1;

/** Session state: read-only, not logged in. */
export const CKS_RO_PUBLIC_SESSION = 0;
/** Session state: read-only, logged in as user. */
export const CKS_RO_USER_FUNCTIONS = 1;
/** Session state: read/write, not logged in. */
export const CKS_RW_PUBLIC_SESSION = 2;
/** Session state: read/write, logged in as user. */
export const CKS_RW_USER_FUNCTIONS = 3;
/** Session state: read/write, logged in as security officer. */
export const CKS_RW_SO_FUNCTIONS = 4;

/** Object class: public key. */
export const CKO_PUBLIC_KEY = 2;
/** Object class: private key. */
export const CKO_PRIVATE_KEY = 3;

/** Key type: Weierstrass EC (secp256k1 here). */
export const CKK_EC = 0x3;
/** Key type: Edwards EC (Ed25519), PKCS#11 3.0. */
export const CKK_EC_EDWARDS = 0x40;

/** Mechanism: Weierstrass EC key pair generation. */
export const CKM_EC_KEY_PAIR_GEN = 0x1040;
/** Mechanism: raw ECDSA over a caller-supplied digest; the output is r‖s. */
export const CKM_ECDSA = 0x1041;
/** Mechanism: Edwards EC key pair generation, PKCS#11 3.0. */
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
/** Mechanism: EdDSA (pure Ed25519 without parameters), PKCS#11 3.0. */
export const CKM_EDDSA = 0x1057;

/** Attribute: object class (CKO_*). */
export const CKA_CLASS = 0x0;
/** Attribute: object lives on the token (persistent), not only in the session. */
export const CKA_TOKEN = 0x1;
/** Attribute: object usable only after login. */
export const CKA_PRIVATE = 0x2;
/** Attribute: application label. */
export const CKA_LABEL = 0x3;
/** Attribute: the key material itself (never readable for our private keys). */
export const CKA_VALUE = 0x11;
/** Attribute: key type (CKK_*). */
export const CKA_KEY_TYPE = 0x100;
/** Attribute: application identifier shared by both halves of a key pair. */
export const CKA_ID = 0x102;
/** Attribute: the key's secret material cannot be revealed in plaintext. */
export const CKA_SENSITIVE = 0x103;
/** Attribute: key may sign. */
export const CKA_SIGN = 0x108;
/** Attribute: key may verify. */
export const CKA_VERIFY = 0x10a;
/** Attribute: key may be wrapped (exported encrypted). */
export const CKA_EXTRACTABLE = 0x162;
/** Attribute: CKA_EXTRACTABLE has never been true. */
export const CKA_NEVER_EXTRACTABLE = 0x164;
/** Attribute: CKA_SENSITIVE has always been true. */
export const CKA_ALWAYS_SENSITIVE = 0x165;
/** Attribute: the curve (DER). */
export const CKA_EC_PARAMS = 0x180;
/** Attribute: the public point (raw, or DER OCTET STRING around it, depending on the token). */
export const CKA_EC_POINT = 0x181;

/** Return value: success. */
export const CKR_OK = 0x0;
/** Return value: the attribute is sensitive and cannot be revealed. */
export const CKR_ATTRIBUTE_SENSITIVE = 0x11;
/** Return value: the application is already logged in (by another of its sessions). */
export const CKR_USER_ALREADY_LOGGED_IN = 0x100;
/** Return value: C_Initialize was already called in this process. */
export const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
/** Return value: C_Initialize has not been called (or C_Finalize was). */
export const CKR_CRYPTOKI_NOT_INITIALIZED = 0x190;
/** Return value: the token does not support the curve (PKCS#11 3.0; pkcs11js reports it as vendor-defined). */
export const CKR_CURVE_NOT_SUPPORTED = 0x140;

// CKR names pkcs11js does not know (it reports them as CKR_VENDOR_DEFINED with the right number).
const EXTRA_CKR: Record<string, number> = {
  CKR_ACTION_PROHIBITED: 0x1b,
  CKR_CURVE_NOT_SUPPORTED: 0x140,
  CKR_TOKEN_RESOURCE_EXCEEDED: 0x201,
  CKR_OPERATION_CANCEL_FAILED: 0x202,
};

const CKR_BY_CODE = new Map<number, string>();
const CKR_BY_NAME = new Map<string, number>();
for (const [name, value] of Object.entries(lib as unknown as Record<string, unknown>)) {
  if (name.startsWith('CKR_') && typeof value === 'number' && name !== 'CKR_VENDOR_DEFINED') {
    CKR_BY_CODE.set(value, name);
    CKR_BY_NAME.set(name, value);
  }
}
for (const [name, value] of Object.entries(EXTRA_CKR)) {
  CKR_BY_CODE.set(value, name);
  CKR_BY_NAME.set(name, value);
}

/** The CKR_* name of a return value, or `CKR_VENDOR_DEFINED(0x…)` when the standard does not name it. */
export function ckrName(code: number): string {
  return CKR_BY_CODE.get(code) ?? `CKR_VENDOR_DEFINED(0x${code.toString(16)})`;
}

/** The numeric value of a CKR_* name, when known. */
export function ckrCode(name: string): number | undefined {
  return CKR_BY_NAME.get(name);
}

/** The pkcs11js export object, for the few places (tests, benchmarks) that need its raw constants. */
export const pkcs11jsExports: Readonly<Record<string, unknown>> = lib as unknown as Record<string, unknown>;

// ---- Per-process module lifecycle ----

interface ModuleEntry {
  refs: number;
  /** Whether this registry called C_Initialize (and so must call C_Finalize when the last user releases). */
  ownsInit: boolean;
  /** False after a re-initialisation whose C_Initialize failed: the library is loaded but not initialised. */
  initialized: boolean;
}

const modules = new Map<string, ModuleEntry>();

/** A loaded, initialised Cryptoki module held by one user; `release()` once when done. */
export interface LoadedModule {
  readonly pkcs11: Pkcs11Like;
  /** The module path as given. */
  readonly path: string;
  /**
   * True while this user is the only one holding the module and the registry initialised it: only then may it
   * finalise and initialise the library again (`reinitialize`) without pulling sessions from under anyone.
   */
  readonly exclusive: boolean;
  /**
   * C_Finalize then C_Initialize, when `exclusive` (returns false and does nothing otherwise). Every session and
   * object handle of the process becomes invalid. Throws what C_Initialize throws; the library is then left
   * uninitialised and a later call tries again (a C_Finalize reporting CKR_CRYPTOKI_NOT_INITIALIZED is expected).
   */
  reinitialize(): boolean;
  /**
   * Drops this user's reference; the last one out calls C_Finalize, unless `finalize` is false (a native call
   * that never returned may still be running inside the library). Idempotent.
   */
  release(opts?: { finalize?: boolean }): void;
}

/**
 * Loads `modulePath` into `instance` (a fresh pkcs11js instance when omitted) and makes sure the library is
 * C_Initialize'd with OS locking exactly once per process. Throws whatever pkcs11js throws (callers map it).
 */
export function openModule(modulePath: string, instance?: Pkcs11Like): LoadedModule {
  const pkcs11 = instance ?? newPkcs11();
  let key: string;
  try {
    key = realpathSync(modulePath);
  } catch {
    key = modulePath; // load() below reports the real problem
  }
  pkcs11.load(modulePath);
  let entry = modules.get(key);
  if (entry === undefined || entry.refs === 0) {
    let ownsInit = true;
    try {
      pkcs11.C_Initialize({ flags: CKF_OS_LOCKING_OK });
    } catch (e) {
      // Someone outside this registry initialised the library in this process: share it, never finalise it.
      if (errorCode(e) !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
      ownsInit = false;
    }
    entry = { refs: 0, ownsInit, initialized: true };
    modules.set(key, entry);
  } else if (!entry.initialized) {
    // Its holder is re-initialising it and the last C_Initialize failed: try once more for this user.
    try {
      pkcs11.C_Initialize({ flags: CKF_OS_LOCKING_OK });
      entry.initialized = true;
    } catch (e) {
      if (errorCode(e) !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
      entry.initialized = true;
    }
  }
  entry.refs++;
  const held = entry;
  let released = false;
  const exclusive = (): boolean => !released && held.refs === 1 && held.ownsInit && modules.get(key) === held;
  return {
    pkcs11,
    path: modulePath,
    get exclusive() {
      return exclusive();
    },
    reinitialize() {
      if (!exclusive()) return false;
      if (held.initialized) {
        try {
          pkcs11.C_Finalize();
        } catch (e) {
          // Not initialised is what a failed earlier attempt leaves; anything else means the old state is still there.
          if (errorCode(e) !== CKR_CRYPTOKI_NOT_INITIALIZED) throw e;
        }
        held.initialized = false;
      }
      try {
        pkcs11.C_Initialize({ flags: CKF_OS_LOCKING_OK });
      } catch (e) {
        if (errorCode(e) !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
      }
      held.initialized = true;
      return true;
    },
    release(opts = {}) {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0) {
        modules.delete(key);
        if (held.ownsInit && held.initialized && opts.finalize !== false) {
          try {
            pkcs11.C_Finalize();
          } catch {
            // Nothing useful to do: the library is being let go either way.
          }
        }
      }
      // The library is not unloaded here: pkcs11js dlcloses its handle when the instance is garbage collected,
      // and the dynamic loader counts references, so other instances of the same module stay valid.
    },
  };
}

/**
 * The CKR code carried by an error from the PKCS#11 boundary: pkcs11js puts `CKR_NAME:number` (or, once parsed,
 * just `CKR_NAME` plus a numeric `code`) in its errors; a fault-injecting wrapper may throw a bare `CKR_NAME`.
 */
export function errorCode(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { message, name, code } = e as { message?: unknown; name?: unknown; code?: unknown };
  const text = typeof message === 'string' ? message : '';
  const withNumber = /\b(CKR_[A-Z0-9_]+):(\d+)/.exec(text);
  if (withNumber?.[2] !== undefined) return Number(withNumber[2]);
  const ckr = /\bCKR_[A-Z0-9_]+/.exec(text)?.[0];
  if (ckr !== undefined) {
    const known = ckrCode(ckr);
    if (known !== undefined) return known;
  }
  if (name === 'Pkcs11Error' && typeof code === 'number') return code;
  return undefined;
}
