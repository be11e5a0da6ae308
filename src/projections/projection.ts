import type { RecordedEvent } from '../event-store/event-store.port';

/**
 * A read model fed from the log. `apply` must be synchronous and must not throw
 * for events it does not know: read models are derived, disposable, and rebuilt
 * by replaying the whole log at start.
 */
export interface Projection {
  readonly name: string;
  apply(event: RecordedEvent): void;
}

/** The Nest injection token for the list of projections the engine feeds. */
export const PROJECTIONS = Symbol('PROJECTIONS');
