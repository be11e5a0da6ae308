import type { Response } from 'express';
import { ValidationError } from '../shared/domain-errors';

/**
 * Versions as people and clients see them start at 1 (a new template is version 1).
 * Inside, a resource's version is the stream revision of its last change, which starts
 * at 0: the API converts at its edge, here, and nowhere else (docs/API.md, *Resources*).
 */
export function publicVersion(revision: number): number {
  return revision + 1;
}

/** Sets `ETag: "<version>"` (the public version) on a response for an editable resource, given its revision. */
export function setVersionTag(response: Response, revision: number): void {
  response.setHeader('ETag', `"${publicVersion(revision)}"`);
}

/**
 * The revision an `If-Match` header names: `"3"`, `W/"3"` or `3` (a public version,
 * so revision 2). Absent or `*`: undefined (no precondition). Anything else — `0`
 * included, since versions start at 1 — is a 400, not a silent ignore.
 */
export function parseIfMatch(header: string | undefined): bigint | undefined {
  if (header === undefined || header.trim() === '' || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
  if (!match) throw new ValidationError([`If-Match: must be a version such as "3" (the ETag you received), not ${JSON.stringify(header.slice(0, 40))}`]);
  const version = BigInt(match[1]);
  if (version < 1n) throw new ValidationError(['If-Match: versions start at 1 (send the ETag you received)']);
  return version - 1n;
}

/**
 * The revision a page form's hidden `version` field names (a public version, as
 * {@link publicVersion} wrote it), or undefined when the field is empty (no
 * precondition). A `0` — written by a page from before versions started at 1 — names
 * no revision, so the change is refused as stale rather than applied to what the
 * person did not see.
 *
 * @throws ValidationError for anything else: a precondition that cannot be read is
 *   refused, as `If-Match` is, never skipped.
 */
export function revisionFromForm(value: string): bigint | undefined {
  if (value === '') return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new ValidationError([`version: must be the version the form was shown with (a whole number), not ${JSON.stringify(value.slice(0, 40))}`]);
  return BigInt(value) - 1n;
}
