/** Reading the documents commands take (`--file FILE`, `-` for standard input): read early, errors name the file. */
import { readFileSync } from 'node:fs';
import type { Context } from './context.ts';
import { UsageError } from './errors.ts';

/** A text input: its name for messages, and either its text (read at parse time) or "read stdin at run time". */
export interface TextInput {
  name: string;
  text: string | undefined;
}

/** Reads FILE now (so a missing file is a usage error before anything is sent); `-` is read later from stdin. */
export function textInput(path: string, flagName: string): TextInput {
  if (path === '-') return { name: '(stdin)', text: undefined };
  try {
    return { name: path, text: readFileSync(path, 'utf8') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read --${flagName} ${path}${code === 'ENOENT' ? ': no such file' : code ? `: ${code}` : ''}`);
  }
}

/** The text of an input. */
export async function inputText(input: TextInput, ctx: Context): Promise<string> {
  return input.text ?? (await ctx.readStdin());
}
