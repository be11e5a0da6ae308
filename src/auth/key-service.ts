import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { EventStore } from '../event-store/event-store.port';
import { Clock } from '../shared/clock';
import { systemContext } from '../shared/command-context';
import { appendEvents } from '../shared/decide-and-append';
import { IdGenerator } from '../shared/ids';
import { lastMondayMidnight, nextMondayMidnight } from './key-schedule';

export const KEY_STREAM = 'keys-shared';

/** Who a valid key belongs to: a named key's name, or null for the shared key. */
export type KeyMatch = { valid: false } | { valid: true; name: string | null };

interface StoredKey {
  key: string;
  issuedAt: string;
}

/** A short, one-way fingerprint: enough to tell keys apart in the audit trail, useless to guess one. */
export function keyFingerprint(key: string): string {
  return createHash('sha256').update(`endercompute-key:${key}`).digest('hex').slice(0, 16);
}

/**
 * Holds the keys and checks presented ones in constant time. When no fixed key
 * is configured it generates one, keeps it in `<data>/key.json` (mode 0600),
 * and renews it every Monday 00:00 server time, recording a `KeyRotated` event
 * with a fingerprint only.
 */
@Injectable()
export class KeyService implements OnApplicationShutdown {
  private readonly logger = new Logger(KeyService.name);
  private sharedKey = '';
  private sharedDigest: Buffer = Buffer.alloc(32);
  private readonly named: Array<{ name: string; digest: Buffer }>;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
  ) {
    this.named = config.namedKeys.map(({ name, key }) => ({ name, digest: digest(key) }));
  }

  /** Loads or creates the key, renews it if a Monday passed, and arms the next renewal. */
  async start(): Promise<void> {
    if (this.config.fixedKey !== null) {
      this.setSharedKey(this.config.fixedKey);
      return;
    }
    const stored = this.readStoredKey();
    if (stored && new Date(stored.issuedAt) >= lastMondayMidnight(this.clock.now())) {
      this.setSharedKey(stored.key);
    } else {
      await this.renew(stored ? 'renewed' : 'generated');
    }
    this.armRenewal();
  }

  /** Whether the key is generated (and so shown at start) rather than fixed by configuration. */
  get isGenerated(): boolean {
    return this.config.fixedKey === null;
  }

  /** The current shared key: for the start-up banner only. */
  get currentKey(): string {
    return this.sharedKey;
  }

  get keyFilePath(): string {
    return join(this.config.dataDir, 'key.json');
  }

  /** Checks a presented key against every key, always comparing them all (no early exit). */
  verify(presented: string): KeyMatch {
    const candidate = digest(presented);
    let match: KeyMatch = { valid: false };
    if (timingSafeEqual(candidate, this.sharedDigest)) match = { valid: true, name: null };
    for (const named of this.named) {
      if (timingSafeEqual(candidate, named.digest)) match = { valid: true, name: named.name };
    }
    return match;
  }

  /** Replaces the generated key now: the old one stops working at once. */
  async renew(reason: 'generated' | 'renewed'): Promise<void> {
    const now = this.clock.now();
    const key = randomBytes(24).toString('base64url');
    mkdirSync(this.config.dataDir, { recursive: true });
    const temporary = `${this.keyFilePath}.tmp`;
    writeFileSync(temporary, JSON.stringify({ key, issuedAt: now.toISOString() } satisfies StoredKey), { mode: 0o600 });
    renameSync(temporary, this.keyFilePath);
    this.setSharedKey(key);
    const deps = { store: this.store, clock: this.clock, ids: this.ids };
    const event = {
      type: 'KeyRotated',
      data: { fingerprint: keyFingerprint(key), reason, validUntil: nextMondayMidnight(now).toISOString() },
    };
    await appendEvents(deps, KEY_STREAM, [event], 'any', systemContext(this.ids.newEventId()));
    if (reason === 'renewed') this.logger.log(`The shared key was renewed (fingerprint ${keyFingerprint(key)}); it is in ${this.keyFilePath}`);
  }

  onApplicationShutdown(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private armRenewal(): void {
    const delay = nextMondayMidnight(this.clock.now()).getTime() - this.clock.now().getTime();
    // setTimeout holds at most ~24.8 days; a week fits. Re-arm after each renewal.
    this.timer = setTimeout(() => {
      this.renew('renewed')
        .catch((error: unknown) => this.logger.error(`Renewing the shared key failed: ${String(error)}`))
        .finally(() => this.armRenewal());
    }, Math.max(1000, delay));
    this.timer.unref();
  }

  private readStoredKey(): StoredKey | null {
    try {
      const parsed = JSON.parse(readFileSync(this.keyFilePath, 'utf8')) as Partial<StoredKey>;
      if (typeof parsed.key === 'string' && parsed.key.length >= 16 && typeof parsed.issuedAt === 'string') {
        return { key: parsed.key, issuedAt: parsed.issuedAt };
      }
      this.logger.warn(`${this.keyFilePath} is not a valid key file: a new key is generated`);
      return null;
    } catch {
      return null;
    }
  }

  private setSharedKey(key: string): void {
    this.sharedKey = key;
    this.sharedDigest = digest(key);
  }
}

/** Hashing first gives equal-length buffers, so timingSafeEqual never leaks the length. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
