/**
 * Secrets (webhook secrets, ntfy tokens) never appear in a log line, an error message, the outbox or a serialized
 * sink, whatever the receivers do: fail, refuse the token, echo our request headers back, hang, or be down. Also the
 * sink loader: secrets read from files with the right mode, checked, and hidden from serialization.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Notifier } from '../../server/notify/notifier.ts';
import { loadSinks, SinkConfigError, type Sink } from '../../server/notify/sinks.ts';
import { Store } from '../../server/store/store.ts';
import { approvalEvent, captureLogger, enqueue, freePort, Receiver, rows, SECRET, tempDb, TOKEN, waitUntil } from './helpers.ts';

let db: ReturnType<typeof tempDb>;
let store: Store;

beforeEach(() => {
  db = tempDb();
  store = Store.open(db.file);
});

afterEach(() => {
  store.close();
  db.cleanup();
});

/** Writes `content` to a file in the test folder with `mode`, returning its path. */
function secretFile(name: string, content: string, mode = 0o600): string {
  const p = path.join(db.dir, name);
  writeFileSync(p, content);
  chmodSync(p, mode);
  return p;
}

/** Every string `fn` throws, or fails. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('secrets', () => {
  it('never appear in log lines, errors or the outbox, whatever the receivers answer', async () => {
    // A receiver that echoes the request headers (authorization included) in its error responses, and fails.
    const echo = await Receiver.start((r, i) => ({ status: i === 0 ? 500 : 401, body: JSON.stringify(r.headers) }));
    const hang = await Receiver.start(() => 'hang');
    const down = await freePort();
    const { log, lines } = captureLogger();
    const sinks: Sink[] = [
      { kind: 'webhook', name: 'echo-hook', url: echo.url('/hook'), secret: SECRET },
      { kind: 'ntfy', name: 'echo-ntfy', url: echo.url('/topic'), token: TOKEN },
      { kind: 'webhook', name: 'hang-hook', url: hang.url('/hook'), secret: SECRET },
      { kind: 'ntfy', name: 'down-ntfy', url: `http://127.0.0.1:${down}/topic`, token: TOKEN },
    ];
    const n = new Notifier({ store, sinks, log, pollMs: 20, backoffBaseMs: 20, maxAttempts: 2, requestTimeoutMs: 200 });
    n.start();
    try {
      await enqueue(store, n, approvalEvent());
      await waitUntil(() => rows(store).every((r) => r.gave_up === 1), 10_000, 'every row given up');
    } finally {
      await n.stop();
      await echo.close();
      await hang.close();
    }
    // The receivers did get the token (so the test would notice a leak of it).
    expect(echo.received.some((r) => r.headers['authorization'] === `Bearer ${TOKEN}`)).toBe(true);

    const out = lines.join('\n');
    expect(out).toMatch('notification given up');
    expect(out).toMatch('echo-ntfy');
    for (const secret of [SECRET, TOKEN]) {
      expect(out).not.toContain(secret);
      for (const r of rows(store)) {
        expect(r.last_error ?? '').not.toContain(secret);
        expect(r.body).not.toContain(secret);
      }
    }
    const errors = rows(store).map((r) => r.last_error);
    expect(errors).toEqual(expect.arrayContaining([expect.stringMatching('HTTP 401'), expect.stringMatching(/ECONNREFUSED/), expect.stringMatching('no answer within 200 ms')]));
  });

  it('never appear in constructor errors', () => {
    const log = captureLogger().log;
    const short = 'short-secret';
    const e1 = thrown(() => new Notifier({ store, log, sinks: [{ kind: 'webhook', name: 'a', url: 'http://127.0.0.1:9/', secret: short }] }));
    expect(e1.message).toMatch('at least 16 bytes');
    expect(e1.message).not.toContain(short);
    const badToken = 'tk with spaces\r\nx-injected: 1';
    const e2 = thrown(() => new Notifier({ store, log, sinks: [{ kind: 'ntfy', name: 'a', url: 'http://127.0.0.1:9/t', token: badToken }] }));
    expect(e2.message).toMatch('visible ASCII');
    expect(e2.message).not.toContain('tk with spaces');
    const e3 = thrown(() =>
      new Notifier({ store, log, sinks: [{ kind: 'webhook', name: 'a', url: `http://user:${SECRET}@127.0.0.1:9/`, secret: SECRET }] }),
    );
    expect(e3.message).toMatch('must not contain credentials');
    expect(e3.message).not.toContain(SECRET);
  });
});

describe('loadSinks', () => {
  it('reads secrets from owner-only files (minus one trailing newline) and hides them from serialization', () => {
    const sinks = loadSinks({
      webhooks: [{ name: 'ops', url: 'https://hooks.example.com/x', secretFile: secretFile('hook', `${SECRET}\n`, 0o400) }],
      ntfy: [
        { name: 'phone', url: 'https://ntfy.example.com/t', tokenFile: secretFile('token', `${TOKEN}\r\n`) },
        { name: 'open', url: 'https://ntfy.example.com/u' },
      ],
    });
    expect(sinks.map((s) => [s.kind, s.name])).toEqual([
      ['webhook', 'ops'],
      ['ntfy', 'phone'],
      ['ntfy', 'open'],
    ]);
    const [hook, phone, open] = sinks as [Sink & { kind: 'webhook' }, Sink & { kind: 'ntfy' }, Sink & { kind: 'ntfy' }];
    expect(hook.secret).toBe(SECRET);
    expect(phone.token).toBe(TOKEN);
    expect(open.token).toBeUndefined();
    // A sink logged, stringified or inspected by mistake shows no secret.
    const { log, lines } = captureLogger();
    log.info({ sinks, sink: phone }, 'sinks');
    for (const text of [JSON.stringify(sinks), inspect(sinks, { depth: 5 }), lines.join(''), JSON.stringify({ ...hook })]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(TOKEN);
    }
  });

  it('refuses loose modes, short, empty or multi-line secrets, without quoting the content', () => {
    const cases: [string, string, number, RegExp][] = [
      ['loose', SECRET, 0o644, /mode 0644/],
      ['short', 'only-15-bytes!!', 0o600, /holds 15 bytes; at least 16/],
      ['empty', '', 0o600, /is empty/],
      ['lines', `${SECRET}\nsecond-line`, 0o600, /alone on one line/],
    ];
    for (const [name, content, mode, why] of cases) {
      const file = secretFile(`w-${name}`, content, mode);
      const e = thrown(() => loadSinks({ webhooks: [{ name: 'ops', url: 'https://h/x', secretFile: file }], ntfy: [] }));
      expect(e).toBeInstanceOf(SinkConfigError);
      expect(e.message).toMatch(why);
      expect(e.message).toMatch(`webhook sink "ops": its secret_file ${file}`);
      if (content.length > 0) expect(e.message).not.toContain(content.slice(0, 12));
    }
    const loose = secretFile('t-loose', TOKEN, 0o640);
    const e = thrown(() => loadSinks({ webhooks: [], ntfy: [{ name: 'phone', url: 'https://h/t', tokenFile: loose }] }));
    expect(e.message).toMatch(/ntfy sink "phone": its token_file .* has mode 0640/);
    expect(e.message).not.toContain(TOKEN);
    expect(thrown(() => loadSinks({ webhooks: [], ntfy: [{ name: 'p', url: 'https://h/t', tokenFile: path.join(db.dir, 'nope') }] })).message).toMatch(
      'does not exist',
    );
  });
});
