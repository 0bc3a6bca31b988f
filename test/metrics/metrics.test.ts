/**
 * The appliance's metrics: each recording function lands in the right series with bounded labels, never throws on
 * odd input, and the whole exposition is well formed.
 */
import { status } from '@grpc/grpc-js';
import { describe, expect, test } from 'vitest';
import { HsmError } from '../../hsm/index.ts';
import { WaiaasError } from '../../server/errors/error.ts';
import { ApplianceMetrics, grpcCodeName, hsmErrorKind, instrumentHsm, metrics, observeSignRequests, SIGNING_BUCKETS, startTimer, type SigningHsm } from '../../server/metrics/metrics.ts';
import { SignRequestEvents } from '../../server/signer/events.ts';
import type { SignRequestRecord } from '../../server/store/store.ts';

/** Sample lines of `text` as name{labels} → value. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** Checks the exposition's shape: HELP then TYPE before samples, one TYPE per name, sample lines parse. */
function expectWellFormed(text: string): void {
  expect(text.endsWith('\n')).toBe(true);
  const typed = new Map<string, string>();
  let lastHelp = '';
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$/.exec(line);
    if (help) {
      lastHelp = help[1]!;
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      expect(type[1]).toBe(lastHelp);
      expect(typed.has(type[1]!)).toBe(false);
      typed.set(type[1]!, type[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*",?)*\})? (NaN|[+-]Inf|-?[0-9.]+(e[+-]?[0-9]+)?)$/.exec(line);
    expect(m, `bad sample line: ${line}`).not.toBeNull();
    const name = m![1]!;
    const base = typed.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    expect(typed.has(base), `no TYPE for ${name}`).toBe(true);
  }
}

describe('ApplianceMetrics', () => {
  test('rpc counts by method and status code name', () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    m.rpc('waiaas.v1.SignerService/SignEvmTransaction', 0);
    m.rpc('waiaas.v1.SignerService/SignEvmTransaction', status.PERMISSION_DENIED);
    m.rpc('waiaas.v1.SignerService/SignEvmTransaction', 'PERMISSION_DENIED');
    m.rpc('waiaas.v1.WalletService/CreateWallet', 999);
    const s = samples(m.render());
    expect(s.get('waiaas_rpc_requests_total{method="waiaas.v1.SignerService/SignEvmTransaction",code="OK"}')).toBe('1');
    expect(s.get('waiaas_rpc_requests_total{method="waiaas.v1.SignerService/SignEvmTransaction",code="PERMISSION_DENIED"}')).toBe('2');
    expect(s.get('waiaas_rpc_requests_total{method="waiaas.v1.WalletService/CreateWallet",code="UNKNOWN"}')).toBe('1');
    expect(grpcCodeName(status.DEADLINE_EXCEEDED)).toBe('DEADLINE_EXCEEDED');
    expect(grpcCodeName('made up')).toBe('UNKNOWN');
  });

  test('sign requests count by kind, verdict (none when absent) and state', () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    m.signRequest({ kind: 'evm_transaction', verdict: 'INSTANT', state: 'SIGNED' });
    m.signRequest({ kind: 'evm_transaction', verdict: 'DENY', state: 'REFUSED' });
    m.signRequest({ kind: 'solana_transaction', verdict: null, state: 'REFUSED' });
    m.signRequest({ kind: 'solana_transaction', verdict: undefined, state: 'REFUSED' });
    const s = samples(m.render());
    expect(s.get('waiaas_sign_requests_total{kind="evm_transaction",verdict="INSTANT",state="SIGNED"}')).toBe('1');
    expect(s.get('waiaas_sign_requests_total{kind="evm_transaction",verdict="DENY",state="REFUSED"}')).toBe('1');
    expect(s.get('waiaas_sign_requests_total{kind="solana_transaction",verdict="none",state="REFUSED"}')).toBe('2');
  });

  test('observeSignRequests counts each state a request enters once, from the signer\'s events', () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    const events = new SignRequestEvents();
    const stop = observeSignRequests(events, m, 2);
    const rec = (id: string, state: string, verdict: string | null = 'DELAY') => ({ id, kind: 'evm_transaction', verdict, state }) as unknown as SignRequestRecord;
    events.changed(rec('a', 'PENDING'));
    events.changed(rec('a', 'PENDING')); // an approval vote: same state again
    events.changed(rec('a', 'SIGNING'));
    events.changed(rec('a', 'SIGNED'));
    events.changed(rec('b', 'PENDING', 'APPROVAL'));
    events.changed(rec('b', 'CANCELLED', 'APPROVAL'));
    events.changed(rec('c', 'EXPIRED'));
    // 'a' was forgotten (remember = 2): a late duplicate counts again, the documented bound of the memory.
    events.changed(rec('a', 'SIGNED'));
    stop();
    events.changed(rec('d', 'PENDING'));
    const s = samples(m.render());
    expect(s.get('waiaas_sign_requests_total{kind="evm_transaction",verdict="DELAY",state="PENDING"}')).toBe('1');
    expect(s.get('waiaas_sign_requests_total{kind="evm_transaction",verdict="DELAY",state="SIGNED"}')).toBe('2');
    expect(s.get('waiaas_sign_requests_total{kind="evm_transaction",verdict="APPROVAL",state="PENDING"}')).toBe('1');
    expect(s.get('waiaas_sign_requests_total{kind="evm_transaction",verdict="APPROVAL",state="CANCELLED"}')).toBe('1');
    expect(s.get('waiaas_sign_requests_total{kind="evm_transaction",verdict="DELAY",state="EXPIRED"}')).toBe('1');
    expect([...s.keys()].some((k) => k.includes('state="SIGNING"'))).toBe(false);
  });

  test('signing latency lands in the 0.5 ms to 5 s buckets; nonsense durations are ignored', () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    expect(SIGNING_BUCKETS[0]).toBe(0.0005);
    expect(SIGNING_BUCKETS.at(-1)).toBe(5);
    m.signed('ed25519', 0.0004);
    m.signed('ed25519', 0.003);
    m.signed('ed25519', NaN);
    m.signed('ed25519', -1);
    const s = samples(m.render());
    expect(s.get('waiaas_signing_seconds_bucket{curve="ed25519",le="0.0005"}')).toBe('1');
    expect(s.get('waiaas_signing_seconds_bucket{curve="ed25519",le="0.005"}')).toBe('2');
    expect(s.get('waiaas_signing_seconds_count{curve="ed25519"}')).toBe('2');
    expect(s.get('waiaas_signing_seconds_count{curve="secp256k1"}')).toBe('0');
  });

  test('HSM errors count by kind, looking through causes; every kind is exported from the start', () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    let s = samples(m.render());
    for (const kind of ['UNAVAILABLE', 'TOKEN_NOT_FOUND', 'LOGIN_FAILED', 'CURVE_UNSUPPORTED', 'KEY_NOT_FOUND', 'KEY_NOT_PROTECTED', 'INVALID_INPUT', 'OTHER']) {
      expect(s.get(`waiaas_hsm_errors_total{kind="${kind}"}`)).toBe('0');
    }
    const hsmErr = new HsmError('UNAVAILABLE', 'ed25519 sign: CKR_DEVICE_REMOVED', { ckr: 'CKR_DEVICE_REMOVED' });
    m.hsmError(hsmErr);
    m.hsmError(new WaiaasError('WAIAAS_HSM_UNAVAILABLE', undefined, { cause: hsmErr }));
    m.hsmError('KEY_NOT_FOUND');
    m.hsmError(new Error('something else'));
    m.hsmError('not a kind');
    s = samples(m.render());
    expect(s.get('waiaas_hsm_errors_total{kind="UNAVAILABLE"}')).toBe('2');
    expect(s.get('waiaas_hsm_errors_total{kind="KEY_NOT_FOUND"}')).toBe('1');
    expect(s.get('waiaas_hsm_errors_total{kind="OTHER"}')).toBe('2');
    expect(hsmErrorKind(undefined)).toBe('OTHER');
  });

  test('HSM re-initialisations: pushed, or read from the HSM layer at scrape time', () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    expect(samples(m.render()).get('waiaas_hsm_reinitializations_total')).toBe('0');
    let fromHsm = 2;
    m.setHsmReinitializationsSource(() => fromHsm);
    expect(samples(m.render()).get('waiaas_hsm_reinitializations_total')).toBe('2');
    fromHsm = 3;
    m.hsmReinitialized();
    expect(samples(m.render()).get('waiaas_hsm_reinitializations_total')).toBe('4');
    m.setHsmReinitializationsSource(() => NaN);
    expect(samples(m.render()).get('waiaas_hsm_reinitializations_total')).toBe('1');
  });

  test('timeHsmSign records latency on success and the error kind on failure, passing both through', async () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    await expect(m.timeHsmSign('secp256k1', async () => 'sig')).resolves.toBe('sig');
    const err = new HsmError('KEY_NOT_FOUND', 'no key');
    await expect(m.timeHsmSign('secp256k1', () => Promise.reject(err))).rejects.toBe(err);
    const s = samples(m.render());
    expect(s.get('waiaas_signing_seconds_count{curve="secp256k1"}')).toBe('1');
    expect(s.get('waiaas_hsm_errors_total{kind="KEY_NOT_FOUND"}')).toBe('1');
  });

  test('instrumentHsm wraps signing and key generation and forwards the rest', async () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    const calls: string[] = [];
    const fake: SigningHsm = {
      tokenLabel: 'tok',
      capabilities: { ed25519: true, secp256k1: false },
      signEd25519: async (keyId, message) => (calls.push(`ed ${keyId.length} ${message.length}`), new Uint8Array(64)),
      signSecp256k1: async () => {
        throw new HsmError('CURVE_UNSUPPORTED', 'no secp256k1');
      },
      generateKey: async () => {
        throw new HsmError('UNAVAILABLE', 'token gone');
      },
    };
    const hsm = instrumentHsm(fake, m);
    expect(hsm.tokenLabel).toBe('tok');
    expect(hsm.capabilities.secp256k1).toBe(false);
    expect(await hsm.signEd25519(new Uint8Array(16), new Uint8Array(3))).toHaveLength(64);
    await expect(hsm.signSecp256k1(new Uint8Array(16), new Uint8Array(32))).rejects.toThrow('no secp256k1');
    await expect(hsm.generateKey('ed25519', 'x')).rejects.toThrow('token gone');
    expect(calls).toEqual(['ed 16 3']);
    const s = samples(m.render());
    expect(s.get('waiaas_signing_seconds_count{curve="ed25519"}')).toBe('1');
    expect(s.get('waiaas_hsm_errors_total{kind="CURVE_UNSUPPORTED"}')).toBe('1');
    expect(s.get('waiaas_hsm_errors_total{kind="UNAVAILABLE"}')).toBe('1');
  });

  test('store writes, audit writes and notifications', () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    m.initSinks(['owners']);
    m.storeWrite(0.002);
    m.storeWrite(Infinity);
    m.auditWrite();
    m.auditWrite(3);
    m.notification('owners', 'delivered');
    m.notification('owners', 'retry');
    m.notification('phone', 'gave_up');
    const s = samples(m.render());
    expect(s.get('waiaas_store_write_seconds_bucket{le="0.0025"}')).toBe('1');
    expect(s.get('waiaas_store_write_seconds_count')).toBe('1');
    expect(s.get('waiaas_audit_writes_total')).toBe('4');
    m.setAuditWritesSource(() => 10);
    expect(samples(m.render()).get('waiaas_audit_writes_total')).toBe('14');
    expect(s.get('waiaas_notifications_total{sink="owners",outcome="delivered"}')).toBe('1');
    expect(s.get('waiaas_notifications_total{sink="owners",outcome="retry"}')).toBe('1');
    expect(s.get('waiaas_notifications_total{sink="owners",outcome="gave_up"}')).toBe('0');
    expect(s.get('waiaas_notifications_total{sink="phone",outcome="gave_up"}')).toBe('1');
  });

  test('readiness gauges', () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    expect(samples(m.render()).get('waiaas_ready')).toBe('0');
    m.setReady(false, ['hsm'], ['hsm', 'store', 'audit']);
    let s = samples(m.render());
    expect(s.get('waiaas_ready')).toBe('0');
    expect(s.get('waiaas_readiness_check_ok{check="hsm"}')).toBe('0');
    expect(s.get('waiaas_readiness_check_ok{check="store"}')).toBe('1');
    m.setReady(true, [], ['hsm', 'store', 'audit']);
    s = samples(m.render());
    expect(s.get('waiaas_ready')).toBe('1');
    expect(s.get('waiaas_readiness_check_ok{check="hsm"}')).toBe('1');
  });

  test('the pending gauge is read at scrape time; a failing source exports no sample and is logged', () => {
    const m = new ApplianceMetrics({ processMetrics: false });
    const warnings: unknown[] = [];
    m.setLogger({ warn: (obj) => warnings.push(obj) });
    expect(samples(m.render()).has('waiaas_pending_requests')).toBe(false);
    let n = 3;
    m.setPendingSource(() => n);
    expect(samples(m.render()).get('waiaas_pending_requests')).toBe('3');
    n = 5;
    expect(samples(m.render()).get('waiaas_pending_requests')).toBe('5');
    m.setPendingSource(() => {
      throw new Error('database is locked');
    });
    const text = m.render();
    expect(samples(text).has('waiaas_pending_requests')).toBe(false);
    expect(text).toContain('# TYPE waiaas_pending_requests gauge\n');
    expect(warnings).toHaveLength(1);
  });

  test('process metrics are exported, and the whole exposition is well formed', () => {
    const m = new ApplianceMetrics();
    m.rpc('a/B', 0);
    m.setReady(true, [], ['hsm']);
    const text = m.render();
    expectWellFormed(text);
    const s = samples(text);
    expect(Number(s.get('process_cpu_seconds_total'))).toBeGreaterThan(0);
    expect(Number(s.get('process_resident_memory_bytes'))).toBeGreaterThan(1_000_000);
    const start = Number(s.get('process_start_time_seconds'));
    expect(start).toBeLessThanOrEqual(Date.now() / 1000);
    expect(start).toBeGreaterThan(Date.now() / 1000 - 3600);
    if (process.platform === 'linux') expect(Number(s.get('process_open_fds'))).toBeGreaterThan(2);
    expect(text.indexOf('# TYPE waiaas_rpc_requests_total counter')).toBeGreaterThanOrEqual(0);
    expect(text).toContain('# TYPE waiaas_signing_seconds histogram');
    expect(text).toContain('# TYPE waiaas_store_write_seconds histogram');
  });

  test('the process-wide instance exists and renders', () => {
    expectWellFormed(metrics.render());
  });

  test('startTimer measures monotonic seconds', async () => {
    const elapsed = startTimer();
    await new Promise((r) => setTimeout(r, 20));
    expect(elapsed()).toBeGreaterThanOrEqual(0.015);
    expect(elapsed()).toBeLessThan(5);
  });
});
