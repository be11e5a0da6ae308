import { looksLikeId } from './ids';

/**
 * What a name may hold, and when two names are the same name: the one place for the
 * content rules of every identifier-like string a person chooses (template and job
 * names, actors, tags) — DTOs, the auth guard and the configuration all call these.
 *
 * - New names are stored in NFC, so `Café` typed as one code point or as `e` plus a
 *   combining accent is one name, and compared as {@link nameKey}: NFC, lower case.
 * - Refused: control characters (Unicode Cc: NUL, line breaks, ESC…), invisible format
 *   characters (Cf: zero-width space and joiners, soft hyphen, the bidirectional
 *   overrides that let `txt.exe` pass for `exe.txt`), line and paragraph separators
 *   (Zl, Zp), and unpaired surrogates (half a character: no UTF-8 encoding exists for
 *   it, so it cannot be stored or sent faithfully).
 * - Names already in a log are read as they are: nothing here runs on replay.
 */

/** Characters a name may not contain (see above). */
const INVISIBLE_OR_CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
/** With the `u` flag only a surrogate without its other half matches Cs. */
const UNPAIRED_SURROGATE = /\p{Cs}/u;

/**
 * Free text (descriptions, arguments, environment values, script bodies) may hold any
 * character but half of one: an unpaired surrogate has no UTF-8 form, so it would reach
 * a process, a file or a client as something else than what was sent.
 */
export const WHOLE_CHARACTERS = /^\P{Cs}*$/u;

/** A chosen name as it is stored: trimmed, in NFC. Leaves non-strings alone (type checks report them). */
export function normalizeName<T>(value: T): T {
  return (typeof value === 'string' ? value.normalize('NFC').trim() : value) as T;
}

/** The form in which two names are compared: NFC, lower case (NFC again: lower-casing can decompose). */
export function nameKey(name: string): string {
  return name.normalize('NFC').toLowerCase().normalize('NFC');
}

/**
 * Problems with the characters of a name, each a phrase to follow the field's name
 * (`name must not contain …`), or an empty list. Length and blankness are the caller's
 * rules (they differ per field).
 */
export function nameContentProblems(value: string): string[] {
  if (UNPAIRED_SURROGATE.test(value)) return ['must not contain unpaired surrogates (half of a character)'];
  const bad = INVISIBLE_OR_CONTROL.exec(value);
  if (bad) {
    const code = bad[0].codePointAt(0) ?? 0;
    const label = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    return /\p{Cc}/u.test(bad[0])
      ? [`must not contain control characters (found ${label})`]
      : [`must not contain invisible formatting characters such as zero-width spaces or direction overrides (found ${label})`];
  }
  return [];
}

/**
 * Problems with the name of something addressed by id or name (a template, a job):
 * its characters, and its shape — a name that looks like an id (12 letters and digits
 * of the id alphabet) could be taken for another one's id, and `.` or `..` cannot be
 * part of an address, so both are refused.
 */
export function addressableNameProblems(value: string): string[] {
  const problems = nameContentProblems(value);
  if (looksLikeId(value)) problems.push('must not look like an id (12 letters and digits): ids and names are accepted in the same places');
  // URLs take a `.` or `..` segment for this folder or the parent (RFC 3986 §5.2.4, even as %2E): /api/jobs/.. is /api/.
  if (value === '.' || value === '..') problems.push(`must not be "${value}": in an address it means the folder or its parent, so nothing could reach it by name`);
  return problems;
}

/** The most characters (code points) an actor's name may have. */
export const MAX_ACTOR_LENGTH = 64;

/**
 * Problems with an actor's name — the `X-Actor` header (decoded, trimmed), a named key's
 * name, the pages' "your name" — as phrases that follow the field's name: 1–64
 * characters, none of the characters refused in names.
 */
export function actorProblems(actor: string): string[] {
  const problems = nameContentProblems(actor);
  if (actor.length === 0 || [...actor].length > MAX_ACTOR_LENGTH) problems.push(`must be 1 to ${MAX_ACTOR_LENGTH} characters`);
  if (RESERVED_ACTORS.has(actor.normalize('NFC').toLowerCase())) problems.push(`"${actor}" is the name EnderCompute records its own actions under: choose another`);
  return problems;
}

/**
 * The actors EnderCompute itself acts as (recovery, the runner, the schedules): a
 * person may not take them, or the audit could not tell who did what.
 */
export const RESERVED_ACTORS: ReadonlySet<string> = new Set(['system', 'runner', 'schedule']);
