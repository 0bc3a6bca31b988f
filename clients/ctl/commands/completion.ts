/**
 * `waiaas-ctl completion bash|zsh`: prints a shell completion script, generated from the command definitions
 * (commands, their options, option values such as --chain solana|evm, files for --file and --key-file).
 */
import type { Command, OptionSpec } from '../lib/command.ts';
import { defineCommand, positionals } from '../lib/command.ts';
import { UsageError } from '../lib/errors.ts';
import { PROG } from '../lib/help.ts';

interface Model {
  /** First words: groups and one-word commands. */
  firsts: string[];
  /** group → its verbs. */
  groups: Map<string, string[]>;
  /** command name → its options ("--x"). */
  options: Map<string, string[]>;
  /** command name → choices for its first positional. */
  argChoices: Map<string, readonly string[]>;
  /** option → its value choices. */
  valueChoices: Map<string, readonly string[]>;
  fileOptions: string[];
  dirOptions: string[];
  /** Every option taking a value (so that its value is not taken for a command word). */
  valued: string[];
}

function model(commands: readonly Command[], optionsOf: (c: Command) => Record<string, OptionSpec>): Model {
  const m: Model = { firsts: [], groups: new Map(), options: new Map(), argChoices: new Map(), valueChoices: new Map(), fileOptions: [], dirOptions: [], valued: [] };
  for (const c of commands) {
    const [first, verb] = c.name.split(' ') as [string, string | undefined];
    if (!m.firsts.includes(first)) m.firsts.push(first);
    if (verb) m.groups.set(first, [...(m.groups.get(first) ?? []), verb]);
    const opts = optionsOf(c);
    m.options.set(c.name, Object.entries(opts).flatMap(([k, o]) => [...(o.short ? [`-${o.short}`] : []), `--${k}`]));
    if (c.argChoices) m.argChoices.set(c.name, c.argChoices);
    for (const [k, o] of Object.entries(opts)) {
      const flag = `--${k}`;
      if (o.type === 'string' && !m.valued.includes(flag)) m.valued.push(flag);
      if (o.type === 'string' && o.short && !m.valued.includes(`-${o.short}`)) m.valued.push(`-${o.short}`);
      if (o.choices) m.valueChoices.set(flag, o.choices);
      if (o.complete === 'file' && !m.fileOptions.includes(flag)) m.fileOptions.push(flag);
      if (o.complete === 'dir' && !m.dirOptions.includes(flag)) m.dirOptions.push(flag);
    }
  }
  m.firsts.push('help');
  return m;
}

const other = (m: Model): string[] => m.valued.filter((v) => !m.valueChoices.has(v) && !m.fileOptions.includes(v) && !m.dirOptions.includes(v));

function bash(m: Model): string {
  const L: string[] = [];
  L.push(`# bash completion for ${PROG}. Load it with:  source <(${PROG} completion bash)`);
  L.push(`# or save it as /etc/bash_completion.d/${PROG}.`);
  L.push('_waiaas_ctl() {');
  L.push('  local cur prev i w skip=0 cmd opts');
  L.push('  local -a words=()');
  L.push('  cur="${COMP_WORDS[COMP_CWORD]}"');
  L.push('  prev="${COMP_WORDS[COMP_CWORD-1]}"');
  L.push('  case "$prev" in');
  for (const [flag, choices] of m.valueChoices) L.push(`    ${flag}) COMPREPLY=($(compgen -W "${choices.join(' ')}" -- "$cur")); return ;;`);
  if (m.fileOptions.length > 0) L.push(`    ${m.fileOptions.join('|')}) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;`);
  if (m.dirOptions.length > 0) L.push(`    ${m.dirOptions.join('|')}) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;`);
  if (other(m).length > 0) L.push(`    ${other(m).join('|')}) COMPREPLY=(); return ;;`);
  L.push('  esac');
  L.push('  for ((i = 1; i < COMP_CWORD; i++)); do');
  L.push('    w="${COMP_WORDS[i]}"');
  L.push('    if ((skip)); then skip=0; continue; fi');
  L.push('    case "$w" in');
  L.push('      --*=*) ;;');
  L.push(`      ${m.valued.join('|')}) skip=1 ;;`);
  L.push('      -*) ;;');
  L.push('      *) words+=("$w") ;;');
  L.push('    esac');
  L.push('  done');
  L.push(`  if ((\${#words[@]} == 0)); then COMPREPLY=($(compgen -W "${m.firsts.join(' ')} --help" -- "$cur")); return; fi`);
  L.push('  cmd="${words[0]}"');
  L.push('  case "$cmd" in');
  for (const [g, verbs] of m.groups) {
    L.push(`    ${g}) if ((\${#words[@]} == 1)); then COMPREPLY=($(compgen -W "${verbs.join(' ')} --help" -- "$cur")); return; fi; cmd="$cmd \${words[1]}" ;;`);
  }
  L.push(`    help) COMPREPLY=($(compgen -W "${m.firsts.filter((f) => f !== 'help').join(' ')}" -- "$cur")); return ;;`);
  L.push('  esac');
  L.push('  case "$cmd" in');
  for (const [name, opts] of m.options) {
    const choices = m.argChoices.get(name);
    const argPart = choices ? `if [[ $cur != -* ]]; then COMPREPLY=($(compgen -W "${choices.join(' ')}" -- "$cur")); return; fi; ` : '';
    L.push(`    "${name}") ${argPart}opts="${opts.join(' ')}" ;;`);
  }
  L.push('    *) opts="" ;;');
  L.push('  esac');
  L.push('  COMPREPLY=($(compgen -W "$opts" -- "$cur"))');
  L.push('}');
  L.push(`complete -F _waiaas_ctl ${PROG}`);
  return `${L.join('\n')}\n`;
}

