import { validateInto } from '../../http/validation';
import { StartRunDto } from '../../runs/run.dto';
import { ValidationError } from '../../shared/domain-errors';
import { DELAY_SECONDS } from '../../shared/whole-number';
import { addError, emptyForm, fileProblems, type FormState, hasErrors, lines, parseEnvLines, refuseUnknownFields, text } from './form-state';

const LABELS = {
  args: { field: 'args', label: 'Extra arguments' },
  env: { field: 'env', label: 'Extra environment' },
  at: { field: 'at', label: 'Start time' },
  delaySeconds: { field: 'delayAmount', label: 'Delay' },
  file: { field: 'file', label: 'Extra files' },
};

const UNIT_SECONDS: Record<string, number> = { seconds: 1, minutes: 60, hours: 3600, days: 86_400 };

export function runFormValues(): Record<string, string> {
  return { args: '', env: '', when: 'now', at: '', atLocal: '', delayAmount: '10', delayUnit: 'minutes' };
}

/**
 * The "when" part of a form (`when` = `at` with an ISO `at`, or `delay` with
 * `delayAmount` and `delayUnit`): the start time as the run commands take it.
 * Problems go beside the fields named in `fields`; any other `when` gives nothing.
 */
export function readWhen(
  values: Record<string, string>,
  form: FormState,
  now: Date,
  fields: { at: string; delayAmount: string },
): { at?: string; delaySeconds?: number } {
  if (values.when === 'at') {
    const at = values.at.trim();
    const time = at === '' ? Number.NaN : Date.parse(at);
    if (Number.isNaN(time)) addError(form, fields.at, 'Choose the date and time to start at');
    else if (time <= now.getTime()) addError(form, fields.at, 'That time has passed: choose a time in the future, or run it now');
    else return { at: new Date(time).toISOString() };
  } else if (values.when === 'delay') {
    const amount = Number(values.delayAmount.trim());
    const unit = UNIT_SECONDS[values.delayUnit] ?? Number.NaN;
    if (values.delayAmount.trim() === '' || !Number.isFinite(amount) || amount <= 0) addError(form, fields.delayAmount, 'The delay must be a number above 0');
    else if (amount * unit > DELAY_SECONDS.max) addError(form, fields.delayAmount, 'The delay can be at most 366 days');
    else if (Number.isNaN(unit)) addError(form, fields.delayAmount, 'Choose seconds, minutes, hours or days');
    else return { delaySeconds: Math.round(amount * unit) };
  }
  return {};
}

/** What the run form asks for, in the shape of the run command's input (files come separately). */
export interface RunFormInput {
  args: string[];
  env: Record<string, string>;
  at?: string;
  delaySeconds?: number;
}

/**
 * Reads the run form: extra arguments one per line, extra `NAME=value`
 * variables, and when — now, at a time (the browser sends it as an ISO time
 * with its zone; a bare local time is read in the server's zone), or after a delay.
 */
export function parseRunForm(body: Record<string, unknown> | undefined, now: Date): { form: FormState; input: RunFormInput | null } {
  const values = runFormValues();
  for (const key of Object.keys(values)) values[key] = text(body, key) || (key === 'when' ? 'now' : '');
  const form = emptyForm(values);
  refuseUnknownFields(form, body, [...Object.keys(values), 'file']);
  const plain: Record<string, unknown> = { args: lines(values.args), env: parseEnvLines(values.env, form, 'env') };
  Object.assign(plain, readWhen(values, form, now, { at: 'at', delayAmount: 'delayAmount' }));
  if (values.when !== 'now' && values.when !== 'at' && values.when !== 'delay') {
    addError(form, null, 'Choose when to run it: now, at a time, or after a delay');
  }
  try {
    const dto = validateInto(StartRunDto, plain);
    if (hasErrors(form)) return { form, input: null };
    return { form, input: { args: dto.args ?? [], env: dto.env ?? {}, at: dto.at, delaySeconds: dto.delaySeconds } };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    fileProblems(form, error.problems, LABELS);
    return { form, input: null };
  }
}

export function fileRunProblems(form: FormState, problems: string[]): void {
  fileProblems(form, problems, LABELS);
}
