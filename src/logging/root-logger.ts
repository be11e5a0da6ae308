import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { LogLevel } from './log-level';

/**
 * Field names that could carry a secret if some future call logged a whole object
 * (a request, its headers, a config): pino replaces their values. Nothing logs them
 * today; this is the net under that rule, not the rule itself.
 */
const REDACTED_PATHS = ['authorization', 'headers', 'key', 'token', '*.authorization', '*.headers', '*.key', '*.token'];

/**
 * The server's one pino logger. Lines go to stdout: JSON, one object a line (level as a
 * word, ISO time), or pino-pretty's human-readable lines when `pretty` (by default: when
 * stdout is a terminal). Writes are synchronous so that the last lines before an exit
 * (a failed start, the shutdown line) are never lost in a buffer.
 *
 * @param level the least severe level written; `silent` writes nothing.
 */
export function createRootLogger(level: LogLevel, options: { pretty?: boolean; destination?: number } = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const destination = options.destination ?? 1;
  const base = { level, base: { pid: process.pid }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (pretty) {
    // In-process (not pino's worker-thread transport): a few lines a second need no thread, and sync keeps order with stderr.
    return pino(base, pinoPretty({ destination, sync: true, colorize: true, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname,context', messageFormat: '{context}: {msg}', singleLine: true }));
  }
  return pino(
    { ...base, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    pino.destination({ dest: destination, sync: true }),
  );
}

/** A logger that writes nothing: the default for applications built in tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
