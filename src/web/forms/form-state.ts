/**
 * A form as the page shows it again after a refusal: the values the person
 * typed, each field's problems beside it, and problems that belong to no field.
 */
export interface FormState {
  values: Record<string, string>;
  errors: Record<string, string[]>;
  general: string[];
}

export function emptyForm(values: Record<string, string> = {}): FormState {
  return { values, errors: {}, general: [] };
}

export function hasErrors(form: FormState): boolean {
  return form.general.length > 0 || Object.keys(form.errors).length > 0;
}

export function addError(form: FormState, field: string | null, message: string): void {
  if (field === null) {
    form.general.push(message);
    return;
  }
  (form.errors[field] ??= []).push(message);
}

/** How a form names a problem's field: the form field, the word a person reads, and what to say when it is left empty. */
export interface FieldLabel {
  field: string;
  label: string;
  /** Said once, instead of every rule an empty value breaks (`Give the job a name`). */
  empty?: string;
}

/** The validators' ways of saying a value is empty ("must be longer than or equal to 1 characters", "must not be blank", …). */
const EMPTY_VALUE = /^(?:must be longer than or equal to 1 characters?|must not be blank|should not be empty|must be a non-empty string)$/;

/**
 * Files problems (`field: message`, as the validators and deciders word them)
 * beside the form's fields. `labels` maps a problem's field to the form field
 * and the word a person reads; a message that starts with the field's code
 * name starts with its label instead ("timeoutSeconds must be…" → "Timeout must be…").
 * The validators' machine wording is put in a person's words, an empty value
 * gets one message however many rules it breaks, and no message is said twice.
 */
export function fileProblems(form: FormState, problems: string[], labels: Record<string, FieldLabel>): void {
  for (const problem of problems) {
    const match = /^([A-Za-z][\w.-]*?)(?:\.\d+)?: (.*)$/s.exec(problem);
    const target = match ? labels[match[1]] : undefined;
    if (!match || !target) {
      addError(form, null, problem);
      continue;
    }
    let message = match[2];
    const rest = message.startsWith(`${match[1]} `) ? message.slice(match[1].length + 1) : null;
    if (rest !== null && EMPTY_VALUE.test(rest)) message = target.empty ?? `${target.label} cannot be empty`;
    else if (rest !== null) message = `${target.label} ${humanRule(rest)}`;
    else if (message.startsWith('each value in ')) message = message.replace(/^each value in \S+ /, `Each line of ${target.label.toLowerCase()} `);
    message = capitalise(message);
    if (form.errors[target.field]?.includes(message)) continue;
    addError(form, target.field, message);
  }
}

/** class-validator's length rules in a person's words: "must be shorter than or equal to 100 characters" → "can be at most 100 characters". */
function humanRule(rule: string): string {
  return rule
    .replace(/^must be shorter than or equal to (\d+) characters?$/, 'can be at most $1 characters')
    .replace(/^must be longer than or equal to (\d+) characters?$/, 'must be at least $1 characters');
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** One text field of a parsed form body: the first value when repeated, '' when absent. */
export function text(body: Record<string, unknown> | undefined, name: string): string {
  const value = body?.[name];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : '';
  return typeof value === 'string' ? value : '';
}

/** Lines of a textarea: CR dropped, blank lines left out. */
export function lines(value: string): string[] {
  return value
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.trim() !== '');
}

/** `NAME=value` lines into an environment map; malformed lines become problems. */
export function parseEnvLines(value: string, form: FormState, field: string): Record<string, string> {
  const env: Record<string, string> = {};
  lines(value).forEach((line) => {
    if (line.trimStart().startsWith('#')) return;
    const separator = line.indexOf('=');
    if (separator <= 0) {
      addError(form, field, `“${line.trim().slice(0, 40)}” is not NAME=value`);
      return;
    }
    env[line.slice(0, separator).trim()] = line.slice(separator + 1);
  });
  return env;
}

/** Environment map back into lines for the textarea. */
export function envToLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => `${name}=${value}`)
    .join('\n');
}

/**
 * Refuses, beside the form, fields the form does not have: a page ignores no
 * typo or stray field, as the API does not (`known` lists the form's fields,
 * `patterns` its numbered ones such as `cron-3`).
 */
export function refuseUnknownFields(form: FormState, body: Record<string, unknown> | undefined, known: readonly string[], patterns: readonly RegExp[] = []): void {
  const unknown = Object.keys(body ?? {}).filter((key) => !known.includes(key) && !patterns.some((pattern) => pattern.test(key)));
  if (unknown.length === 0) return;
  const named = unknown.slice(0, 10).map((key) => `“${key.slice(0, 40)}”`).join(', ');
  addError(form, null, `This form has no field ${named}${unknown.length > 10 ? ` and ${unknown.length - 10} more` : ''}: reload the page and try again`);
}
