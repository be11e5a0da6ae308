import { type ArgumentsHost, HttpException, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { Authenticator } from '../auth/auth.guard';
import type { AuthenticatedRequest } from '../auth/request-context';
import { PageErrorPages } from '../http/http-exception.filter';
import { NotFoundError, ValidationError } from '../shared/domain-errors';
import { badNameError } from './page-auth';
import { PageAuthError } from './page-errors';
import { PageExceptionFilter } from './page-exception.filter';

/**
 * A browser asking for a page URL that does not exist gets a page, not JSON:
 * the key form when it sent no key (as for any page), else a "not found" page.
 * Paths under `/api` and requests that do not accept HTML keep the API's answer.
 */
@Injectable()
export class PageFallback extends PageErrorPages {
  constructor(
    private readonly authenticator: Authenticator,
    private readonly pages: PageExceptionFilter,
  ) {
    super();
  }

  handles(request: Request, exception: unknown): boolean {
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    if (request.path === '/api' || request.path.startsWith('/api/')) return false;
    if (!(exception instanceof HttpException) || exception.getStatus() !== 404) return false;
    return request.headers['hx-request'] === 'true' || /text\/html/.test(String(request.headers.accept ?? ''));
  }

  render(_exception: unknown, host: ArgumentsHost): void {
    const request = host.switchToHttp().getRequest<AuthenticatedRequest>();
    let error: Error;
    try {
      const context = this.authenticator.authenticate(request);
      if (context) {
        request.commandContext = context;
        error = new NotFoundError(`There is no page at ${request.path.slice(0, 200)}`);
      } else {
        const sent = typeof request.headers.authorization === 'string' && request.headers.authorization.trim() !== '';
        error = sent ? new PageAuthError('rejected', 'You are not authenticated') : new PageAuthError('missing', 'Enter the key to continue');
      }
    } catch (cause) {
      if (!(cause instanceof ValidationError)) throw cause;
      error = badNameError(cause);
    }
    this.pages.catch(error, host);
  }
}
