import { addError, emptyForm, type FormState, hasErrors, refuseUnknownFields, text } from './form-state';
import { readWhen } from './run-form';

/** The re-time form of a waiting run: after a delay (the default) or at a time. */
export function retimeFormValues(): Record<string, string> {
  return { when: 'delay', at: '', atLocal: '', delayAmount: '10', delayUnit: 'minutes' };
}

/** What a re-time asks for: a time, a delay from now, or neither (start as soon as there is room). */
export interface RetimeInput {
  at?: string;
  delaySeconds?: number;
}

/**
 * Reads the re-time form of a queued or scheduled run. `when` = `now` (or no
 * `when` at all: the "Start now" button) starts it as soon as there is room;
 * `at` and `delay` read like the run form's, problems beside the fields.
 */
export function parseRetimeForm(body: Record<string, unknown> | undefined, now: Date): { form: FormState; input: RetimeInput | null } {
  const values = retimeFormValues();
  for (const key of Object.keys(values)) values[key] = text(body, key);
  values.when ||= 'now';
  const form = emptyForm(values);
  // `from` says which page the button was on (see run-control.page.ts).
  refuseUnknownFields(form, body, [...Object.keys(values), 'from']);
  if (hasErrors(form)) return { form, input: null };
  if (values.when === 'now') return { form, input: {} };
  if (values.when !== 'at' && values.when !== 'delay') {
    addError(form, null, 'Choose when it starts: now, at a time, or after a delay');
    return { form, input: null };
  }
  const input = readWhen(values, form, now, { at: 'at', delayAmount: 'delayAmount' });
  return hasErrors(form) ? { form, input: null } : { form, input };
}
