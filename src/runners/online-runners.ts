import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';

/** A runner that is online now, as placement sees it. */
export interface OnlineRunner {
  name: string;
  kind: 'local' | 'remote';
  labels: readonly string[];
}

/**
 * The port placement reads the runners online now through (`waitingFor`, the dashboard):
 * implemented by the runner registry's presence (`RunnerPresence.online()`, every
 * server's local runner and every connected job server), or, where there is none, by
 * {@link LocalRunnerOnly}. A class so Nest can inject it by type.
 */
export abstract class OnlineRunners {
  abstract online(): ReadonlyArray<OnlineRunner>;
}

/**
 * This server's own runner only: online with its `ENDERCOMPUTE_RUNNER_LABELS` unless
 * `ENDERCOMPUTE_LOCAL_RUNNER=false`. Knows nothing of other servers or job servers.
 */
@Injectable()
export class LocalRunnerOnly extends OnlineRunners {
  constructor(private readonly config: AppConfig) {
    super();
  }

  online(): ReadonlyArray<OnlineRunner> {
    return this.config.localRunner ? [{ name: this.config.runnerId, kind: 'local', labels: this.config.runnerLabels }] : [];
  }
}
