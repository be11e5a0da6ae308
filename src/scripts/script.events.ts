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

/**
 * A job is about to use this template (its creation, or an edit that points it here),
 * appended with the expected revision before the job's own event. It serialises job
 * changes with the template's removal: a removal that has not seen it conflicts, one
 * that has checks the job (and fences a change still under way). Bookkeeping, not a
 * change of the template: its version stays.
 */
export interface ScriptUseDeclared {
  type: 'ScriptUseDeclared';
  data: {
    scriptId: string;
    jobId: string;
    /** The job stream revision the job's change expects (null: a creation, no stream yet). */
    jobRevision: number | null;
  };
}

export type ScriptEvent = ScriptCreated | ScriptUpdated | ScriptRemoved | ScriptUseDeclared;

export const SCRIPT_EVENT_TYPES: readonly ScriptEvent['type'][] = ['ScriptCreated', 'ScriptUpdated', 'ScriptRemoved', 'ScriptUseDeclared'];

/** Whether a template event changes the template as people edit it (its version): all but use declarations. */
export const changesScriptVersion = (type: string): boolean => type !== 'ScriptUseDeclared';

export const scriptStream = (scriptId: string): string => `script-${scriptId}`;
