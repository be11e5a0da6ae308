import { applyDecorators, type CanActivate, type ExecutionContext, Injectable, SetMetadata, UnauthorizedException, UseGuards } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { NOT_KEY_GUARDED } from '../auth/auth.guard';
import { type AuthenticatedRequest, correlationIdOf } from '../auth/request-context';
import { RunnerTokens } from './runner-tokens';

/** The OpenAPI security scheme of runner endpoints (declared in `openapi/openapi.document.ts`). */
export const RUNNER_SECURITY_SCHEME = 'runnerToken';

export const NOT_A_RUNNER = 'This endpoint is for job servers: it takes a runner token, not a key';

/** A request to a runner endpoint once its token was checked. */
export interface RunnerRequest extends AuthenticatedRequest {
  runner?: { name: string };
}

/**
 * Checks the runner token of a {@link RunnerEndpoint} route: `Authorization: Bearer <token>`
 * must be a runner token (a person's key is refused, 401). Sets `request.runner` and a
 * command context whose actor is the runner's name and source `runner`, so `@Ctx()` works.
 */
@Injectable()
export class RunnerGuard implements CanActivate {
  constructor(private readonly tokens: RunnerTokens) {}

  canActivate(execution: ExecutionContext): boolean {
    const request = execution.switchToHttp().getRequest<RunnerRequest>();
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const runner = match ? this.tokens.authenticate(match[1]) : null;
    if (!runner) throw new UnauthorizedException(NOT_A_RUNNER);
    request.runner = runner;
    request.commandContext = { actor: runner.name, source: 'runner', correlationId: correlationIdOf(request), causationId: null };
    return true;
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
export function runnerOf(request: object): { name: string } {
  const runner = (request as RunnerRequest).runner;
  if (!runner) throw new Error('runnerOf used on a route that is not a @RunnerEndpoint()');
  return runner;
}
