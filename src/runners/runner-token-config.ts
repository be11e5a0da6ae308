import { runnerNameProblems } from './runner-names';

/** A runner configured by `ENDERCOMPUTE_RUNNER_TOKENS`. */
export interface ConfiguredRunner {
  name: string;
  token: string;
}

/**
 * Parses `ENDERCOMPUTE_RUNNER_TOKENS=name=token,…`. Every problem is added to `problems`
 * naming the entry by its position, never echoing it (it holds a token). A token must be
 * at least 16 characters without spaces or commas, a name follows `runnerNameProblems`,
 * each name and token appears once, and no token may also be a key (`otherSecrets`: the
 * fixed key, named keys, the metrics token): a runner token opens runner endpoints only,
 * which it could not if it were also a person's key.
 */
export function parseRunnerTokens(raw: string, otherSecrets: readonly string[], problems: string[]): ConfiguredRunner[] {
  const runners: ConfiguredRunner[] = [];
  const entries = raw.split(',').map((part) => part.trim()).filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const where = `ENDERCOMPUTE_RUNNER_TOKENS entry ${index + 1}`;
    const separator = entry.indexOf('=');
    const name = separator > 0 ? entry.slice(0, separator).trim() : '';
    const token = separator > 0 ? entry.slice(separator + 1).trim() : '';
    if (separator <= 0 || runnerNameProblems(name).length > 0 || token.length < 16 || /\s/.test(token)) {
      problems.push(
        `${where} must be name=TOKEN with a name of 1–64 letters, digits, ".", "_" or "-" (starting with a letter or digit; not system, runner or schedule) and a token of at least 16 characters without spaces`,
      );
      continue;
    }
    if (runners.some((runner) => runner.name === name)) {
      problems.push(`${where} names the runner "${name}" again: each runner once`);
      continue;
    }
    if (runners.some((runner) => runner.token === token)) {
      problems.push(`${where} repeats the token of an earlier entry: each runner needs its own token`);
      continue;
    }
    if (otherSecrets.includes(token)) {
      problems.push(`${where} uses the same token as ENDERCOMPUTE_KEY, ENDERCOMPUTE_KEYS or ENDERCOMPUTE_METRICS_TOKEN: a runner token must be its own`);
      continue;
    }
    runners.push({ name, token });
  }
  return runners;
}
