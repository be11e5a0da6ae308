import { publicVersion } from '../../http/etag';
import type { JobDefinition, JobSchedule } from '../../jobs/job.events';
import { CreateJobDto, jobDefinitionFrom } from '../../jobs/job.dto';
import type { JobRecord } from '../../jobs/jobs.read-model';
import { validateInto } from '../../http/validation';
import { MAX_SCHEDULES_PER_JOB, scheduleProblems } from '../../schedules/cron';
import { ValidationError } from '../../shared/domain-errors';
import { JOB_CONCURRENCY, KEEP_RUNS, TIMEOUT_SECONDS, wholeNumberFromText, wholeNumberWanted, type WholeNumberRange } from '../../shared/whole-number';
import { addError, emptyForm, envToLines, fileProblems, type FormState, hasErrors, lines, parseEnvLines, refuseUnknownFields, text } from './form-state';

/** Row numbers the schedules editor may use (rows are added one at a time; removed ones leave gaps). */
export const MAX_SCHEDULE_ROW = 99;

const LABELS = {
  name: { field: 'name', label: 'Name', empty: 'Give the job a name' },
  description: { field: 'description', label: 'Description' },
  scriptId: { field: 'scriptId', label: 'Script template' },
  args: { field: 'args', label: 'Arguments' },
  env: { field: 'env', label: 'Environment' },
  tags: { field: 'tags', label: 'Tags' },
  timeoutSeconds: { field: 'timeoutSeconds', label: 'Timeout' },
  maxConcurrent: { field: 'maxConcurrent', label: 'Runs at once' },
  keepWorkdir: { field: 'keepWorkdir', label: 'Keep work directories' },
  keepRuns: { field: 'keepRuns', label: 'Keep output of' },
  artifacts: { field: 'artifacts', label: 'Artifacts' },
  runsOn: { field: 'runsOn', label: 'Runs on' },
  file: { field: 'file', label: 'Input files' },
};

/** The job form's fields as text, from a job (edit) or defaults (new). */
export function jobFormValues(job?: JobRecord): Record<string, string> {
  if (!job) return { name: '', description: '', scriptId: '', args: '', env: '', tags: '', timeoutSeconds: '', maxConcurrent: '', keepWorkdir: '', keepRuns: '', artifacts: '', runsOn: '', scheduleRows: '', version: '' };
  const values: Record<string, string> = {
    name: job.name,
    description: job.description,
    scriptId: job.scriptId,
    args: job.args.join('\n'),
    env: envToLines(job.env),
    tags: job.tags.join(', '),
    timeoutSeconds: job.timeoutSeconds === null ? '' : String(job.timeoutSeconds),
    maxConcurrent: job.maxConcurrent === null ? '' : String(job.maxConcurrent),
    keepWorkdir: job.keepWorkdir ? 'on' : '',
    keepRuns: job.keepRuns === null ? '' : String(job.keepRuns),
    artifacts: job.artifacts.join('\n'),
    runsOn: job.runsOn.join(', '),
    scheduleRows: job.schedules.map((_schedule, index) => index).join(','),
    version: String(publicVersion(job.version)),
  };
  job.schedules.forEach((schedule, index) => {
    values[`cron-${index}`] = schedule.cron;
    values[`timeZone-${index}`] = schedule.timeZone;
  });
  return values;
}

/** The schedules editor's row numbers, in the order shown. */
export function scheduleRowsOf(values: Record<string, string>): number[] {
  return (values.scheduleRows ?? '')
    .split(',')
    .filter((part) => /^\d{1,2}$/.test(part))
    .map(Number);
}

/**
 * The schedules editor's rows from a form body (`cron-N`, `timeZone-N`), in row
 * order, into `values`; a row whose cron is blank is no schedule. Answers the
 * schedules and, for each, the row it came from.
 */
function readSchedules(body: Record<string, unknown> | undefined, values: Record<string, string>): { schedules: JobSchedule[]; rows: number[] } {
  const rows = Object.keys(body ?? {})
    .map((key) => /^cron-(\d{1,2})$/.exec(key))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => Number(match[1]))
    .filter((row) => row <= MAX_SCHEDULE_ROW)
    .sort((a, b) => a - b);
  values.scheduleRows = rows.join(',');
  const schedules: JobSchedule[] = [];
  const scheduleRows: number[] = [];
  for (const row of rows) {
    const cron = text(body, `cron-${row}`);
    const timeZone = text(body, `timeZone-${row}`);
    values[`cron-${row}`] = cron;
    values[`timeZone-${row}`] = timeZone;
    if (cron.trim() === '') continue;
    schedules.push({ cron: cron.trim(), timeZone: timeZone.trim() || 'UTC' });
    scheduleRows.push(row);
  }
  return { schedules, rows: scheduleRows };
}

