/**
 * Shared pieces of the HSM tests: opening an Hsm on the file's test token with captured logs, a raw pkcs11js
 * session beside it (to check what the token says without going through hsm/), and error assertions.
 */
import { readFile } from 'node:fs/promises';
import { expect } from 'vitest';
import { Hsm, HsmError, type HsmErrorKind, type HsmOptions, type HsmRecovery, type HsmTimeouts, type Pkcs11Like } from '../../hsm/index.ts';
import {
  CKF_RW_SESSION,
  CKF_SERIAL_SESSION,
  CKF_TOKEN_INITIALIZED,
  CKR_USER_ALREADY_LOGGED_IN,
  CKU_USER,
  errorCode,
  openModule,
  type Handle,
} from '../../hsm/pkcs11.ts';
import type { TestToken } from '../support/softhsm.ts';

/** A log line captured from an Hsm. */
export interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

/** Opens an Hsm on `token`, collecting its log lines in `logs`. */
export async function openHsm(
  token: TestToken,
  opts: { sessions?: number; pkcs11?: Pkcs11Like; logs?: LogLine[]; timeouts?: HsmTimeouts; recovery?: HsmRecovery } = {},
): Promise<Hsm> {
  const logs = opts.logs ?? [];
  const options: HsmOptions = { log: (level, msg, fields) => logs.push({ level, msg, fields }) };
  if (opts.pkcs11 !== undefined) options.pkcs11 = opts.pkcs11;
  return Hsm.open(
    {
      module: token.module,
      tokenLabel: token.tokenLabel,
      pinFile: token.pinFile,
      ...(opts.sessions === undefined ? {} : { sessions: opts.sessions }),
      ...(opts.timeouts === undefined ? {} : { timeouts: opts.timeouts }),
      ...(opts.recovery === undefined ? {} : { recovery: opts.recovery }),
    },
    options,
  );
}

/** Resolves once `hsm.healthy` is true (it re-initialised by itself); fails after `ms`. */
export async function untilHealthy(hsm: Hsm, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!hsm.healthy) {
    if (Date.now() > end) throw new Error(`the Hsm did not become healthy within ${ms} ms (last error: ${hsm.lastError?.message})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A logged-in session on the token through a plain pkcs11js instance, independent of any Hsm. */
export interface RawSession {
  p: Pkcs11Like;
  session: Handle;
  /** Handles of objects of `cls` with CKA_ID `id`. */
  find(cls: number, id: Uint8Array): Handle[];
  close(): void;
}

/** Opens a RawSession on `token`. */
export async function rawSession(token: TestToken): Promise<RawSession> {
  const pin = (await readFile(token.pinFile, 'utf8')).replace(/\n$/, '');
  const mod = openModule(token.module);
  const p = mod.pkcs11;
  const slot = p.C_GetSlotList(true).find((s) => {
    const info = p.C_GetTokenInfo(s);
    return (info.flags & CKF_TOKEN_INITIALIZED) !== 0 && info.label.trim() === token.tokenLabel;
  });
  if (slot === undefined) throw new Error('test token not found');
  const session = p.C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION);
  try {
    p.C_Login(session, CKU_USER, pin);
  } catch (e) {
    if (errorCode(e) !== CKR_USER_ALREADY_LOGGED_IN) throw e;
  }
  return {
    p,
    session,
    find(cls, id) {
      p.C_FindObjectsInit(session, [{ type: 0x0, value: cls }, { type: 0x102, value: Buffer.from(id) }]);
      try {
        return p.C_FindObjects(session, 10);
      } finally {
        p.C_FindObjectsFinal(session);
      }
    },
    close() {
      try {
        p.C_CloseSession(session);
      } finally {
        mod.release();
      }
    },
  };
}

/** Awaits `promise` and returns the HsmError it rejects with, asserting its kind. */
export async function hsmError(promise: Promise<unknown>, kind: HsmErrorKind): Promise<HsmError> {
  let caught: unknown;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an HsmError').toBeInstanceOf(HsmError);
  const err = caught as HsmError;
  expect(err.kind, err.message).toBe(kind);
  return err;
}
