/**
 * Placement: which runner may take a run. A job's `runsOn` lists labels; a run goes only
 * to a runner that has every one of them (an empty list: any runner, the servers' local
 * runners included). Each run keeps the job's `runsOn` as it was when the run was
 * requested (`RunRequested.runsOn`, `RunRecord.runsOn`), so a claim checks the run without
 * reading its job.
 *
 * Labels are 1–64 ASCII letters, digits and `- _ . :`, starting with a letter or digit
 * (`linux`, `gpu`, `arch:arm64`, `os.debian-12`), compared without regard to case: they
 * are stored in lower case. Pure: no I/O, no clock.
 */

/** What one label may look like (before it is lower-cased). */
export const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** The most labels a job or a runner may carry. */
export const MAX_LABELS = 32;

/** The rule above in words, for error messages and docs. */
export const LABEL_RULE = '1–64 letters, digits, "-", "_", "." or ":" starting with a letter or digit';

/** A label as it is stored and compared: lower case. */
export function normalizeLabel(label: string): string {
  return label.toLowerCase();
}

/**
 * Problems with a list of labels, each a phrase to follow the list's name (`runsOn: …`,
 * `ENDERCOMPUTE_RUNNER_LABELS: …`) that quotes the bad label; an empty list when it is fine.
 */
export function labelProblems(labels: unknown): string[] {
  if (!Array.isArray(labels)) return ['must be a list of labels'];
  const problems: string[] = [];
  if (labels.length > MAX_LABELS) problems.push(`may hold at most ${MAX_LABELS} labels, not ${labels.length}`);
  for (const label of labels) {
    if (typeof label !== 'string') problems.push('each label must be a string');
    else if (!LABEL_PATTERN.test(label)) problems.push(`"${printable(label)}" is not a label (${LABEL_RULE})`);
  }
  return problems;
}

/** Valid labels as stored: lower case, each once, in the order first given. */
export function normalizeLabels(labels: readonly string[]): string[] {
  return [...new Set(labels.map(normalizeLabel))];
}

/**
 * Whether a runner with `runnerLabels` may take a run that runs on `runsOn`: it has every
 * label the run asks for (case does not matter). An empty `runsOn`: any runner may.
 */
export function canTake(runnerLabels: readonly string[], runsOn: readonly string[]): boolean {
  if (runsOn.length === 0) return true;
  const has = new Set(runnerLabels.map(normalizeLabel));
  return runsOn.every((label) => has.has(normalizeLabel(label)));
}

/**
 * What a queued run waits for when no online runner may take it: "a runner with labels
 * linux, gpu" (the run's labels in its order), or "a runner (none is online)" for a run
 * without labels when no runner at all is online. Null when some online runner may take
 * it (then it waits, if at all, for a free slot or its turn).
 */
export function waitingForRunner(runsOn: readonly string[], online: ReadonlyArray<{ labels: readonly string[] }>): string | null {
  if (online.some((runner) => canTake(runner.labels, runsOn))) return null;
  if (runsOn.length === 0) return 'a runner (none is online)';
  return `a runner with ${runsOn.length === 1 ? 'label' : 'labels'} ${runsOn.join(', ')}`;
}

/** A label as it may be quoted in a message: control characters shown as `?`, at most 70 characters. */
function printable(value: string): string {
  const shown = value.replace(/[\p{Cc}\p{Cf}]/gu, '?');
  return shown.length > 70 ? `${shown.slice(0, 67)}...` : shown;
}
