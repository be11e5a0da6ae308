import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

/**
 * Lets a stopping server finish closing. Node's `server.close()` stops accepting
 * connections but goes on serving every request that arrives on a connection already
 * open with keep-alive; a job server polls on one without a pause, so the server would
 * never close. From the moment the server begins to stop (`onModuleDestroy`, the first
 * of Nest's shutdown hooks: before held claims and control requests are answered in
 * `beforeApplicationShutdown`), every answer not yet begun says `Connection: close`, so
 * each client's next request needs a new connection, which the closed listener refuses.
 */
@Injectable()
export class ConnectionDrain implements OnModuleDestroy {
  private draining = false;
  /** Answers being worked on whose headers are not yet sent. */
  private readonly open = new Set<Response>();

  /** Express middleware: marks answers while draining, and keeps track of those in progress. */
  readonly middleware = (_request: Request, response: Response, next: NextFunction): void => {
    if (this.draining) {
      response.setHeader('Connection', 'close');
    } else {
      this.open.add(response);
      response.once('close', () => this.open.delete(response));
    }
    next();
  };

  onModuleDestroy(): void {
    this.draining = true;
    for (const response of this.open) if (!response.headersSent) response.setHeader('Connection', 'close');
    this.open.clear();
  }
}
