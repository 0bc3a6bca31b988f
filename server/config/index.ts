/**
 * The configuration package's public surface: load a strict TOML config with environment overrides, its types and
 * defaults, the ConfigError main turns into exit status 2, the template writer the dev state uses, and the secret-file
 * reader shared with the notifier (webhook secrets, ntfy tokens).
 */
export { ConfigError, isConfigError, type ConfigErrorOptions } from './errors.ts';
export { loadConfig, envName, ENV_PREFIX, type LoadConfigOptions } from './load.ts';
export {
  DEFAULT_CONFIG,
  KEYS,
  LISTS,
  LOG_LEVELS,
  SECTIONS,
  checkHttpUrl,
  parseListen,
  type Config,
  type ConfigDefaults,
  type ConfigValues,
  type FieldSpec,
  type HsmSettings,
  type KeyKind,
  type KeySpec,
  type ListSpec,
  type LogLevel,
  type LogSettings,
  type NotifySettings,
  type NtfySettings,
  type SectionName,
  type ServerSettings,
  type StoreSettings,
  type TlsSettings,
  type ValueSpec,
  type WebhookSettings,
} from './schema.ts';
export { MAX_SECRET_FILE_BYTES, readSecretFile, type SecretFileResult } from './secret-file.ts';
export { renderConfigToml, type RenderConfigOptions } from './template.ts';
