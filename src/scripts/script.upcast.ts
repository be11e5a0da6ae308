import type { ScriptEvent } from './script.events';

const DEFAULTS = { name: '(unnamed)', interpreter: 'bash', body: '' } as const;

/**
 * A script event as every reader takes it: a field recorded with a value it
 * can never hold (versions before the API refused `null` stored
 * `ScriptUpdated {body: null}`) reads as "not changed" in `ScriptUpdated` and
 * as its default in `ScriptCreated`. Valid events pass unchanged.
 */
export function readableScriptEvent(event: ScriptEvent): ScriptEvent {
  if (event.type !== 'ScriptCreated' && event.type !== 'ScriptUpdated') return event;
  const data = event.data as Record<string, unknown>;
  const invalid = (Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]).filter(
    (field) => data[field] !== undefined && (typeof data[field] !== 'string' || (field !== 'body' && data[field] === '')),
  );
  if (invalid.length === 0) return event;
  const cleaned: Record<string, unknown> = { ...data };
  for (const field of invalid) {
    if (event.type === 'ScriptUpdated') delete cleaned[field];
    else cleaned[field] = DEFAULTS[field];
  }
  return { type: event.type, data: cleaned } as ScriptEvent;
}
