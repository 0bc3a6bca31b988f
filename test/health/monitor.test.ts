/**
 * ReadinessMonitor with fake checks: a failing one, a hanging one, a recovering one, a slow synchronous one. The
 * monitor reports correctly, never piles up calls to a hung check, and calls onChange on transitions only.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { ReadinessMonitor, type ReadinessCheck } from '../../server/health/health.ts';

const INTERVAL = 15;
/** The timeout of the tests about timeouts; the others use a generous one so that a loaded machine cannot fail them. */
const TIMEOUT = 40;
const RELAXED_TIMEOUT = 2000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(5);
  }
}

/** A check whose outcome the test sets, counting its calls. */
function controllable(name: string, initial: 'pass' | 'fail' | 'hang' = 'pass') {
  const c = {
    mode: initial as 'pass' | 'fail' | 'hang',
    calls: 0,
    release: undefined as (() => void) | undefined,
    check: {
      name,
      check: async () => {
        c.calls++;
        if (c.mode === 'fail') throw new Error(`${name} is down`);
        if (c.mode === 'hang') await new Promise<void>((r) => (c.release = r));
      },
    } as ReadinessCheck,
  };
  return c;
}

function recorder() {
  const changes: [boolean, string[]][] = [];
  return { changes, onChange: (ready: boolean, failing: string[]) => changes.push([ready, failing]) };
}

const monitors: ReadinessMonitor[] = [];
function monitor(checks: ReadinessCheck[], onChange: (r: boolean, f: string[]) => void, extra: Partial<ConstructorParameters<typeof ReadinessMonitor>[0]> = {}) {
  const m = new ReadinessMonitor({ checks, intervalMs: INTERVAL, timeoutMs: RELAXED_TIMEOUT, onChange, ...extra });
  monitors.push(m);
  return m;
}

afterEach(() => {
  while (monitors.length > 0) monitors.pop()!.stop();
});

