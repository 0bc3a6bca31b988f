/**
 * Token initialisation through the PKCS#11 API: C_InitToken on a free slot, then C_InitPIN as the security
 * officer. Used by the test helper and by development-state bootstrap. Doing it through the API rather than
 * `softhsm2-util --pin …` keeps both PINs off every command line (argv is world-readable through /proc).
 */
import { HsmError, toHsmError } from './errors.ts';
import {
  CKF_RW_SESSION,
  CKF_SERIAL_SESSION,
  CKF_TOKEN_INITIALIZED,
  CKU_SO,
  openModule,
  type Handle,
  type Pkcs11Like,
} from './pkcs11.ts';

/** PKCS#11 token labels are exactly 32 bytes, blank padded. */
const LABEL_BYTES = 32;

/**
 * Initialises a new token labelled `tokenLabel` on a free slot of `module` with SO PIN `soPin`, then sets its user
 * PIN to `userPin`. Refuses (INVALID_INPUT) when a token with that label already exists: initialising it again would
 * erase its keys. TOKEN_NOT_FOUND when no slot has an uninitialised token.
 *
 * SoftHSM2 reads SOFTHSM2_CONF at the process's first C_Initialize; set it before calling this. When the module is
 * already initialised in this process (an open Hsm), the token is made on the library state already loaded.
 */
export async function initToken(module: string, tokenLabel: string, soPin: string, userPin: string, options: { pkcs11?: Pkcs11Like } = {}): Promise<void> {
  const labelBytes = Buffer.byteLength(tokenLabel, 'utf8');
  if (typeof tokenLabel !== 'string' || labelBytes === 0 || labelBytes > LABEL_BYTES || tokenLabel !== tokenLabel.trimEnd()) {
    throw new HsmError('INVALID_INPUT', `a token label must be 1 to ${LABEL_BYTES} bytes of UTF-8 without trailing blanks`);
  }
  if (typeof soPin !== 'string' || soPin.length === 0 || typeof userPin !== 'string' || userPin.length === 0) {
    throw new HsmError('INVALID_INPUT', 'the SO PIN and the user PIN must be non-empty');
  }
  const padded = tokenLabel + ' '.repeat(LABEL_BYTES - labelBytes);

  let loaded;
  try {
    loaded = openModule(module, options.pkcs11);
  } catch (e) {
    throw toHsmError(e, `cannot load the PKCS#11 module ${module}`);
  }
  const p = loaded.pkcs11;
  try {
    if (findSlotByLabel(p, tokenLabel) !== undefined) {
      throw new HsmError('INVALID_INPUT', `a token labelled "${tokenLabel}" already exists in ${module}; refusing to initialise it again`);
    }
    const free = step(() => p.C_GetSlotList(true), 'C_GetSlotList').find(
      (slot) => (step(() => p.C_GetTokenInfo(slot), 'C_GetTokenInfo').flags & CKF_TOKEN_INITIALIZED) === 0,
    );
    if (free === undefined) throw new HsmError('TOKEN_NOT_FOUND', `no slot with an uninitialised token in ${module}`);
    step(() => p.C_InitToken(free, soPin, padded), 'C_InitToken');

    // SoftHSM2 moves a newly initialised token to a new slot id (and adds a fresh free slot): find it by label.
    const slot = findSlotByLabel(p, tokenLabel);
    if (slot === undefined) throw new HsmError('TOKEN_NOT_FOUND', `token "${tokenLabel}" not found after C_InitToken`);
    const session = step(() => p.C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION), 'C_OpenSession');
    try {
      step(() => p.C_Login(session, CKU_SO, soPin), 'C_Login as SO');
      try {
        step(() => p.C_InitPIN(session, userPin), 'C_InitPIN');
      } finally {
        try {
          p.C_Logout(session);
        } catch {
          // Closing the session below logs out anyway.
        }
      }
    } finally {
      try {
        p.C_CloseSession(session);
      } catch {
        // Nothing left to undo.
      }
    }
  } finally {
    loaded.release();
  }
}

function step<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (e) {
    throw toHsmError(e, `token initialisation: ${what} failed`);
  }
}

function findSlotByLabel(p: Pkcs11Like, label: string): Handle | undefined {
  for (const slot of step(() => p.C_GetSlotList(true), 'C_GetSlotList')) {
    const info = step(() => p.C_GetTokenInfo(slot), 'C_GetTokenInfo');
    if ((info.flags & CKF_TOKEN_INITIALIZED) !== 0 && info.label.replace(/[\s\0]+$/, '') === label) return slot;
  }
  return undefined;
}
