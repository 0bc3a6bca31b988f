/**
 * createLogger: JSON lines with the service base and ISO time, redaction of secret-bearing fields (the value must
 * not appear anywhere in the output), and error serialization that keeps the cause chain.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED } from '../../server/log.ts';

/** A logger writing into an array of parsed lines. */
function capture(level = 'trace'): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level, destination: { write: (s: string) => void lines.push(s) } });
  return { log, lines };
}

describe('createLogger', () => {
  it('writes JSON lines with service, ISO time and a textual level', () => {
    const { log, lines } = capture();
    log.info({ walletId: 'w1' }, 'hello');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0] ?? '');
    expect(rec).toMatchObject({ level: 'info', service: 'waiaas-signerd', walletId: 'w1', msg: 'hello' });
    expect(rec.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('never writes the value of a pin, privateKey, secret, webhookSecret or authorization header', () => {
    const { log, lines } = capture();
    const secrets = {
      pin: 'PIN-VALUE-1111',
      privateKey: 'PRIVATE-KEY-2222',
      secret: 'SECRET-3333',
      webhookSecret: 'WEBHOOK-4444',
      password: 'PASSWORD-5555',
      key_pem: 'KEYPEM-6666',
    };
    log.info(secrets, 'top level');
    log.info({ hsm: { pin: 'PIN-NESTED-7777' }, tls: { privateKey: 'PK-NESTED-8888' }, hook: { secret: 'S-NESTED-9999' } }, 'nested');
    log.info({ headers: { authorization: 'Bearer AUTH-0000' }, req: { headers: { authorization: 'Bearer AUTH-1212' } } }, 'headers');
    log.child({ policy: { webhookSecret: 'CHILD-1313' } }).warn({ pin: 'CHILD-PIN-1414' }, 'child');
    const out = lines.join('');
    for (const v of [
      ...Object.values(secrets),
      'PIN-NESTED-7777',
      'PK-NESTED-8888',
      'S-NESTED-9999',
      'AUTH-0000',
      'AUTH-1212',
      'CHILD-1313',
      'CHILD-PIN-1414',
    ]) {
      expect(out).not.toContain(v);
    }
    const first = JSON.parse(lines[0] ?? '');
    expect(first.pin).toBe(REDACTED);
    expect(first.privateKey).toBe(REDACTED);
    expect(JSON.parse(lines[1] ?? '').hsm.pin).toBe(REDACTED);
  });

  it('serializes errors with their cause chain', () => {
    const { log, lines } = capture();
    const root = new Error('CKR_DEVICE_ERROR');
    const mid = new Error('C_Sign failed', { cause: root });
    const top = Object.assign(new Error('sign request failed', { cause: mid }), { reason: 'HSM_UNAVAILABLE' });
    log.error({ err: top }, 'boom');
    log.error({ err: new Error('native', { cause: 'a string cause' }) }, 'string cause');
    const rec = JSON.parse(lines[0] ?? '');
    expect(rec.err.message).toBe('sign request failed');
    expect(rec.err.reason).toBe('HSM_UNAVAILABLE');
    expect(rec.err.stack).toMatch('sign request failed');
    expect(rec.err.cause.message).toBe('C_Sign failed');
    expect(rec.err.cause.cause.message).toBe('CKR_DEVICE_ERROR');
    expect(JSON.parse(lines[1] ?? '').err.cause).toBe('a string cause');
  });

  it('honours the level and writes to a file descriptor', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'waiaas-log-'));
    try {
      const file = path.join(dir, 'out.log');
      const fd = openSync(file, 'w');
      const log = createLogger({ level: 'warn', destination: fd });
      log.info('dropped');
      log.warn({ secret: 'FD-SECRET' }, 'kept');
      log.flush();
      closeSync(fd);
      const text = readFileSync(file, 'utf8');
      expect(text).not.toMatch('dropped');
      expect(text).toMatch('"msg":"kept"');
      expect(text).not.toMatch('FD-SECRET');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
