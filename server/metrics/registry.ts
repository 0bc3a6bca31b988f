/**
 * A tiny Prometheus registry: counters, gauges and histograms with labels, and computed (function) counters and
 * gauges read at scrape time, rendered in the text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format).
 *
 * What it does not do, on purpose: summaries, exemplars, OpenMetrics, timestamps, removal of series. Label values
 * must come from small closed sets (method names, status codes, curve names, configured sink names): every distinct
 * combination is a series kept for the life of the process.
 *
 * Misuse (a bad name, wrong label names, a negative counter increment, NaN) throws: those are programming errors a
 * unit test catches. Callers on a hot path (server/metrics/metrics.ts) validate their inputs so that recording a
 * metric never throws there.
 *
 * Output order: metrics in registration order; series in the order they were first seen; label pairs in the order
 * the label names were declared (then `le` for histogram buckets).
 */

/** The type of a metric, as in `# TYPE`. */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Values for every declared label of a metric, by label name. */
export type LabelValues<L extends string> = { readonly [K in L]: string };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes HELP text: backslash and line feed. */
export function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as Prometheus parses it (Go ParseFloat): NaN, +Inf, -Inf, or a JavaScript number. */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function checkLabelNames(metric: string, labelNames: readonly string[], reserved: readonly string[]): void {
  const seen = new Set<string>();
  for (const l of labelNames) {
    if (!LABEL_NAME.test(l) || l.startsWith('__')) throw new Error(`metric ${metric}: invalid label name ${JSON.stringify(l)}`);
    if (reserved.includes(l)) throw new Error(`metric ${metric}: label name "${l}" is reserved`);
    if (seen.has(l)) throw new Error(`metric ${metric}: label name "${l}" declared twice`);
    seen.add(l);
  }
}

/** `{a="x",b="y"}` for the pairs, or '' when there are none. */
function labelText(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/** State common to labelled metrics: the series, keyed by their label values. */
abstract class Labelled<L extends string, S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  /** Series by the JSON of their label values (in labelNames order). */
  protected readonly series = new Map<string, { values: readonly string[]; state: S }>();

  constructor(name: string, help: string, labelNames: readonly L[], reserved: readonly string[] = []) {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    checkLabelNames(name, labelNames, reserved);
    this.name = name;
    this.help = help;
    this.labelNames = [...labelNames];
  }

  protected abstract fresh(): S;

  /** The series for `labels`, created on first use. Throws when the label names are not exactly the declared ones. */
  protected at(labels: LabelValues<L> | undefined): S {
    const values = this.values(labels);
    const key = JSON.stringify(values);
    let s = this.series.get(key);
    if (s === undefined) {
      s = { values, state: this.fresh() };
      this.series.set(key, s);
    }
    return s.state;
  }

  private values(labels: LabelValues<L> | undefined): string[] {
    const given = labels === undefined ? [] : Object.keys(labels);
    if (given.length !== this.labelNames.length || given.some((k) => !(this.labelNames as readonly string[]).includes(k))) {
      throw new Error(`metric ${this.name}: expected labels [${this.labelNames.join(', ')}], got [${given.join(', ')}]`);
    }
    return this.labelNames.map((l) => {
      const v = (labels as Record<string, unknown>)[l];
      if (typeof v !== 'string') throw new Error(`metric ${this.name}: label ${l} must be a string`);
      return v;
    });
  }

  protected pairs(values: readonly string[]): [string, string][] {
    return this.labelNames.map((l, i) => [l, values[i] as string]);
  }

  /** Makes sure the series exists (at zero), so that it is exported before its first event. */
  init(...labels: [L] extends [never] ? [] : [LabelValues<L>]): this {
    this.at(labels[0]);
    return this;
  }
}

/** A counter: only goes up. Reset to zero only by a restart (Prometheus handles that). */
export class Counter<L extends string = never> extends Labelled<L, { value: number }> {
  readonly type = 'counter';

  constructor(name: string, help: string, labelNames: readonly L[] = []) {
    super(name, help, labelNames);
    if (labelNames.length === 0) this.at(undefined);
  }

  protected fresh(): { value: number } {
    return { value: 0 };
  }

