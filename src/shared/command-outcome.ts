import type { Position } from '../event-store/event-store.port';

/** What a command handler answers: the aggregate it touched and where its events landed. */
export interface CommandOutcome {
  id: string;
  /** Null when the command changed nothing (an edit with no difference). */
  position: Position | null;
}
