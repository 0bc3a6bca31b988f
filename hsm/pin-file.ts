/**
 * Reading the user PIN from its file. The PIN is only ever taken from a file (never argv or the environment, which
 * leak through /proc and to child processes), and the file must be readable by its owner alone. Errors name the
 * file and what is wrong with it, never its content.
 */
import { constants, promises as fs } from 'node:fs';
import { HsmError } from './errors.ts';

/** A PIN file larger than this is not a PIN file; refusing it avoids reading some large file by mistake. */
const MAX_PIN_FILE_BYTES = 1024;

/**
 * Returns the PIN held in `path`: the file's text minus one trailing newline (`\n` or `\r\n`). Throws
 * LOGIN_FAILED when the file is missing, not a regular file, has a mode other than 0600 or 0400, is empty, or holds
 * more than one line.
 */
export async function readPinFile(path: string): Promise<string> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, constants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new HsmError('LOGIN_FAILED', `cannot read the PIN file ${path} (${code})`);
  }
  try {
    // fstat on the open descriptor, not stat on the path: the checked file is the file that is read.
    const st = await handle.stat();
    if (!st.isFile()) throw new HsmError('LOGIN_FAILED', `the PIN file ${path} is not a regular file`);
    const mode = st.mode & 0o777;
    if (mode !== 0o600 && mode !== 0o400) {
      const readableByOthers = (mode & 0o044) !== 0;
      throw new HsmError(
        'LOGIN_FAILED',
        `the PIN file ${path} has mode 0${mode.toString(8).padStart(3, '0')}` +
          (readableByOthers ? ' (readable by group/other)' : '') +
          '; it must be 0600 or 0400, readable by its owner only (chmod 600 it)',
      );
    }
    if (st.size > MAX_PIN_FILE_BYTES) {
      throw new HsmError('LOGIN_FAILED', `the PIN file ${path} is larger than ${MAX_PIN_FILE_BYTES} bytes; it should hold only the PIN`);
    }
    const raw = (await handle.readFile()).toString('utf8');
    const pin = raw.endsWith('\r\n') ? raw.slice(0, -2) : raw.endsWith('\n') ? raw.slice(0, -1) : raw;
    if (pin.length === 0) throw new HsmError('LOGIN_FAILED', `the PIN file ${path} is empty`);
    if (/[\r\n\0]/.test(pin)) {
      throw new HsmError('LOGIN_FAILED', `the PIN file ${path} holds more than one line; it must hold only the PIN`);
    }
    return pin;
  } finally {
    await handle.close();
  }
}
