import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { RunnerPresence } from './runner-presence';

/** A runner that is online now, as placement sees it. */
export interface OnlineRunner {
  name: string;
  kind: 'local' | 'remote';
  labels: readonly string[];
}

/**
 * The port placement reads the runners online now through (`waitingFor`, the dashboard's
 * note). A class so Nest can inject it by type.
 */
export abstract class OnlineRunners {
  abstract online(): ReadonlyArray<OnlineRunner>;
}

/**
 * The runners the log says are online (`RunnerPresence`: job servers and other servers'
 * local runners), with this server's own runner as this server knows it first-hand:
 * online with its `ENDERCOMPUTE_RUNNER_LABELS` unless `ENDERCOMPUTE_LOCAL_RUNNER=false`,
 * whatever the log says of it yet (its presence is recorded a moment after start).
 */
@Injectable()
export class PresenceOnlineRunners extends OnlineRunners {
  constructor(
    private readonly presence: RunnerPresence,
    private readonly config: AppConfig,
  ) {
    super();
  }

  online(): ReadonlyArray<OnlineRunner> {
    const others = this.presence.online().filter((runner) => runner.name !== this.config.runnerId);
    if (!this.config.localRunner) return others;
    return [{ name: this.config.runnerId, kind: 'local', labels: this.config.runnerLabels }, ...others];
  }
}
