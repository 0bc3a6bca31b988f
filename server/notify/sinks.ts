/**
 * Notification sinks: where owner notifications go. A sink is the resolved form of one `[[notify.webhooks]]` or
 * `[[notify.ntfy]]` configuration entry, with its secret read from its file. The configuration keeps only paths; the
 * secrets are read here, once, at start-up, and live only in these objects, where they are non-enumerable so that a
 * sink passed to a logger, JSON.stringify or util.inspect by mistake shows no secret.
 */
import { readSecretFile, type NotifySettings } from '../config/index.ts';

/** A webhook: events are POSTed as JSON signed with HMAC-SHA256 over `timestamp + "." + body`. */
export interface WebhookSink {
  kind: 'webhook';
  /** Unique among sinks; the outbox column `notifications.sink`. */
  name: string;
  /** http(s) URL the events are POSTed to. */
  url: string;
  /** The HMAC key (read from secret_file). Never logged, never in an error. */
  secret: string;
}

/** An ntfy-style topic: events are POSTed as text with Title, Priority and Tags headers. */
export interface NtfySink {
  kind: 'ntfy';
  /** Unique among sinks; the outbox column `notifications.sink`. */
  name: string;
  /** The full topic URL, e.g. http://ntfy.local/waiaas-alerts. */
  url: string;
  /** Access token sent as `Authorization: Bearer` (read from token_file). Never logged, never in an error. */
  token?: string;
}

/** Any sink. */
export type Sink = WebhookSink | NtfySink;

/** Fewest bytes of a webhook secret: shorter HMAC keys are guessable. The config loader enforces the same. */
export const MIN_WEBHOOK_SECRET_BYTES = 16;

/** A sink whose secret file cannot be used. The message names the sink and the file, never the content. */
export class SinkConfigError extends Error {
  override name = 'SinkConfigError';
}

/**
 * Reads every configured sink's secret and returns the sinks, webhooks first, in configuration order. The files are
 * checked again (mode, size, content) because they may have changed since the configuration was loaded.
 */
export function loadSinks(settings: Pick<NotifySettings, 'webhooks' | 'ntfy'>): Sink[] {
  const sinks: Sink[] = [];
  for (const w of settings.webhooks) {
    const r = readSecretFile(w.secretFile, MIN_WEBHOOK_SECRET_BYTES);
    if (!r.ok) throw new SinkConfigError(`webhook sink "${w.name}": its secret_file ${w.secretFile} ${r.reason}`);
    sinks.push(withHiddenSecret({ kind: 'webhook', name: w.name, url: w.url }, 'secret', r.value) as WebhookSink);
  }
  for (const n of settings.ntfy) {
    const sink: NtfySink = { kind: 'ntfy', name: n.name, url: n.url };
    if (n.tokenFile !== undefined) {
      const r = readSecretFile(n.tokenFile, 1);
      if (!r.ok) throw new SinkConfigError(`ntfy sink "${n.name}": its token_file ${n.tokenFile} ${r.reason}`);
      withHiddenSecret(sink, 'token', r.value);
    }
    sinks.push(sink);
  }
  return sinks;
}

/**
 * Sets `key` on `o` as a non-enumerable property: readable by code (`sink.secret`), invisible to JSON.stringify,
 * pino, object spread and util.inspect. Defence in depth: no code is meant to log a sink object anyway.
 */
export function withHiddenSecret<T extends object>(o: T, key: 'secret' | 'token', value: string): T {
  Object.defineProperty(o, key, { value, enumerable: false, writable: false, configurable: false });
  return o;
}

/** Why a sink cannot be used, or undefined. Checks the shape only; messages never contain a secret. */
export function sinkProblem(sink: Sink): string | undefined {
  if (typeof sink !== 'object' || sink === null) return 'a sink must be an object';
  if (typeof sink.name !== 'string' || !/^[a-z0-9_-]{1,64}$/.test(sink.name)) return 'a sink name must be 1 to 64 characters a-z, 0-9, _ or -';
  let url: URL;
  try {
    url = new URL(sink.url);
  } catch {
    return `sink "${sink.name}": url is not an absolute URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `sink "${sink.name}": url must use http or https`;
  if (url.username !== '' || url.password !== '') return `sink "${sink.name}": url must not contain credentials`;
  if (sink.kind === 'webhook') {
    if (typeof sink.secret !== 'string' || sink.secret.length < MIN_WEBHOOK_SECRET_BYTES) {
      return `webhook sink "${sink.name}": the secret must be at least ${MIN_WEBHOOK_SECRET_BYTES} bytes`;
    }
    return undefined;
  }
  if (sink.kind === 'ntfy') {
    // The token goes into a header: a character fetch refuses would make it quote the header value in its error.
    if (sink.token !== undefined && (typeof sink.token !== 'string' || !/^[\x21-\x7e]+$/.test(sink.token))) {
      return `ntfy sink "${sink.name}": the token must be visible ASCII with no spaces`;
    }
    return undefined;
  }
  return `sink "${(sink as { name: string }).name}": unknown kind`;
}
