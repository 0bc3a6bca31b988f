/**
 * The one PKCS#11 question the dev state asks that the HSM layer does not answer: "is there already a token with this
 * label?" — to choose between creating the token and reusing it. Creating it is hsm/'s initToken.
 *
 * SoftHSM2 reads SOFTHSM2_CONF at C_Initialize: the caller sets it first. The probe initialises and finalises the
 * library itself (synchronously, so nothing else can use it meanwhile); when something in this process already holds
 * it initialised (an open Hsm), the probe shares that state and leaves it initialised.
 */
import { createRequire } from 'node:module';
import type * as Pkcs11Types from 'pkcs11js';

// createRequire, not `import * as`: the ESM namespace of this CommonJS addon loses the CK* constants.
const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11Types;

/** CKF_OS_LOCKING_OK: the module may use OS threads and locks, as the HSM layer initialises it. */
const CKF_OS_LOCKING_OK = 2;

/** True when `module` shows an initialised token labelled `tokenLabel`. */
export function tokenExists(module: string, tokenLabel: string): boolean {
  const p = new pkcs11js.PKCS11();
  p.load(module);
  try {
    let finalize = true;
    try {
      p.C_Initialize({ flags: CKF_OS_LOCKING_OK });
    } catch (e) {
      if ((e as { code?: number }).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
      finalize = false; // someone else's library state: never finalise it under them
    }
    try {
      return p.C_GetSlotList(true).some((slot) => {
        const info = p.C_GetTokenInfo(slot);
        return (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0 && info.label.replace(/[\s\0]+$/, '') === tokenLabel;
      });
    } finally {
      if (finalize) p.C_Finalize();
    }
  } finally {
    p.close();
  }
}
