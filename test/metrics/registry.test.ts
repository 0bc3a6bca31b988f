/**
 * The Prometheus registry renders the text exposition format 0.0.4 exactly: HELP/TYPE lines, escaped label values and
 * help text, cumulative histogram buckets with +Inf, _sum and _count, function metrics read at scrape time.
 */
import { describe, expect, test } from 'vitest';
import { CONTENT_TYPE, escapeLabelValue, formatValue, Registry } from '../../server/metrics/registry.ts';

describe('Registry.render', () => {
  test('an empty registry renders nothing', () => {
    expect(new Registry().render()).toBe('');
  });

  test('an unlabelled counter and gauge are exported at zero from the start', () => {
    const r = new Registry();
    const c = r.counter('jobs_total', 'Jobs done.');
    const g = r.gauge('queue_depth', 'Jobs waiting.');
    expect(r.render()).toBe(['# HELP jobs_total Jobs done.', '# TYPE jobs_total counter', 'jobs_total 0', '# HELP queue_depth Jobs waiting.', '# TYPE queue_depth gauge', 'queue_depth 0', ''].join('\n'));
    c.inc();
    c.inc(2.5);
    g.set(7);
    g.inc(-2);
    expect(r.render()).toBe(['# HELP jobs_total Jobs done.', '# TYPE jobs_total counter', 'jobs_total 3.5', '# HELP queue_depth Jobs waiting.', '# TYPE queue_depth gauge', 'queue_depth 5', ''].join('\n'));
  });

  test('labelled series appear in first-seen order with labels in declared order', () => {
    const r = new Registry();
    const c = r.counter('rpc_total', 'Calls.', ['method', 'code']);
    expect(r.render()).toBe('# HELP rpc_total Calls.\n# TYPE rpc_total counter\n');
    c.inc({ code: 'OK', method: 'b/B' });
    c.inc({ method: 'a/A', code: 'NOT_FOUND' }, 3);
    c.inc({ method: 'b/B', code: 'OK' });
    expect(r.render()).toBe(
      ['# HELP rpc_total Calls.', '# TYPE rpc_total counter', 'rpc_total{method="b/B",code="OK"} 2', 'rpc_total{method="a/A",code="NOT_FOUND"} 3', ''].join('\n'),
    );
    expect(c.get({ method: 'b/B', code: 'OK' })).toBe(2);
  });

  test('label values escape backslash, double quote and line feed; help escapes backslash and line feed', () => {
    const r = new Registry();
    const g = r.gauge('odd', 'Line one\nback\\slash "quotes" stay', ['v']);
    g.set({ v: 'a\\b"c\nd' }, 1);
    expect(r.render()).toBe(['# HELP odd Line one\\nback\\\\slash "quotes" stay', '# TYPE odd gauge', 'odd{v="a\\\\b\\"c\\nd"} 1', ''].join('\n'));
    expect(escapeLabelValue('x"y')).toBe('x\\"y');
  });

  test('special values render as Prometheus parses them', () => {
    expect([NaN, Infinity, -Infinity, 0, -0, 1e-7, 1.5, 1e21].map(formatValue)).toEqual(['NaN', '+Inf', '-Inf', '0', '0', '1e-7', '1.5', '1e+21']);
    const r = new Registry();
    r.gauge('g', 'G.').set(-Infinity);
    expect(r.render()).toBe('# HELP g G.\n# TYPE g gauge\ng -Inf\n');
  });

  test('a histogram renders cumulative buckets, +Inf, _sum and _count', () => {
    const r = new Registry();
    const h = r.histogram('latency_seconds', 'Latency.', [0.005, 0.1, 1], ['curve']);
    h.observe({ curve: 'ed25519' }, 0.001);
    h.observe({ curve: 'ed25519' }, 0.005); // on the bound: counts in le="0.005"
    h.observe({ curve: 'ed25519' }, 0.5);
    h.observe({ curve: 'ed25519' }, 7);
    h.observe({ curve: 'secp256k1' }, 0.05);
    expect(r.render()).toBe(
      [
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{curve="ed25519",le="0.005"} 2',
        'latency_seconds_bucket{curve="ed25519",le="0.1"} 2',
        'latency_seconds_bucket{curve="ed25519",le="1"} 3',
        'latency_seconds_bucket{curve="ed25519",le="+Inf"} 4',
        'latency_seconds_sum{curve="ed25519"} 7.506',
        'latency_seconds_count{curve="ed25519"} 4',
        'latency_seconds_bucket{curve="secp256k1",le="0.005"} 0',
        'latency_seconds_bucket{curve="secp256k1",le="0.1"} 1',
        'latency_seconds_bucket{curve="secp256k1",le="1"} 1',
        'latency_seconds_bucket{curve="secp256k1",le="+Inf"} 1',
        'latency_seconds_sum{curve="secp256k1"} 0.05',
        'latency_seconds_count{curve="secp256k1"} 1',
        '',
      ].join('\n'),
    );
    expect(h.get({ curve: 'ed25519' })).toEqual({ count: 4, sum: 7.506 });
  });

  test('an unlabelled histogram is exported empty from the start', () => {
    const r = new Registry();
    r.histogram('write_seconds', 'Writes.', [0.5]);
    expect(r.render()).toBe(
      ['# HELP write_seconds Writes.', '# TYPE write_seconds histogram', 'write_seconds_bucket{le="0.5"} 0', 'write_seconds_bucket{le="+Inf"} 0', 'write_seconds_sum 0', 'write_seconds_count 0', ''].join('\n'),
    );
  });

  test('init exports a labelled series at zero', () => {
    const r = new Registry();
    r.counter('errors_total', 'Errors.', ['kind']).init({ kind: 'UNAVAILABLE' });
    expect(r.render()).toBe('# HELP errors_total Errors.\n# TYPE errors_total counter\nerrors_total{kind="UNAVAILABLE"} 0\n');
  });

  test('function metrics are read at every scrape; one that throws or returns undefined has no sample', () => {
    const errors: string[] = [];
    const r = new Registry({ onCollectError: (name) => errors.push(name) });
    let n = 1;
    r.gaugeFunc('pending', 'Pending.', () => n);
    r.counterFunc('cpu_seconds_total', 'CPU.', () => {
      throw new Error('no');
    });
    r.gaugeFunc('unknown', 'Unknown.', () => undefined);
    expect(r.render()).toBe(['# HELP pending Pending.', '# TYPE pending gauge', 'pending 1', '# HELP cpu_seconds_total CPU.', '# TYPE cpu_seconds_total counter', '# HELP unknown Unknown.', '# TYPE unknown gauge', ''].join('\n'));
    n = 42;
    expect(r.render()).toContain('\npending 42\n');
    expect(errors).toEqual(['cpu_seconds_total', 'cpu_seconds_total']);
  });

  test('misuse throws', () => {
    const r = new Registry();
    expect(() => r.counter('bad-name', 'x')).toThrow(/invalid metric name/);
    expect(() => r.counter('ok_total', 'x', ['__reserved'])).toThrow(/invalid label name/);
    expect(() => r.counter('ok2_total', 'x', ['a', 'a'])).toThrow(/declared twice/);
    expect(() => r.histogram('h', 'x', [1], ['le'])).toThrow(/reserved/);
    expect(() => r.histogram('h2', 'x', [1, 1])).toThrow(/strictly increasing/);
    expect(() => r.histogram('h3', 'x', [1, Infinity])).toThrow(/finite/);
    expect(() => r.histogram('h4', 'x', [])).toThrow(/at least one/);
    const c = r.counter('c_total', 'x', ['a']);
    expect(() => r.counter('c_total', 'x')).toThrow(/already registered/);
    r.histogram('lat', 'x', [1]);
    expect(() => r.gauge('lat_count', 'x')).toThrow(/clashes/);
    expect(() => c.inc({ a: 'x' }, -1)).toThrow(RangeError);
    expect(() => c.inc({ a: 'x' }, NaN)).toThrow(RangeError);
    expect(() => c.inc({ b: 'x' } as never)).toThrow(/expected labels \[a\]/);
    expect(() => c.inc({ a: 'x', b: 'y' } as never)).toThrow(/expected labels/);
    expect(() => c.inc({ a: 1 } as never)).toThrow(/must be a string/);
    const h = r.histogram('h5', 'x', [1]);
    expect(() => h.observe(NaN)).toThrow(RangeError);
  });

  test('the content type is the 0.0.4 text format', () => {
    expect(CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