  /** Adds `by` (default 1; finite, not negative) to the series named by `labels` (omit for an unlabelled counter). */
  inc(...args: [L] extends [never] ? [by?: number] : [labels: LabelValues<L>, by?: number]): void {
    const [labels, by] = (this.labelNames.length === 0 ? [undefined, args[0]] : [args[0], args[1]]) as [LabelValues<L> | undefined, number | undefined];
    const n = by ?? 1;
    if (!Number.isFinite(n) || n < 0) throw new RangeError(`counter ${this.name}: increment must be finite and not negative (got ${n})`);
    this.at(labels).value += n;
  }

  /** The current value of a series (0 when it does not exist). */
  get(...labels: [L] extends [never] ? [] : [LabelValues<L>]): number {
    return this.at(labels[0]).value;
  }

  render(): string[] {
    return [...this.series.values()].map((s) => `${this.name}${labelText(this.pairs(s.values))} ${formatValue(s.state.value)}`);
  }
}

/** A gauge: a value that goes up and down. */
export class Gauge<L extends string = never> extends Labelled<L, { value: number }> {
  readonly type = 'gauge';

  constructor(name: string, help: string, labelNames: readonly L[] = []) {
    super(name, help, labelNames);
    if (labelNames.length === 0) this.at(undefined);
  }

  protected fresh(): { value: number } {
    return { value: 0 };
  }

  /** Sets the series named by `labels` (omit for an unlabelled gauge) to `value` (NaN and ±Inf are allowed). */
  set(...args: [L] extends [never] ? [value: number] : [labels: LabelValues<L>, value: number]): void {
    const [labels, value] = (this.labelNames.length === 0 ? [undefined, args[0]] : [args[0], args[1]]) as [LabelValues<L> | undefined, number];
    if (typeof value !== 'number') throw new TypeError(`gauge ${this.name}: value must be a number`);
    this.at(labels).value = value;
  }

  /** Adds `by` (default 1; may be negative) to the series. */
  inc(...args: [L] extends [never] ? [by?: number] : [labels: LabelValues<L>, by?: number]): void {
    const [labels, by] = (this.labelNames.length === 0 ? [undefined, args[0]] : [args[0], args[1]]) as [LabelValues<L> | undefined, number | undefined];
    const n = by ?? 1;
    if (!Number.isFinite(n)) throw new RangeError(`gauge ${this.name}: increment must be finite (got ${n})`);
    this.at(labels).value += n;
  }

  /** The current value of a series (0 when it does not exist). */
  get(...labels: [L] extends [never] ? [] : [LabelValues<L>]): number {
    return this.at(labels[0]).value;
  }

  render(): string[] {
    return [...this.series.values()].map((s) => `${this.name}${labelText(this.pairs(s.values))} ${formatValue(s.state.value)}`);
  }
}

interface HistogramState {
  /** Observations per bucket (not cumulative); the last entry is the +Inf bucket. */
  counts: number[];
  sum: number;
  count: number;
}

/** A histogram: observations counted into cumulative `le` buckets, with their sum and count. */
export class Histogram<L extends string = never> extends Labelled<L, HistogramState> {
  readonly type = 'histogram';
  /** Upper bounds, strictly increasing and finite; +Inf is implicit. */
  readonly buckets: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[], labelNames: readonly L[] = []) {
    super(name, help, labelNames, ['le']);
    if (buckets.length === 0) throw new Error(`histogram ${name}: at least one bucket is needed`);
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i] as number;
      if (!Number.isFinite(b)) throw new Error(`histogram ${name}: bucket bounds must be finite (+Inf is added)`);
      if (i > 0 && b <= (buckets[i - 1] as number)) throw new Error(`histogram ${name}: bucket bounds must be strictly increasing`);
    }
    this.buckets = [...buckets];
    if (labelNames.length === 0) this.at(undefined);
  }

  protected fresh(): HistogramState {
    return { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  /** Records one observation (not NaN) in the series named by `labels` (omit for an unlabelled histogram). */
  observe(...args: [L] extends [never] ? [value: number] : [labels: LabelValues<L>, value: number]): void {
    const [labels, value] = (this.labelNames.length === 0 ? [undefined, args[0]] : [args[0], args[1]]) as [LabelValues<L> | undefined, number];
    if (typeof value !== 'number' || Number.isNaN(value)) throw new RangeError(`histogram ${this.name}: cannot observe ${String(value)}`);
    const s = this.at(labels);
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i++;
    s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count += 1;
  }

  /** Count and sum of a series (zeros when it does not exist). */
  get(...labels: [L] extends [never] ? [] : [LabelValues<L>]): { count: number; sum: number } {
    const s = this.at(labels[0]);
    return { count: s.count, sum: s.sum };
  }

  render(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      const pairs = this.pairs(s.values);
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += s.state.counts[i] as number;
        const le = i < this.buckets.length ? formatValue(this.buckets[i] as number) : '+Inf';
        out.push(`${this.name}_bucket${labelText([...pairs, ['le', le]])} ${formatValue(cumulative)}`);
      }
      out.push(`${this.name}_sum${labelText(pairs)} ${formatValue(s.state.sum)}`);
      out.push(`${this.name}_count${labelText(pairs)} ${formatValue(s.state.count)}`);
    }
    return out;
  }
}

