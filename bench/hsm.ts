/**
 * Raw HSM throughput, in signs per second, for Ed25519 and secp256k1:
 *   - "sync": one session driving pkcs11js directly (C_SignInit + C_Sign in a loop on the main thread), the
 *     reference figure for what the module can do on one core with no pool, no queue and no checks;
 *   - "async": the Hsm class, its session pool full (16 calls in flight over 4 sessions), including everything it
 *     does per signature (the verification of every signature; for secp256k1 also low-S and the recovery bit).
 *
 * `benchHsm` is used by bench/bench.ts; `node bench/hsm.ts [seconds]` runs it alone on a temporary SoftHSM2 token.
 */
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Hsm } from '../hsm/index.ts';
import {
  CKA_CLASS,
  CKA_ID,
  CKF_RW_SESSION,
  CKF_SERIAL_SESSION,
  CKF_TOKEN_INITIALIZED,
  CKM_ECDSA,
  CKM_EDDSA,
  CKO_PRIVATE_KEY,
  CKR_USER_ALREADY_LOGGED_IN,
  CKU_USER,
  errorCode,
  openModule,
  type Handle,
  type Pkcs11Like,
} from '../hsm/pkcs11.ts';

/** Signs per second measured by `benchHsm`. */
export interface HsmBenchResult {
  ed25519Sync: number;
  ed25519Async: number;
  secp256k1Sync: number;
  secp256k1Async: number;
}

const POOL_SESSIONS = 4;
const IN_FLIGHT = 16;

/**
 * Measures the four figures on the token `tokenLabel`, about `seconds` (default 2) each. Generates one key per
 * curve on the token (they are left there; use a throw-away token).
 */
export async function benchHsm(opts: { module: string; tokenLabel: string; pinFile: string; seconds?: number }): Promise<HsmBenchResult> {
  const seconds = opts.seconds ?? 2;
  const hsm = await Hsm.open(
    { module: opts.module, tokenLabel: opts.tokenLabel, pinFile: opts.pinFile, sessions: POOL_SESSIONS },
    { log: (level, msg) => level !== 'info' && process.stderr.write(`bench: hsm ${level}: ${msg}\n`) },
  );
  try {
    const ed = await hsm.generateKey('ed25519', 'bench-ed25519');
    const k1 = await hsm.generateKey('secp256k1', 'bench-secp256k1');
    const messages = Array.from({ length: 1024 }, () => randomBytes(32));

    const ed25519Sync = await syncSigns(opts, ed.keyId, CKM_EDDSA, messages, seconds);
    const secp256k1Sync = await syncSigns(opts, k1.keyId, CKM_ECDSA, messages, seconds);
    const ed25519Async = await asyncSigns((i) => hsm.signEd25519(ed.keyId, messages[i % messages.length]!), seconds);
    const secp256k1Async = await asyncSigns((i) => hsm.signSecp256k1(k1.keyId, messages[i % messages.length]!), seconds);
    return { ed25519Sync, ed25519Async, secp256k1Sync, secp256k1Async };
  } finally {
    await hsm.close();
  }
}

/** One session, synchronous pkcs11js calls in a tight loop. */
async function syncSigns(
  opts: { module: string; tokenLabel: string; pinFile: string },
  keyId: Uint8Array,
  mechanism: number,
  messages: Buffer[],
  seconds: number,
): Promise<number> {
  const pin = (await readFile(opts.pinFile, 'utf8')).replace(/\r?\n$/, '');
  const mod = openModule(opts.module);
  const p = mod.pkcs11;
  let session: Handle | undefined;
  try {
    session = p.C_OpenSession(findSlot(p, opts.tokenLabel), CKF_SERIAL_SESSION | CKF_RW_SESSION);
    try {
      p.C_Login(session, CKU_USER, pin);
    } catch (e) {
      if (errorCode(e) !== CKR_USER_ALREADY_LOGGED_IN) throw e;
    }
    p.C_FindObjectsInit(session, [{ type: CKA_CLASS, value: CKO_PRIVATE_KEY }, { type: CKA_ID, value: Buffer.from(keyId) }]);
    const [key] = p.C_FindObjects(session, 1);
    p.C_FindObjectsFinal(session);
    if (key === undefined) throw new Error('bench key not found');

    const out = Buffer.alloc(64);
    const s = session;
    const sign = (i: number): void => {
      p.C_SignInit(s, { mechanism }, key);
      p.C_Sign(s, messages[i % messages.length]!, out);
    };
    for (let i = 0; i < 200; i++) sign(i); // warm-up
    let n = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      for (let j = 0; j < 50; j++) sign(n++);
    }
    return n / ((performance.now() - start) / 1000);
  } finally {
    if (session !== undefined) p.C_CloseSession(session);
    mod.release();
  }
}

/** IN_FLIGHT concurrent callers for `seconds`, after a short warm-up. */
async function asyncSigns(sign: (i: number) => Promise<unknown>, seconds: number): Promise<number> {
  let next = 0;
  const run = async (until: number): Promise<number> => {
    let done = 0;
    const worker = async (): Promise<void> => {
      while (performance.now() < until) {
        await sign(next++);
        done++;
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    return done;
  };
  await run(performance.now() + 200);
  const start = performance.now();
  const done = await run(start + seconds * 1000);
  return done / ((performance.now() - start) / 1000);
}

function findSlot(p: Pkcs11Like, label: string): Handle {
  for (const slot of p.C_GetSlotList(true)) {
    const info = p.C_GetTokenInfo(slot);
    if ((info.flags & CKF_TOKEN_INITIALIZED) !== 0 && info.label.trim() === label) return slot;
  }
  throw new Error(`no token labelled "${label}"`);
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(import.meta.filename);
  } catch {
    return false;
  }
}

if (isMain()) {
  const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 2);
  const { createTestToken } = await import('../test/support/softhsm.ts');
  const token = await createTestToken({ label: 'bench-hsm' });
  try {
    const r = await benchHsm({ module: token.module, tokenLabel: token.tokenLabel, pinFile: token.pinFile, seconds });
    const row = (name: string, sync: number, async: number): string =>
      `${name.padEnd(10)} ${sync.toFixed(0).padStart(12)} ${async.toFixed(0).padStart(22)}`;
    console.log(`SoftHSM2 via PKCS#11, node ${process.version}, ${seconds} s per figure (signs/s)`);
    console.log(`${'curve'.padEnd(10)} ${'sync 1 session'.padStart(12)} ${`async Hsm pool ${POOL_SESSIONS}×/${IN_FLIGHT}`.padStart(22)}`);
    console.log(row('ed25519', r.ed25519Sync, r.ed25519Async));
    console.log(row('secp256k1', r.secp256k1Sync, r.secp256k1Async));
  } finally {
    await token.cleanup();
  }
}
