/** A runner that is online now, as placement sees it. */
export interface OnlineRunner {
  name: string;
  kind: 'local' | 'remote';
  labels: readonly string[];
}

/**
 * The port placement reads the runners online now through (`waitingFor`, the dashboard's
 * note): provided by `RunnerPresence` (see app.module.ts), which lists the runners the log
 * says are online and this server's own runner as it knows it first-hand (its
 * `ENDERCOMPUTE_RUNNER_LABELS`, absent with `ENDERCOMPUTE_LOCAL_RUNNER=false`). A class so
 * Nest can inject it by type.
 */
export abstract class OnlineRunners {
  abstract online(): ReadonlyArray<OnlineRunner>;
}
