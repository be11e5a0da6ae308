import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export type MetricFamily = ReturnType<typeof parsePrometheusTextFormat>[number];
export type Sample = MetricFamily['metrics'][number];

/**
 * Parsed `/metrics` text, with lookups that fail loudly when a metric is missing.
 *
 * The parser folds the series of a histogram with labels into one, losing the labels
 * (it was written for unlabelled ones), so histograms are read from a second parse in
 * which their `# TYPE`/`# HELP` lines are left out: there each `_count`, `_sum` and
 * `_bucket` series keeps its labels (as untyped samples).
 */
export class Scrape {
  readonly families: MetricFamily[];
  private readonly flat: MetricFamily[];

  constructor(readonly text: string) {
    this.families = parsePrometheusTextFormat(text);
    const histograms = this.families.filter((f) => f.type === 'HISTOGRAM').map((f) => f.name);
    const flatText = text
      .split('\n')
      .filter((line) => !histograms.some((name) => line.startsWith(`# TYPE ${name} `) || line.startsWith(`# HELP ${name} `)))
      .join('\n');
    this.flat = parsePrometheusTextFormat(flatText);
  }

  family(name: string): MetricFamily {
    const family = this.families.find((f) => f.name === name);
    if (!family) throw new Error(`No metric ${name} in:\n${this.text}`);
    return family;
  }

  /** The samples of `name` whose labels include `labels`. */
  samples(name: string, labels: Record<string, string> = {}): Sample[] {
    this.family(name);
    return this.flat.filter((f) => f.name === name).flatMap((f) => f.metrics).filter((sample) => Object.entries(labels).every(([k, v]) => sample.labels?.[k] === v));
  }

  /** The value of the one sample of a gauge or counter with these labels (0 when there is none). */
  value(name: string, labels: Record<string, string> = {}): number {
    const found = this.samples(name, labels);
    if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
    return found.length === 0 ? 0 : Number(found[0].value);
  }

  /** The count and sum of a histogram's samples with these labels, added up. */
  histogram(name: string, labels: Record<string, string> = {}): { count: number; sum: number } {
    if (this.family(name).type !== 'HISTOGRAM') throw new Error(`${name} is not a histogram`);
    const total = (series: string): number =>
      this.flat
        .filter((f) => f.name === series)
        .flatMap((f) => f.metrics)
        .filter((sample) => Object.entries(labels).every(([k, v]) => sample.labels?.[k] === v))
        .reduce((sum, sample) => sum + Number(sample.value), 0);
    return { count: total(`${name}_count`), sum: total(`${name}_sum`) };
  }
}
