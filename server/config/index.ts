/**
 * The configuration package's public surface: load a strict TOML config with environment overrides, its types and
 * defaults, the ConfigError main turns into exit status 2, and the template writer the dev state uses.
 */
export { ConfigError, isConfigError, type ConfigErrorOptions } from './errors.ts';
export { loadConfig, envName, ENV_PREFIX, type LoadConfigOptions } from './load.ts';
export {
  DEFAULT_CONFIG,
  KEYS,
  LOG_LEVELS,
  SECTIONS,
  parseListen,
  type Config,
  type ConfigDefaults,
  type ConfigValues,
  type HsmSettings,
  type KeyKind,
  type KeySpec,
  type LogLevel,
  type LogSettings,
  type SectionName,
  type ServerSettings,
  type StoreSettings,
  type TlsSettings,
} from './schema.ts';
export { renderConfigToml, type RenderConfigOptions } from './template.ts';