/**
 * An unlabelled counter or gauge whose value is read from a function at scrape time (like client_golang's
 * CounterFunc/GaugeFunc). A function that returns undefined or throws exports no sample for this scrape.
 */
export class FuncMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly #read: () => number | undefined;
  readonly #onError: (name: string, err: unknown) => void;

  constructor(type: 'counter' | 'gauge', name: string, help: string, read: () => number | undefined, onError: (name: string, err: unknown) => void) {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    this.type = type;
    this.name = name;
    this.help = help;
    this.#read = read;
    this.#onError = onError;
  }

  render(): string[] {
    let v: number | undefined;
    try {
      v = this.#read();
    } catch (err) {
      this.#onError(this.name, err);
      return [];
    }
    return typeof v === 'number' ? [`${this.name} ${formatValue(v)}`] : [];
  }
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string> | FuncMetric;

/** Options of a Registry. */
export interface RegistryOptions {
  /** Told when a function metric throws while rendering (the metric is exported without a sample). */
  onCollectError?: (metric: string, err: unknown) => void;
}

/** A set of metrics rendered together. */
export class Registry {
  readonly #metrics = new Map<string, AnyMetric>();
  readonly #onError: (name: string, err: unknown) => void;

  constructor(options: RegistryOptions = {}) {
    this.#onError = options.onCollectError ?? (() => undefined);
  }

  #add<M extends AnyMetric>(m: M): M {
    const clashes = m.type === 'histogram' ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name];
    for (const n of clashes) {
      if (this.#metrics.has(n)) throw new Error(`metric ${n} is already registered`);
    }
    for (const other of this.#metrics.values()) {
      if (other.type === 'histogram' && [`${other.name}_bucket`, `${other.name}_sum`, `${other.name}_count`].includes(m.name)) {
        throw new Error(`metric ${m.name} clashes with histogram ${other.name}`);
      }
    }
    this.#metrics.set(m.name, m);
    return m;
  }

  /** Registers a counter. Its name should end in `_total`. */
  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.#add(new Counter<L>(name, help, labelNames));
  }

  /** Registers a gauge. */
  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.#add(new Gauge<L>(name, help, labelNames));
  }

  /** Registers a histogram with the given bucket upper bounds (strictly increasing; +Inf is added). */
  histogram<L extends string = never>(name: string, help: string, buckets: readonly number[], labelNames: readonly L[] = []): Histogram<L> {
    return this.#add(new Histogram<L>(name, help, buckets, labelNames));
  }

  /** Registers an unlabelled gauge read from `read` at every scrape. */
  gaugeFunc(name: string, help: string, read: () => number | undefined): FuncMetric {
    return this.#add(new FuncMetric('gauge', name, help, read, this.#onError));
  }

  /** Registers an unlabelled counter read from `read` at every scrape (`read` must never go down). */
  counterFunc(name: string, help: string, read: () => number | undefined): FuncMetric {
    return this.#add(new FuncMetric('counter', name, help, read, this.#onError));
  }

  /** The metric registered under `name`, if any. */
  get(name: string): AnyMetric | undefined {
    return this.#metrics.get(name);
  }

  /** Every metric in the text exposition format 0.0.4, ending with a line feed. */
  render(): string {
    const lines: string[] = [];
    for (const m of this.#metrics.values()) {
      lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`);
      lines.push(`# TYPE ${m.name} ${m.type}`);
      for (const l of m.render()) lines.push(l);
    }
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }
}

/** The Content-Type of `Registry.render()` output. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
