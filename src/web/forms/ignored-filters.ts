/** A filter a page left out: its parameter and the value given (shortened for the page). */
export interface IgnoredFilter {
  name: string;
  value: string;
}

/**
 * The filters a page left out, for the notice above its results: a person's filters stay
 * lenient (a value a page cannot read does not fail the page, see `page-filters.ts`), but
 * the page says it showed everything rather than what `?status=bogus` seemed to ask for.
 * `filters` maps each parameter to the text given and what the page read of it (undefined:
 * nothing); a parameter given empty is no filter at all.
 */
export function ignoredFilters(filters: Record<string, [given: string, read: unknown]>): IgnoredFilter[] {
  return Object.entries(filters)
    .filter(([, [given, read]]) => given.trim() !== '' && read === undefined)
    .map(([name, [given]]) => ({ name, value: given.trim().slice(0, 60) }));
}
