import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { runnerTokenDigest } from './runner-token';
import { type RevokedToken, RunnersReadModel } from './runners.read-model';

/**
 * Checks job servers' tokens: those of `ENDERCOMPUTE_RUNNER_TOKENS` and those registered
 * through `POST /api/runners` (known by their digest in the log, through the read model,
 * so a token revoked on any server sharing the store stops working here once this server
 * has applied the revocation). Tokens are never logged or kept: only their digests.
 */
@Injectable()
export class RunnerTokens {
  private readonly configured: ReadonlyArray<{ name: string; digest: Buffer }>;

  constructor(
    config: AppConfig,
    private readonly runners: RunnersReadModel,
  ) {
    this.configured = config.runnerTokens.map(({ name, token }) => ({ name, digest: Buffer.from(runnerTokenDigest(token), 'hex') }));
  }

  /**
   * The runner a presented token belongs to, or null. Compares the token's digest with
   * every known digest in constant time, always all of them (no early exit), so the time
   * of an answer says nothing of how close a guess was.
   */
  authenticate(token: string): { name: string } | null {
    const presented = Buffer.from(runnerTokenDigest(token), 'hex');
    let match: { name: string } | null = null;
    for (const runner of this.configured) {
      if (timingSafeEqual(presented, runner.digest)) match = { name: runner.name };
    }
    for (const runner of this.runners.registeredTokens()) {
      const digest = Buffer.from(runner.tokenDigest, 'hex');
      if (digest.length === presented.length && timingSafeEqual(presented, digest)) match = { name: runner.name };
    }
    return match;
  }

  /**
   * The revocation of a presented token that opens nothing, or null when it was never
   * revoked here. Compared like {@link authenticate}: every revoked digest, in constant time.
   */
  revocation(token: string): Omit<RevokedToken, 'tokenDigest'> | null {
    const presented = Buffer.from(runnerTokenDigest(token), 'hex');
    let match: Omit<RevokedToken, 'tokenDigest'> | null = null;
    for (const { tokenDigest, ...revoked } of this.runners.revokedTokens()) {
      const digest = Buffer.from(tokenDigest, 'hex');
      if (digest.length === presented.length && timingSafeEqual(presented, digest)) match = revoked;
    }
    return match;
  }

  /** Whether a runner name comes from `ENDERCOMPUTE_RUNNER_TOKENS` (so the API can neither register nor revoke it). */
  isConfigured(name: string): boolean {
    return this.configured.some((runner) => runner.name === name);
  }

  /** The names of the runners configured by the environment. */
  configuredNames(): string[] {
    return this.configured.map((runner) => runner.name);
  }
}
