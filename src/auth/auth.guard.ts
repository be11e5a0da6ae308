import { applyDecorators, type CanActivate, type ExecutionContext, Injectable, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { DECORATORS } from '@nestjs/swagger';
import { Reflector } from '@nestjs/core';
import type { CommandContext } from '../shared/command-context';
import { ValidationError } from '../shared/domain-errors';
import { KeyService } from './key-service';
import { actorProblems } from '../shared/names';
import { type AuthenticatedRequest, correlationIdOf, sourceOf } from './request-context';

const PUBLIC = 'endercompute:public';

/**
 * Routes the key guard leaves to a guard of their own: {@link Public} ones, and job
 * servers' (`runners/runner-endpoint.ts`), which take a runner token instead of a key.
 */
export const NOT_KEY_GUARDED = PUBLIC;

/**
 * Marks a route that needs no key (health, the page shell, static assets, the API's
 * description); the OpenAPI document says so too (no security requirement).
 */
export const Public = (): MethodDecorator & ClassDecorator => applyDecorators(SetMetadata(PUBLIC, true), noKeyInOpenApi);

/**
 * Sets the route's OpenAPI security requirement to `[{}]`: "no scheme needed" (what
 * `@ApiSecurity` records; an empty list would be dropped by the generator).
 */
const noKeyInOpenApi = (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor): void => {
  Reflect.defineMetadata(DECORATORS.API_SECURITY, [{}], descriptor ? (descriptor.value as object) : target);
};

export const NOT_AUTHENTICATED = 'You are not authenticated';

/**
 * Works out who is asking: null without a valid `Authorization: Bearer <key>`;
 * else the actor is a named key's name, the `X-Actor` header, or `anonymous`.
 * The key itself is never kept on the request or logged.
 */
@Injectable()
export class Authenticator {
  constructor(private readonly keys: KeyService) {}

  authenticate(request: AuthenticatedRequest): CommandContext | null {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const verdict = match ? this.keys.verify(match[1]) : { valid: false as const };
    if (!verdict.valid) return null;
    return {
      actor: verdict.name ?? actorFromHeader(request.headersDistinct['x-actor']),
      source: sourceOf(request),
      correlationId: correlationIdOf(request),
      causationId: null,
    };
  }
}

/** Requires a valid key on every route not marked {@link Public}; sets `request.commandContext`. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly authenticator: Authenticator,
    private readonly reflector: Reflector,
  ) {}

  canActivate(execution: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [execution.getHandler(), execution.getClass()])) return true;
    const request = execution.switchToHttp().getRequest<AuthenticatedRequest>();
    const context = this.authenticator.authenticate(request);
    if (!context) throw new UnauthorizedException(NOT_AUTHENTICATED);
    request.commandContext = context;
    return true;
  }
}

/**
 * The actor an `X-Actor` header names, as each line of it came (`headersDistinct`).
 * Node joins repeated lines with `, `, which would make `alice` and `system` one
 * actor `alice, system`: a request names one actor, so a repeated header is a 400.
 */
function actorFromHeader(lines: string[] | undefined): string {
  if (lines === undefined || lines.length === 0) return 'anonymous';
  if (lines.length > 1) throw new ValidationError([`X-Actor: must be sent once (it came ${lines.length} times)`]);
  // Browsers send header values as Latin-1; the pages percent-encode names so any language fits.
  let value = lines[0];
  try {
    value = decodeURIComponent(value);
  } catch {
    throw new ValidationError(['X-Actor: is not valid percent-encoded text']);
  }
  // Stored in NFC like every name, so one person is one actor however their keyboard composes.
  value = value.normalize('NFC').trim();
  if (value === '') return 'anonymous';
  const problems = actorProblems(value);
  if (problems.length > 0) throw new ValidationError(problems.map((problem) => `X-Actor: ${problem}`));
  return value;
}
