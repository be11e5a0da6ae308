import { createHash, randomBytes } from 'node:crypto';

/** What every token this server hands out starts with, so a leaked one is recognisable (and scanners can find it). */
export const RUNNER_TOKEN_PREFIX = 'ecr_';

/** A new runner token: the prefix and 32 random bytes, base64url (47 characters). */
export function newRunnerToken(): string {
  return `${RUNNER_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/**
 * The SHA-256 of a token, hex: all the log ever keeps of a registered token. A fast hash
 * is enough: the tokens are 256 random bits (not passwords a dictionary could guess).
 * Also what presented tokens are compared by, so every comparison is of equal lengths.
 */
export function runnerTokenDigest(token: string): string {
  return createHash('sha256').update(`endercompute-runner:${token}`, 'utf8').digest('hex');
}
