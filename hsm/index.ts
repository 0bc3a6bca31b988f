/**
 * The public surface of the HSM layer. Everything outside hsm/ imports from here; the files behind it may move.
 */
export { Hsm } from './hsm.ts';
export type {
  Curve,
  HsmCapabilities,
  HsmConfig,
  HsmHealthListener,
  HsmLog,
  HsmLogLevel,
  HsmOptions,
  HsmRecovery,
  HsmTimeouts,
  KeyInfo,
  KeyProtection,
  Secp256k1Signature,
} from './hsm.ts';
export { HsmError, HSM_ERROR_KINDS, isHsmError } from './errors.ts';
export type { HsmErrorKind, HsmErrorOptions, HsmUnavailableReason } from './errors.ts';
export { initToken } from './token-init.ts';
export { interceptPkcs11, newPkcs11, PKCS11_METHODS } from './pkcs11.ts';
export type { Pkcs11Like, Pkcs11Method } from './pkcs11.ts';
