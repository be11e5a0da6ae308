/** Events of the `script-<id>` stream. Type names are stable strings: never rename them. */
export interface ScriptCreated {
  type: 'ScriptCreated';
  data: { scriptId: string; name: string; interpreter: string; body: string };
}

export interface ScriptUpdated {
  type: 'ScriptUpdated';
  /** Only the fields that changed. */
  data: { scriptId: string; name?: string; interpreter?: string; body?: string };
}

export interface ScriptRemoved {
  type: 'ScriptRemoved';
  data: { scriptId: string };
}

export type ScriptEvent = ScriptCreated | ScriptUpdated | ScriptRemoved;

export const SCRIPT_EVENT_TYPES: readonly ScriptEvent['type'][] = ['ScriptCreated', 'ScriptUpdated', 'ScriptRemoved'];

export const scriptStream = (scriptId: string): string => `script-${scriptId}`;
