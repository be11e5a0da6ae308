import type { EventMetadata } from '../event-store/event-store.port';

/** Who asks for a change, from where, and as part of which request. */
export interface CommandContext {
  actor: string;
  /** `api`, `web`, `cli`, `runner`, `scheduler`, `system`. */
  source: string;
  correlationId: string;
  causationId: string | null;
  /** Set when the change restores an earlier version (as people count it): recorded in the metadata. */
  restoredFrom?: number;
}

/** The metadata every event of one command carries. */
export function metadataFor(context: CommandContext, at: Date): EventMetadata {
  return {
    actor: context.actor,
    at: at.toISOString(),
    correlationId: context.correlationId,
    causationId: context.causationId,
    source: context.source,
    ...(context.restoredFrom !== undefined ? { restoredFrom: context.restoredFrom } : {}),
  };
}

/** A context for what the server does on its own (recovery, key rotation). */
export function systemContext(correlationId: string, actor = 'system'): CommandContext {
  return { actor, source: 'system', correlationId, causationId: null };
}
