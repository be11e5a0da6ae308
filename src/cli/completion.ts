/**
 * `endercompute completion bash|zsh`: a completion script made from the
 * program's own command tree, so it always offers the commands and options
 * this version has. zsh uses the same script through `bashcompinit`.
 */
import type { Command } from 'commander';

interface Level {
  /** Subcommand names after this path, or the choices of its first argument. */
  words: string[];
  /** Its long and short option flags. */
  options: string[];
}

/** Every command path (`""`, `"jobs"`, `"jobs create"`, …) with what may follow it. */
function levels(command: Command, path: string[] = [], into = new Map<string, Level>()): Map<string, Level> {
  const choices = command.registeredArguments[0]?.argChoices ?? [];
  into.set(path.join(' '), {
    words: [...command.commands.map((sub) => sub.name()), ...choices],
    options: [...command.options.flatMap((option) => [option.long, option.short].filter((flag): flag is string => Boolean(flag))), '--help'],
  });
  for (const sub of command.commands) levels(sub, [...path, sub.name()], into);
  return into;
}

/** Options whose value is a path on this machine: completed as file names. */
const PATH_OPTIONS = ['--file'];

/** The script for `shell`; its function names start with `_endercompute`. */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const all = levels(program);
  const valueOptions = new Set<string>();
  const visit = (command: Command): void => {
    for (const option of command.options) if (option.required || option.optional) valueOptions.add(option.long ?? '');
    command.commands.forEach(visit);
  };
  visit(program);
  valueOptions.delete('');
  const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  const cases = (pick: (level: Level) => string[]): string =>
    [...all].map(([path, level]) => `    ${quote(path)}) echo ${quote(pick(level).join(' '))} ;;`).join('\n');
  const bash = `# endercompute completion (${shell}). Load it with: source <(endercompute completion ${shell})
_endercompute_words() {
  case "$1" in
${cases((level) => level.words)}
  esac
}
_endercompute_options() {
  case "$1" in
${cases((level) => level.options)}
  esac
}
_endercompute() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" path="" word i
  [ "$COMP_CWORD" -gt 0 ] && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # The command path so far: the words that name a subcommand of the path before them.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case " $(_endercompute_words "$path") " in
      *" $word "*) path="\${path:+$path }$word" ;;
    esac
  done
  case "$prev" in
    ${PATH_OPTIONS.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    ${[...valueOptions].filter((flag) => !PATH_OPTIONS.includes(flag)).join('|')}) COMPREPLY=(); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_endercompute_options "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_endercompute_words "$path")" -- "$cur"))
  fi
}
`;
  if (shell === 'bash') return `${bash}complete -o default -F _endercompute endercompute\n`;
  // zsh runs bash completion functions through bashcompinit (part of zsh).
  return `(( $+functions[compdef] )) || { autoload -U +X compinit && compinit; }\nautoload -U +X bashcompinit && bashcompinit\n${bash}complete -o default -F _endercompute endercompute\n`;
}
