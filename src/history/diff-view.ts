import { diffArrays, diffLines } from 'diff';
import type { FieldChange } from './versions';

/** One line of a field's diff: added, removed, unchanged, or a note standing for unchanged lines left out. */
export interface DiffRow {
  op: 'add' | 'del' | 'same' | 'skip';
  text: string;
}

/** A field's change as a page shows it: its label and its lines before and after, as a diff. */
export interface ChangeView {
  field: string;
  label: string;
  rows: DiffRow[];
}

/** Labels for the fields people know by another name; any other field shows under its own name. */
const LABELS: Record<string, string> = {
  status: 'Status',
  name: 'Name',
  description: 'Description',
  scriptId: 'Template',
  args: 'Arguments',
  env: 'Environment',
  tags: 'Tags',
  files: 'Input files',
  timeoutSeconds: 'Timeout (seconds)',
  maxConcurrent: 'Runs at once',
  schedules: 'Schedules',
  keepWorkdir: 'Keep work directories',
  keepRuns: 'Output kept for runs',
  interpreter: 'Interpreter',
  body: 'Script',
};

/** Unchanged lines kept around a change; longer unchanged stretches are folded into one note. */
const CONTEXT = 3;
/** A diff that takes longer is shown as all removed, all added (jsdiff's `timeout`, in ms). */
const DIFF_TIMEOUT_MS = 500;

export function fieldLabel(field: string): string {
  return LABELS[field] ?? field;
}

/**
 * Every change as a line diff (jsdiff): text fields line by line (a script body as a
 * line diff), lists item by item, maps key by key (`KEY=value`), other values as one line.
 */
export function changeViews(changes: readonly FieldChange[]): ChangeView[] {
  return changes.map((change) => ({ field: change.field, label: fieldLabel(change.field), rows: fold(diffRows(change.before, change.after)) }));
}

/** A value as the lines a diff compares and a page shows (see {@link changeViews}). */
export function displayLines(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value === '' ? [] : value.replace(/\n$/, '').split('\n');
  if (Array.isArray(value)) return value.map(itemText);
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, item]) => `${key}=${typeof item === 'string' ? item : JSON.stringify(item)}`);
  }
  return [String(value)];
}

/** An item of a list: text as itself, a file as name, size and hash, a schedule as cron and zone, anything else as JSON. */
function itemText(item: unknown): string {
  if (typeof item === 'string') return item;
  if (item !== null && typeof item === 'object') {
    const record = item as Record<string, unknown>;
    if (typeof record.name === 'string' && typeof record.sha256 === 'string') return `${record.name} (${String(record.size)} bytes, sha256 ${record.sha256.slice(0, 12)}…)`;
    if (typeof record.cron === 'string' && typeof record.timeZone === 'string' && Object.keys(record).length === 2) return `${record.cron} (${record.timeZone})`;
  }
  return JSON.stringify(item);
}

function diffRows(before: unknown, after: unknown): DiffRow[] {
  if (typeof before === 'string' && typeof after === 'string' && (before.includes('\n') || after.includes('\n'))) {
    const parts = diffLines(before, after, { timeout: DIFF_TIMEOUT_MS });
    if (!parts) return [...displayLines(before).map(del), ...displayLines(after).map(add)];
    return parts.flatMap((part) => displayLines(part.value).map((text) => ({ op: part.added ? 'add' : part.removed ? 'del' : 'same', text }) as DiffRow));
  }
  const parts = diffArrays(displayLines(before), displayLines(after), { timeout: DIFF_TIMEOUT_MS });
  if (!parts) return [...displayLines(before).map(del), ...displayLines(after).map(add)];
  return parts.flatMap((part) => part.value.map((text) => ({ op: part.added ? 'add' : part.removed ? 'del' : 'same', text }) as DiffRow));
}

const add = (text: string): DiffRow => ({ op: 'add', text });
const del = (text: string): DiffRow => ({ op: 'del', text });

/** Folds unchanged stretches longer than twice {@link CONTEXT} into one `skip` row. */
function fold(rows: DiffRow[]): DiffRow[] {
  const out: DiffRow[] = [];
  let index = 0;
  while (index < rows.length) {
    if (rows[index].op !== 'same') {
      out.push(rows[index++]);
      continue;
    }
    let end = index;
    while (end < rows.length && rows[end].op === 'same') end++;
    const keepHead = index === 0 ? 0 : CONTEXT;
    const keepTail = end === rows.length ? 0 : CONTEXT;
    if (end - index > keepHead + keepTail + 1) {
      out.push(...rows.slice(index, index + keepHead));
      out.push({ op: 'skip', text: `${end - index - keepHead - keepTail} unchanged lines` });
      out.push(...rows.slice(end - keepTail, end));
    } else {
      out.push(...rows.slice(index, end));
    }
    index = end;
  }
  return out;
}
