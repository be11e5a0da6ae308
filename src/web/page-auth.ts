import { applyDecorators, type CanActivate, Controller, type ExecutionContext, Injectable, UseFilters, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { Authenticator, Public } from '../auth/auth.guard';
import type { AuthenticatedRequest } from '../auth/request-context';
import { ValidationError } from '../shared/domain-errors';
import { PageAuthError } from './page-errors';
import { PageExceptionFilter } from './page-exception.filter';

/**
 * The pages' own check of the key, in place of the API's JSON 401: the same
 * {@link Authenticator}, but a refusal becomes the key form, not JSON.
 */
@Injectable()
export class PageGuard implements CanActivate {
  constructor(private readonly authenticator: Authenticator) {}

  canActivate(execution: ExecutionContext): boolean {
    const request = execution.switchToHttp().getRequest<AuthenticatedRequest>();
    let context;
    try {
      context = this.authenticator.authenticate(request);
    } catch (error) {
      if (error instanceof ValidationError) throw badNameError(error);
      throw error;
    }
    if (!context) {
      if (hasAuthorization(request)) throw new PageAuthError('rejected', 'You are not authenticated');
      throw new PageAuthError('missing', 'Enter the key to continue');
    }
    request.commandContext = context;
    return true;
  }
}

/** The page sends the person's name as X-Actor: what is wrong with it, in their terms. */
export function badNameError(error: ValidationError): PageAuthError {
  const problems = error.problems.map((problem) => problem.replace(/^X-Actor: /, ''));
  return new PageAuthError('bad-name', `Your name ${problems.join('; ')}`);
}

function hasAuthorization(request: Request): boolean {
  return typeof request.headers.authorization === 'string' && request.headers.authorization.trim() !== '';
}

/**
 * A controller of pages: not guarded by the API's JSON guard but by
 * {@link PageGuard}, and its errors answered as HTML by {@link PageExceptionFilter}.
 */
export const PageController = (path = ''): ClassDecorator =>
  applyDecorators(Controller(path), Public(), UseGuards(PageGuard), UseFilters(PageExceptionFilter));
