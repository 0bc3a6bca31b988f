/**
 * Opening the HSM: token selection by label, the PIN file rules, login failures that never echo the PIN, the
 * capability probe and its log line, liveness, and an idempotent close.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hsm, interceptPkcs11, newPkcs11 } from '../../hsm/index.ts';
import { CKM_EC_KEY_PAIR_GEN, CKM_EDDSA } from '../../hsm/pkcs11.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';
import { hsmError, openHsm, type LogLine } from './helpers.ts';

let token: TestToken;
let realPin: string;

beforeAll(async () => {
  token = await createTestToken({ label: 'open-tests' });
  realPin = (await readFile(token.pinFile, 'utf8')).trim();
});

afterAll(async () => {
  await token?.cleanup();
});

async function pinFile(name: string, content: string, mode = 0o600): Promise<string> {
  const path = join(token.dir, name);
  await writeFile(path, content, { mode });
  await chmod(path, mode);
  return path;
}

function open(pin: string, extra: { tokenLabel?: string; logs?: LogLine[] } = {}): Promise<Hsm> {
  const logs = extra.logs ?? [];
  return Hsm.open(
    { module: token.module, tokenLabel: extra.tokenLabel ?? token.tokenLabel, pinFile: pin },
    { log: (level, msg, fields) => logs.push({ level, msg, fields }) },
  );
}

describe('opening the HSM', () => {
  it('opens the token by label, reports both curves and answers ping', async () => {
    const logs: LogLine[] = [];
    const hsm = await openHsm(token, { logs });
    try {
      expect(hsm.tokenLabel).toBe('open-tests');
      expect(hsm.capabilities).toEqual({ ed25519: true, secp256k1: true });
      await hsm.ping();
      expect(logs.filter((l) => l.level !== 'info')).toEqual([]);
    } finally {
      await hsm.close();
    }
  });

  it('reports TOKEN_NOT_FOUND for a wrong token label, naming the labels present', async () => {
    const err = await hsmError(open(token.pinFile, { tokenLabel: 'no-such-token' }), 'TOKEN_NOT_FOUND');
    expect(err.message).toContain('no-such-token');
    expect(err.message).toContain('"open-tests"');
  });

  it('reports LOGIN_FAILED for a wrong PIN without the PIN text anywhere in the error or the logs', async () => {
    const wrongPin = `wrong-${randomBytes(8).toString('hex')}`;
    const file = await pinFile('wrong.pin', `${wrongPin}\n`);
    const logs: LogLine[] = [];
    const err = await hsmError(open(file, { logs }), 'LOGIN_FAILED');
    expect(err.ckr).toBe('CKR_PIN_INCORRECT');
    expect(err.message).toContain(file);
    const everything = inspect(err, { depth: 10, showHidden: true }) + JSON.stringify(logs) + String(err.stack);
    expect(everything).not.toContain(wrongPin);
    expect(everything).not.toContain(realPin);
  });

  it.each([0o644, 0o640, 0o604, 0o660, 0o700, 0o666])('refuses a PIN file with mode 0%s, naming the file', async (mode) => {
    const file = await pinFile(`mode-${mode.toString(8)}.pin`, `${realPin}\n`, mode);
    const err = await hsmError(open(file), 'LOGIN_FAILED');
    expect(err.message).toContain(file);
    expect(err.message).toContain(`0${mode.toString(8)}`);
    expect(err.message).toContain('0600 or 0400');
    expect(err.message).not.toContain(realPin);
  });

  it('accepts PIN files with mode 0400 and without a trailing newline', async () => {
    for (const [name, content, mode] of [['ro.pin', `${realPin}\n`, 0o400], ['bare.pin', realPin, 0o600], ['crlf.pin', `${realPin}\r\n`, 0o600]] as const) {
      const hsm = await open(await pinFile(name, content, mode));
      await hsm.ping();
      await hsm.close();
    }
  });

  it('refuses an empty PIN, a missing PIN file and a PIN file with more than one line', async () => {
    expect((await hsmError(open(await pinFile('empty.pin', '\n')), 'LOGIN_FAILED')).message).toContain('empty');
    expect((await hsmError(open(join(token.dir, 'absent.pin')), 'LOGIN_FAILED')).message).toContain('absent.pin');
    const twoLines = await hsmError(open(await pinFile('two.pin', `${realPin}\n\n`)), 'LOGIN_FAILED');
    expect(twoLines.message).toContain('more than one line');
    expect(twoLines.message).not.toContain(realPin);
  });

  it('refuses bad configuration with INVALID_INPUT', async () => {
    const base = { module: token.module, tokenLabel: token.tokenLabel, pinFile: token.pinFile };
    await hsmError(Hsm.open({ ...base, sessions: 0 }, { log: () => {} }), 'INVALID_INPUT');
    await hsmError(Hsm.open({ ...base, sessions: 1.5 }, { log: () => {} }), 'INVALID_INPUT');
    await hsmError(Hsm.open({ ...base, tokenLabel: '' }, { log: () => {} }), 'INVALID_INPUT');
  });

  it('reports UNAVAILABLE for a module that cannot be loaded', async () => {
    const err = await hsmError(Hsm.open({ module: join(token.dir, 'nope.so'), tokenLabel: 'x', pinFile: token.pinFile }, { log: () => {} }), 'UNAVAILABLE');
    expect(err.message).toContain('nope.so');
  });

  it('logs one line naming the curve a token cannot do, and refuses that curve with CURVE_UNSUPPORTED', async () => {
    // A token without EdDSA: drop CKM_EDDSA from what the module reports.
    const pkcs11 = interceptPkcs11(newPkcs11(), (method, _args, call) => {
      const result = call();
      return method === 'C_GetMechanismList' ? (result as number[]).filter((m) => m !== CKM_EDDSA) : result;
    });
    const logs: LogLine[] = [];
    const hsm = await openHsm(token, { pkcs11, logs });
    try {
      expect(hsm.capabilities).toEqual({ ed25519: false, secp256k1: true });
      const warnings = logs.filter((l) => l.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toContain('cannot do ed25519');
      expect(warnings[0]!.msg).not.toContain('secp256k1');
      await hsmError(hsm.generateKey('ed25519', 'x'), 'CURVE_UNSUPPORTED');
      await hsmError(hsm.signEd25519(new Uint8Array(16), new Uint8Array(1)), 'CURVE_UNSUPPORTED');
      await hsmError(hsm.getKey(new Uint8Array(16), 'ed25519'), 'CURVE_UNSUPPORTED');
      const k = await hsm.generateKey('secp256k1', 'still-works');
      expect(k.publicKey).toHaveLength(65);
    } finally {
      await hsm.close();
    }
  });

  it('reports CURVE_UNSUPPORTED when the token has ECDSA but refuses the secp256k1 curve at key generation', async () => {
    // SoftHSM2 does support secp256k1; emulate a token that does not, the way such tokens answer.
    let generateCalls = 0;
    const pkcs11 = interceptPkcs11(newPkcs11(), (method, args, call) => {
      if (method === 'C_GenerateKeyPairAsync' && (args[1] as { mechanism: number }).mechanism === CKM_EC_KEY_PAIR_GEN) {
        generateCalls++;
        return Promise.reject(new Error('CKR_CURVE_NOT_SUPPORTED'));
      }
      return call();
    });
    const hsm = await openHsm(token, { pkcs11 });
    try {
      expect(hsm.capabilities.secp256k1).toBe(true);
      const err = await hsmError(hsm.generateKey('secp256k1', 'k1'), 'CURVE_UNSUPPORTED');
      expect(err.ckr).toBe('CKR_CURVE_NOT_SUPPORTED');
      expect(generateCalls).toBe(1);
    } finally {
      await hsm.close();
    }
  });

  it('closes idempotently, and a closed Hsm refuses work with UNAVAILABLE', async () => {
    const hsm = await openHsm(token);
    await Promise.all([hsm.close(), hsm.close()]);
    await hsm.close();
    await hsmError(hsm.ping(), 'UNAVAILABLE');
    await hsmError(hsm.generateKey('ed25519', 'late'), 'UNAVAILABLE');
  });

  it('lets two Hsm instances share the module in one process; closing one leaves the other working', async () => {
    const a = await openHsm(token);
    const b = await openHsm(token);
    const key = await a.generateKey('ed25519', 'shared');
    await a.close();
    await b.ping();
    expect((await b.getKey(key.keyId, 'ed25519')).publicKey).toEqual(key.publicKey);
    await b.signEd25519(key.keyId, new Uint8Array([1]));
    await b.close();
  });
});
