/**
 * Substring search in the projection database. Tables index their search text (NFC,
 * lower case: `nameKey`) with SQLite's FTS5 trigram tokenizer, which can only narrow a
 * search of three characters or more; shorter ones read the plain text column. Either
 * way `instr` on that text decides, so the answers are exactly those of a substring test.
 */

/** Fewest characters (code points) the trigram index can narrow a search by. */
export const MIN_FTS_QUERY = 3;

/** Whether `q` (already a name key) is long enough for the trigram index. */
export function usesTrigramIndex(q: string): boolean {
  return [...q].length >= MIN_FTS_QUERY;
}

/** `q` as an FTS5 phrase: quoted, inner quotes doubled, so it matches as a literal substring. */
export function ftsPhrase(q: string): string {
  return `"${q.replaceAll('"', '""')}"`;
}
