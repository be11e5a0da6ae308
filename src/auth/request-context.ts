import { randomUUID } from 'node:crypto';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { CommandContext } from '../shared/command-context';

/** Set on the request by the auth guard once the key is valid. */
export interface AuthenticatedRequest extends Request {
  commandContext?: CommandContext;
}

/** Where a request comes from, for the `source` metadata of the events it causes. */
export function sourceOf(request: Request): string {
  if (request.headers['hx-request'] === 'true') return 'web';
  if (String(request.headers['user-agent'] ?? '').startsWith('endercompute-cli/')) return 'cli';
  return 'api';
}

/** A caller-supplied correlation id when it is a sane one, else a new one. */
export function correlationIdOf(request: Request): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,100}$/.test(given) ? given : randomUUID();
}

/** Injects the command context (actor, source, correlation id) of an authenticated request. */
export const Ctx = createParamDecorator((_data: unknown, execution: ExecutionContext): CommandContext => {
  const request = execution.switchToHttp().getRequest<AuthenticatedRequest>();
  if (!request.commandContext) throw new Error('Ctx used on a route the auth guard does not protect');
  return request.commandContext;
});
