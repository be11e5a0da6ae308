/**
 * Job servers ("runners") in the log. Two streams per runner name:
 * - `runner-<name>`: its registration through the API and its revocation (who did them is
 *   the events' actor); only a hash of the token, never the token;
 * - `runner-presence-<name>`: when it was in contact (see `runner-presence.ts`), kept
 *   apart so the steady trickle of presence never races a person revoking it.
 * A runner configured by `ENDERCOMPUTE_RUNNER_TOKENS` has no registration events, only presence.
 */

/** A person registered a job server; its token was shown to them once. */
export interface RunnerRegistered {
  type: 'RunnerRegistered';
  data: { name: string; tokenDigest: string };
}

/** A person revoked a registered job server: its token opens nothing from now on. */
export interface RunnerRevoked {
  type: 'RunnerRevoked';
  data: { name: string };
}

/** Whether a runner is a server's own (executes in that server's process) or a job server that connects to one. */
export type RunnerKind = 'local' | 'remote';

/**
 * A runner was first seen, came back after being offline, or changed what it reports
 * (labels, version, capacity). `running`: the run ids it reported executing.
 */
export interface RunnerConnected {
  type: 'RunnerConnected';
  data: { name: string; kind: RunnerKind; labels: string[]; softwareVersion: string; maxConcurrent: number; running: string[] };
}

/** A lease renewal: the runner is still in contact (at most one a minute per runner while nothing changes). */
export interface RunnerSeen {
  type: 'RunnerSeen';
  data: { name: string; running: string[] };
}

/** Why a runner went offline: it said goodbye, nothing was heard from it for too long, or it was revoked. */
export type DisconnectReason = 'goodbye' | 'timed out' | 'revoked';

export interface RunnerDisconnected {
  type: 'RunnerDisconnected';
  data: { name: string; reason: DisconnectReason };
}

export type RunnerEvent = RunnerRegistered | RunnerRevoked | RunnerConnected | RunnerSeen | RunnerDisconnected;

export const RUNNER_EVENT_TYPES: ReadonlyArray<RunnerEvent['type']> = ['RunnerRegistered', 'RunnerRevoked', 'RunnerConnected', 'RunnerSeen', 'RunnerDisconnected'];

export const runnerStream = (name: string): string => `runner-${name}`;
export const presenceStream = (name: string): string => `runner-presence-${name}`;
