import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { actorProblems } from '../shared/names';
import { packageVersion } from '../shared/version';

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
  abstract readonly eventStoreConnectionString: string | null;
  abstract readonly maxConcurrentRuns: number;
  /** Identifies this server's local runner in run events; stable across restarts. */
  abstract readonly runnerId: string;
  /** Output beyond this many bytes per run is dropped, with a visible notice. */
  abstract readonly maxOutputBytes: number;
  /** The largest input file accepted. */
  abstract readonly maxFileBytes: number;
  /** Seconds a cancelled or timed-out run's processes get between SIGTERM and SIGKILL. */
  abstract readonly cancelGraceSeconds: number;
  /** Seconds running runs get to finish when the server is stopped (SIGTERM) before they are cancelled. */
  abstract readonly shutdownGraceSeconds: number;
  abstract readonly version: string;
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

/** Reads and validates the configuration; every problem is reported at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
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

  const dataDir = resolve(env.ENDERCOMPUTE_DATA_DIR?.trim() || './data');
  const fixedKey = env.ENDERCOMPUTE_KEY?.trim() || null;
  if (fixedKey !== null && fixedKey.length < 16) problems.push('ENDERCOMPUTE_KEY must be at least 16 characters long');
  const namedKeys = parseNamedKeys(env.ENDERCOMPUTE_KEYS ?? '', problems);
  const config: AppConfig = {
    port: integer('PORT', 3000, 0, 65535),
    host: env.HOST?.trim() || '127.0.0.1',
    dataDir,
    fixedKey,
    namedKeys,
    eventStoreConnectionString: env.EVENTSTORE_CONNECTION_STRING?.trim() || null,
    maxConcurrentRuns: integer('ENDERCOMPUTE_MAX_CONCURRENT_RUNS', 4, 1, 1024),
    runnerId: env.ENDERCOMPUTE_RUNNER_ID?.trim() || defaultRunnerId(dataDir),
    maxOutputBytes: integer('ENDERCOMPUTE_MAX_OUTPUT_BYTES', 256 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
    maxFileBytes: integer('ENDERCOMPUTE_MAX_FILE_BYTES', 64 * 1024 * 1024, 1, 1024 * 1024 * 1024),
    cancelGraceSeconds: integer('ENDERCOMPUTE_CANCEL_GRACE_SECONDS', 10, 0, 3600),
    shutdownGraceSeconds: integer('ENDERCOMPUTE_SHUTDOWN_GRACE_SECONDS', 5, 0, 3600),
    version: packageVersion(),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
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

/** The host name plus a short hash of the data directory: two servers on one host stay distinct. */
function defaultRunnerId(dataDir: string): string {
  return `${hostname()}#${createHash('sha256').update(dataDir).digest('hex').slice(0, 6)}`;
}