/**
 * Files the schedules' problems (as {@link scheduleProblems} and the job decider
 * word them: `schedules[1].cron …`) beside the row's cron or time zone field;
 * `rows` maps a schedule's place in the list to its row in the editor.
 */
export function fileScheduleProblems(form: FormState, problems: string[], rows: number[]): string[] {
  const rest: string[] = [];
  for (const problem of problems) {
    const match = /^schedules\[(\d+)\](?:\.(cron|timeZone))? (.*)$/s.exec(problem);
    const row = match ? rows[Number(match[1])] : undefined;
    if (!match || row === undefined) {
      if (/^schedules /.test(problem)) addError(form, 'schedules', `At most ${MAX_SCHEDULES_PER_JOB} schedules: remove the ones you do not need`);
      else rest.push(problem);
      continue;
    }
    const [, , field, message] = match;
    if (field === 'timeZone') addError(form, `timeZone-${row}`, message.startsWith('must ') ? `The time zone ${message}` : capitalise(message));
    else if (field === 'cron') addError(form, `cron-${row}`, `The schedule ${message}`);
    else addError(form, `cron-${row}`, message === 'repeats an earlier schedule' ? 'The same schedule is given twice' : capitalise(message));
  }
  return rest;
}

function capitalise(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}

/**
 * Reads the job form (arguments one per line, `NAME=value` lines, tags and runner
 * labels split by commas or spaces, a blank timeout for none) and checks it with the API's own
 * rules, so the page refuses exactly what the API refuses, beside each field.
 */
export function parseJobForm(body: Record<string, unknown> | undefined): { form: FormState; definition: JobDefinition | null; scheduleRows: number[] } {
  const values = jobFormValues();
  for (const key of Object.keys(values)) values[key] = text(body, key);
  const form = emptyForm(values);
  refuseUnknownFields(form, body, [...Object.keys(values), 'file'], [/^cron-\d{1,2}$/, /^timeZone-\d{1,2}$/]);
  const env = parseEnvLines(values.env, form, 'env');
  const timeout = numberField(form, values, 'timeoutSeconds', TIMEOUT_SECONDS, 'or blank for no limit');
  const limit = numberField(form, values, 'maxConcurrent', JOB_CONCURRENCY, 'or blank for no limit of its own');
  const keep = numberField(form, values, 'keepRuns', { ...KEEP_RUNS, unit: 'runs' }, "or blank to keep every run's output");
  const { schedules, rows } = readSchedules(body, values);
  for (const problem of fileScheduleProblems(form, scheduleProblems(schedules), rows)) addError(form, 'schedules', problem);
  const plain = {
    name: values.name.trim(),
    description: values.description,
    scriptId: values.scriptId,
    args: lines(values.args),
    env,
    tags: values.tags.split(/[\s,]+/).filter(Boolean),
    ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
    ...(limit !== undefined ? { maxConcurrent: limit } : {}),
    // A checkbox: sent when ticked, absent when not (so saving the form turns it off).
    keepWorkdir: values.keepWorkdir !== '',
    ...(keep !== undefined ? { keepRuns: keep } : {}),
    // One pattern per line; blank lines are none.
    artifacts: lines(values.artifacts).map((line) => line.trim()),
    // Labels split by commas or spaces, as tags are; blank: any runner.
    runsOn: values.runsOn.split(/[\s,]+/).filter(Boolean),
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
  if (!dto || hasErrors(form)) return { form, definition: null, scheduleRows: rows };
  return {
    scheduleRows: rows,
    form,
    definition: jobDefinitionFrom(dto, schedules),
  };
}

/**
 * A number field of the job form: blank is left out (no limit, every run's
 * output), a whole number within `range` is taken, anything else gets one
 * message beside the field saying what it takes (with what blank means), as
 * the API's own is one message too.
 */
function numberField(form: FormState, values: Record<string, string>, field: keyof typeof LABELS, range: WholeNumberRange, blank: string): number | undefined {
  const typed = values[field].trim();
  if (typed === '') return undefined;
  const value = wholeNumberFromText(typed, range);
  if (value === undefined) addError(form, field, `${LABELS[field].label} must be ${wholeNumberWanted(range)}, ${blank}`);
  return value;
}

/**
 * Problems from a command (decider, file names) filed beside the job form's
 * fields; `scheduleRows` maps the schedules to their rows in the editor.
 */
export function fileJobProblems(form: FormState, problems: string[], scheduleRows: number[] = []): void {
  const rest = fileScheduleProblems(form, problems, scheduleRows).map((problem) =>
    // The decider words the limit's problem without a `field:` prefix.
    problem.startsWith('maxConcurrent ') || problem.startsWith('keepRuns ') ? `${problem.split(' ', 1)[0]}: ${problem}` : problem,
  );
  fileProblems(form, rest, LABELS);
}
