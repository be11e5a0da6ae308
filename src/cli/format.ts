/** Plain-text tables and times for the CLI's human output. */

/** Columns padded to their widest cell; control characters from the server are shown as `?`. */
export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => clean(cell === null || cell === undefined ? '' : String(cell))))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells.map((row) => row.map((cell, column) => (cell ?? '').padEnd(widths[column])).join('  ').trimEnd()).join('\n');
}

/** Keeps a name or a message from moving the cursor or changing colours in the terminal. */
export function clean(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

/**
 * {@link clean} for text of several lines (what a command prints for people, the server's
 * messages): line breaks and tabs stay, every other control character (ESC, CR, BEL, the
 * C1 set…) becomes `?`. Text from the server can hold what a job chose (the names of
 * the files it made, a template's body), and a terminal obeys the escapes it prints.
 */
export function cleanText(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '?');
}

/**
 * JSON text with the characters U+007F–U+009F written as `\u` escapes: JSON.stringify
 * escapes the C0 controls only, and a terminal takes U+009B for ESC [. Lossless: a
 * parser reads the same strings back.
 */
export function terminalSafeJson(json: string): string {
  return json.replace(/[\x7f-\x9f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${seconds % 60} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** `text` as one word a POSIX shell reads back as it is: bare when that is safe, else in single quotes (a hint to copy, such as the next page's options). */
export function shellWord(text: string): string {
  // Not bare with a leading `=`: zsh expands `=ls` to the path of ls.
  return /^[\w@%+:,./-][\w@%+=:,./-]*$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
