import { Injectable } from '@nestjs/common';
import type { Statement } from 'better-sqlite3';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection, ProjectionDb } from '../projections/projection';
import type { DisconnectReason, RunnerEvent, RunnerKind } from './runner.events';

/** What the log says of one runner name. */
export interface RunnerRecord {
  name: string;
  /** Registered through the API and not revoked since. */
  registered: boolean;
  registeredAt: string | null;
  registeredBy: string | null;
  /** When it was revoked (and not registered again since), else null. */
  revokedAt: string | null;
  revokedBy: string | null;
  /** Null until its presence was first recorded. */
  kind: RunnerKind | null;
  labels: string[];
  softwareVersion: string | null;
  maxConcurrent: number | null;
  /** Between a `RunnerConnected` and the next `RunnerDisconnected`. */
  connected: boolean;
  /** The time of its latest recorded contact (connect or lease renewal), ISO 8601, or null. */
  lastContactAt: string | null;
  disconnectReason: DisconnectReason | null;
}

interface RunnerRow {
  name: string;
  tokenDigest: string | null;
  registeredAt: string | null;
  registeredBy: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
  kind: RunnerKind | null;
  labels: string;
  softwareVersion: string | null;
  maxConcurrent: number | null;
  connected: number;
  lastContactAt: string | null;
  disconnectReason: DisconnectReason | null;
}

/** A registered token that was revoked: whose it was, and when and by whom it was revoked. */
export interface RevokedToken {
  name: string;
  tokenDigest: string;
  revokedAt: string;
  revokedBy: string;
}

/**
 * Runners from their `runner-…` and `runner-presence-…` streams: registration (with the
 * token's digest, what `RunnerTokens` checks registered tokens against, so a revocation
 * recorded by any server sharing the store closes the token here as soon as this server
 * applies it), and the latest recorded presence. Table `runners` in the projection database;
 * `revoked_runner_tokens` keeps the digest of every revoked token, so that a job server
 * still holding one is told it was revoked (and by whom) rather than that it is unknown,
 * even after its name was registered again with a new token.
 */
@Injectable()
export class RunnersReadModel implements Projection {
  readonly name = 'runners';
  readonly version = 2;
  private q!: Record<string, Statement>;

