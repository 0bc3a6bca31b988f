/**
 * The dispatcher: finds the command in argv, parses and validates every option in one step (the command's own, the
 * connection options of remote commands, --json, --help), runs the command with a context, and sends every failure
 * to the one error handler (errors.ts reportError), which decides the exit code.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMMANDS } from '../commands/index.ts';
import type { Command, OptionSpec, ParsedInput } from './command.ts';
import { CONNECTION_OPTIONS, resolveConnection, type Connection } from './connection.ts';
import { createContext } from './context.ts';
import { EXIT, reportError, UsageError } from './errors.ts';
import { commandHelp, groupHelp, HELP_OPTION, JSON_OPTION, PROG, programHelp } from './help.ts';

/** The process's streams and environment, injectable for tests. */
export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin: NodeJS.ReadableStream;
  stdoutIsTTY: boolean;
  env: Record<string, string | undefined>;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
}

/** Options that take a value and may come before the command's name. */
const VALUE_GLOBALS = new Set(Object.keys(CONNECTION_OPTIONS).map((k) => `--${k}`));

/** Every group name ("wallets", "policy", …): the first word of a two-word command. */
const GROUPS = [...new Set(COMMANDS.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]!))];

type Found = { kind: 'command'; command: Command; rest: string[] } | { kind: 'group'; group: string; rest: string[] } | { kind: 'none'; rest: string[] } | { kind: 'help'; topic: string[] };

/** Finds the command words in argv (global options may precede them) and returns the other tokens. */
function findCommand(argv: readonly string[]): Found {
  const words: { index: number; word: string }[] = [];
  for (let i = 0; i < argv.length && words.length < 3; i++) {
    const t = argv[i]!;
    if (t === '--') break;
    if (t.startsWith('-')) {
      if (VALUE_GLOBALS.has(t)) i++;
      continue;
    }
    words.push({ index: i, word: t });
  }
  const without = (...idx: number[]): string[] => argv.filter((_, i) => !idx.includes(i));
  const [w0, w1] = words;
  if (!w0) return { kind: 'none', rest: [...argv] };
  if (w0.word === 'help') return { kind: 'help', topic: words.slice(1).map((w) => w.word) };
  if (w1) {
    const two = COMMANDS.find((c) => c.name === `${w0.word} ${w1.word}`);
    if (two) return { kind: 'command', command: two, rest: without(w0.index, w1.index) };
  }
  const one = COMMANDS.find((c) => c.name === w0.word);
  if (one) return { kind: 'command', command: one, rest: without(w0.index) };
  if (GROUPS.includes(w0.word)) {
    if (w1) throw new UsageError(`unknown command "${w0.word} ${w1.word}"`, `see ${PROG} ${w0.word} --help`);
    return { kind: 'group', group: w0.word, rest: without(w0.index) };
  }
  throw new UsageError(`unknown command "${w0.word}"`, `see ${PROG} --help`);
}

function parseConfig(options: Record<string, OptionSpec>): ParseArgsConfig['options'] {
  const out: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, o] of Object.entries(options)) {
    const short = o.short ?? (name === 'help' ? 'h' : undefined);
    out[name] = { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(short ? { short } : {}) };
  }
  return out;
}

/** All options a command accepts. */
export function commandOptions(cmd: Command): Record<string, OptionSpec> {
  return { ...cmd.options, ...(cmd.remote ? CONNECTION_OPTIONS : {}), ...(cmd.json ? JSON_OPTION : {}), ...HELP_OPTION };
}

/** Runs waiaas-ctl with `argv` (without node and the script); returns the exit code. */
export async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const wantsJson = argv.includes('--json');
  let connection: Connection | undefined;
  let close: (() => void) | undefined;
  let current: Command | undefined;
  try {
    const found = findCommand(argv);
    if (found.kind === 'help') {
      const topic = found.topic.join(' ');
      const cmd = COMMANDS.find((c) => c.name === topic);
      if (topic === '') io.stdout(programHelp(COMMANDS));
      else if (cmd) io.stdout(commandHelp(cmd));
      else if (GROUPS.includes(topic)) io.stdout(groupHelp(topic, COMMANDS));
      else throw new UsageError(`no help for "${topic}": unknown command`, `see ${PROG} --help`);
      return EXIT.OK;
    }
    if (found.kind === 'none' || found.kind === 'group') {
      const text = found.kind === 'none' ? programHelp(COMMANDS) : groupHelp(found.group, COMMANDS);
      if (found.rest.includes('--help') || found.rest.includes('-h')) {
        io.stdout(text);
        return EXIT.OK;
      }
      if (found.kind === 'none' && found.rest.length > 0) throw new UsageError(`unknown option "${found.rest[0]}" (no command given)`, `see ${PROG} --help`);
      io.stderr(text);
      return EXIT.USAGE;
    }
    const cmd = found.command;
    current = cmd;
    let parsed;
    try {
      parsed = parseArgs({ args: found.rest, options: parseConfig(commandOptions(cmd)), allowPositionals: true, strict: true });
    } catch (e) {
      // node:util's messages are clear ("Unknown option '--x'"); drop its advice about '--' which does not apply here.
      throw new UsageError((e as Error).message.replace(/\. To specify a positional argument starting with a '-'.*$/s, '').trim());
    }
    const input: ParsedInput = { values: parsed.values as ParsedInput['values'], positionals: parsed.positionals };
    if (input.values['help'] === true) {
      io.stdout(commandHelp(cmd));
      return EXIT.OK;
    }
    // Everything is validated before anything is sent: the command's own options first (the more specific errors).
    const action = cmd.prepare(input);
    connection = action.remote ? resolveConnection(input, io.env) : undefined;
    const ctx = createContext({ json: input.values['json'] === true, connection, stdout: io.stdout, stderr: io.stderr, signal: io.signal, stdin: io.stdin, stdoutIsTTY: io.stdoutIsTTY });
    close = ctx.close;
    return (await action.run(ctx)) ?? EXIT.OK;
  } catch (err) {
    if (io.signal.aborted) {
      // Ctrl-C cancelled the call: not an error of the appliance's.
      io.stderr('waiaas-ctl: interrupted\n');
      return EXIT.INTERRUPTED;
    }
    const withHint = err instanceof UsageError && !err.hint && current ? new UsageError(err.message, `see ${PROG} ${current.name} --help`) : err;
    return reportError(withHint, { json: wantsJson, write: io.stderr, debug: io.env['WAIAAS_CTL_DEBUG'] === '1', ...(connection ? { address: connection.address } : {}) });
  } finally {
    close?.();
  }
}
