/**
 * renderConfigToml: writes a commented TOML configuration from the schema tables, so the file an operator receives
 * documents every key with the same words the loader uses, and can never contain a key the loader would reject.
 * Lists of tables (`[[notify.webhooks]]`) are written after their section's keys: the given entries, or a
 * commented-out example entry when there are none.
 */
import { DEFAULT_CONFIG, KEYS, LISTS, SECTIONS, type ConfigDefaults, type ListSpec, type SectionName } from './schema.ts';

/** Options of renderConfigToml. */
export interface RenderConfigOptions {
  /** Comment lines written at the top of the file (without the leading '#'). */
  header?: string;
}

/**
 * Renders `values` (camelCase, as in ConfigValues; paths written exactly as given, so relative paths stay relative to
 * the file) as a commented TOML document. Keys without a value are written commented out, showing the default, or
 * marked required; lists without entries are written as a commented example. The result loads with loadConfig.
 */
export function renderConfigToml(values: ConfigDefaults, opts: RenderConfigOptions = {}): string {
  const lines: string[] = [];
  if (opts.header !== undefined) {
    for (const l of opts.header.split('\n')) lines.push(comment(l));
    lines.push('');
  }
  for (const section of Object.keys(SECTIONS) as SectionName[]) {
    lines.push(...SECTIONS[section].split('\n').map(comment), `[${section}]`);
    for (const spec of KEYS.filter((k) => k.section === section)) {
      for (const l of spec.doc.split('\n')) lines.push(comment(l));
      const given = (values[section] as Record<string, unknown> | undefined)?.[spec.prop];
      const fallback = (DEFAULT_CONFIG[section] as Record<string, unknown> | undefined)?.[spec.prop];
      if (given !== undefined) lines.push(`${spec.key} = ${tomlValue(given)}`);
      else if (fallback !== undefined) lines.push(`# ${spec.key} = ${tomlValue(fallback)}  # default`);
      else lines.push(`# ${spec.key} = ...  # required`);
    }
    lines.push('');
    for (const list of LISTS.filter((l) => l.section === section)) lines.push(...renderList(list, values), '');
  }
  return lines.join('\n');
}

/** The `[[section.key]]` blocks of one list: the given entries, or one commented-out example entry. */
function renderList(list: ListSpec, values: ConfigDefaults): string[] {
  const lines = list.doc.split('\n').map(comment);
  const header = `[[${list.section}.${list.key}]]`;
  const given = (values[list.section] as Record<string, unknown> | undefined)?.[list.prop];
  const entries = Array.isArray(given) ? (given as Record<string, unknown>[]) : [];
  if (entries.length === 0) {
    // Each field's documentation, then the example entry, all commented: uncommenting the block gives a valid entry.
    for (const f of list.fields) lines.push(comment(`  ${f.key}: ${f.doc}${f.required ? '' : ' (optional)'}`));
    lines.push(`# ${header}`);
    for (const f of list.fields) lines.push(`# ${f.key} = ${tomlValue(f.example)}`);
    return lines;
  }
  for (const entry of entries) {
    lines.push(header);
    for (const f of list.fields) if (entry[f.prop] !== undefined) lines.push(`${f.key} = ${tomlValue(entry[f.prop])}`);
  }
  return lines;
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
