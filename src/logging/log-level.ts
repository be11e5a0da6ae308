/** The levels `ENDERCOMPUTE_LOG_LEVEL` accepts, most severe first; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level a server logs at when `ENDERCOMPUTE_LOG_LEVEL` is unset. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

/** Whether `text` names a level in {@link LOG_LEVELS}. */
export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}
