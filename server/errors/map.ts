/**
 * Translates HSM-layer errors into registered reasons. The HSM's own message and PKCS#11 return code go to the
 * server log as the cause; the caller sees only the reason.
 */
import { HsmError } from '../../hsm/index.ts';
import { WaiaasError } from './error.ts';

/** Maps any error thrown by hsm/ to a WaiaasError (already-mapped errors pass through). */
export function fromHsmError(err: unknown): WaiaasError {
  if (err instanceof WaiaasError) return err;
  if (err instanceof HsmError) {
    switch (err.kind) {
      case 'CURVE_UNSUPPORTED':
        return new WaiaasError('WAIAAS_CURVE_UNSUPPORTED', 'the HSM token cannot do this curve', { cause: err });
      case 'KEY_NOT_FOUND':
        return new WaiaasError('WAIAAS_HSM_KEY_MISSING', undefined, { cause: err });
      case 'INVALID_INPUT':
      case 'KEY_NOT_PROTECTED':
        return new WaiaasError('WAIAAS_INTERNAL', undefined, { cause: err });
      default:
        return new WaiaasError('WAIAAS_HSM_UNAVAILABLE', undefined, { cause: err });
    }
  }
  return new WaiaasError('WAIAAS_HSM_UNAVAILABLE', undefined, { cause: err });
}

/** Wraps a store (SQLite) failure: nothing may be signed when the database cannot record it. */
export function fromStoreError(err: unknown): WaiaasError {
  if (err instanceof WaiaasError) return err;
  return new WaiaasError('WAIAAS_STORE_UNAVAILABLE', undefined, { cause: err });
}
