/**
 * What a running command gets: where to print (stdout for results, stderr for notes), whether --json is on, a signal
 * aborted by Ctrl-C, and the appliance's services (connected on first use, closed when the command ends).
 */
import type { CallOptions } from '../../ts/src/index.ts';
import type { Clients } from './clients.ts';
import type { Connection } from './connection.ts';
import { CtlError } from './errors.ts';
import { Output } from './output.ts';

/** The context of one command run. */
export interface Context {
  /** --json was given. */
  json: boolean;
  /** Results (stdout). */
  out: Output;
  /** stdout is a terminal. */
  stdoutIsTTY: boolean;
  /** Notes and progress for people (stderr); never data. */
  note(line: string): void;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal;
  /** Where the appliance is (remote commands only). */
  connection: Connection | undefined;
  /** The appliance's services. */
  clients(): Promise<Clients>;
  /** Options for a unary call: the --timeout deadline and the abort signal. */
  call(): CallOptions;
  /** Reads all of standard input (for `--file -`). */
  readStdin(): Promise<string>;
}

/** Options of createContext. */
export interface ContextOptions {
  json: boolean;
  connection: Connection | undefined;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  signal: AbortSignal;
  stdin: NodeJS.ReadableStream;
  stdoutIsTTY: boolean;
}

/** Makes a context; `close()` closes the channels it opened. */
export function createContext(opts: ContextOptions): Context & { close(): void } {
  let clients: Clients | undefined;
  return {
    json: opts.json,
    out: new Output(opts.json, opts.stdout),
    stdoutIsTTY: opts.stdoutIsTTY,
    note: (line) => opts.stderr(`${line}\n`),
    signal: opts.signal,
    connection: opts.connection,
    clients: async () => {
      if (!opts.connection) throw new CtlError('internal: this command does not call the appliance');
      if (!clients) {
        const { connectClients } = await import('./clients.ts');
        clients = connectClients(opts.connection);
      }
      return clients;
    },
    call: () => ({ deadline: opts.connection?.timeoutMs ?? 30_000, signal: opts.signal }),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of opts.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
      return Buffer.concat(chunks).toString('utf8');
    },
    close: () => clients?.close(),
  };
}
