import { ConflictError, NotFoundError } from '../shared/domain-errors';
import type { RunnerRegistered, RunnerRevoked } from './runner.events';

/** A runner name's registration, folded from its `runner-<name>` stream. */
export interface RegistrationState {
  registered: boolean;
}

export type RegistrationCommand =
  | {
      type: 'Register';
      name: string;
      tokenDigest: string;
      /** Facts the caller looked up (the decider does no I/O): the environment configures this name, or a server's local runner has it. */
      configuredByEnvironment: boolean;
      localRunner: boolean;
    }
  | { type: 'Revoke'; name: string; configuredByEnvironment: boolean };

export type RegistrationEvent = RunnerRegistered | RunnerRevoked;

export const initialRegistration: RegistrationState = { registered: false };

export function evolveRegistration(state: RegistrationState, event: RegistrationEvent): RegistrationState {
  switch (event.type) {
    case 'RunnerRegistered':
      return { registered: true };
    case 'RunnerRevoked':
      return { registered: false };
    default:
      return state;
  }
}

/**
 * Registering takes a free name (a revoked name is free again, with a new token);
 * revoking needs a registered one. A runner configured by `ENDERCOMPUTE_RUNNER_TOKENS`
 * is neither registered nor revoked through the API: its token lives in the servers'
 * environment, which only whoever runs them can change (409, saying so).
 */
export function decideRegistration(command: RegistrationCommand, state: RegistrationState): RegistrationEvent[] {
  const environment = `The runner "${command.name}" is configured by ENDERCOMPUTE_RUNNER_TOKENS on this server`;
  switch (command.type) {
    case 'Register':
      if (command.configuredByEnvironment) throw new ConflictError(`${environment}: choose another name`);
      if (command.localRunner) throw new ConflictError(`"${command.name}" is the name of a server's own runner: choose another name`);
      if (state.registered) throw new ConflictError(`A runner named "${command.name}" is registered already: choose another name, or revoke it first`);
      return [{ type: 'RunnerRegistered', data: { name: command.name, tokenDigest: command.tokenDigest } }];
    case 'Revoke':
      if (command.configuredByEnvironment) throw new ConflictError(`${environment}: remove it from that setting and restart the server to revoke it`);
      if (!state.registered) throw new NotFoundError(`No registered runner is named "${command.name}"`);
      return [{ type: 'RunnerRevoked', data: { name: command.name } }];
    default:
      return [];
  }
}
