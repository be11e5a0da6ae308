/**
 * The rules for a job's artifact patterns: glob patterns relative to the run's work
 * directory (tinyglobby's syntax: `*`, `**`, `?`, `[…]`, `{a,b}`). Pure, shared by the
 * API's validation and the job decider, so a pattern the runner would refuse is never
 * stored.
 */

/** Patterns a job may declare. */
export const MAX_ARTIFACT_PATTERNS = 50;
/** Characters in one pattern. */
export const MAX_ARTIFACT_PATTERN_LENGTH = 500;

/**
 * The problems of a list of patterns, each naming the pattern: empty list entries,
 * absolute paths, `..` segments (a pattern may not reach outside the work
 * directory), a leading `!` (negation is not offered: say what to keep), NUL,
 * too long, too many. Empty when all are fine.
 */
export function artifactPatternProblems(patterns: unknown): string[] {
  if (!Array.isArray(patterns)) return ['artifacts must be a list of glob patterns'];
  const problems: string[] = [];
  if (patterns.length > MAX_ARTIFACT_PATTERNS) problems.push(`artifacts: at most ${MAX_ARTIFACT_PATTERNS} patterns`);
  for (const pattern of patterns) {
    if (typeof pattern !== 'string') {
      problems.push('artifacts: each pattern must be a string');
      continue;
    }
    const shown = JSON.stringify(pattern.length > 60 ? `${pattern.slice(0, 60)}…` : pattern);
    if (pattern.trim() === '') problems.push('artifacts: a pattern must not be empty');
    else if (pattern.length > MAX_ARTIFACT_PATTERN_LENGTH) problems.push(`artifacts: pattern ${shown} is longer than ${MAX_ARTIFACT_PATTERN_LENGTH} characters`);
    else if (pattern.includes('\0')) problems.push(`artifacts: pattern ${shown} contains a NUL character`);
    else if (pattern.startsWith('/') || pattern.startsWith('\\') || pattern.startsWith('~')) {
      problems.push(`artifacts: pattern ${shown} must be relative to the work directory, not an absolute path`);
    } else if (pattern.split(/[/\\]/).includes('..')) problems.push(`artifacts: pattern ${shown} must not contain ".." (it would reach outside the work directory)`);
    else if (pattern.startsWith('!')) problems.push(`artifacts: pattern ${shown} must not start with "!" (negated patterns are not supported)`);
  }
  return problems;
}
