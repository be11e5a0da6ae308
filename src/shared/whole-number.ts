/**
 * Whole numbers in a range: the one check behind every number the API, the
 * pages and the CLI take (counts, limits, seconds, byte offsets), and the one
 * message that says what is wanted.
 *
 * One message per field, whatever is wrong: a fraction, text, a number too large
 * to be exact or a whole number out of range all get `limit must be a whole
 * number from 1 to 500`. Checked rule by rule, "1.5" broke three at once and the
 * answer listed them all (`must be a whole number; must not be less than 1; must
 * not be greater than 500`), which reads as a contradiction.
 *
 * Nothing else is imported here: the CLI checks its options with it before any
 * request, without loading the server.
 */

export interface WholeNumberRange {
  min: number;
  /** The largest taken; at most (and by default) `Number.MAX_SAFE_INTEGER`, past which numbers are not exact. */
  max?: number;
  /** What is counted, when the field's name does not say it: `seconds`, `bytes`. */
  unit?: string;
}

/** `value` when it is a whole number (a JS number) within `range`, else undefined. */
export function wholeNumberIn(value: unknown, range: WholeNumberRange): number | undefined {
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= range.min && value <= max ? value : undefined;
}

/**
 * Text (a query value, a form field, a command-line word) as a number when it
 * is digits only, else the text itself, left for {@link wholeNumberIn} to
 * refuse: never `Number()`'s guesses (`1e3`, `0x10`, ` 5`, '' as 0).
 */
export function numberFromText(text: string): number | string {
  return /^\d+$/.test(text) ? Number(text) : text;
}

/** Typed text (a query value, a form field: anything not a string is refused) as a whole number within `range`, else undefined. */
export function wholeNumberFromText(text: unknown, range: WholeNumberRange): number | undefined {
  return typeof text === 'string' ? wholeNumberIn(numberFromText(text), range) : undefined;
}

/** What `range` takes, for messages: `a whole number of seconds from 0 to 31622400`. */
export function wholeNumberWanted(range: WholeNumberRange): string {
  return `a whole number${range.unit ? ` of ${range.unit}` : ''} from ${range.min} to ${range.max ?? Number.MAX_SAFE_INTEGER}`;
}

// ---- The ranges of the API's number fields, shared by the server's checks and the CLI's ----

/** A job's `timeoutSeconds` (or `null`: no time limit): a week at most. */
export const TIMEOUT_SECONDS = { min: 1, max: 7 * 24 * 3600, unit: 'seconds' } satisfies WholeNumberRange;
/** A job's `maxConcurrent` (or `null`): the server's own limit is at most 1024. */
export const JOB_CONCURRENCY = { min: 1, max: 1024 } satisfies WholeNumberRange;
/** Runs a job server executes at once (`--max-concurrent`): at most 1024, as a server's own limit. */
export const RUNNER_CONCURRENCY = JOB_CONCURRENCY;
/** A job's `keepRuns` (or `null`: every run): more than any job keeps in practice, small enough to stay exact. */
export const KEEP_RUNS = { min: 1, max: 1_000_000 } satisfies WholeNumberRange;
/** A run's `delaySeconds`: a (leap) year at most. */
export const DELAY_SECONDS = { min: 0, max: 366 * 24 * 3600, unit: 'seconds' } satisfies WholeNumberRange;
/** The CLI's `--wait-for-start`: how long it waits for a server that is starting, a day at most. */
export const START_WAIT_SECONDS = { min: 0, max: 24 * 3600, unit: 'seconds' } satisfies WholeNumberRange;
/** `limit` of `GET /api/runs`. */
export const RUNS_PAGE = { min: 1, max: 500 } satisfies WholeNumberRange;
/** `limit` of `GET /api/events`. */
export const EVENTS_PAGE = { min: 1, max: 1000 } satisfies WholeNumberRange;
/** A version of a job or template, counted from 1 (nine digits at most). */
export const VERSION_NUMBER = { min: 1, max: 999_999_999 } satisfies WholeNumberRange;
