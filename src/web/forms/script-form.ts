import { validateInto } from '../../http/validation';
import { publicVersion } from '../../http/etag';
import { CreateScriptDto } from '../../scripts/script.dto';
import type { ScriptView } from '../../scripts/scripts.read-model';
import { ValidationError } from '../../shared/domain-errors';
import { emptyForm, fileProblems, type FormState, hasErrors, refuseUnknownFields, text } from './form-state';

const LABELS = {
  name: { field: 'name', label: 'Name', empty: 'Give the template a name' },
  interpreter: { field: 'interpreter', label: 'Interpreter' },
  body: { field: 'body', label: 'Script' },
};

/** Interpreters offered in the form; any program on the server's PATH may be typed instead. */
export const COMMON_INTERPRETERS = ['bash', 'sh', 'python3', 'node', 'perl', 'ruby', 'pwsh', 'zsh'];

export const SAMPLE_BODY = '#!/usr/bin/env bash\nset -euo pipefail\n\necho "Hello from $ENDERCOMPUTE_JOB run #$ENDERCOMPUTE_RUN_NUMBER"\necho "Arguments: $*"\n';

export function scriptFormValues(script?: ScriptView): Record<string, string> {
  if (!script) return { name: '', interpreter: 'bash', body: '', version: '' };
  return { name: script.name, interpreter: script.interpreter, body: script.body, version: String(publicVersion(script.version)) };
}

/** Reads the script template form and checks it with the API's rules. */
export function parseScriptForm(body: Record<string, unknown> | undefined): { form: FormState; input: { name: string; interpreter: string; body: string } | null } {
  const values = scriptFormValues();
  for (const key of Object.keys(values)) values[key] = text(body, key);
  // Browsers send textarea line breaks as CRLF; scripts want LF.
  values.body = values.body.replace(/\r\n/g, '\n');
  const form = emptyForm(values);
  refuseUnknownFields(form, body, Object.keys(values));
  const plain = { name: values.name.trim(), interpreter: values.interpreter.trim() || 'bash', body: values.body };
  try {
    const dto = validateInto(CreateScriptDto, plain);
    if (hasErrors(form)) return { form, input: null };
    return { form, input: { name: dto.name.trim(), interpreter: dto.interpreter ?? 'bash', body: dto.body } };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    fileProblems(form, error.problems, LABELS);
    return { form, input: null };
  }
}