describe('ReadinessMonitor', () => {
  test('before the first round it is not ready and every check counts as failing', () => {
    const m = monitor([controllable('hsm').check, controllable('store').check], () => undefined);
    expect(m.ready).toBe(false);
    expect(m.failing).toEqual(['hsm', 'store']);
    expect(m.names).toEqual(['hsm', 'store']);
  });

  test('all checks passing: ready after the first round, onChange called once however many rounds run', async () => {
    const a = controllable('hsm');
    const b = controllable('store');
    const r = recorder();
    const m = monitor([a.check, b.check], r.onChange);
    await m.start();
    expect(m.ready).toBe(true);
    expect(m.failing).toEqual([]);
    expect(r.changes).toEqual([[true, []]]);
    await until(() => a.calls >= 5 && b.calls >= 5);
    expect(r.changes).toEqual([[true, []]]);
  });

  test('a failing check: not ready, named in failing, reported once', async () => {
    const a = controllable('hsm');
    const b = controllable('store', 'fail');
    const c = controllable('audit');
    const r = recorder();
    const m = monitor([a.check, b.check, c.check], r.onChange);
    await m.start();
    expect(m.ready).toBe(false);
    expect(m.failing).toEqual(['store']);
    await until(() => b.calls >= 4);
    expect(r.changes).toEqual([[false, ['store']]]);
    const st = m.status().find((s) => s.name === 'store')!;
    expect(st).toMatchObject({ ok: false, lastOk: false, error: 'store is down' });
    expect(st.consecutiveFailures).toBeGreaterThanOrEqual(4);
    expect(m.status().find((s) => s.name === 'hsm')).toMatchObject({ ok: true, lastOk: true, consecutiveFailures: 0 });
  });

  test('a recovering check: not ready, then ready; onChange on each transition only', async () => {
    const a = controllable('hsm', 'fail');
    const b = controllable('store');
    const r = recorder();
    const m = monitor([a.check, b.check], r.onChange);
    await m.start();
    await until(() => a.calls >= 3);
    expect(r.changes).toEqual([[false, ['hsm']]]);
    a.mode = 'pass';
    await until(() => m.ready);
    const callsWhenReady = a.calls;
    await until(() => a.calls >= callsWhenReady + 3);
    expect(r.changes).toEqual([[false, ['hsm']], [true, []]]);
    a.mode = 'fail';
    await until(() => !m.ready);
    a.mode = 'pass';
    await until(() => m.ready);
    expect(r.changes).toEqual([[false, ['hsm']], [true, []], [false, ['hsm']], [true, []]]);
  });

  test('a change in which checks fail is a transition even while staying not ready', async () => {
    const a = controllable('hsm', 'fail');
    const b = controllable('store');
    const r = recorder();
    const m = monitor([a.check, b.check], r.onChange);
    await m.start();
    b.mode = 'fail';
    await until(() => m.failing.length === 2);
    a.mode = 'pass';
    await until(() => m.failing.length === 1 && m.failing[0] === 'store');
    expect(r.changes).toEqual([[false, ['hsm']], [false, ['hsm', 'store']], [false, ['store']]]);
  });

  test('a hanging check fails at its timeout, is not called again while it hangs, and recovers when it answers', async () => {
    const a = controllable('hsm', 'hang');
    const b = controllable('store');
    const r = recorder();
    const m = monitor([{ ...a.check, timeoutMs: TIMEOUT }, b.check], r.onChange);
    const t0 = Date.now();
    await m.start();
    // The first round waited for the timeout, not for the hung call.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(m.ready).toBe(false);
    expect(m.failing).toEqual(['hsm']);
    expect(m.status()[0]!.error).toMatch(/no answer within 40 ms/);
    // Later rounds run (store keeps being checked) but the hung check is not called again.
    await until(() => b.calls >= 5);
    expect(a.calls).toBe(1);
    expect(m.status()[0]!.error).toMatch(/still running after \d+ ms/);
    expect(m.ready).toBe(false);
    // It answers at last; the next round calls it again and it passes.
    a.mode = 'pass';
    a.release!();
    await until(() => m.ready);
    expect(a.calls).toBe(2);
    expect(r.changes).toEqual([[false, ['hsm']], [true, []]]);
  });

  test('the hung check receives an aborted signal at the timeout', async () => {
    let seen: AbortSignal | undefined;
    const m = monitor([{ name: 'hsm', timeoutMs: TIMEOUT, check: (signal) => ((seen = signal), new Promise<void>(() => undefined)) }], () => undefined);
    await m.check();
    expect(seen?.aborted).toBe(true);
  });

  test('a check that blocks the event loop past its timeout fails even though it returned', async () => {
    const r = recorder();
    const blocking: ReadinessCheck = {
      name: 'store',
      timeoutMs: TIMEOUT,
      check: async () => {
        const end = Date.now() + TIMEOUT + 30;
        while (Date.now() < end) {
          // busy: a synchronous SQLite call waiting on busy_timeout looks like this
        }
      },
    };
    const m = monitor([blocking], r.onChange);
    expect(await m.check()).toBe(false);
    expect(m.status()[0]!.error).toMatch(/took \d+ ms \(timeout 40 ms\)/);
  });

  test('a check that throws synchronously is a failed check', async () => {
    const m = monitor(
      [
        {
          name: 'audit',
          check: () => {
            throw new Error('sync boom');
          },
        },
      ],
      () => undefined,
    );
    expect(await m.check()).toBe(false);
    expect(m.status()[0]!.error).toBe('sync boom');
  });

  test('per-check timeouts override the default', async () => {
    const slow: ReadinessCheck = { name: 'hsm', timeoutMs: 1500, check: () => sleep(80) };
    const m = monitor([slow], () => undefined, { timeoutMs: 20 });
    expect(await m.check()).toBe(true);
    const strict = monitor([{ name: 'hsm', check: () => sleep(80) }], () => undefined, { timeoutMs: 20 });
    expect(await strict.check()).toBe(false);
  });

  test('failureThreshold: a check that has passed must fail that many rounds in a row to count', async () => {
    const a = controllable('hsm');
    const r = recorder();
    const m = monitor([a.check], r.onChange, { failureThreshold: 3 });
    expect(await m.check()).toBe(true);
    a.mode = 'fail';
    expect(await m.check()).toBe(true);
    expect(await m.check()).toBe(true);
    expect(m.status()[0]).toMatchObject({ ok: true, lastOk: false, consecutiveFailures: 2 });
    expect(await m.check()).toBe(false);
    a.mode = 'pass';
    expect(await m.check()).toBe(true);
    expect(r.changes).toEqual([[true, []], [false, ['hsm']], [true, []]]);
  });

  test('failureThreshold does not make a never-passed check ready', async () => {
    const a = controllable('hsm', 'fail');
    const m = monitor([a.check], () => undefined, { failureThreshold: 3 });
    expect(await m.check()).toBe(false);
    expect(m.failing).toEqual(['hsm']);
  });

  test('stop() ends the rounds, and a round in progress at stop() changes nothing', async () => {
    const a = controllable('hsm');
    const r = recorder();
    const m = monitor([a.check], r.onChange);
    await m.start();
    expect(r.changes).toEqual([[true, []]]);
    a.mode = 'hang';
    await until(() => a.release !== undefined);
    m.stop();
    a.mode = 'fail';
    a.release!();
    await sleep(TIMEOUT + 4 * INTERVAL);
    const calls = a.calls;
    await sleep(4 * INTERVAL);
    expect(a.calls).toBe(calls);
    expect(m.ready).toBe(true);
    expect(r.changes).toEqual([[true, []]]);
  });

  test('after stop(), a check() asked for by someone else changes nothing until start()', async () => {
    const a = controllable('hsm');
    const r = recorder();
    const m = monitor([a.check], r.onChange);
    await m.start();
    m.stop();
    a.mode = 'fail';
    expect(await m.check()).toBe(true);
    expect(m.ready).toBe(true);
    expect(r.changes).toEqual([[true, []]]);
    await m.start();
    expect(m.ready).toBe(false);
    expect(r.changes).toEqual([[true, []], [false, ['hsm']]]);
  });

  test('start() is idempotent and can resume after stop()', async () => {
    const a = controllable('hsm');
    const m = monitor([a.check], () => undefined);
    const p1 = m.start();
    const p2 = m.start();
    expect(p1).toBe(p2);
    await p1;
    m.stop();
    await sleep(3 * INTERVAL);
    const calls = a.calls;
    await m.start();
    expect(a.calls).toBeGreaterThan(calls);
  });

  test('stop() and start() during a round leave one chain of rounds, which the next stop() ends', async () => {
    const a = controllable('hsm');
    const r = recorder();
    const m = monitor([a.check], r.onChange, { intervalMs: 40 });
    const first = m.start();
    m.stop();
    await m.start();
    await first;
    await until(() => a.calls >= 3);
    // Stop right after a round, while the next one is only scheduled: no round may run after this.
    const seen = a.calls;
    await until(() => a.calls > seen, 1000);
    await sleep(1);
    a.mode = 'fail';
    m.stop();
    const atStop = a.calls;
    await sleep(200);
    expect(a.calls).toBe(atStop);
    expect(r.changes).toEqual([[true, []]]);
  });

  test('check() joins a round already in progress', async () => {
    const a = controllable('hsm');
    const m = monitor([{ name: 'hsm', check: async () => (a.calls++, sleep(10)) }], () => undefined);
    const [x, y] = await Promise.all([m.check(), m.check()]);
    expect([x, y]).toEqual([true, true]);
    expect(a.calls).toBe(1);
  });

  test('an onChange that throws is logged and the monitor goes on', async () => {
    const a = controllable('hsm');
    const errors: string[] = [];
    const log = { info: () => undefined, warn: () => undefined, error: (_o: object, msg: string) => errors.push(msg) };
    const m = monitor(
      [a.check],
      () => {
        throw new Error('bad callback');
      },
      { log },
    );
    expect(await m.check()).toBe(true);
    expect(errors).toEqual(['readiness onChange callback threw']);
    a.mode = 'fail';
    expect(await m.check()).toBe(false);
  });

  test('transitions are logged: warn with each failing check and its error, info when ready', async () => {
    const a = controllable('hsm', 'fail');
    const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
    const log = {
      info: (obj: object, msg: string) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
      error: (obj: object, msg: string) => lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
    };
    const m = monitor([a.check, controllable('store').check], () => undefined, { log });
    await m.check();
    await m.check();
    a.mode = 'pass';
    await m.check();
    expect(lines).toEqual([
      { level: 'warn', obj: { failing: ['hsm'], errors: { hsm: 'hsm is down' } }, msg: 'not ready: readiness checks failing' },
      { level: 'info', obj: { checks: ['hsm', 'store'] }, msg: 'ready: every readiness check passes' },
    ]);
  });

  test('no checks at all is ready', async () => {
    const r = recorder();
    const m = monitor([], r.onChange);
    await m.start();
    expect(m.ready).toBe(true);
    expect(r.changes).toEqual([[true, []]]);
  });

  test('bad options throw', () => {
    const ok = controllable('hsm').check;
    expect(() => new ReadinessMonitor({ checks: [ok], intervalMs: 0, onChange: () => undefined })).toThrow(/intervalMs/);
    expect(() => new ReadinessMonitor({ checks: [ok, ok], intervalMs: 10, onChange: () => undefined })).toThrow(/two checks are named "hsm"/);
    expect(() => new ReadinessMonitor({ checks: [{ ...ok, name: '' }], intervalMs: 10, onChange: () => undefined })).toThrow(/needs a name/);
    expect(() => new ReadinessMonitor({ checks: [{ ...ok, timeoutMs: -1 }], intervalMs: 10, onChange: () => undefined })).toThrow(/positive timeout/);
    expect(() => new ReadinessMonitor({ checks: [ok], intervalMs: 10, failureThreshold: 0, onChange: () => undefined })).toThrow(/failureThreshold/);
  });
});
