/**
 * Looking for secrets where they must never be: log lines, stderr, the database file. Tests gather the secrets of a
 * state folder (PINs, private key PEMs and the key material inside them, webhook secrets, ntfy tokens) and scan
 * text for them. Findings name the line and the secret, never the secret's value, so a failing test does not print
 * the secret into the CI log either.
 */
import { createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** A secret and a name to report it by. */
export interface Secret {
  /** Where it came from, e.g. 'hsm.pin' or 'agent.key: base64 line 3'. Printed in findings. */
  name: string;
  /** The secret text. Never printed. */
  value: string;
}

/** Shortest secret accepted: a shorter one would match by chance (and an empty one everywhere). */
export const MIN_SECRET_CHARS = 8;

/** Shortest PEM body line kept as a secret of its own (the last line of a body can be a few characters). */
const MIN_PEM_LINE_CHARS = 16;

function named(secrets: readonly (string | Secret)[]): Secret[] {
  return secrets.map((s, i) => (typeof s === 'string' ? { name: `secret #${i + 1}`, value: s } : s));
}

/**
 * Every place a secret occurs in `lines`, as `line N: <secret name>` (N from 1), in line order. Hex secrets (PINs,
 * tokens) are matched case-insensitively; others exactly. Throws for a secret shorter than MIN_SECRET_CHARS.
 */
export function scanForSecrets(lines: readonly string[], secrets: readonly (string | Secret)[]): string[] {
  const all = named(secrets);
  for (const s of all) {
    if (typeof s.value !== 'string' || s.value.length < MIN_SECRET_CHARS) {
      throw new Error(`scanForSecrets: secret "${s.name}" is shorter than ${MIN_SECRET_CHARS} characters; it would match by chance`);
    }
  }
  const matchers = all.map((s) => {
    if (/^[0-9a-f]+$/i.test(s.value)) {
      const lower = s.value.toLowerCase();
      return { name: s.name, test: (line: string) => line.toLowerCase().includes(lower) };
    }
    return { name: s.name, test: (line: string) => line.includes(s.value) };
  });
  const findings: string[] = [];
  lines.forEach((line, i) => {
    for (const m of matchers) if (m.test(line)) findings.push(`line ${i + 1}: ${m.name}`);
  });
  return findings;
}

/**
 * The texts to scan for each parsed log line: its JSON, plus every string inside it joined by line feeds (JSON
 * escapes a PEM's line feeds, so a whole PEM is only found in the unescaped strings). One entry per line, so
 * findings keep the line numbers.
 */
export function logLineTexts(lines: readonly unknown[]): string[] {
  return lines.map((line) => {
    const strings: string[] = [];
    const walk = (v: unknown, depth: number): void => {
      if (depth > 32) return;
      if (typeof v === 'string') strings.push(v);
      else if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
      else if (v !== null && typeof v === 'object') Object.entries(v).forEach(([k, x]) => (strings.push(k), walk(x, depth + 1)));
    };
    walk(line, 0);
    return `${typeof line === 'string' ? line : JSON.stringify(line)}\n${strings.join('\n')}`;
  });
}

/**
 * The secrets in one PEM private key: the whole PEM, its base64 body as one string, each body line, and the private
 * key components (JWK `d`, and for RSA `p`, `q`, `dp`, `dq`, `qi`) in base64url and in hex.
 */
export function pemSecrets(name: string, pem: string): Secret[] {
  const out: Secret[] = [{ name, value: pem.trim() }];
  const body = pem
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('-----') && !l.includes(':'));
  if (body.length > 0) out.push({ name: `${name}: base64 body`, value: body.join('') });
  body.forEach((line, i) => {
    if (line.length >= MIN_PEM_LINE_CHARS) out.push({ name: `${name}: base64 line ${i + 1}`, value: line });
  });
  let jwk: Record<string, unknown> | undefined;
  try {
    jwk = createPrivateKey(pem).export({ format: 'jwk' }) as Record<string, unknown>;
  } catch {
    jwk = undefined; // not a private key this Node can read: the PEM text itself is still checked
  }
  for (const field of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
    const v = jwk?.[field];
    if (typeof v !== 'string') continue;
    out.push({ name: `${name}: private component ${field} (base64url)`, value: v });
    out.push({ name: `${name}: private component ${field} (hex)`, value: Buffer.from(v, 'base64url').toString('hex') });
  }
  return out;
}

/** Files below `dir` (recursively, skipping `skip` folder names) whose name matches `pattern`. */
async function findFiles(dir: string, pattern: RegExp, skip: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skip.includes(entry.name)) out.push(...(await findFiles(p, pattern, skip)));
    } else if (entry.isFile() && pattern.test(entry.name)) {
      out.push(p);
    }
  }
  return out.sort();
}

/**
 * The secrets of a development state folder: the HSM PINs (`hsm.pin`, `so.pin`), every private key PEM (`*.key`,
 * with the material inside it, see pemSecrets), and the contents of `extraFiles` (paths relative to `dir`, e.g. a
 * webhook secret file). The SoftHSM token folder is skipped: its objects are encrypted under the PIN.
 */
export async function devStateSecrets(dir: string, extraFiles: readonly string[] = []): Promise<Secret[]> {
  const secrets: Secret[] = [];
  for (const pin of ['hsm.pin', 'so.pin']) {
    const p = join(dir, pin);
    if (existsSync(p)) secrets.push({ name: pin, value: (await readFile(p, 'utf8')).trim() });
  }
  for (const keyFile of await findFiles(dir, /\.key$/, ['tokens'])) {
    secrets.push(...pemSecrets(relative(dir, keyFile), await readFile(keyFile, 'utf8')));
  }
  for (const f of extraFiles) secrets.push({ name: f, value: (await readFile(join(dir, f), 'utf8')).trim() });
  return secrets;
}

/**
 * Scans files (e.g. the SQLite database and its -wal) as raw bytes read as latin1, which keeps ASCII secrets
 * byte-for-byte. Missing files are skipped. Findings are `<file>: <secret name>`.
 */
export async function scanFilesForSecrets(files: readonly string[], secrets: readonly (string | Secret)[]): Promise<string[]> {
  const findings: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    const text = (await readFile(f)).toString('latin1');
    for (const hit of scanForSecrets([text], secrets)) findings.push(`${f}: ${hit.replace(/^line 1: /, '')}`);
  }
  return findings;
}
