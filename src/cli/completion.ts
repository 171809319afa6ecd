/**
 * `poplift completion bash|zsh|fish`: a completion script generated from the
 * commander program itself, so new commands and options complete without
 * editing it. Option values complete from their choices; options whose
 * argument names a file or directory complete paths.
 */
import type { Command, Option } from 'commander';
import { usageError } from '../errors.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;

interface CommandInfo {
  name: string;
  description: string;
  options: Array<{
    flag: string;
    description: string;
    takesValue: boolean;
    choices: readonly string[] | undefined;
    path: 'file' | 'dir' | undefined;
  }>;
  /** The command's own argument is a file (batch <file>). */
  fileArgument: boolean;
}

function pathKind(option: Option): 'file' | 'dir' | undefined {
  const arg = /<([^>]+)>/.exec(option.flags)?.[1] ?? '';
  if (/^(dir)$/i.test(arg)) return 'dir';
  if (/^(file|pem)$/i.test(arg)) return 'file';
  return undefined;
}

function describe(program: Command): CommandInfo[] {
  return program.commands.map((c) => ({
    name: c.name(),
    description: c.description(),
    options: [
      ...c.options
        .filter((o) => o.long && !o.hidden)
        .map((o) => ({
          flag: o.long!,
          description: o.description,
          takesValue: o.required || o.optional,
          choices: o.argChoices,
          path: pathKind(o),
        })),
      { flag: '--help', description: 'display help for command', takesValue: false, choices: undefined, path: undefined },
    ],
    fileArgument: c.registeredArguments.some((a) => a.name() === 'file'),
  }));
}

