/**
 * Generates the API reference, docs/api.md, from the comments in proto/waiaas/v1/*.proto: every service with its
 * RPCs (request, response, streaming), every message with its fields (number, type, comment), oneofs and reserved
 * names, and every enum with its values, of package waiaas.v1. Sections are sorted by name, so the output depends on
 * the .proto files only.
 *
 *   node scripts/api-docs.ts              write docs/api.md
 *   node scripts/api-docs.ts --check      exit 1 (and say so) when docs/api.md differs from what would be generated
 *   node scripts/api-docs.ts --out FILE   write (or with --check, compare) FILE instead of docs/api.md
 *   node scripts/api-docs.ts --stdout     print the reference instead of writing it
 *
 * The descriptors, with their source comments, come from `buf build --as-file-descriptor-set --exclude-imports
 * -o -#format=json` (source info is kept unless --exclude-source-info is given), using the buf in node_modules/.bin.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const PACKAGE = 'waiaas.v1';
const DEFAULT_OUT = join(ROOT, 'docs/api.md');
const REGENERATE = 'node scripts/api-docs.ts';

// --- The parts of google.protobuf.FileDescriptorSet (proto3 JSON) this script reads ------------------------------

interface FieldProto {
  name: string;
  number: number;
  label?: string;
  type?: string;
  typeName?: string;
  oneofIndex?: number;
  proto3Optional?: boolean;
}
interface MessageProto {
  name: string;
  field?: FieldProto[];
  nestedType?: MessageProto[];
  enumType?: EnumProto[];
  oneofDecl?: { name: string }[];
  options?: { mapEntry?: boolean };
  reservedRange?: { start: number; end: number }[];
  reservedName?: string[];
}
interface EnumProto {
  name: string;
  value?: { name: string; number: number }[];
}
interface MethodProto {
  name: string;
  inputType: string;
  outputType: string;
  clientStreaming?: boolean;
  serverStreaming?: boolean;
}
interface ServiceProto {
  name: string;
  method?: MethodProto[];
}
interface Location {
  path?: number[];
  leadingComments?: string;
  trailingComments?: string;
}
interface FileProto {
  name: string;
  package?: string;
  messageType?: MessageProto[];
  enumType?: EnumProto[];
  service?: ServiceProto[];
  sourceCodeInfo?: { location?: Location[] };
}

// Field numbers in descriptor.proto, for source-info paths.
const FILE_MESSAGE = 4;
const FILE_ENUM = 5;
const FILE_SERVICE = 6;
const MESSAGE_FIELD = 2;
const MESSAGE_NESTED = 3;
const MESSAGE_ENUM = 4;
const MESSAGE_ONEOF = 8;
const ENUM_VALUE = 2;
const SERVICE_METHOD = 2;

/** Reads the descriptors of the module's own files (not imports), with source info, from buf. */
export function loadDescriptors(): FileProto[] {
  const local = join(ROOT, 'node_modules/.bin/buf');
  const buf = existsSync(local) ? local : 'buf';
  const res = spawnSync(buf, ['build', '--as-file-descriptor-set', '--exclude-imports', '-o', '-#format=json'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error) throw new Error(`cannot run ${buf}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`buf build failed (exit ${res.status}):\n${res.stderr}`);
  return (JSON.parse(res.stdout) as { file?: FileProto[] }).file ?? [];
}

// --- A model of what gets documented ------------------------------------------------------------------------------

interface DocField {
  name: string;
  number: number;
  type: string;
  comment: string;
  oneof?: string;
}
interface DocMessage {
  /** Name inside the package, e.g. `Wallet` or `Outer.Inner`. */
  name: string;
  file: string;
  comment: string;
  fields: DocField[];
  oneofs: { name: string; comment: string }[];
  reservedNumbers: string[];
  reservedNames: string[];
}
interface DocEnum {
  name: string;
  file: string;
  comment: string;
  values: { name: string; number: number; comment: string }[];
}
interface DocMethod {
  name: string;
  input: string;
  output: string;
  clientStreaming: boolean;
  serverStreaming: boolean;
  comment: string;
}
interface DocService {
  name: string;
  file: string;
  comment: string;
  methods: DocMethod[];
}
interface DocPackage {
  services: DocService[];
  messages: DocMessage[];
  enums: DocEnum[];
}

const SCALARS: Record<string, string> = {
  TYPE_DOUBLE: 'double',
  TYPE_FLOAT: 'float',
  TYPE_INT64: 'int64',
  TYPE_UINT64: 'uint64',
  TYPE_INT32: 'int32',
  TYPE_FIXED64: 'fixed64',
  TYPE_FIXED32: 'fixed32',
  TYPE_BOOL: 'bool',
  TYPE_STRING: 'string',
  TYPE_BYTES: 'bytes',
  TYPE_UINT32: 'uint32',
  TYPE_SFIXED32: 'sfixed32',
  TYPE_SFIXED64: 'sfixed64',
  TYPE_SINT32: 'sint32',
  TYPE_SINT64: 'sint64',
};

/** Comments by source path. A comment's lines lose the one space after `//`; the block loses its final newline. */
function commentIndex(file: FileProto): (path: number[]) => string {
  const byPath = new Map<string, string>();
  for (const loc of file.sourceCodeInfo?.location ?? []) {
    const text = [loc.leadingComments, loc.trailingComments]
      .filter((c): c is string => !!c && c.trim() !== '')
      .map((c) =>
        c
          .replace(/\n$/, '')
          .split('\n')
          .map((l) => l.replace(/^ /, '').replace(/\s+$/, ''))
          .join('\n')
          .trim(),
      )
      .join('\n\n');
    if (text) byPath.set((loc.path ?? []).join('.'), text);
  }
  return (path) => byPath.get(path.join('.')) ?? '';
}

/** Builds the model of package waiaas.v1 from the descriptors. */
export function describePackage(files: FileProto[]): DocPackage {
  const out: DocPackage = { services: [], messages: [], enums: [] };
  const mapEntries = new Map<string, { key: FieldProto; value: FieldProto }>();
  const ours = files.filter((f) => f.package === PACKAGE);
  // Map entry types first, so that map fields can be written map<K, V> wherever they are.
  const collectMaps = (prefix: string, messages: MessageProto[] | undefined): void => {
    for (const m of messages ?? []) {
      const full = `${prefix}.${m.name}`;
      if (m.options?.mapEntry) {
        const [key, value] = m.field ?? [];
        if (key && value) mapEntries.set(full, { key, value });
      }
      collectMaps(full, m.nestedType);
    }
  };
  for (const f of files) collectMaps(`.${f.package ?? ''}`.replace(/\.$/, ''), f.messageType);

  const typeName = (f: FieldProto): string => {
    if (f.type === 'TYPE_MESSAGE' || f.type === 'TYPE_ENUM') {
      const full = f.typeName ?? '';
      return full.startsWith(`.${PACKAGE}.`) ? full.slice(PACKAGE.length + 2) : full.replace(/^\./, '');
    }
    return SCALARS[f.type ?? ''] ?? (f.type ?? '?').replace(/^TYPE_/, '').toLowerCase();
  };
  const fieldType = (f: FieldProto): string => {
    const entry = f.typeName ? mapEntries.get(f.typeName) : undefined;
    if (entry && f.label === 'LABEL_REPEATED') return `map<${typeName(entry.key)}, ${typeName(entry.value)}>`;
    const base = typeName(f);
    if (f.label === 'LABEL_REPEATED') return `repeated ${base}`;
    if (f.proto3Optional) return `optional ${base}`;
    return base;
  };

  for (const file of ours) {
    const comment = commentIndex(file);
    const addEnum = (e: EnumProto, prefix: string, path: number[]): void => {
      out.enums.push({
        name: `${prefix}${e.name}`,
        file: file.name,
        comment: comment(path),
        values: (e.value ?? []).map((v, i) => ({ name: v.name, number: v.number, comment: comment([...path, ENUM_VALUE, i]) })),
      });
    };
    const addMessage = (m: MessageProto, prefix: string, path: number[]): void => {
      if (m.options?.mapEntry) return;
      const name = `${prefix}${m.name}`;
      const oneofs = (m.oneofDecl ?? []).map((o, i) => ({ name: o.name, comment: comment([...path, MESSAGE_ONEOF, i]) }));
      // A proto3 `optional` field lives in a synthetic oneof of its own: not a real oneof to document.
      const synthetic = new Set((m.field ?? []).filter((f) => f.proto3Optional && f.oneofIndex !== undefined).map((f) => f.oneofIndex!));
      out.messages.push({
        name,
        file: file.name,
        comment: comment(path),
        fields: (m.field ?? []).map((f, i) => ({
          name: f.name,
          number: f.number,
          type: fieldType(f),
          comment: comment([...path, MESSAGE_FIELD, i]),
          ...(f.oneofIndex !== undefined && !synthetic.has(f.oneofIndex) ? { oneof: oneofs[f.oneofIndex]?.name ?? '' } : {}),
        })),
        oneofs: oneofs.filter((_, i) => !synthetic.has(i)),
        reservedNumbers: (m.reservedRange ?? []).map((r) => (r.end - r.start === 1 ? String(r.start) : `${r.start} to ${r.end - 1}`)),
        reservedNames: m.reservedName ?? [],
      });
      (m.nestedType ?? []).forEach((n, i) => addMessage(n, `${name}.`, [...path, MESSAGE_NESTED, i]));
      (m.enumType ?? []).forEach((e, i) => addEnum(e, `${name}.`, [...path, MESSAGE_ENUM, i]));
    };
    (file.messageType ?? []).forEach((m, i) => addMessage(m, '', [FILE_MESSAGE, i]));
    (file.enumType ?? []).forEach((e, i) => addEnum(e, '', [FILE_ENUM, i]));
    (file.service ?? []).forEach((s, i) => {
      const strip = (t: string): string => (t.startsWith(`.${PACKAGE}.`) ? t.slice(PACKAGE.length + 2) : t.replace(/^\./, ''));
      out.services.push({
        name: s.name,
        file: file.name,
        comment: comment([FILE_SERVICE, i]),
        methods: (s.method ?? []).map((m, j) => ({
          name: m.name,
          input: strip(m.inputType),
          output: strip(m.outputType),
          clientStreaming: !!m.clientStreaming,
          serverStreaming: !!m.serverStreaming,
          comment: comment([FILE_SERVICE, i, SERVICE_METHOD, j]),
        })),
      });
    });
  }
  const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  out.services.sort(byName);
  out.messages.sort(byName);
  out.enums.sort(byName);
  return out;
}

// --- Markdown -------------------------------------------------------------------------------------------------------

/** GitHub's heading anchor for a heading text made of names and dots. */
export function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

/**
 * Comments are prose, not markup: outside `code spans`, `*` is escaped (it could start emphasis), a `<` that could
 * open an HTML tag (`<name>`) and a `>` that would start a quote become entities, and a backslash before punctuation is
 * doubled. Underscores inside words
 * (WAIAAS_POLICY_DENIED) and brackets without a link definition are literal in GitHub Markdown and are left alone.
 */
function escapeText(text: string): string {
  return text
    .split(/(`[^`\n]*`)/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part
            .replace(/\\(?=[!-/:-@[-`{-~])/g, '\\\\')
            .replace(/\*/g, '\\*')
            .replace(/<(?=[A-Za-z/!?])/g, '&lt;')
            .replace(/^>/gm, '&gt;'),
    )
    .join('');
}

/** A comment as Markdown paragraphs (line breaks inside a paragraph kept as soft breaks). */
function paragraphs(comment: string): string {
  return comment
    .split(/\n{2,}/)
    .map((p) => escapeText(p))
    .join('\n\n');
}

/** A comment in one table cell: one line, and every `|` escaped (even in code spans, which a table row splits too). */
function cell(comment: string): string {
  return escapeText(comment.replace(/\s*\n\s*/g, ' ')).replace(/\|/g, '\\|');
}

/** A type, linked to its section when it is one of ours. */
function typeLink(type: string, known: Set<string>): string {
  const map = /^map<([^,]+), (.+)>$/.exec(type);
  if (map) return known.has(map[2]!) ? `\`${type}\` ([\`${map[2]}\`](#${anchor(map[2]!)}))` : `\`${type}\``;
  const [, prefix = '', name = ''] = /^(repeated |optional )?(.+)$/.exec(type)!;
  return known.has(name) ? `${prefix}[\`${name}\`](#${anchor(name)})` : `\`${type}\``;
}

/** Renders the reference. */
export function renderMarkdown(pkg: DocPackage): string {
  const known = new Set([...pkg.messages.map((m) => m.name), ...pkg.enums.map((e) => e.name)]);
  const link = (name: string): string => (known.has(name) ? `[\`${name}\`](#${anchor(name)})` : `\`${name}\``);
  const out: string[] = [];
  const push = (...lines: string[]): void => void out.push(...lines);

  push(
    `# WAIaaS Signer API reference (\`${PACKAGE}\`)`,
    '',
    `<!-- Generated by scripts/api-docs.ts from proto/waiaas/v1/*.proto. Do not edit: change the .proto comments and run \`${REGENERATE}\`. -->`,
    '',
    `Every service, RPC, message and enum of package \`${PACKAGE}\`, with the comments of the \`.proto\` files in`,
    '[`proto/waiaas/v1/`](../proto/waiaas/v1). The appliance serves them over gRPC with mutual TLS; a failed call carries',
    'a `google.rpc.ErrorInfo` whose `reason` (`WAIAAS_…`) is stable. Sections are sorted by name.',
    '',
    '## Contents',
    '',
    `- **Services:** ${pkg.services.map((s) => `[${s.name}](#${anchor(s.name)})`).join(', ')}`,
    `- **Messages:** ${pkg.messages.map((m) => `[${m.name}](#${anchor(m.name)})`).join(', ')}`,
    `- **Enums:** ${pkg.enums.map((e) => `[${e.name}](#${anchor(e.name)})`).join(', ')}`,
    '',
    '## Services',
    '',
  );

  for (const s of pkg.services) {
    push(`### ${s.name}`, '', `\`${PACKAGE}.${s.name}\`, in \`proto/${s.file}\`.`, '');
    if (s.comment) push(paragraphs(s.comment), '');
    push('| RPC | Request | Response |', '|---|---|---|');
    for (const m of s.methods) {
      push(`| [${m.name}](#${anchor(`${s.name}.${m.name}`)}) | ${m.clientStreaming ? 'stream ' : ''}${link(m.input)} | ${m.serverStreaming ? 'stream ' : ''}${link(m.output)} |`);
    }
    push('');
    for (const m of s.methods) {
      push(`#### ${s.name}.${m.name}`, '');
      push(
        `\`rpc ${m.name}(${m.clientStreaming ? 'stream ' : ''}${m.input}) returns (${m.serverStreaming ? 'stream ' : ''}${m.output})\` — gRPC path \`/${PACKAGE}.${s.name}/${m.name}\`` +
          (m.serverStreaming ? ' (server streaming)' : m.clientStreaming ? ' (client streaming)' : ''),
        '',
      );
      if (m.comment) push(paragraphs(m.comment), '');
      push(`Request: ${link(m.input)}. Response: ${m.serverStreaming ? 'a stream of ' : ''}${link(m.output)}.`, '');
    }
  }

  push('## Messages', '');
  for (const m of pkg.messages) {
    push(`### ${m.name}`, '', `\`${PACKAGE}.${m.name}\`, in \`proto/${m.file}\`.`, '');
    if (m.comment) push(paragraphs(m.comment), '');
    if (m.fields.length === 0) push('*No fields.*', '');
    else {
      push('| Field | Number | Type | Description |', '|---|---|---|---|');
      for (const f of m.fields) {
        const oneof = f.oneof ? `*One of \`${f.oneof}\`.* ` : '';
        push(`| \`${f.name}\` | ${f.number} | ${typeLink(f.type, known)} | ${oneof}${cell(f.comment)} |`);
      }
      push('');
    }
    for (const o of m.oneofs) {
      const members = m.fields.filter((f) => f.oneof === o.name).map((f) => `\`${f.name}\``);
      push(`Oneof \`${o.name}\` (at most one of ${members.join(', ')})${o.comment ? `: ${cell(o.comment)}` : '.'}`, '');
    }
    if (m.reservedNumbers.length || m.reservedNames.length) {
      const parts = [
        ...(m.reservedNumbers.length ? [`field numbers ${m.reservedNumbers.join(', ')}`] : []),
        ...(m.reservedNames.length ? [`names ${m.reservedNames.map((n) => `\`${n}\``).join(', ')}`] : []),
      ];
      push(`Reserved (never reused): ${parts.join('; ')}.`, '');
    }
  }

  push('## Enums', '');
  for (const e of pkg.enums) {
    push(`### ${e.name}`, '', `\`${PACKAGE}.${e.name}\`, in \`proto/${e.file}\`.`, '');
    if (e.comment) push(paragraphs(e.comment), '');
    push('| Value | Number | Description |', '|---|---|---|');
    for (const v of e.values) push(`| \`${v.name}\` | ${v.number} | ${cell(v.comment)} |`);
    push('');
  }
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}

/** The whole reference, from the .proto files. */
export function generate(): string {
  return renderMarkdown(describePackage(loadDescriptors()));
}

// --- Command line ---------------------------------------------------------------------------------------------------

function main(argv: string[]): number {
  let check = false;
  let toStdout = false;
  let out = DEFAULT_OUT;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--check') check = true;
    else if (a === '--stdout') toStdout = true;
    else if (a === '--out' && argv[i + 1]) out = resolve(argv[++i]!);
    else if (a.startsWith('--out=')) out = resolve(a.slice(6));
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node scripts/api-docs.ts [--check] [--out FILE] [--stdout]\n');
      return 0;
    } else {
      process.stderr.write(`api-docs: unknown argument ${a}\nusage: node scripts/api-docs.ts [--check] [--out FILE] [--stdout]\n`);
      return 2;
    }
  }
  const text = generate();
  const shown = relative(process.cwd(), out) || out;
  if (toStdout) {
    process.stdout.write(text);
    return 0;
  }
  if (check) {
    const current = existsSync(out) ? readFileSync(out, 'utf8') : null;
    if (current === text) return 0;
    if (current === null) process.stderr.write(`api-docs: ${shown} is missing; run \`${REGENERATE}\` and commit it.\n`);
    else {
      const a = current.split('\n');
      const b = text.split('\n');
      let line = 0;
      while (line < a.length && line < b.length && a[line] === b[line]) line++;
      process.stderr.write(
        `api-docs: ${shown} is stale: it differs from the .proto comments from line ${line + 1} on.\n` +
          `  committed: ${JSON.stringify(a[line] ?? '(end of file)')}\n  generated: ${JSON.stringify(b[line] ?? '(end of file)')}\n` +
          `Run \`${REGENERATE}\` and commit ${shown}.\n`,
      );
    }
    return 1;
  }
  writeFileSync(out, text);
  process.stdout.write(`api-docs: wrote ${shown}\n`);
  return 0;
}

if (resolve(process.argv[1] ?? '') === import.meta.filename) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`api-docs: ${(e as Error).message}\n`);
    process.exitCode = 2;
  }
}