function zsh(m: Model): string {
  const L: string[] = [];
  L.push(`#compdef ${PROG}`);
  L.push(`# zsh completion for ${PROG}. Load it with:  source <(${PROG} completion zsh)   (after compinit)`);
  L.push(`# or save it as _${PROG} in a directory of $fpath.`);
  L.push('_waiaas_ctl() {');
  L.push('  local cur=${words[CURRENT]} prev=${words[CURRENT-1]} w cmd');
  L.push('  local -a cmdwords opts');
  L.push('  local i skip=0');
  L.push('  case $prev in');
  for (const [flag, choices] of m.valueChoices) L.push(`    ${flag}) compadd -- ${choices.join(' ')}; return ;;`);
  if (m.fileOptions.length > 0) L.push(`    ${m.fileOptions.join('|')}) _files; return ;;`);
  if (m.dirOptions.length > 0) L.push(`    ${m.dirOptions.join('|')}) _files -/; return ;;`);
  if (other(m).length > 0) L.push(`    ${other(m).join('|')}) return ;;`);
  L.push('  esac');
  L.push('  for (( i = 2; i < CURRENT; i++ )); do');
  L.push('    w=${words[i]}');
  L.push('    if (( skip )); then skip=0; continue; fi');
  L.push('    case $w in');
  L.push('      --*=*) ;;');
  L.push(`      ${m.valued.join('|')}) skip=1 ;;`);
  L.push('      -*) ;;');
  L.push('      *) cmdwords+=($w) ;;');
  L.push('    esac');
  L.push('  done');
  L.push(`  if (( \${#cmdwords} == 0 )); then compadd -- ${m.firsts.join(' ')} --help; return; fi`);
  L.push('  cmd=${cmdwords[1]}');
  L.push('  case $cmd in');
  for (const [g, verbs] of m.groups) {
    L.push(`    ${g}) if (( \${#cmdwords} == 1 )); then compadd -- ${verbs.join(' ')} --help; return; fi; cmd="$cmd \${cmdwords[2]}" ;;`);
  }
  L.push(`    help) compadd -- ${m.firsts.filter((f) => f !== 'help').join(' ')}; return ;;`);
  L.push('  esac');
  L.push('  case $cmd in');
  for (const [name, opts] of m.options) {
    const choices = m.argChoices.get(name);
    const argPart = choices ? `if [[ $cur != -* ]]; then compadd -- ${choices.join(' ')}; return; fi; ` : '';
    L.push(`    "${name}") ${argPart}opts=(${opts.join(' ')}) ;;`);
  }
  L.push('  esac');
  L.push('  compadd -- $opts');
  L.push('}');
  L.push('if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then');
  L.push('  _waiaas_ctl "$@"');
  L.push('else');
  L.push(`  compdef _waiaas_ctl ${PROG}`);
  L.push('fi');
  return `${L.join('\n')}\n`;
}

export default defineCommand({
  name: 'completion',
  summary: 'print a shell completion script (bash or zsh)',
  usage: 'bash|zsh',
  args: ['SHELL'],
  argChoices: ['bash', 'zsh'],
  options: {},
  description: 'To load it into the running shell: source <(waiaas-ctl completion bash), or zsh (after compinit).',
  examples: ['completion bash > /etc/bash_completion.d/waiaas-ctl', 'completion zsh > "${fpath[1]}/_waiaas-ctl"'],
  remote: false,
  json: false,
  parse(input) {
    const { SHELL } = positionals(input, ['SHELL']);
    if (SHELL !== 'bash' && SHELL !== 'zsh') throw new UsageError(`SHELL must be bash or zsh (got "${SHELL}")`);
    return { shell: SHELL };
  },
  async run(o, ctx) {
    // Imported here: the registry imports this file.
    const [{ COMMANDS }, { commandOptions }] = await Promise.all([import('./index.ts'), import('../lib/dispatch.ts')]);
    const m = model(COMMANDS, commandOptions);
    ctx.out.write(o.shell === 'bash' ? bash(m) : zsh(m));
  },
});
