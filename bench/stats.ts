/** Small statistics helpers for the benchmarks. */

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function ratio(value: number, baseline: number): string {
  return `${(value / baseline).toFixed(2)}×`;
}

export function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

/** Prints one figure: name, value, and its ratio to the baseline measured in the same run. */
export function report(name: string, value: string, comparison: string, verdict: boolean | null = null): void {
  const mark = verdict === null ? '' : verdict ? '  [target met]' : '  [TARGET MISSED]';
  process.stdout.write(`${name.padEnd(58)} ${value.padStart(16)}   ${comparison}${mark}\n`);
}