function quoteSingle(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function bash(name: string, commands: CommandInfo[], shells: readonly string[]): string {
  const lines: string[] = [];
  lines.push(`# bash completion for ${name}; load with: source <(${name} completion bash)`);
  lines.push(`_${name}_complete() {`);
  lines.push('  local cur prev cmd i');
  lines.push('  cur="${COMP_WORDS[COMP_CWORD]}"');
  lines.push('  prev="${COMP_WORDS[COMP_CWORD-1]}"');
  lines.push('  cmd=""');
  lines.push('  for ((i = 1; i < COMP_CWORD; i++)); do');
  lines.push('    case "${COMP_WORDS[i]}" in -*) ;; *) cmd="${COMP_WORDS[i]}"; break ;; esac');
  lines.push('  done');
  lines.push('  if [[ -z "$cmd" ]]; then');
  lines.push(`    COMPREPLY=($(compgen -W ${quoteSingle([...commands.map((c) => c.name), '--help', '--version'].join(' '))} -- "$cur"))`);
  lines.push('    return');
  lines.push('  fi');
  lines.push('  case "$cmd" in');
  for (const c of commands) {
    lines.push(`    ${c.name})`);
    lines.push('      case "$prev" in');
    for (const o of c.options.filter((x) => x.takesValue)) {
      if (o.choices) lines.push(`        ${o.flag}) COMPREPLY=($(compgen -W ${quoteSingle(o.choices.join(' '))} -- "$cur")); return ;;`);
      else if (o.path === 'dir') lines.push(`        ${o.flag}) COMPREPLY=($(compgen -d -- "$cur")); return ;;`);
      else if (o.path === 'file') lines.push(`        ${o.flag}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`);
      else lines.push(`        ${o.flag}) return ;;`);
    }
    lines.push('      esac');
    const words = c.options.map((o) => o.flag).join(' ');
    if (c.name === 'completion')
      lines.push(`      [[ "$cur" != -* ]] && { COMPREPLY=($(compgen -W ${quoteSingle(shells.join(' '))} -- "$cur")); return; }`);
    else if (c.fileArgument) lines.push('      [[ "$cur" != -* ]] && { COMPREPLY=($(compgen -f -- "$cur")); return; }');
    lines.push(`      COMPREPLY=($(compgen -W ${quoteSingle(words)} -- "$cur"))`);
    lines.push('      ;;');
  }
  lines.push('  esac');
  lines.push('}');
  lines.push(`complete -o default -F _${name}_complete ${name}`);
  return `${lines.join('\n')}\n`;
}

function zshEscape(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/'/g, `'\\''`).replace(/\[/g, '\\[').replace(/\]/g, '\\]').replace(/:/g, '\\:');
}

function zsh(name: string, commands: CommandInfo[], shells: readonly string[]): string {
  const lines: string[] = [];
  lines.push(`#compdef ${name}`);
  lines.push(`# zsh completion for ${name}; load with: source <(${name} completion zsh), or save as _${name} in your $fpath`);
  lines.push(`_${name}() {`);
  lines.push('  local state line');
  lines.push('  _arguments -C \\');
  lines.push("    '(- *)--help[display help]' \\");
  lines.push("    '(- *)'{-V,--version}'[output the version number]' \\");
  lines.push("    '1: :->command' \\");
  lines.push("    '*:: :->args'");
  lines.push('  case $state in');
  lines.push('    command)');
  lines.push('      local -a commands');
  lines.push('      commands=(');
  for (const c of commands) lines.push(`        '${c.name}:${zshEscape(c.description)}'`);
  lines.push('      )');
  lines.push(`      _describe 'command' commands`);
  lines.push('      ;;');
  lines.push('    args)');
  lines.push('      case $line[1] in');
  for (const c of commands) {
    lines.push(`        ${c.name})`);
    lines.push('          _arguments \\');
    for (const o of c.options) {
      let action = '';
      if (o.takesValue) {
        if (o.choices) action = `:value:(${o.choices.join(' ')})`;
        else if (o.path === 'dir') action = ':directory:_files -/';
        else if (o.path === 'file') action = ':file:_files';
        else action = ':value: ';
      }
      lines.push(`            '${o.flag}[${zshEscape(o.description)}]${action}' \\`);
    }
    if (c.name === 'completion') lines.push(`            '1:shell:(${shells.join(' ')})'`);
    else if (c.fileArgument) lines.push("            '1:batch file:_files'");
    else lines.push("            '*:url: '");
    lines.push('          ;;');
  }
  lines.push('      esac');
  lines.push('      ;;');
  lines.push('  esac');
  lines.push('}');
  lines.push(`compdef _${name} ${name}`);
  return `${lines.join('\n')}\n`;
}

function fish(name: string, commands: CommandInfo[], shells: readonly string[]): string {
  const lines: string[] = [];
  lines.push(`# fish completion for ${name}; load with: ${name} completion fish | source`);
  lines.push(`complete -c ${name} -f`);
  for (const c of commands) {
    lines.push(`complete -c ${name} -n '__fish_use_subcommand' -a ${c.name} -d ${quoteSingle(c.description)}`);
  }
  for (const c of commands) {
    const when = `'__fish_seen_subcommand_from ${c.name}'`;
    for (const o of c.options) {
      let extra = '';
      if (o.takesValue) {
        if (o.choices) extra = ` -x -a ${quoteSingle(o.choices.join(' '))}`;
        else if (o.path) extra = ' -r -F';
        else extra = ' -x';
      }
      lines.push(`complete -c ${name} -n ${when} -l ${o.flag.replace(/^--/, '')}${extra} -d ${quoteSingle(o.description)}`);
    }
    if (c.name === 'completion') lines.push(`complete -c ${name} -n ${when} -a ${quoteSingle(shells.join(' '))}`);
    else if (c.fileArgument) lines.push(`complete -c ${name} -n ${when} -F`);
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(program: Command, shell: string): string {
  const commands = describe(program);
  const name = program.name();
  switch (shell) {
    case 'bash':
      return bash(name, commands, SHELLS);
    case 'zsh':
      return zsh(name, commands, SHELLS);
    case 'fish':
      return fish(name, commands, SHELLS);
    default:
      throw usageError(`completion: unknown shell '${shell}'; choose bash, zsh or fish.`);
  }
}
