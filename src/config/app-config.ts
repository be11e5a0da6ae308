import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_LOG_LEVEL, isLogLevel, LOG_LEVELS, type LogLevel } from '../logging/log-level';
import { labelProblems, normalizeLabels } from '../runners/placement';
import { parseSandboxBinds, type SandboxBind } from '../runs/runner/sandbox';
import { actorProblems } from '../shared/names';
import { packageVersion } from '../shared/version';
import { type ConfiguredRunner, parseRunnerTokens } from '../runners/runner-token-config';
import { readConnectionString } from './connection-string';
import { runnerIdentity } from './runner-identity';

/** `ENDERCOMPUTE_SANDBOX`: `auto` (bubblewrap where it works), `bwrap` (required), `none` (explicit opt-out). */
export type SandboxMode = 'auto' | 'bwrap' | 'none';

/**
 * Everything the server is configured with, read once at start from the
 * environment. A class rather than an interface so Nest can inject it by type.
 */
export abstract class AppConfig {
  abstract readonly port: number;
  abstract readonly host: string;
  /** Absolute path of the data directory (embedded log, work directories, generated key). */
  abstract readonly dataDir: string;
  /** A fixed shared key, or null to generate one and renew it every Monday. */
  abstract readonly fixedKey: string | null;
  /** Named keys: a request made with one is attributed to its name. */
  abstract readonly namedKeys: ReadonlyArray<{ name: string; key: string }>;
  /**
   * The EventStoreDB connection string (from `EVENTSTORE_CONNECTION_STRING` or the file
   * named by `EVENTSTORE_CONNECTION_STRING_FILE`), or null for the embedded log. It may
   * hold credentials: print it only through `redactConnectionString`.
   */
  abstract readonly eventStoreConnectionString: string | null;
  /**
   * Absolute paths of files holding the server's secrets, which a run's sandbox must
   * hide (for now the connection-string file, when one is set).
   */
  abstract readonly secretPaths: readonly string[];
  abstract readonly maxConcurrentRuns: number;
  /**
   * `ENDERCOMPUTE_MIN_FREE_BYTES`: below this much free space on the disk holding the work
   * directories, new runs stay queued (see `runs/execution/disk-space.ts`). 0 turns it off.
   */
  abstract readonly minFreeBytes: number;
  /**
   * Identifies this server's local runner in run events; stable across restarts, moves
   * of the data dir and host name changes: `ENDERCOMPUTE_RUNNER_ID`, else the id kept
   * in `<data>/runner-id` (generated on the first start, see `runner-identity.ts`).
   */
  abstract readonly runnerId: string;
  /** Where a generated runner id must be kept at start (it is not yet), or null. */
  abstract readonly runnerIdFile: string | null;
  /**
   * `ENDERCOMPUTE_LOCAL_RUNNER`: whether this server executes runs itself (default true).
   * False: its scheduler claims nothing, and runs wait for job servers.
   */
  abstract readonly localRunner: boolean;
  /**
   * `ENDERCOMPUTE_RUNNER_LABELS` (`linux,gpu`): the labels of this server's local runner,
   * lower case, each once; it takes only runs whose `runsOn` it has every label of.
   */
  abstract readonly runnerLabels: readonly string[];
  /**
   * `ENDERCOMPUTE_NEW_LOG`: the person starting the server means to begin a new, empty
   * embedded log although the data dir shows an earlier one (see `sqlite/log-file-check.ts`).
   */
  abstract readonly newLog: boolean;
  /** Output beyond this many bytes per run is dropped, with a visible notice. */
  abstract readonly maxOutputBytes: number;
  /** `ENDERCOMPUTE_MAX_ARTIFACT_BYTES`: artifact bytes kept per run (default 1 GiB); a file beyond it is skipped and named on the run. */
  abstract readonly maxArtifactBytes: number;
  /** The largest input file accepted. */
  abstract readonly maxFileBytes: number;
  /** Seconds a cancelled or timed-out run's processes get between SIGTERM and SIGKILL. */
  abstract readonly cancelGraceSeconds: number;
  /** Seconds running runs get to finish when the server is stopped (SIGTERM) before they are cancelled. */
  abstract readonly shutdownGraceSeconds: number;
  /** How runs are isolated; see {@link SandboxMode}. */
  abstract readonly sandboxMode: SandboxMode;
  /** `ENDERCOMPUTE_BWRAP`: the bubblewrap executable; null to look for `bwrap` on PATH. */
  abstract readonly bwrapPath: string | null;
  /** `ENDERCOMPUTE_SANDBOX_BIND`: extra host paths every sandboxed run sees, at the same path. */
  abstract readonly sandboxBinds: ReadonlyArray<SandboxBind>;
  /**
   * `ENDERCOMPUTE_KEEP_WORKDIRS`: how many work directories of finished runs of jobs with
   * `keepWorkdir` this server keeps in all (the oldest by finish time go first); every
   * other run's directory is removed when it ends.
   */
  abstract readonly keepWorkdirs: number;
  /**
   * `ENDERCOMPUTE_KEEP_OUTPUT_DAYS`: a finished run's output expires this many days after
   * it finished (fractions allowed: 0.5 is twelve hours); null (unset) keeps it forever.
   */
  abstract readonly keepOutputDays: number | null;
  /** The umask runs start with: the one the server was started with (the server itself uses 0077). */
  abstract readonly jobUmask: number;
  abstract readonly version: string;
  /** `ENDERCOMPUTE_LOG_LEVEL`: the least severe level logged (default `info`). */
  abstract readonly logLevel: LogLevel;
  /** `ENDERCOMPUTE_METRICS_TOKEN`: a token that opens `GET /metrics` (and nothing else) besides the key; null when unset. */
  abstract readonly metricsToken: string | null;
  /**
   * `ENDERCOMPUTE_RUNNER_TOKENS=name=token,…`: job servers known from the environment (besides those
   * registered through the API). Their tokens open runner endpoints only (see `runners/runner-tokens.ts`).
   */
  abstract readonly runnerTokens: readonly ConfiguredRunner[];
  /**
   * `ENDERCOMPUTE_RUNNER_LOST_SECONDS` (default 120): a runner not heard from for this long is
   * offline (`runners/runner-presence.ts`), and its runs end `lost`.
   */
  abstract readonly runnerLostSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads `.env` (when present) without overriding variables already set. */
export function loadDotEnv(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}

/**
 * Reads and validates the configuration; every problem is reported at once.
 *
 * @param started.jobUmask the umask the server was started with (see `restrictUmask`); default 0o022.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, started: { jobUmask?: number } = {}): AppConfig {
  const problems: string[] = [];
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = /^\s*\d{1,16}\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, not "${raw}"`);
      return fallback;
    }
    return value;
  };

  const keepOutputDays = positiveDays(env.ENDERCOMPUTE_KEEP_OUTPUT_DAYS, problems);
  const dataDir = resolve(env.ENDERCOMPUTE_DATA_DIR?.trim() || './data');
  const fixedKey = env.ENDERCOMPUTE_KEY?.trim() || null;
  if (fixedKey !== null && fixedKey.length < 16) problems.push('ENDERCOMPUTE_KEY must be at least 16 characters long');
  const namedKeys = parseNamedKeys(env.ENDERCOMPUTE_KEYS ?? '', problems);
  const sandboxMode = (env.ENDERCOMPUTE_SANDBOX?.trim() || 'auto') as SandboxMode;
  if (!['auto', 'bwrap', 'none'].includes(sandboxMode)) problems.push(`ENDERCOMPUTE_SANDBOX must be auto, bwrap or none, not "${sandboxMode}"`);
  const bwrapPath = env.ENDERCOMPUTE_BWRAP?.trim() || null;
  if (bwrapPath !== null && !bwrapPath.startsWith('/')) problems.push(`ENDERCOMPUTE_BWRAP must be an absolute path, not "${bwrapPath}"`);
  const sandboxBinds = parseSandboxBinds(env.ENDERCOMPUTE_SANDBOX_BIND ?? '');
  problems.push(...sandboxBinds.problems);
  const store = readConnectionString(env, problems);
  const runner = runnerIdentity(env.ENDERCOMPUTE_RUNNER_ID, dataDir, problems);
  const localRunner = env.ENDERCOMPUTE_LOCAL_RUNNER?.trim().toLowerCase() ?? '';
  if (!['', '0', '1', 'true', 'false'].includes(localRunner)) problems.push(`ENDERCOMPUTE_LOCAL_RUNNER must be true or false (or 1, 0), not "${env.ENDERCOMPUTE_LOCAL_RUNNER}"`);
  const runnerLabels = (env.ENDERCOMPUTE_RUNNER_LABELS ?? '').split(',').map((label) => label.trim()).filter(Boolean);
  problems.push(...labelProblems(runnerLabels).map((problem) => `ENDERCOMPUTE_RUNNER_LABELS (labels separated by commas): ${problem}`));
  const newLog = env.ENDERCOMPUTE_NEW_LOG?.trim() ?? '';
  if (!['', '0', '1', 'true', 'false'].includes(newLog)) problems.push(`ENDERCOMPUTE_NEW_LOG must be 1 or true (or 0, false), not "${newLog}"`);
  const logLevel = env.ENDERCOMPUTE_LOG_LEVEL?.trim().toLowerCase() || DEFAULT_LOG_LEVEL;
  if (!isLogLevel(logLevel)) problems.push(`ENDERCOMPUTE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${env.ENDERCOMPUTE_LOG_LEVEL}"`);
  // The token itself is never echoed.
  const metricsToken = env.ENDERCOMPUTE_METRICS_TOKEN?.trim() || null;
  if (metricsToken !== null && (metricsToken.length < 16 || /\s/.test(metricsToken))) problems.push('ENDERCOMPUTE_METRICS_TOKEN must be at least 16 characters long, without spaces');
  const keys = [...(fixedKey === null ? [] : [fixedKey]), ...namedKeys.map((named) => named.key), ...(metricsToken === null ? [] : [metricsToken])];
  const runnerTokens = parseRunnerTokens(env.ENDERCOMPUTE_RUNNER_TOKENS ?? '', keys, problems);
  const config: AppConfig = {
    port: integer('PORT', 3000, 0, 65535),
    host: env.HOST?.trim() || '127.0.0.1',
    dataDir,
    fixedKey,
    namedKeys,
    eventStoreConnectionString: store.connectionString,
    secretPaths: store.file === null ? [] : [store.file],
    maxConcurrentRuns: integer('ENDERCOMPUTE_MAX_CONCURRENT_RUNS', 4, 1, 1024),
    minFreeBytes: integer('ENDERCOMPUTE_MIN_FREE_BYTES', 256 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
    runnerId: runner.id,
    runnerIdFile: runner.fileToWrite,
    localRunner: localRunner !== '0' && localRunner !== 'false',
    runnerLabels: labelProblems(runnerLabels).length === 0 ? normalizeLabels(runnerLabels) : [],
    newLog: newLog === '1' || newLog === 'true',
    maxOutputBytes: integer('ENDERCOMPUTE_MAX_OUTPUT_BYTES', 256 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
    maxArtifactBytes: integer('ENDERCOMPUTE_MAX_ARTIFACT_BYTES', 1024 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
    maxFileBytes: integer('ENDERCOMPUTE_MAX_FILE_BYTES', 64 * 1024 * 1024, 1, 1024 * 1024 * 1024),
    cancelGraceSeconds: integer('ENDERCOMPUTE_CANCEL_GRACE_SECONDS', 10, 0, 3600),
    shutdownGraceSeconds: integer('ENDERCOMPUTE_SHUTDOWN_GRACE_SECONDS', 5, 0, 3600),
    keepWorkdirs: integer('ENDERCOMPUTE_KEEP_WORKDIRS', 10, 0, 100_000),
    sandboxMode,
    bwrapPath,
    sandboxBinds: sandboxBinds.binds,
    keepOutputDays,
    jobUmask: started.jobUmask ?? 0o022,
    version: packageVersion(),
    logLevel: isLogLevel(logLevel) ? logLevel : DEFAULT_LOG_LEVEL,
    metricsToken,
    runnerTokens,
    runnerLostSeconds: integer('ENDERCOMPUTE_RUNNER_LOST_SECONDS', 120, 1, 86_400),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** A number of days above 0 (decimals allowed, at most 100 years), or null when unset. */
function positiveDays(raw: string | undefined, problems: string[]): number | null {
  if (raw === undefined || raw.trim() === '') return null;
  const value = /^\s*\d{1,6}(\.\d{1,9})?\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value > 0 && value <= 36_500)) {
    problems.push(`ENDERCOMPUTE_KEEP_OUTPUT_DAYS must be a number of days above 0 (such as 30 or 0.5), or unset to keep output forever, not "${raw}"`);
    return null;
  }
  return value;
}

function parseNamedKeys(raw: string, problems: string[]): Array<{ name: string; key: string }> {
  const keys: Array<{ name: string; key: string }> = [];
  const entries = raw.split(',').map((part) => part.trim()).filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const separator = entry.indexOf('=');
    const name = separator > 0 ? entry.slice(0, separator).normalize('NFC').trim() : '';
    const key = separator > 0 ? entry.slice(separator + 1).trim() : '';
    // The entry itself is never echoed: it holds a key.
    // A key's name is an actor: the same rules as an X-Actor name (no invisible or control characters).
    if (actorProblems(name).length > 0 || key.length < 16) {
      problems.push(
        `ENDERCOMPUTE_KEYS entry ${index + 1} must be name=KEY with a 1–64 character name (no control or invisible characters) and a key of at least 16 characters`,
      );
      continue;
    }
    keys.push({ name, key });
  }
  return keys;
}

