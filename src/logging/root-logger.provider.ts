import type { Logger } from 'pino';

/** The server's pino logger, injectable (main creates it; applications built in tests get a silent one). */
export class RootLogger {
  constructor(readonly logger: Logger) {}
}
