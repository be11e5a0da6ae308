import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { EventStore } from '../event-store/event-store.port';
import { ProjectionEngine } from '../projections/projection-engine';
import { RunWriter } from '../runs/execution/run-writer';
import { endLost } from '../runs/run.decider';
import { RunsReadModel } from '../runs/runs.read-model';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import { type Decider, decideAndAppend } from '../shared/decide-and-append';
import { ConflictError, ValidationError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import {
  decideRegistration,
  evolveRegistration,
  initialRegistration,
  type RegistrationCommand,
  type RegistrationEvent,
  type RegistrationState,
} from './runner-registration.decider';
import { runnerNameProblems } from './runner-names';
import { newRunnerToken, runnerTokenDigest } from './runner-token';
import { RunnerTokens } from './runner-tokens';
import { RUNNER_EVENT_TYPES, runnerStream } from './runner.events';
import { RunnersReadModel } from './runners.read-model';
import { RunnerPresence } from './runner-presence';

const decider: Decider<RegistrationState, RegistrationEvent, RegistrationCommand> = { initial: initialRegistration, evolve: evolveRegistration, decide: decideRegistration };

/**
 * Registers and revokes job servers through the API (`POST` / `DELETE /api/runners`).
 * The token is made here, returned once, and only its digest is recorded.
 */
@Injectable()
export class RunnerRegistry {
  private readonly logger = new Logger(RunnerRegistry.name);

  constructor(
    private readonly config: AppConfig,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly projections: ProjectionEngine,
    private readonly tokens: RunnerTokens,
    private readonly runners: RunnersReadModel,
    private readonly runs: RunsReadModel,
    private readonly presence: RunnerPresence,
  ) {}

  /**
   * Registers a runner name and returns its new token (the only time it is seen).
   * Errors: 400 for a bad name; 409 when the name is taken, is configured by the
   * environment, or is a server's local runner.
   */
  async register(name: unknown, context: CommandContext): Promise<{ name: string; token: string }> {
    const problems = runnerNameProblems(name);
    if (problems.length > 0) throw new ValidationError(problems);
    const runnerName = name as string;
    const token = newRunnerToken();
    const command: RegistrationCommand = {
      type: 'Register',
      name: runnerName,
      tokenDigest: runnerTokenDigest(token),
      configuredByEnvironment: this.tokens.isConfigured(runnerName),
      localRunner: runnerName === this.config.runnerId || this.runners.get(runnerName)?.kind === 'local',
    };
    await this.decide(runnerName, command, context);
    this.logger.log(`${context.actor} registered the runner ${runnerName}`);
    return { name: runnerName, token };
  }

  /**
   * Revokes a registered runner: its token stops working on this server before this
   * returns (and on every server sharing the store once they apply the event), it is
   * recorded offline, and each run it was executing ends `lost`, saying why. Returns those
   * runs' ids. Errors: 404 for a name not registered; 409 for a runner configured by the environment.
   */
  async revoke(name: string, context: CommandContext): Promise<{ lostRuns: string[] }> {
    const configuredByEnvironment = this.tokens.isConfigured(name);
    const problems = configuredByEnvironment ? [] : runnerNameProblems(name);
    if (problems.length > 0) throw new ValidationError(problems);
    await this.decide(name, { type: 'Revoke', name, configuredByEnvironment }, context);
    await this.presence.revoked(name, context);
    const lostRuns: string[] = [];
    const reason = `Its runner "${name}" was revoked by ${context.actor}`;
    for (const run of this.runs.executingRuns(name)) {
      const writer = await RunWriter.load({ store: this.store, clock: this.clock, ids: this.ids }, run.id, context);
      if (writer === null) continue;
      try {
        const position = await writer.record(endLost(run.id, reason));
        if (position) await this.projections.waitFor(position);
        lostRuns.push(run.id);
      } catch (error) {
        // It finished meanwhile: nothing was lost.
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    this.logger.log(`${context.actor} revoked the runner ${name}${lostRuns.length > 0 ? `; ${lostRuns.length} of its run(s) ended lost` : ''}`);
    return { lostRuns };
  }

  private async decide(name: string, command: RegistrationCommand, context: CommandContext): Promise<void> {
    const deps = { store: this.store, clock: this.clock, ids: this.ids };
    const decided = await decideAndAppend(deps, runnerStream(name), decider, RUNNER_EVENT_TYPES, command, context);
    if (decided.append) await this.projections.waitFor(decided.append.position);
  }
}
