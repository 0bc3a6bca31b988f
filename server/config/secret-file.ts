/**
 * Reading a small secret from its file (webhook secrets, ntfy tokens). One implementation for both places that need
 * it: the configuration loader, which checks the file at load time so a bad secret stops the server before it starts,
 * and the notifier's sink loader, which reads the value it uses. Secrets are only ever taken from files (never argv or
 * the environment, which leak through /proc and to child processes), and the file must be readable by its owner
 * alone. A problem is returned as a reason that never contains the file's content.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';

/** A secret file larger than this is not a secret file; refusing it avoids reading some large file by mistake. */
export const MAX_SECRET_FILE_BYTES = 4096;

/** The result of readSecretFile: the secret, or why the file cannot be used (completing "<path> ..."). */
export type SecretFileResult = { ok: true; value: string } | { ok: false; reason: string };

/**
 * Reads the secret in `path`: the file's text minus one trailing newline (`\n` or `\r\n`). Refuses a file that is
 * missing, not a regular file, of a mode other than 0600 or 0400, larger than MAX_SECRET_FILE_BYTES, shorter than
 * `minBytes`, or holding anything but visible ASCII (a secret that is sent in an HTTP header must be header-safe, and
 * a stray space or second line is a copy-paste mistake the operator should hear about, not a silent mismatch).
 */
export function readSecretFile(path: string, minBytes: number): SecretFileResult {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return { ok: false, reason: code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'is a symbolic link' : `cannot be read (${code})` };
  }
  try {
    // fstat on the open descriptor, not stat on the path: the checked file is the file that is read.
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, reason: 'is not a regular file' };
    const mode = st.mode & 0o777;
    if (mode !== 0o600 && mode !== 0o400) {
      return {
        ok: false,
        reason:
          `has mode ${mode.toString(8).padStart(4, '0')}: it holds a secret and must be mode 0600 or 0400, ` +
          `readable by its owner only (chmod 600 ${path})`,
      };
    }
    if (st.size > MAX_SECRET_FILE_BYTES) return { ok: false, reason: `is larger than ${MAX_SECRET_FILE_BYTES} bytes; it should hold only the secret` };
    const raw = readFileSync(fd).toString('latin1');
    const value = raw.endsWith('\r\n') ? raw.slice(0, -2) : raw.endsWith('\n') ? raw.slice(0, -1) : raw;
    if (value.length === 0) return { ok: false, reason: 'is empty' };
    if (!/^[\x21-\x7e]+$/.test(value)) {
      return { ok: false, reason: 'must hold the secret alone on one line, in visible ASCII (no spaces, control or non-ASCII characters)' };
    }
    if (value.length < minBytes) return { ok: false, reason: `holds ${value.length} bytes; at least ${minBytes} are required` };
    return { ok: true, value };
  } finally {
    closeSync(fd);
  }
}
