import { ConflictError, NotFoundError } from '../shared/domain-errors';
import { assertNever } from '../shared/exhaustive';
import type { ScriptEvent } from './script.events';
import { readableScriptEvent } from './script.upcast';

/**
 * The script template aggregate as a pure decider: no I/O, no clock, no ids.
 * Facts that live outside the stream (is the name taken? which jobs use it?)
 * are looked up by the handler and passed in with the command.
 */
export type ScriptState =
  | { status: 'absent' }
  | { status: 'active'; scriptId: string; name: string; interpreter: string; body: string }
  | { status: 'removed'; scriptId: string; name: string };

export const initialScriptState: ScriptState = { status: 'absent' };

/** Another template that already has a name, case-insensitively. */
export interface NameHolder {
  id: string;
  name: string;
}

export type ScriptCommand =
  | { type: 'CreateScript'; scriptId: string; name: string; interpreter: string; body: string; nameTakenBy: NameHolder | null }
  | {
      type: 'UpdateScript';
      scriptId: string;
      changes: { name?: string; interpreter?: string; body?: string };
      nameTakenBy: NameHolder | null;
    }
  /** Make the template equal again to an earlier version (`version`, as people count it). */
  | { type: 'RestoreScript'; scriptId: string; version: number; target: { name: string; interpreter: string; body: string }; nameTakenBy: NameHolder | null }
  | { type: 'RemoveScript'; scriptId: string; usedByJobs: string[] }
  /** A job is about to use the template: only an active template may be used. */
  | { type: 'DeclareUse'; scriptId: string; jobId: string; jobRevision: number | null };

export function evolveScript(state: ScriptState, recorded: ScriptEvent): ScriptState {
  const event = readableScriptEvent(recorded);
  switch (event.type) {
    case 'ScriptCreated':
      return { status: 'active', ...event.data };
    case 'ScriptUpdated': {
      if (state.status !== 'active') return state;
      const { scriptId: _id, ...changes } = event.data;
      return { ...state, ...changes };
    }
    case 'ScriptRemoved':
      return state.status === 'active' ? { status: 'removed', scriptId: state.scriptId, name: state.name } : state;
    case 'ScriptUseDeclared':
      // Bookkeeping for the jobs: the template itself does not change.
      return state;
    default:
      return assertNever(event, 'script event');
  }
}

export function decideScript(command: ScriptCommand, state: ScriptState): ScriptEvent[] {
  switch (command.type) {
    case 'CreateScript': {
      if (state.status !== 'absent') throw new ConflictError(`Script template ${command.scriptId} already exists`);
      refuseTakenName(command.name, command.nameTakenBy, command.scriptId);
      const { scriptId, name, interpreter, body } = command;
      return [{ type: 'ScriptCreated', data: { scriptId, name, interpreter, body } }];
    }
    case 'UpdateScript': {
      const active = requireActive(state, command.scriptId);
      const changed: { name?: string; interpreter?: string; body?: string } = {};
      for (const key of ['name', 'interpreter', 'body'] as const) {
        const value = command.changes[key];
        if (value !== undefined && value !== active[key]) changed[key] = value;
      }
      if (changed.name !== undefined) refuseTakenName(changed.name, command.nameTakenBy, command.scriptId);
      // An edit that changes nothing records nothing: the log stays a list of real changes.
      if (Object.keys(changed).length === 0) return [];
      return [{ type: 'ScriptUpdated', data: { scriptId: command.scriptId, ...changed } }];
    }
    case 'RestoreScript': {
      const active = requireActive(state, command.scriptId);
      const changed: { name?: string; interpreter?: string; body?: string } = {};
      for (const key of ['name', 'interpreter', 'body'] as const) {
        if (command.target[key] !== active[key]) changed[key] = command.target[key];
      }
      if (changed.name !== undefined && command.nameTakenBy && command.nameTakenBy.id !== command.scriptId) {
        throw new ConflictError(`Version ${command.version} cannot be restored: its name "${changed.name}" is now taken by another template ("${command.nameTakenBy.name}")`);
      }
      if (Object.keys(changed).length === 0) return [];
      return [{ type: 'ScriptUpdated', data: { scriptId: command.scriptId, ...changed } }];
    }
    case 'RemoveScript': {
      requireActive(state, command.scriptId);
      if (command.usedByJobs.length > 0) {
        throw new ConflictError(
          `Script template is used by ${command.usedByJobs.length === 1 ? 'job' : 'jobs'} ${command.usedByJobs.map((n) => `"${n}"`).join(', ')}: change or remove ${command.usedByJobs.length === 1 ? 'it' : 'them'} first`,
        );
      }
      return [{ type: 'ScriptRemoved', data: { scriptId: command.scriptId } }];
    }
    case 'DeclareUse': {
      requireActive(state, command.scriptId);
      const { type: _type, ...data } = command;
      return [{ type: 'ScriptUseDeclared', data }];
    }
    default:
      return assertNever(command, 'script command');
  }
}

function requireActive(state: ScriptState, scriptId: string): Extract<ScriptState, { status: 'active' }> {
  if (state.status === 'absent') throw new NotFoundError(`Script template ${scriptId} does not exist`);
  if (state.status === 'removed') throw new NotFoundError(`Script template "${state.name}" was removed`);
  return state;
}

function refuseTakenName(name: string, holder: NameHolder | null, selfId: string): void {
  if (holder && holder.id !== selfId) {
    throw new ConflictError(`A script template named "${holder.name}" already exists`);
  }
}
