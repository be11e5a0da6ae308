import { createHash } from 'node:crypto';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { NameHolder } from '../scripts/script.decider';
import type { CommandContext } from './command-context';
import { type AfterAppend, appendEvents, type AppendGuard, type Dependencies } from './decide-and-append';
import { ConflictError } from './domain-errors';
import { nameKey } from './names';

/**
 * Names that stay unique, case-insensitively, across every server that shares one log.
 *
 * A server checks a name against its own read model under an in-process lock. Two
 * servers on one EventStoreDB each have their own read model and lock, so both could
 * accept the same name at the same moment. A name is therefore also reserved in the
 * log, once the decider accepted the command and before its events are appended, in
 * one stream per kind and name key (NFC, lower case: `names.ts`) (`names-<kind>-<hash>`): `NameReserved`
 * names the owner, `NameReleased` frees the name. Each reservation is appended with the
 * expected revision of what was read, so when two servers reserve at once, one wins
 * and the other reads again and finds the name taken. A refused request writes nothing.
 *
 * A reservation can outlive its use: a server can stop between reserving and creating,
 * or between a rename and the release of the old name. The owner's own stream decides:
 * - an owner that is active under the name holds it;
 * - an owner that was removed holds nothing;
 * - an owner that does not exist, or has another name, holds the name only while its
 *   reservation is younger than {@link RESERVATION_GRACE_MS}: its creation or rename
 *   may still be on its way (this compares clocks of servers, which NTP keeps close).
 * Logs written before reservations existed have no reservation streams; the read-model
 * check covers their names.
 */
export type NameKind = 'script' | 'job';

/** The data of `NameReserved` and `NameReleased`. Type names are stable: never rename them. */
export interface NameEventData {
  kind: NameKind;
  /** As the owner spelled it. */
  name: string;
  ownerId: string;
}

/** How long a reservation holds a name whose owner does not use it (yet). */
export const RESERVATION_GRACE_MS = 60_000;

/** Rounds of read-then-append when other servers keep changing the same reservation. */
const ATTEMPTS = 3;

/** The stream holding a name's reservations: a hash of its {@link nameKey}, since names may hold any character. */
export function nameStream(kind: NameKind, name: string): string {
  return `names-${kind}-${createHash('sha256').update(nameKey(name)).digest('hex').slice(0, 32)}`;
}

/** What an owner (a template or a job) is now, folded from its own stream. */
export interface OwnerState {
  status: 'absent' | 'active' | 'removed';
  /** Its name (the last one, when removed); null when absent. */
  name: string | null;
}

/**
 * Reserves and releases the names of one kind of aggregate, as the {@link AppendGuard}
 * of its commands: a decision that gives the owner a new name (a creation, or a rename
 * that is more than a change of case) reserves it before the append and releases the
 * old one after; a decision that removes the owner releases its name. The in-process
 * lock and the read-model check (`nameTakenBy` in the command) stay in front of it.
 */
export class UniqueNames<State> {
  constructor(
    private readonly deps: Dependencies,
    private readonly kind: NameKind,
    /** How a user calls this kind in messages: `script template`, `job`. */
    private readonly label: string,
    /** The owner's name in a state, or null when it is not active. */
    private readonly activeName: (state: State) => string | null,
    /** Reads an owner's stream. */
    private readonly ownerState: (ownerId: string) => Promise<OwnerState>,
  ) {}

  /** The guard for one command on `ownerId`. */
  guard(ownerId: string, context: CommandContext): AppendGuard<State> {
    return { beforeAppend: (before, after) => this.beforeAppend(ownerId, context, this.activeName(before), this.activeName(after)) };
  }

  private async beforeAppend(ownerId: string, context: CommandContext, oldName: string | null, newName: string | null): Promise<AfterAppend> {
    const nothing = async (): Promise<void> => undefined;
    const releaseOld = oldName === null ? nothing : () => this.releaseQuietly(oldName, ownerId, context);
    if (newName === null || oldName !== null && nameKey(newName) === nameKey(oldName)) {
      // No new name: a removal frees the old one; any other change keeps it.
      return { succeeded: newName === null ? releaseOld : nothing, refused: nothing };
    }
    const takenBy = await this.reserve(newName, ownerId, context);
    if (takenBy) throw new ConflictError(`A ${this.label} named "${takenBy.name}" already exists`);
    return { succeeded: releaseOld, refused: () => this.releaseQuietly(newName, ownerId, context) };
  }

  /** Reserves the name; returns who holds it instead, or null when this owner now does. */
  private async reserve(name: string, ownerId: string, context: CommandContext): Promise<NameHolder | null> {
    const stream = nameStream(this.kind, name);
    for (let attempt = 1; ; attempt++) {
      const events = await this.deps.store.readStream(stream);
      const last = events.at(-1);
      const holder = last?.type === 'NameReserved' ? (last.data as NameEventData) : null;
      if (last && holder && holder.ownerId !== ownerId && (await this.stillHeld(holder, last))) {
        return { id: holder.ownerId, name: holder.name };
      }
      // Also when this owner holds it already: the append conflicts with anyone taking it over now.
      const data: NameEventData = { kind: this.kind, name, ownerId };
      try {
        await appendEvents(this.deps, stream, [{ type: 'NameReserved', data }], last ? last.revision : 'no_stream', context);
        return null;
      } catch (error) {
        // Another server changed this reservation at the same moment: read it again.
        if (!(error instanceof ConflictError) || attempt === ATTEMPTS) throw error;
      }
    }
  }

  private async stillHeld(holder: NameEventData, reservation: RecordedEvent): Promise<boolean> {
    const owner = await this.ownerState(holder.ownerId);
    if (owner.status === 'removed') return false;
    if (owner.status === 'active' && owner.name !== null && nameKey(owner.name) === nameKey(holder.name)) return true;
    const age = this.deps.clock.now().getTime() - Date.parse(reservation.metadata.at);
    return age < RESERVATION_GRACE_MS;
  }

  /**
   * Frees the name if this owner holds it. Failing to is harmless (the owner no longer
   * uses the name, so the reservation lapses by the rules above), so errors are dropped.
   */
  private async releaseQuietly(name: string, ownerId: string, context: CommandContext): Promise<void> {
    const stream = nameStream(this.kind, name);
    try {
      const [last] = await this.deps.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
      if (last?.type !== 'NameReserved' || (last.data as NameEventData).ownerId !== ownerId) return;
      const data: NameEventData = { kind: this.kind, name, ownerId };
      await appendEvents(this.deps, stream, [{ type: 'NameReleased', data }], last.revision, context);
    } catch {
      // See above.
    }
  }
}
