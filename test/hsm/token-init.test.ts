/**
 * Token initialisation through the PKCS#11 API: a second token can be made beside the first and logged in to, and
 * an existing label is never initialised again (that would erase its keys).
 */
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hsm } from '../../hsm/index.ts';
import { createTestToken, initToken, type TestToken } from '../support/softhsm.ts';
import { hsmError } from './helpers.ts';

let token: TestToken;

beforeAll(async () => {
  token = await createTestToken({ label: 'first' });
});

afterAll(async () => {
  await token?.cleanup();
});

describe('initToken', () => {
  it('makes a second token with its own user PIN that Hsm.open can log in to', async () => {
    const userPin = randomBytes(12).toString('base64url');
    await initToken(token.module, 'second', randomBytes(12).toString('hex'), userPin);
    const pinFile = join(token.dir, 'second.pin');
    await writeFile(pinFile, userPin, { mode: 0o600 });
    await chmod(pinFile, 0o600);
    const hsm = await Hsm.open({ module: token.module, tokenLabel: 'second', pinFile }, { log: () => {} });
    try {
      const key = await hsm.generateKey('ed25519', 'on-second');
      expect(key.publicKey).toHaveLength(32);
    } finally {
      await hsm.close();
    }
    // The first token is unaffected and does not see the second's key.
    const first = await Hsm.open({ module: token.module, tokenLabel: 'first', pinFile: token.pinFile }, { log: () => {} });
    await first.ping();
    await first.close();
  });

  it('refuses to initialise a label that already exists, and labels longer than 32 bytes', async () => {
    const err = await hsmError(initToken(token.module, 'first', 'so-pin-1234', 'user-pin-1234'), 'INVALID_INPUT');
    expect(err.message).toContain('already exists');
    expect(err.message).not.toContain('so-pin-1234');
    await hsmError(initToken(token.module, 'x'.repeat(33), 'so-pin-1234', 'user-pin-1234'), 'INVALID_INPUT');
    await hsmError(initToken(token.module, 'ok', '', 'user-pin-1234'), 'INVALID_INPUT');
  });

  it('can run while an Hsm holds the module open in the same process', async () => {
    const hsm = await Hsm.open({ module: token.module, tokenLabel: 'first', pinFile: token.pinFile }, { log: () => {} });
    try {
      await initToken(token.module, 'third', randomBytes(8).toString('hex'), randomBytes(8).toString('hex'));
      await hsm.ping();
      await hsm.signEd25519((await hsm.generateKey('ed25519', 'k')).keyId, new Uint8Array([1]));
    } finally {
      await hsm.close();
    }
  });
});
