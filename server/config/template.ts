/**
 * renderConfigToml: writes a commented TOML configuration from the schema table, so the file an operator receives
 * documents every key with the same words the loader uses, and can never contain a key the loader would reject.
 */
import { DEFAULT_CONFIG, KEYS, SECTIONS, type ConfigDefaults, type SectionName } from './schema.ts';

/** Options of renderConfigToml. */
export interface RenderConfigOptions {
  /** Comment lines written at the top of the file (without the leading '#'). */
  header?: string;
}

/**
 * Renders `values` (camelCase, as in ConfigValues; paths written exactly as given, so relative paths stay relative to
 * the file) as a commented TOML document. Keys without a value are written commented out, showing the default, or
 * marked required. The result loads with loadConfig.
 */
export function renderConfigToml(values: ConfigDefaults, opts: RenderConfigOptions = {}): string {
  const lines: string[] = [];
  if (opts.header !== undefined) {
    for (const l of opts.header.split('\n')) lines.push(comment(l));
    lines.push('');
  }
  for (const section of Object.keys(SECTIONS) as SectionName[]) {
    lines.push(comment(SECTIONS[section]), `[${section}]`);
    for (const spec of KEYS.filter((k) => k.section === section)) {
      for (const l of spec.doc.split('\n')) lines.push(comment(l));
      const given = (values[section] as Record<string, unknown> | undefined)?.[spec.prop];
      const fallback = (DEFAULT_CONFIG[section] as Record<string, unknown> | undefined)?.[spec.prop];
      if (given !== undefined) lines.push(`${spec.key} = ${tomlValue(given)}`);
      else if (fallback !== undefined) lines.push(`# ${spec.key} = ${tomlValue(fallback)}  # default`);
      else lines.push(`# ${spec.key} = ...  # required`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

function comment(line: string): string {
  return line.length === 0 ? '#' : `# ${line}`;
}

/** A TOML literal: JSON string escapes are a subset of TOML basic-string escapes, so JSON.stringify is exact. */
function tomlValue(v: unknown): string {
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  throw new TypeError(`cannot render ${typeof v} as a configuration value`);
}
