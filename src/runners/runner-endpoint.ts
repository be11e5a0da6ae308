import { applyDecorators, type CanActivate, type ExecutionContext, Injectable, SetMetadata, UnauthorizedException, UseGuards } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { NOT_KEY_GUARDED } from '../auth/auth.guard';
import { KeyService } from '../auth/key-service';
import { type AuthenticatedRequest, correlationIdOf } from '../auth/request-context';
import { RunnerTokens } from './runner-tokens';

/** The OpenAPI security scheme of runner endpoints (declared in `openapi/openapi.document.ts`). */
export const RUNNER_SECURITY_SCHEME = 'runnerToken';

/*
 * The 401 answers of runner endpoints, one per cause, so that whoever reads one (a job
 * server's log, `curl`) knows what to fix. None echoes the token, and none tells a
 * holder of a made-up token anything about the runners that exist: only the holder of
 * a revoked token learns whose it was (they had it, and `whoami` told them).
 */
export const NO_RUNNER_TOKEN = 'This endpoint is for job servers and needs a runner token: send it as "Authorization: Bearer <runner token>"';
export const KEY_IS_NOT_A_RUNNER_TOKEN =
  "This endpoint is for job servers: it takes a runner token, not a person's key. Register a job server with POST /api/runners (or on the Runners page) or in ENDERCOMPUTE_RUNNER_TOKENS, and give it that runner's token";
export const UNKNOWN_RUNNER_TOKEN =
  "This server does not know that runner token: check that it was copied whole, and that it was registered (POST /api/runners, on this server or one sharing its store) or is in this server's ENDERCOMPUTE_RUNNER_TOKENS";
export const revokedRunnerToken = (revoked: { name: string; revokedBy: string; revokedAt: string }): string =>
  `The token of runner "${revoked.name}" was revoked by ${revoked.revokedBy} at ${revoked.revokedAt}: it opens nothing any more (register the job server again for a new token)`;

/** A request to a runner endpoint once its token was checked. */
/** The runner a request comes from, and whether its token still opens the protocol (see {@link RunnerGuard}). */
export interface AuthenticatedRunner {
  name: string;
  /**
   * Whether the token this request came with still belongs to this runner: false once it
   * was revoked while the request was held open (a claim waits up to 25 s). Constant time.
   */
  stillValid(): boolean;
}

export interface RunnerRequest extends AuthenticatedRequest {
  runner?: AuthenticatedRunner;
}

/**
 * Checks the runner token of a {@link RunnerEndpoint} route: `Authorization: Bearer <token>`
 * must be a runner token. Sets `request.runner` and a command context whose actor is the
 * runner's name and source `runner`, so `@Ctx()` works. Anything else is a 401 saying why:
 * no token, a person's key, a revoked token, or a token this server does not know.
 */
@Injectable()
export class RunnerGuard implements CanActivate {
  constructor(
    private readonly tokens: RunnerTokens,
    private readonly keys: KeyService,
  ) {}

  canActivate(execution: ExecutionContext): boolean {
    const request = execution.switchToHttp().getRequest<RunnerRequest>();
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!match) throw new UnauthorizedException(NO_RUNNER_TOKEN);
    const token = match[1];
    const runner = this.tokens.authenticate(token);
    if (!runner) throw new UnauthorizedException(this.whyRefused(token));
    request.runner = { name: runner.name, stillValid: () => this.tokens.authenticate(token)?.name === runner.name };
    request.commandContext = { actor: runner.name, source: 'runner', correlationId: correlationIdOf(request), causationId: null };
    return true;
  }

  /**
   * Why a presented token that opens nothing was refused. Asked only once it was refused
   * (a valid token's requests pay for no more than before); each check compares in
   * constant time, against all of its candidates, as `authenticate` does.
   */
  private whyRefused(token: string): string {
    if (this.keys.verify(token).valid) return KEY_IS_NOT_A_RUNNER_TOKEN;
    const revoked = this.tokens.revocation(token);
    return revoked ? revokedRunnerToken(revoked) : UNKNOWN_RUNNER_TOKEN;
  }
}

/**
 * Marks a route (or every route of a controller) that only a job server may call: it
 * accepts a runner token and nothing else. The key guard leaves it alone, and
 * {@link RunnerGuard} checks the token; the OpenAPI document names the runner scheme. Every other
 * route refuses a runner token with 401, because the key guard knows no runner tokens
 * (and `ENDERCOMPUTE_RUNNER_TOKENS` may not reuse a key).
 */
export const RunnerEndpoint = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(NOT_KEY_GUARDED, true), ApiBearerAuth(RUNNER_SECURITY_SCHEME), UseGuards(RunnerGuard));

/** The runner a {@link RunnerEndpoint} request comes from. Throws when used on another route (a programming error). */
export function runnerOf(request: object): AuthenticatedRunner {
  const runner = (request as RunnerRequest).runner;
  if (!runner) throw new Error('runnerOf used on a route that is not a @RunnerEndpoint()');
  return runner;
}
