import { Argument, type Command, type Option } from 'commander';
import type { CliContext } from '../context';

/**
 * `uuru-fed completion bash`: a completion script made from the command tree
 * itself, so it cannot miss a command or an option. Load it with
 * `source <(npx uuru-fed completion bash)`, or save it as
 * ~/.local/share/bash-completion/completions/uuru-fed.
 */

/** Every command path ('' for the top) with the words that may follow it: subcommands, aliases and options. */
export function completionTable(program: Command): Map<string, string[]> {
  const table = new Map<string, string[]>();
  const walk = (cmd: Command, path: string) => {
    const words: string[] = [];
    for (const sub of cmd.commands) {
      if (sub.name() === 'help') continue;
      words.push(sub.name(), ...sub.aliases());
      for (const name of [sub.name(), ...sub.aliases()]) walk(sub, path ? `${path} ${name}` : name);
    }
    for (const o of cmd.options as Option[]) if (o.long) words.push(o.long);
    words.push('--help');
    table.set(path, words);
  };
  walk(program, '');
  return table;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function bashCompletion(program: Command): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9]/g, '_')}_complete`;
  const entries = [...completionTable(program)]
    .map(([path, words]) => `  [${quote(path || '.')}]=${quote(words.join(' '))}`)
    .join('\n');
  return `# bash completion for ${name}: source <(npx ${name} completion bash)
${fn}() {
  local -A words=(
${entries}
  )
  local path='' i w cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ $w == -* ]] && continue
    if [[ -n \${words["\${path:+$path }$w"]+set} ]]; then path="\${path:+$path }$w"; fi
  done
  COMPREPLY=($(compgen -W "\${words[\${path:-.}]}" -- "$cur"))
}
complete -F ${fn} ${name}
`;
}

export function registerCompletion(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(npx uuru-fed completion bash)')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash']))
    .action(() => ctx.out(bashCompletion(program)));
}
