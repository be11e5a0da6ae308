import type { JobDefinition } from '../../jobs/job.events';
import { CreateJobDto } from '../../jobs/job.dto';
import type { JobRecord } from '../../jobs/jobs.read-model';
import { validateInto } from '../../http/validation';
import { ValidationError } from '../../shared/domain-errors';
import { addError, emptyForm, envToLines, fileProblems, type FormState, hasErrors, lines, parseEnvLines, text, wholeNumber } from './form-state';

const LABELS = {
  name: { field: 'name', label: 'Name' },
  description: { field: 'description', label: 'Description' },
  scriptId: { field: 'scriptId', label: 'Script template' },
  args: { field: 'args', label: 'Arguments' },
  env: { field: 'env', label: 'Environment' },
  tags: { field: 'tags', label: 'Tags' },
  timeoutSeconds: { field: 'timeoutSeconds', label: 'Timeout' },
  file: { field: 'file', label: 'Input files' },
};

/** The job form's fields as text, from a job (edit) or defaults (new). */
export function jobFormValues(job?: JobRecord): Record<string, string> {
  if (!job) return { name: '', description: '', scriptId: '', args: '', env: '', tags: '', timeoutSeconds: '', version: '' };
  return {
    name: job.name,
    description: job.description,
    scriptId: job.scriptId,
    args: job.args.join('\n'),
    env: envToLines(job.env),
    tags: job.tags.join(', '),
    timeoutSeconds: job.timeoutSeconds === null ? '' : String(job.timeoutSeconds),
    version: String(job.version),
  };
}

/**
 * Reads the job form (arguments one per line, `NAME=value` lines, tags split by
 * commas or spaces, a blank timeout for none) and checks it with the API's own
 * rules, so the page refuses exactly what the API refuses, beside each field.
 */
export function parseJobForm(body: Record<string, unknown> | undefined): { form: FormState; definition: JobDefinition | null } {
  const values = jobFormValues();
  for (const key of Object.keys(values)) values[key] = text(body, key);
  const form = emptyForm(values);
  const env = parseEnvLines(values.env, form, 'env');
  const timeout = wholeNumber(values.timeoutSeconds);
  if (Number.isNaN(timeout)) addError(form, 'timeoutSeconds', 'Timeout must be a whole number of seconds, or blank for no limit');
  const plain = {
    name: values.name.trim(),
    description: values.description,
    scriptId: values.scriptId,
    args: lines(values.args),
    env,
    tags: values.tags.split(/[\s,]+/).filter(Boolean),
    ...(timeout !== null && !Number.isNaN(timeout) ? { timeoutSeconds: timeout } : {}),
  };
  if (plain.scriptId === '') addError(form, 'scriptId', 'Choose the script template this job runs');
  let dto: CreateJobDto | null = null;
  try {
    dto = validateInto(CreateJobDto, plain);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    fileProblems(
      form,
      // The form's own message about a missing template says it better.
      error.problems.filter((p) => !(plain.scriptId === '' && p.startsWith('scriptId:'))),
      LABELS,
    );
  }
  if (!dto || hasErrors(form)) return { form, definition: null };
  return {
    form,
    definition: {
      name: dto.name.trim(),
      description: dto.description ?? '',
      scriptId: dto.scriptId,
      args: dto.args ?? [],
      env: dto.env ?? {},
      tags: dto.tags ?? [],
      timeoutSeconds: dto.timeoutSeconds ?? null,
    },
  };
}

/** Problems from a command (decider, file names) filed beside the job form's fields. */
export function fileJobProblems(form: FormState, problems: string[]): void {
  fileProblems(form, problems, LABELS);
}
