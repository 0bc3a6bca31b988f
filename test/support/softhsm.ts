/**
 * A throw-away SoftHSM2 token for tests and benchmarks: a temp folder with its own softhsm2.conf and token
 * directory, a token initialised through the PKCS#11 API (hsm/token-init.ts, so no PIN is ever on a command line),
 * and the user PIN in a 0600 file, ready for `Hsm.open`.
 *
 * One token folder per process: SoftHSM2 reads SOFTHSM2_CONF when the library is first C_Initialize'd in the
 * process and keeps it while any user holds it initialised. Vitest runs each test file in its own forked process,
 * so call `createTestToken` once per file (in beforeAll), before anything opens the module.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initToken } from '../../hsm/token-init.ts';

export { initToken } from '../../hsm/token-init.ts';

/** A temporary token, and how to reach it. */
export interface TestToken {
  /** The temp folder holding everything below. */
  dir: string;
  /** The softhsm2.conf path (also set as process.env.SOFTHSM2_CONF). */
  conf: string;
  /** The PKCS#11 module path. */
  module: string;
  tokenLabel: string;
  /** File holding the user PIN, mode 0600. */
  pinFile: string;
  /** Removes the temp folder. Close every Hsm on the token first. */
  cleanup(): Promise<void>;
}

/** The SoftHSM2 module: $SOFTHSM_MODULE, else the Debian/Ubuntu path. */
export const SOFTHSM_MODULE = process.env.SOFTHSM_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';

/**
 * Creates a temp SoftHSM2 token labelled `opts.label` (default 'waiaas-test') with random SO and user PINs, points
 * this process's SOFTHSM2_CONF at it (a path, not a secret), and writes the user PIN to `<dir>/user.pin` (0600).
 */
export async function createTestToken(opts: { label?: string } = {}): Promise<TestToken> {
  const tokenLabel = opts.label ?? 'waiaas-test';
  const dir = await mkdtemp(join(tmpdir(), 'waiaas-softhsm-'));
  const tokens = join(dir, 'tokens');
  await mkdir(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`, { mode: 0o600 });
  process.env.SOFTHSM2_CONF = conf;

  const soPin = randomBytes(16).toString('hex');
  const userPin = randomBytes(16).toString('hex');
  try {
    await initToken(SOFTHSM_MODULE, tokenLabel, soPin, userPin);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const pinFile = join(dir, 'user.pin');
  await writeFile(pinFile, `${userPin}\n`, { mode: 0o600 });
  await chmod(pinFile, 0o600); // whatever the umask

  return {
    dir,
    conf,
    module: SOFTHSM_MODULE,
    tokenLabel,
    pinFile,
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
