/** Recurring schedules: the cron arithmetic, the schedule decider, and the read model's plan of what is due. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordedEvent } from '../../src/event-store/event-store.port';
import { dueSlot, nextSlotAfter, scheduleProblems } from '../../src/schedules/cron';
import { decideSchedule, evolveSchedule, initialScheduleState, type ScheduleCommand, type ScheduleState } from '../../src/schedules/schedule.decider';
import type { ScheduleEvent } from '../../src/schedules/schedule.events';
import { SchedulesReadModel } from '../../src/schedules/schedules.read-model';
import { ConflictError } from '../../src/shared/domain-errors';
import { openProjectionDb } from '../../src/projections/projection-database';
import { spec } from './given-when-then';

const at = (iso: string): Date => new Date(iso);

/** The read model on an in-memory projection database, as the engine opens it. */
function openedModel(): SchedulesReadModel {
  const model = new SchedulesReadModel();
  model.open(openProjectionDb(null));
  return model;
}

describe('cron arithmetic', () => {
  const workdays = { cron: '0 9 * * 1-5', timeZone: 'Europe/Berlin' };

  it('reads the pattern in its time zone, across a daylight-saving change', () => {
    // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer (the clocks went forward on 29 March 2026).
    assert.equal(nextSlotAfter(workdays, at('2026-03-27T12:00:00Z'))?.toISOString(), '2026-03-30T07:00:00.000Z');
    assert.equal(nextSlotAfter(workdays, at('2026-03-26T12:00:00Z'))?.toISOString(), '2026-03-27T08:00:00.000Z');
  });

  it('owes nothing before the first slot after what was covered, and says when it comes', () => {
    assert.deepEqual(dueSlot(workdays, at('2026-03-27T08:00:00Z'), at('2026-03-28T12:00:00Z')), { due: null, next: at('2026-03-30T07:00:00Z') });
  });

  it('owes a slot at exactly its time', () => {
    const every2s = { cron: '*/2 * * * * *', timeZone: 'UTC' };
    assert.deepEqual(dueSlot(every2s, at('2026-01-01T00:00:00Z'), at('2026-01-01T00:00:02Z')), { due: at('2026-01-01T00:00:02Z'), next: at('2026-01-01T00:00:04Z') });
  });

  it('owes one firing, for the latest slot, however many were missed while the server was down', () => {
    const hourly = { cron: '0 * * * *', timeZone: 'UTC' };
    const { due, next } = dueSlot(hourly, at('2026-05-01T00:00:00Z'), at('2026-05-03T07:30:00Z'));
    assert.equal(due?.toISOString(), '2026-05-03T07:00:00.000Z');
    assert.equal(next?.toISOString(), '2026-05-03T08:00:00.000Z');
    // Covered up to that slot, nothing more is owed until the next one.
    assert.equal(dueSlot(hourly, due!, at('2026-05-03T07:59:59Z')).due, null);
  });

  it('names every problem of a schedule list, by field', () => {
    assert.deepEqual(scheduleProblems([{ cron: '0 3 * * *', timeZone: 'UTC' }]), []);
    assert.deepEqual(scheduleProblems('daily'), ['schedules must be a list of {cron, timeZone}']);
    assert.deepEqual(scheduleProblems([null, { cron: '', timeZone: 'UTC' }, { cron: '* * * * *', timeZone: 'Nowhere/Town' }, { cron: '* * * * *', timeZone: 'UTC', every: 1 }]), [
      'schedules[0] must be an object {cron, timeZone}',
      'schedules[1].cron must be a cron expression of 1–100 characters, such as "0 3 * * *"',
      'schedules[2].timeZone must be an IANA time zone such as "UTC" or "Europe/Berlin": "Nowhere/Town" is not one',
      'schedules[3].every is not a schedule field (cron, timeZone)',
    ]);
    assert.match(scheduleProblems([{ cron: '* * * * * * *', timeZone: 'UTC' }])[0], /^schedules\[0\]\.cron "\* \* \* \* \* \* \*" is not a valid cron expression: /);
  });
});

describe('schedule decider', () => {
  const schedules = spec<ScheduleCommand, ScheduleState, ScheduleEvent>({ initialState: initialScheduleState, decide: decideSchedule, evolve: evolveSchedule });
  const fire = (slot: string, cron = '0 * * * *'): ScheduleCommand => ({ type: 'FireSchedule', jobId: 'j-1', firingId: `f-${slot}`, cron, timeZone: 'UTC', slot });
  const fired = (slot: string, cron = '0 * * * *'): ScheduleEvent => ({ type: 'ScheduleFired', data: { jobId: 'j-1', firingId: `f-${slot}`, cron, timeZone: 'UTC', slot } });

  it('fires a slot and remembers it per schedule', () => {
    const state = schedules.given().when(fire('2026-05-03T07:00:00.000Z')).then([fired('2026-05-03T07:00:00.000Z')]);
    assert.deepEqual(state, { firedUpTo: { '0 * * * *@UTC': '2026-05-03T07:00:00.000Z' } });
  });

  it('fires a later slot, and another schedule at the same slot', () => {
    schedules.given(fired('2026-05-03T07:00:00.000Z')).when(fire('2026-05-03T08:00:00.000Z')).then([fired('2026-05-03T08:00:00.000Z')]);
    schedules.given(fired('2026-05-03T07:00:00.000Z')).when(fire('2026-05-03T07:00:00.000Z', '*/30 * * * *')).then([fired('2026-05-03T07:00:00.000Z', '*/30 * * * *')]);
  });

  it('refuses a slot already fired, or an earlier one (another server fired it first)', () => {
    schedules
      .given(fired('2026-05-03T07:00:00.000Z'))
      .when(fire('2026-05-03T07:00:00.000Z'))
      .thenThrows(ConflictError, /^The schedule "0 \* \* \* \*" \(UTC\) already fired for 2026-05-03T07:00:00\.000Z$/);
    schedules.given(fired('2026-05-03T07:00:00.000Z')).when(fire('2026-05-03T06:00:00.000Z')).thenThrows(ConflictError, /already fired/);
  });
});

