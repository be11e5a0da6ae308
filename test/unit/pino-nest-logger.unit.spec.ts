/** Nest's Logger through PinoNestLogger: the call shapes Nest really uses, as pino JSON lines. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import pino from 'pino';
import { PinoNestLogger } from '../../src/logging/pino-nest-logger';

function capture(level: pino.LevelWithSilent): { lines: Array<Record<string, unknown>>; logger: pino.Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level, base: null, timestamp: false, formatters: { level: (label) => ({ level: label }) } }, stream) };
}

describe('PinoNestLogger', () => {
  after(() => Logger.overrideLogger(false));

  it('writes every Nest Logger call as a pino line with its context, stack and details', async () => {
    const { lines, logger } = capture('debug');
    Logger.overrideLogger(new PinoNestLogger(logger));
    const log = new Logger('RunScheduler');
    log.log('Started 2 runs');
    log.warn('The disk is nearly full');
    log.error('Starting queued runs failed: boom');
    const error = new Error('boom');
    log.error('Recording failed', error.stack);
    log.debug('details', { runs: 2 });
    new Logger('RoutesResolver').log('Mapped {/api/runs, GET}');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(lines.slice(0, 3), [
      { level: 'info', context: 'RunScheduler', msg: 'Started 2 runs' },
      { level: 'warn', context: 'RunScheduler', msg: 'The disk is nearly full' },
      { level: 'error', context: 'RunScheduler', msg: 'Starting queued runs failed: boom' },
    ]);
    assert.equal(lines[3].stack, error.stack);
    assert.equal(lines[3].msg, 'Recording failed');
    assert.deepEqual(lines[4], { level: 'debug', context: 'RunScheduler', details: [{ runs: 2 }], msg: 'details' });
    assert.deepEqual(lines[5], { level: 'debug', context: 'RoutesResolver', msg: 'Mapped {/api/runs, GET}' }, "Nest's own start-up chatter is debug");
  });

  it('leaves out what is below the level', async () => {
    const { lines, logger } = capture('warn');
    Logger.overrideLogger(new PinoNestLogger(logger));
    new Logger('X').log('quiet');
    new Logger('X').warn('loud');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(lines, [{ level: 'warn', context: 'X', msg: 'loud' }]);
  });
});
