import { RESERVED_ACTORS } from '../shared/names';

/**
 * What a job server's name may be. Names appear in URLs (`DELETE /api/runners/:name`),
 * in `ENDERCOMPUTE_RUNNER_TOKENS` (where `=` and `,` separate entries), in a run's
 * `runner` field and in systemd unit files, so they are kept plain: a letter or digit,
 * then letters, digits, `.`, `_` or `-`, at most 64 characters in all. Compared as
 * written (case-sensitive), like a host name in a unit file. The actors EnderCompute records
 * its own actions under (`system`, `runner`, `schedule`) are refused: a runner's events
 * carry its name as their actor.
 *
 * A server's own local runner is named by its runner id (`config/runner-identity.ts`),
 * which follows looser rules; it never registers, so this rule does not apply to it.
 */
export const RUNNER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The problems with a proposed runner name, for a 400 or a configuration error; empty when it is fine. */
export function runnerNameProblems(name: unknown): string[] {
  if (typeof name !== 'string') return ['name must be a text'];
  // A runner's events carry its name as actor: it may not pass for EnderCompute itself.
  if (RESERVED_ACTORS.has(name.toLowerCase())) return [`name "${name}" is the name EnderCompute records its own actions under: choose another`];
  if (RUNNER_NAME_PATTERN.test(name)) return [];
  return [
    `name must be 1–64 characters: a letter or digit, then letters, digits, ".", "_" or "-" (not ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)})`,
  ];
}
