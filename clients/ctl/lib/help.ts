/**
 * --help texts, built from the command definitions so that help, parsing and completion never disagree: the
 * program's overview, a group's commands (`waiaas-ctl policy --help`), and one command's usage, options and examples.
 */
import type { Command, OptionSpec } from './command.ts';
import { CONNECTION_OPTIONS } from './connection.ts';

/** The program's name as users type it. */
export const PROG = 'waiaas-ctl';

/** The options every command takes, by kind. */
export const JSON_OPTION: Record<string, OptionSpec> = { json: { type: 'boolean', help: 'print machine-readable JSON (stable keys) instead of text' } };
export const HELP_OPTION: Record<string, OptionSpec> = { help: { type: 'boolean', help: 'show this help' } };

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const left = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.choices ? o.choices.join('|') : (o.value ?? 'VALUE')}` : ''}`;
    return [left, `${o.help}${o.multiple ? ' (repeatable)' : ''}`] as const;
  });
  const width = Math.min(28, Math.max(...rows.map(([l]) => l.length)));
  return rows.map(([l, r]) => (l.length > width ? `  ${l}\n  ${' '.repeat(width)}  ${r}` : `  ${l.padEnd(width)}  ${r}`));
}

/** The full help of one command. */
export function commandHelp(cmd: Command): string {
  const out: string[] = [];
  out.push(`usage: ${PROG} ${cmd.name}${cmd.usage ? ` ${cmd.usage}` : ''}${cmd.json ? ' [--json]' : ''}${cmd.remote ? ' [connection options]' : ''}`);
  out.push('', cmd.summary);
  if (cmd.description) out.push('', cmd.description);
  if (Object.keys(cmd.options).length > 0) out.push('', 'options:', ...optionLines(cmd.options));
  const common = { ...(cmd.json ? JSON_OPTION : {}), ...HELP_OPTION };
  out.push(...optionLines(common));
  if (cmd.remote) {
    out.push('', 'connection options (flags beat --state, which beats WAIAAS_ADDRESS, WAIAAS_CA, WAIAAS_CERT, WAIAAS_KEY):', ...optionLines(CONNECTION_OPTIONS));
  }
  out.push('', 'examples:', ...cmd.examples.map((e) => `  ${PROG} ${e}`));
  return `${out.join('\n')}\n`;
}

/** The commands of a group, e.g. "policy". */
export function groupHelp(group: string, commands: readonly Command[]): string {
  const mine = commands.filter((c) => c.name.startsWith(`${group} `));
  const width = Math.max(...mine.map((c) => c.name.length));
  return [
    `usage: ${PROG} ${group} <command> [options]`,
    '',
    'commands:',
    ...mine.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run \`${PROG} ${group} <command> --help\` for a command's options and examples.`,
    '',
  ].join('\n');
}

/** The program's overview. */
export function programHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `usage: ${PROG} <command> [options]`,
    '',
    'Manage a WAIaaS Signer appliance as an owner or admin: wallets, owners, policies, approvals, freezes,',
    'agents and their credentials, the audit log.',
    'It calls the appliance over gRPC with mutual TLS, with your client certificate.',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'connection (every command that calls the appliance):',
    ...optionLines(CONNECTION_OPTIONS),
    '',
    'Every command that prints data takes --json. Owner private keys are only ever read from key files',
    '(mode 0600/0400), never from flags or the environment.',
    '',
    'exit codes: 0 ok, 1 unexpected error, 2 usage error, 3 invalid input (refused by the appliance), 4 not found,',
    '            5 permission or policy denied, 6 failed precondition (not pending, frozen, …), 7 unavailable,',
    '            8 audit chain broken (audit verify).',
    '',
    `Run \`${PROG} <command> --help\` for a command's options and examples.`,
    '',
  ].join('\n');
}
