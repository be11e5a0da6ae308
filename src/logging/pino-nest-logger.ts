import type { LoggerService } from '@nestjs/common';
import type { Logger } from 'pino';

/**
 * Nest's own start-up chatter (modules loaded, each route mapped): useful when
 * debugging, noise at `info`, so it is logged at `debug`.
 */
const NEST_INTERNALS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

/**
 * Nest's `LoggerService` on pino, so every `new Logger(Context)` in the code writes
 * through the server's one logger. Nest calls `log(message, context)` and
 * `error(message, stack, context)`: the context becomes the `context` field, a stack
 * the `stack` field, further parameters `details`.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly root: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', message: unknown, params: unknown[]): void {
    const rest = [...params];
    // Nest always passes the context last when the logger has one.
    const context = rest.length > 0 && typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    if (level === 'info' && context !== undefined && NEST_INTERNALS.has(context)) level = 'debug';
    const fields: Record<string, unknown> = {};
    if (context !== undefined) fields.context = context;
    // error(message, stack, context): the stack, or undefined when the caller gave none.
    if (level === 'error' && (rest[0] === undefined || (typeof rest[0] === 'string' && /\n\s+at /.test(rest[0])))) {
      const stack = rest.shift();
      if (stack !== undefined) fields.stack = stack;
    }
    if (rest.length > 0) fields.details = rest;
    if (message instanceof Error) {
      fields.err = message;
      this.root[level](fields, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.root[level]({ ...fields, ...(message as object) });
    } else {
      this.root[level](fields, String(message));
    }
  }
}
