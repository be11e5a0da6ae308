import { STATUS_CODES } from 'node:http';

/** The JSON error shape of API.md: `{statusCode, error, message}`, plus `problems` for every 400. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  problems?: string[];
}

/** Problems an answer lists at most; the last line then says how many more there were. */
export const MAX_PROBLEMS = 20;
/** Characters one problem line keeps at most. */
export const MAX_PROBLEM_LENGTH = 300;
/** Characters the message keeps at most: a longer one is cut and ends in `…`. */
export const MAX_MESSAGE_LENGTH = MAX_PROBLEM_LENGTH * 2;

/**
 * An error body, kept small whatever the request was: at most
 * {@link MAX_PROBLEMS} problems of at most {@link MAX_PROBLEM_LENGTH}
 * characters each, then "… and N more problems". Even with every character
 * escaped (`\u0000` is 6 bytes) the JSON stays well under 64 KiB.
 */
export function errorBody(statusCode: number, message: string, problems?: string[]): ErrorBody {
  // API.md: every 400 lists its problems, also when one message says it all (a body that is not JSON).
  const listed = problems ?? (statusCode === 400 ? [message] : undefined);
  const shown = listed ? capProblems(listed) : undefined;
  const text = shown && listed && listed.length > 1 ? shown.join('; ') : message;
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: cut(text, MAX_MESSAGE_LENGTH), ...(shown ? { problems: shown } : {}) };
}

function capProblems(problems: string[]): string[] {
  const shown = problems.slice(0, MAX_PROBLEMS).map((problem) => cut(problem, MAX_PROBLEM_LENGTH));
  if (problems.length > MAX_PROBLEMS) shown.push(`… and ${problems.length - MAX_PROBLEMS} more problems`);
  return shown;
}

function cut(text: string, length: number): string {
  if (text.length <= length) return text;
  // Never split a surrogate pair: the answer must stay valid UTF-8.
  let end = length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}
