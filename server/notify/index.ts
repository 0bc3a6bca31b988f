/**
 * Owner notifications: the event type producers build (events.ts), the sinks read from the configuration (sinks.ts),
 * and the outbox writer and delivery loop (notifier.ts). See docs/notifications.md for what receivers get.
 */
export type { NotifyEvent, NotifyEventType } from './events.ts';
export {
  NOTIFIER_DEFAULTS,
  Notifier,
  notificationBody,
  ntfyMessage,
  signWebhook,
  verifyWebhookSignature,
  type NotificationBody,
  type NotifierDeps,
  type NtfyMessage,
  type VerifyWebhookOptions,
} from './notifier.ts';
export { loadSinks, MIN_WEBHOOK_SECRET_BYTES, SinkConfigError, sinkProblem, type NtfySink, type Sink, type WebhookSink } from './sinks.ts';