  open(db: ProjectionDb): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS runners (
        name TEXT PRIMARY KEY, token_digest TEXT, registered_at TEXT, registered_by TEXT, revoked_at TEXT, revoked_by TEXT,
        kind TEXT, labels TEXT NOT NULL DEFAULT '[]', software_version TEXT, max_concurrent INTEGER,
        connected INTEGER NOT NULL DEFAULT 0, last_contact_at TEXT, disconnect_reason TEXT
      ) STRICT;
      CREATE INDEX IF NOT EXISTS runners_by_digest ON runners (token_digest);
      CREATE TABLE IF NOT EXISTS revoked_runner_tokens (
        token_digest TEXT PRIMARY KEY, name TEXT NOT NULL, revoked_at TEXT NOT NULL, revoked_by TEXT NOT NULL
      ) STRICT;
    `);
    const columns =
      'name, token_digest AS tokenDigest, registered_at AS registeredAt, registered_by AS registeredBy, revoked_at AS revokedAt, revoked_by AS revokedBy, ' +
      'kind, labels, software_version AS softwareVersion, max_concurrent AS maxConcurrent, connected, last_contact_at AS lastContactAt, disconnect_reason AS disconnectReason';
    this.q = {
      get: db.prepare(`SELECT ${columns} FROM runners WHERE name = ?`),
      all: db.prepare(`SELECT ${columns} FROM runners ORDER BY name`),
      tokens: db.prepare('SELECT name, token_digest AS tokenDigest FROM runners WHERE token_digest IS NOT NULL'),
      ensure: db.prepare('INSERT OR IGNORE INTO runners (name) VALUES (?)'),
      registered: db.prepare('UPDATE runners SET token_digest = ?, registered_at = ?, registered_by = ?, revoked_at = NULL, revoked_by = NULL WHERE name = ?'),
      keepRevokedToken: db.prepare(
        'INSERT OR REPLACE INTO revoked_runner_tokens (token_digest, name, revoked_at, revoked_by) SELECT token_digest, name, ?, ? FROM runners WHERE name = ? AND token_digest IS NOT NULL',
      ),
      revoked: db.prepare('UPDATE runners SET token_digest = NULL, revoked_at = ?, revoked_by = ? WHERE name = ?'),
      revokedTokens: db.prepare('SELECT name, token_digest AS tokenDigest, revoked_at AS revokedAt, revoked_by AS revokedBy FROM revoked_runner_tokens'),
      connected: db.prepare(
        'UPDATE runners SET kind = ?, labels = ?, software_version = ?, max_concurrent = ?, connected = 1, last_contact_at = ?, disconnect_reason = NULL WHERE name = ?',
      ),
      seen: db.prepare('UPDATE runners SET last_contact_at = ? WHERE name = ?'),
      disconnected: db.prepare('UPDATE runners SET connected = 0, disconnect_reason = ?, last_contact_at = CASE WHEN ? THEN ? ELSE last_contact_at END WHERE name = ?'),
    };
  }

  apply(recorded: RecordedEvent): void {
    if (!recorded.stream.startsWith('runner-')) return;
    const event = { type: recorded.type, data: recorded.data } as RunnerEvent;
    const { at, actor } = recorded.metadata;
    switch (event.type) {
      case 'RunnerRegistered':
        this.q.ensure.run(event.data.name);
        this.q.registered.run(event.data.tokenDigest, at, actor, event.data.name);
        return;
      case 'RunnerRevoked':
        this.q.keepRevokedToken.run(at, actor, event.data.name);
        this.q.revoked.run(at, actor, event.data.name);
        return;
      case 'RunnerConnected': {
        const { name, kind, labels, softwareVersion, maxConcurrent } = event.data;
        this.q.ensure.run(name);
        this.q.connected.run(kind, JSON.stringify(labels), softwareVersion, maxConcurrent, at, name);
        return;
      }
      case 'RunnerSeen':
        this.q.seen.run(at, event.data.name);
        return;
      case 'RunnerDisconnected':
        // A goodbye is contact too; a time-out or a revocation is not.
        this.q.disconnected.run(event.data.reason, event.data.reason === 'goodbye' ? 1 : 0, at, event.data.name);
        return;
      default:
        return;
    }
  }

  /** One runner name as the log knows it, or null. */
  get(name: string): RunnerRecord | null {
    const row = this.q.get.get(name) as RunnerRow | undefined;
    return row ? toRecord(row) : null;
  }

  /** Every runner name the log knows, by name. */
  list(): RunnerRecord[] {
    return (this.q.all.all() as RunnerRow[]).map(toRecord);
  }

  /** The digests of every registered, unrevoked token, with their runner's name. */
  registeredTokens(): Array<{ name: string; tokenDigest: string }> {
    return this.q.tokens.all() as Array<{ name: string; tokenDigest: string }>;
  }

  /** Every revoked token's digest, with its runner's name and who revoked it when. */
  revokedTokens(): RevokedToken[] {
    return this.q.revokedTokens.all() as RevokedToken[];
  }
}

function toRecord(row: RunnerRow): RunnerRecord {
  return {
    name: row.name,
    registered: row.tokenDigest !== null,
    registeredAt: row.registeredAt,
    registeredBy: row.registeredBy,
    revokedAt: row.revokedAt,
    revokedBy: row.revokedBy,
    kind: row.kind,
    labels: JSON.parse(row.labels) as string[],
    softwareVersion: row.softwareVersion,
    maxConcurrent: row.maxConcurrent,
    connected: row.connected === 1,
    lastContactAt: row.lastContactAt,
    disconnectReason: row.disconnectReason,
  };
}
