import type { Response } from 'express';
import { ValidationError } from '../shared/domain-errors';

/** Sets `ETag: "<version>"` on a response for an editable resource. */
export function setVersionTag(response: Response, version: number): void {
  response.setHeader('ETag', `"${version}"`);
}

/**
 * The version an `If-Match` header names: `"3"`, `W/"3"` or `3`. Absent or `*`:
 * undefined (no precondition). Anything else is a 400, not a silent ignore.
 */
export function parseIfMatch(header: string | undefined): bigint | undefined {
  if (header === undefined || header.trim() === '' || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
  if (!match) throw new ValidationError([`If-Match: must be a version such as "3" (the ETag you received), not ${JSON.stringify(header.slice(0, 40))}`]);
  return BigInt(match[1]);
}
