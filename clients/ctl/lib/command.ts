/**
 * The shape of a waiaas-ctl command. Every command lives in its own file under commands/ and is made with
 * `defineCommand`: its options (for parsing, --help and shell completion), a `parse` that validates flags and
 * positionals into typed options in one step (throwing UsageError before any network call), and a `run`.
 */
import type { Context } from './context.ts';
import { UsageError } from './errors.ts';

/** One option of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** May be given more than once. */
  multiple?: boolean;
  /** Placeholder shown in help, e.g. FILE. */
  value?: string;
  /** One line of help. */
  help: string;
  /** Values offered by shell completion. */
  choices?: readonly string[];
  /** Completion offers files (`file`) or directories (`dir`). */
  complete?: 'file' | 'dir';
  /** A one-letter alias, e.g. "n" for `-n 50`. */
  short?: string;
}

/** What parseArgs produced for a command: option values and positional arguments. */
export interface ParsedInput {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** What a command definition gives. */
export interface CommandDef<O> {
  /** Words that invoke it: "wallets create", "freeze". */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Arguments and options after the name, for the usage line: "WALLET_ID --file FILE". */
  usage: string;
  /** A paragraph or two for --help. */
  description?: string;
  /** The command's own options (the global ones are added by the framework). */
  options: Record<string, OptionSpec>;
  /** Positional arguments, for help and completion: e.g. ["WALLET_ID"]. A trailing "?" marks an optional one. */
  args?: readonly string[];
  /** Values shell completion offers for the first positional argument. */
  argChoices?: readonly string[];
  /** Example invocations (without the program name), each optionally followed by "  # comment". */
  examples: readonly string[];
  /** True when the command talks to the appliance (it then takes --address, --ca, --cert, --key, --state, …). */
  remote: boolean;
  /** True when the command prints data and so takes --json. */
  json: boolean;
  /**
   * With these options the command needs no appliance although it is `remote` (`audit verify --file`): the
   * connection options are then neither required nor used.
   */
  offline?(opts: O): boolean;
  /** Validates the input into the command's options. Throws UsageError. No network I/O. */
  parse(input: ParsedInput): O;
  /** Runs the command; returns the exit code (default 0). */
  run(opts: O, ctx: Context): Promise<number | void>;
}

/** A validated invocation, ready to run. */
export interface Prepared {
  /** Runs it later with a context. */
  run(ctx: Context): Promise<number | void>;
  /** It calls the appliance (so it needs the connection options). */
  remote: boolean;
}

/** A command as the dispatcher sees it. */
export interface Command extends Omit<CommandDef<unknown>, 'parse' | 'run' | 'offline'> {
  /** Parses and validates now; returns the action. */
  prepare(input: ParsedInput): Prepared;
}

/** Makes a command from its definition. */
export function defineCommand<O>(def: CommandDef<O>): Command {
  const { parse, run, offline, ...meta } = def;
  return {
    ...meta,
    prepare: (input) => {
      const opts = parse(input);
      return { run: (ctx) => run(opts, ctx), remote: def.remote && !(offline?.(opts) ?? false) };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Validation helpers used by commands' parse functions. Each throws UsageError naming the flag or argument.

/** The string value of an option, or undefined. */
export function str(input: ParsedInput, name: string): string | undefined {
  const v = input.values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError(`--${name} takes a value`);
  if (v === '') throw new UsageError(`--${name} must not be empty`);
  return v;
}

/** A required string option. */
export function required(input: ParsedInput, name: string, what?: string): string {
  const v = str(input, name);
  if (v === undefined) throw new UsageError(`--${name}${what ? ` ${what}` : ''} is required`);
  return v;
}

/** Every value of a repeatable string option. */
export function list(input: ParsedInput, name: string): string[] {
  const v = input.values[name];
  if (v === undefined) return [];
  const all = Array.isArray(v) ? v : [v];
  return all.map((x) => {
    if (typeof x !== 'string' || x === '') throw new UsageError(`--${name} must not be empty`);
    return x;
  });
}

/** A boolean flag. */
export function flag(input: ParsedInput, name: string): boolean {
  return input.values[name] === true;
}

/** An option whose value must be one of `choices`. */
export function choice<T extends string>(input: ParsedInput, name: string, choices: readonly T[]): T | undefined {
  const v = str(input, name);
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${choices.join(', ')} (got "${v}")`);
  return v as T;
}

/**
 * The positional arguments, checked against their names: `names` lists them in order, a trailing "?" marking an
 * optional one. Returns them by name (optional ones may be undefined).
 */
export function positionals(input: ParsedInput, names: readonly string[]): Record<string, string | undefined> {
  const min = names.filter((n) => !n.endsWith('?')).length;
  const got = input.positionals;
  if (got.length < min) throw new UsageError(`missing ${names.slice(got.length).filter((n) => !n.endsWith('?')).join(' ')}`);
  if (got.length > names.length) throw new UsageError(`unexpected argument "${got[names.length]}"`);
  const out: Record<string, string | undefined> = {};
  names.forEach((n, i) => {
    const v = got[i];
    if (v === '') throw new UsageError(`${n.replace('?', '')} must not be empty`);
    out[n.replace('?', '')] = v;
  });
  return out;
}

/** A whole number in [min, max], from an option or argument value. */
export function integer(value: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${what} must be a whole number (got "${value}")`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${what} must be between ${min} and ${max} (got ${value})`);
  return n;
}

/** Hex (with or without 0x) → bytes. */
export function hexBytes(value: string, what: string): Uint8Array {
  const h = value.startsWith('0x') || value.startsWith('0X') ? value.slice(2) : value;
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new UsageError(`${what} must be hex bytes (an even number of hex digits)`);
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

/** Server ids: wallets "wlt_…", requests "req_…". A light check so that a swapped argument fails as usage. */
export function idArg(value: string, prefix: 'wlt_' | 'req_', what: string): string {
  if (!value.startsWith(prefix)) throw new UsageError(`${what} must start with ${prefix} (got "${value}")`);
  return value;
}
