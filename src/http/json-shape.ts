import { ValidationError } from '../shared/domain-errors';

/**
 * How deep a JSON value may nest. The deepest body the API takes is a job's
 * `schedules` (body → list → schedule → field: 3 levels); 32 leaves room and
 * keeps every recursive reader (class-transformer, class-validator, our own)
 * far from the stack limit, which a 100,000-level body would otherwise reach.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * How many fields one JSON object, or items one array, may have. The widest
 * thing the API takes is a job's 256 arguments or 200 variables; anything far
 * wider is refused before validation, so no validator ever walks 150,000 keys.
 */
export const MAX_JSON_WIDTH = 1000;

/**
 * The nesting problem of JSON text, or null: a linear scan of the raw bytes
 * (brackets outside strings), done before `JSON.parse` so a deep body costs
 * one pass and never a deep recursion anywhere.
 */
export function jsonDepthProblem(text: Buffer | string, field = 'body'): string | null {
  // Text or UTF-8 bytes: the characters that matter are ASCII either way.
  const at = typeof text === 'string' ? (i: number) => text.charCodeAt(i) : (i: number) => text[i];
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const byte = at(i);
    if (inString) {
      if (byte === 0x5c) i++; // backslash: skip the escaped character
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return `${field}: JSON is nested more than ${MAX_JSON_DEPTH} levels deep`;
    } else if (byte === 0x5d || byte === 0x7d) {
      depth--;
    }
  }
  return null;
}

/**
 * The width problems of a parsed JSON value (objects with more than
 * {@link MAX_JSON_WIDTH} fields, arrays with more items), walked without
 * recursion. `path` names the value in the messages (`env`, `body`).
 */
export function jsonWidthProblems(value: unknown, path: string): string[] {
  const problems: string[] = [];
  const pending: Array<{ value: unknown; path: string }> = [{ value, path }];
  while (pending.length > 0 && problems.length < 10) {
    const next = pending.pop()!;
    if (typeof next.value !== 'object' || next.value === null) continue;
    const isArray = Array.isArray(next.value);
    const keys = Object.keys(next.value);
    if (keys.length > MAX_JSON_WIDTH) {
      problems.push(`${next.path}: has ${keys.length} ${isArray ? 'items' : 'fields'}; at most ${MAX_JSON_WIDTH} are allowed`);
      continue;
    }
    for (const key of keys) {
      pending.push({ value: (next.value as Record<string, unknown>)[key], path: isArray ? `${next.path}[${key}]` : `${next.path}.${key.slice(0, 40)}` });
    }
  }
  return problems;
}

/**
 * JSON text from a form field (multipart `args`, `env`) parsed with the same
 * limits as a JSON body: too deep, too wide or malformed is a 400 naming the field.
 */
export function parseJsonField(text: string, field: string): unknown {
  const deep = jsonDepthProblem(text, field);
  if (deep) throw new ValidationError([deep]);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError([`${field}: is not valid JSON`]);
  }
  const wide = jsonWidthProblems(value, field);
  if (wide.length > 0) throw new ValidationError(wide);
  return value;
}
