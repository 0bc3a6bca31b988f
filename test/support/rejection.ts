/** Awaits a call that must fail with a WaiaasClientError and returns the error (any other outcome fails the test). */
import { WaiaasClientError } from '../../clients/ts/src/index.ts';

/** The WaiaasClientError `p` rejects with; throws when `p` resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<WaiaasClientError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof WaiaasClientError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}
