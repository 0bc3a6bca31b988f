/**
 * The public surface of the metrics package: the process-wide `metrics` and its helpers, the registry for tests and
 * other exporters, and the loopback HTTP listener (/metrics, /healthz, /readyz). See docs/observability.md.
 */
export {
  ApplianceMetrics,
  grpcCodeName,
  hsmErrorKind,
  instrumentHsm,
  metrics,
  observeSignRequests,
  OTHER_HSM_ERROR,
  SIGNING_BUCKETS,
  startTimer,
  STORE_WRITE_BUCKETS,
  type ApplianceMetricsOptions,
  type MetricsLog,
  type NotificationOutcome,
  type SignRequestEventSource,
  type SignRequestLabels,
  type SigningHsm,
} from './metrics.ts';
export { CONTENT_TYPE, Counter, escapeHelp, escapeLabelValue, formatValue, FuncMetric, Gauge, Histogram, Registry, type LabelValues, type MetricType, type RegistryOptions } from './registry.ts';
export {
  isLoopbackAddress,
  MetricsListenError,
  startMetricsServer,
  type MetricsServer,
  type MetricsServerLog,
  type MetricsServerOptions,
  type ReadinessSource,
} from './server.ts';