describe('SchedulesReadModel', () => {
  let position = 0;
  const event = (stream: string, type: string, data: unknown, atIso: string, actor = 'alice'): RecordedEvent => ({
    id: `e-${++position}`,
    stream,
    revision: 0n,
    position: { commit: BigInt(position), prepare: BigInt(position) },
    type,
    data,
    metadata: { actor, at: atIso, correlationId: 'c', causationId: null, source: 'api' },
  } as unknown as RecordedEvent);
  const hourly = { cron: '0 * * * *', timeZone: 'UTC' };

  it('owes no slot from before a schedule was defined; fires once for missed slots; forgets removed jobs', () => {
    const model = openedModel();
    model.apply(event('job-j1', 'JobCreated', { jobId: 'j1', name: 'a', schedules: [hourly] }, '2026-05-01T00:30:00.000Z'));
    assert.deepEqual(model.plan(at('2026-05-01T00:59:00Z')), { due: [], nextAt: Date.parse('2026-05-01T01:00:00Z') });

    // The server was down from 00:59 to 05:10: one firing is owed, for 05:00.
    const plan = model.plan(at('2026-05-01T05:10:00Z'));
    assert.deepEqual(plan.due.map((d) => d.slot), ['2026-05-01T05:00:00.000Z']);
    model.apply(event('schedule-j1', 'ScheduleFired', { jobId: 'j1', firingId: 'f1', ...hourly, slot: '2026-05-01T05:00:00.000Z' }, '2026-05-01T05:10:00.100Z', 'schedule'));
    assert.deepEqual(model.plan(at('2026-05-01T05:10:01Z')).due, []);
    assert.equal(model.forJob('j1')[0].lastSlot, '2026-05-01T05:00:00.000Z');

    // Its run is owed until the RunRequested naming the firing arrives.
    assert.deepEqual(model.pendingFirings().map((p) => p.data.firingId), ['f1']);
    model.apply(event('run-j1-1', 'RunRequested', { runId: 'j1-1', jobId: 'j1', trigger: { kind: 'schedule', firingId: 'f1', ...hourly, slot: '2026-05-01T05:00:00.000Z' } }, '2026-05-01T05:10:00.200Z', 'schedule'));
    assert.deepEqual(model.pendingFirings(), []);

    model.apply(event('job-j1', 'JobRemoved', { jobId: 'j1' }, '2026-05-01T05:20:00.000Z'));
    assert.deepEqual(model.plan(at('2026-05-01T09:00:00Z')), { due: [], nextAt: null });
  });

  it('keeps the history of a schedule an edit keeps, and owes a new schedule nothing from before it was added', () => {
    const model = openedModel();
    model.apply(event('job-j1', 'JobCreated', { jobId: 'j1', name: 'a', schedules: [hourly] }, '2026-05-01T00:30:00.000Z'));
    model.apply(event('schedule-j1', 'ScheduleFired', { jobId: 'j1', firingId: 'f1', ...hourly, slot: '2026-05-01T01:00:00.000Z' }, '2026-05-01T01:00:00.010Z', 'schedule'));
    const halfHourly = { cron: '30 * * * *', timeZone: 'UTC' };
    model.apply(event('job-j1', 'JobUpdated', { jobId: 'j1', schedules: [hourly, halfHourly] }, '2026-05-01T01:40:00.000Z'));
    assert.equal(model.forJob('j1')[0].lastSlot, '2026-05-01T01:00:00.000Z');
    const due = model.plan(at('2026-05-01T02:05:00Z')).due.map((d) => `${d.schedule.cron} ${d.slot}`);
    assert.deepEqual(due, ['0 * * * * 2026-05-01T02:00:00.000Z']);
    assert.deepEqual(model.plan(at('2026-05-01T02:31:00Z')).due.map((d) => d.slot), ['2026-05-01T02:00:00.000Z', '2026-05-01T02:30:00.000Z']);
  });

  it('reads a job recorded before schedules existed as having none', () => {
    const model = openedModel();
    model.apply(event('job-j1', 'JobCreated', { jobId: 'j1', name: 'old' }, '2026-05-01T00:00:00.000Z'));
    assert.deepEqual(model.forJob('j1'), []);
  });
});
