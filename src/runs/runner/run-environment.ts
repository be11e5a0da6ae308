/**
 * The environment a run's process gets. It is built from scratch, never copied from
 * the server's own `process.env`, so the server's secrets (database passwords, API
 * keys, …) cannot leak into a job.
 */
import { ARTIFACTS_DIR_VARIABLE, artifactsDirOf } from './artifact-collector';
import type { RunSpec } from './runner.types';

/** The variable that marks every process a run starts; also used to find escaped processes. */
export const RUN_ID_VARIABLE = 'ENDERCOMPUTE_RUN_ID';

/** Used when the server has no PATH of its own. */
const FALLBACK_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Builds the run's environment, later entries winning: PATH, HOME and LANG from the
 * server (LANG defaulting to C.UTF-8; HOME replaced by the run's own in the
 * sandbox), then the job's env, then the ENDERCOMPUTE_* variables, which the job
 * cannot override because recovery and process cleanup rely on them.
 *
 * @param place.basePath PATH for the run (default: the server's PATH).
 * @param place.home the run's own HOME (sandboxed runs); default: the server's HOME.
 * @param serverEnv the server's environment; only PATH, HOME and LANG are read from it.
 * @throws Error when a job variable's name or value cannot be passed to a process.
 */
export function buildRunEnvironment(
  spec: RunSpec,
  place: { basePath?: string; home?: string } = {},
  serverEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: place.basePath ?? serverEnv.PATH ?? FALLBACK_PATH,
  };
  const home = place.home ?? serverEnv.HOME;
  if (home !== undefined) env.HOME = home;
  env.LANG = serverEnv.LANG !== undefined && serverEnv.LANG !== '' ? serverEnv.LANG : 'C.UTF-8';
  // What a shell would set anyway (the plain launcher's /bin/sh does): the same in and out of the sandbox.
  env.PWD = spec.workdir;

  for (const [name, value] of Object.entries(spec.env)) {
    // A name with `=` would silently define a different variable; NUL cannot be passed at all.
    if (name === '' || name.includes('=') || name.includes('\0')) {
      throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
    }
    if (value.includes('\0')) throw new Error(`environment variable ${name} contains a NUL byte`);
    env[name] = value;
  }

  env[RUN_ID_VARIABLE] = spec.runId;
  env.ENDERCOMPUTE_JOB = spec.jobName;
  env.ENDERCOMPUTE_RUN_NUMBER = String(spec.runNumber);
  env.ENDERCOMPUTE_ACTOR = spec.actor;
  env.ENDERCOMPUTE_WORKDIR = spec.workdir;
  // Created with the work directory (work-directory.ts); what the script leaves there is kept as artifacts.
  env[ARTIFACTS_DIR_VARIABLE] = artifactsDirOf(spec.workdir);
  return env;
}
