/**
 * `jobs history|version|restore` and `scripts history|version|restore`: the versions
 * the API builds from the log (API.md, "History"), read and restored from a terminal.
 */
import { structuredPatch } from 'diff';
import type { VersionDetail as Detail, VersionSummary } from '../history/histories';
import type { VersionList } from '../history/history.controller';
import { type Command, type CommandInput, need, print, wholeNumberOption } from './commands';
import { VERSION_NUMBER } from '../shared/whole-number';
import { clean, table, when } from './format';

/** The two kinds of resource with a history: their API path and how a person calls them. */
interface Kind {
  /** `jobs` or `scripts`: the API collection. */
  collection: string;
  /** `job` or `template`, in messages. */
  noun: string;
}

/** `GET …/versions/:n`: the version and the resource's id. */
type VersionDetail = Detail & { id: string };

const JOB: Kind = { collection: 'jobs', noun: 'job' };
const TEMPLATE: Kind = { collection: 'scripts', noun: 'template' };

/** Lines of context around each change in a multi-line field's diff (as `diff -u`). */
const CONTEXT_LINES = 3;

/** The handlers for one kind: `history <id>`, `version <id> <n> [--compare-to m]`, `restore <id> <n>`. */
function historyCommands(kind: Kind): Record<'history' | 'version' | 'restore', Command> {
  const base = (input: CommandInput): string => `/api/${kind.collection}/${encodeURIComponent(need(input.words, 0, `${kind.noun} id or name`))}/versions`;
  return {
    history: async (input) => {
      const list = await input.api.json<VersionList>('GET', base(input));
      return print(input, list, () =>
        table(
          ['VERSION', 'WHEN', 'BY', 'SOURCE', 'CHANGE', 'FIELDS'],
          list.items.map((v) => [`${v.version}${v.version === list.current ? ' (current)' : ''}`, when(v.at), v.actor, v.source, change(v), v.fields.join(', ')]),
        ),
      );
    },
    version: async (input) => {
      const number = versionOf(input);
      const compareTo = typeof input.options.compareTo === 'string' ? `?compareTo=${wholeNumberOption('--compare-to', input.options.compareTo, VERSION_NUMBER)}` : '';
      const detail = await input.api.json<VersionDetail>('GET', `${base(input)}/${number}${compareTo}`);
      return print(input, detail, () => describeVersion(kind, detail));
    },
    restore: async (input) => {
      const number = versionOf(input);
      const restored = await input.api.json<{ name: string; version: number }>('POST', `${base(input)}/${number}/restore`);
      return print(input, restored, () => `Restored ${kind.noun} ${clean(restored.name)} to version ${number}: it is now version ${restored.version}`);
    },
  };
}

/** The `<n>` of `version` and `restore`, checked before any request as options are. */
function versionOf(input: CommandInput): number {
  return wholeNumberOption('the version number', need(input.words, 1, 'version number'), VERSION_NUMBER);
}

export const jobHistory = historyCommands(JOB);
export const scriptHistory = historyCommands(TEMPLATE);

/** `JobUpdated`, `JobUpdated (restored version 2)`. */
function change(version: Pick<VersionSummary, 'event' | 'restoredFrom'>): string {
  return version.restoredFrom === null ? version.event : `${version.event} (restored version ${version.restoredFrom})`;
}

/**
 * A version as a person reads it: who changed what, when, then each field that
 * differs from the version compared with; a field of several lines (a template's
 * body) as a unified diff, any other as `before → after` in JSON.
 */
function describeVersion(kind: Kind, detail: VersionDetail): string {
  const name = typeof detail.content.name === 'string' ? detail.content.name : detail.id;
  const lines = [
    `${kind.noun} ${clean(name)} (${detail.id}), version ${detail.version} of ${detail.current}`,
    `${change(detail)} by ${clean(detail.actor)} (${detail.source}) at ${when(detail.at)}`,
    '',
    detail.comparedTo === null ? 'The first version:' : `Changed since version ${detail.comparedTo}:`,
  ];
  if (detail.changes.length === 0) lines.push('  nothing');
  for (const { field, before, after } of detail.changes) {
    if (isMultiline(before) || isMultiline(after)) {
      lines.push(`  ${field}:`, ...unifiedDiff(field, before, after, detail));
    } else {
      lines.push(`  ${field}: ${shown(before)} → ${shown(after)}`);
    }
  }
  return lines.join('\n');
}

function isMultiline(value: unknown): value is string {
  return typeof value === 'string' && value.includes('\n');
}

/** A value in one line: JSON, `(none)` where the field did not exist, control characters made visible. */
function shown(value: unknown): string {
  return value === undefined ? '(none)' : clean(JSON.stringify(value));
}

/** `diff -u` of two texts (either may be absent), indented, tabs kept and other control characters made visible. */
function unifiedDiff(field: string, before: unknown, after: unknown, detail: VersionDetail): string[] {
  const from = typeof before === 'string' ? before : '';
  const to = typeof after === 'string' ? after : '';
  const patch = structuredPatch(`${field}@${detail.comparedTo ?? 0}`, `${field}@${detail.version}`, from, to, '', '', { context: CONTEXT_LINES });
  const out = [`    --- version ${detail.comparedTo ?? '(none)'}`, `    +++ version ${detail.version}`];
  for (const hunk of patch.hunks) {
    out.push(`    @@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@`);
    for (const line of hunk.lines) out.push(`    ${line.split('\t').map(clean).join('\t')}`);
  }
  return out;
}
