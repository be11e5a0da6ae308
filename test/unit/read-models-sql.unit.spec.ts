/**
 * The runs and jobs read models in SQL against the straightforward reference (the
 * in-memory models they replace, test/support/reference-read-models.ts) over a few
 * thousand runs: every list, filter, search, page, queue answer and record is the
 * same; events applied twice change nothing; the lists use indexes, never a scan.
 * All of it twice: on a database kept up to date event by event, and on one built from
 * the log (`open(db, { building: true })`, indexes and search built at the end, a
 * rolled-back batch on the way), which must hold the same rows and answer the same.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import type { RecordedEvent } from '../../src/event-store/event-store.port';
import { JobsReadModel, sortKeyOf, type JobRecord, type JobSearch } from '../../src/jobs/jobs.read-model';
import { outputsToExpire } from '../../src/runs/retention/output-retention.rules';
import { ALL_STATUSES, FINISHED_STATUSES, RunsReadModel, type RunFilter, type RunRecord, type RunStatus } from '../../src/runs/runs.read-model';
import { nameKey } from '../../src/shared/names';
import { ReferenceJobs, ReferenceRuns } from '../support/reference-read-models';
import { makeHistory, type History } from '../support/run-history';

interface Models {
  db: Database.Database;
  jobs: JobsReadModel;
  runs: RunsReadModel;
}

function openModels(): Models {
  const db = new Database(':memory:');
  const jobs = new JobsReadModel();
  const runs = new RunsReadModel();
  jobs.open(db);
  runs.open(db);
  return { db, jobs, runs };
}

/**
 * Models built from `events` as the engine builds a new database: in batches of one
 * transaction each, two of them rolled back (an event that fails: the batch's first, and
 * one halfway) and applied again, then the deferred indexes built and the models opened
 * again.
 */
function buildModels(events: readonly RecordedEvent[]): Models {
  const db = new Database(':memory:');
  const jobs = new JobsReadModel();
  const runs = new RunsReadModel();
  jobs.open(db, { building: true });
  runs.open(db, { building: true });
  const applyBatch = db.transaction((batch: readonly RecordedEvent[], failAt: number) => {
    batch.forEach((event, i) => {
      if (i === failAt) throw new Error('an event that cannot be applied');
      jobs.apply(event);
      runs.apply(event);
    });
    // As the engine does: what the batch kept in memory is written before its checkpoint.
    runs.beforeCheckpoint();
  });
  // Failing at its first event, a batch has told nothing yet: what the batches before it told must stay.
  const failures = new Map([
    [Math.floor(events.length / 1000 / 3) * 1000, 0],
    [Math.floor((events.length * 2) / 1000 / 3) * 1000, 700],
  ]);
  for (let start = 0; start < events.length; start += 1000) {
    const batch = events.slice(start, start + 1000);
    const failAt = failures.get(start);
    if (failAt !== undefined) {
      assert.throws(() => applyBatch(batch, failAt), /cannot be applied/);
      runs.rolledBack();
    }
    applyBatch(batch, -1);
    runs.committed();
  }
  db.transaction(() => {
    jobs.finishBuild();
    runs.finishBuild();
  })();
  jobs.open(db);
  runs.open(db);
  return { db, jobs, runs };
}

/** A record as plain data, what it reads lazily (request, output index) read out, for deep comparison. */
function plain(run: RunRecord | undefined): unknown {
  return run === undefined ? undefined : { ...run, snapshot: run.snapshot, extra: run.extra, outputChunks: run.outputChunks.map((chunk) => ({ ...chunk })) };
}

/**
 * Every row of every table, for comparing whole databases; FTS shadow tables only with
 * `fts` (a search index built in one pass is laid out differently from one kept up to
 * date, while holding the same terms: the searches compare those).
 */
function dump(db: Database.Database, fts = true): Record<string, unknown[]> {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
  const out: Record<string, unknown[]> = {};
  for (const table of tables) {
    if (table.endsWith('_fts') || (!fts && table.includes('_fts_'))) continue;
    out[table] = (db.prepare(`SELECT * FROM "${table}"`).raw().all() as unknown[][]).map((row) => JSON.stringify(row)).sort();
  }
  return out;
}

for (const mode of ['kept up to date', 'built from the log'] as const) describe(`runs and jobs read models in SQL (${mode})`, () => {
  let history: History;
  let sql: Models;
  const refRuns = new ReferenceRuns();
  const refJobs = new ReferenceJobs();
  let times: Date[];

  before(() => {
    history = makeHistory({ jobs: 300, runs: 3000, seed: 7 });
    sql = mode === 'built from the log' ? buildModels(history.events) : openModels();
    for (const event of history.events) {
      if (mode === 'kept up to date') {
        sql.jobs.apply(event);
        sql.runs.apply(event);
      }
      refJobs.apply(event);
      refRuns.apply(event);
    }
    // Before, among and after the scheduled times.
    times = [new Date(history.end.getTime() - 86_400_000), history.end, new Date(history.end.getTime() + 3 * 3_600_000), new Date(history.end.getTime() + 400 * 3_600_000)];
  });

  it('holds the same runs as the reference, field for field', () => {
    assert.ok(refRuns.size > 2500, `a few thousand runs (${refRuns.size})`);
    assert.equal(sql.runs.size, refRuns.size);
    for (const run of refRuns.all()) assert.deepEqual(plain(sql.runs.get(run.id)), plain(run), run.id);
    assert.equal(sql.runs.get('nothing'), undefined);
    for (const event of history.events.slice(0, 2000)) assert.equal(sql.runs.isExpiredOutput(event), refRuns.isExpiredOutput(event));
  });

  it('lists, filters, searches and pages as the reference does', () => {
    const filters: Array<Omit<RunFilter, 'limit'>> = [{}, { order: 'finished' }];
    for (const statuses of [['failed'], ['queued'], ['scheduled'], ['running', 'paused'], FINISHED_STATUSES, ['scheduled', 'queued'], ['lost', 'queued'], []] as RunStatus[][]) {
      filters.push({ statuses }, { statuses, order: 'finished' });
    }
    filters.push({ jobId: history.jobIds[0] }, { jobId: history.jobIds[1], statuses: ['succeeded'] }, { jobId: history.jobIds[2], order: 'finished' });
    filters.push({ by: 'ADA' }, { by: 'élodie', statuses: ['failed', 'cancelled'] }, { by: 'nobody' });
    // Searches: long ones (the trigram index), short ones (read through), case and accents, no match.
    for (const q of ['Café', 'deploy', '#12', 'n2', 'é', 'x', 'server stopped', 'grace hopper', 'zzzz', 'ba', '--lint n1']) {
      filters.push({ q }, { q, statuses: FINISHED_STATUSES }, { q, order: 'finished' });
    }
    filters.push({ q: 'build', by: 'bob', jobId: history.jobIds[3] });
    for (const now of times) {
      for (const filter of filters) {
        for (const limit of [1, 7, 50]) {
          let cursor: number | undefined;
          for (let page = 0; page < 5; page++) {
            const expected = refRuns.list({ ...filter, limit, before: cursor }, now);
            const actual = sql.runs.list({ ...filter, limit, before: cursor }, now);
            const label = JSON.stringify({ filter, limit, page, now });
            assert.deepEqual(actual.items.map((run) => run.id), expected.items.map((run) => run.id), label);
            assert.equal(actual.next, expected.next, label);
            if (expected.next === null) break;
            cursor = expected.next;
          }
        }
      }
    }
  });

  it('keeps the queue, its positions, the executing runs and the next scheduled time', () => {
    const statuses = new Set(times.flatMap((now) => refRuns.all().map((run) => refRuns.statusOf(run, now))));
    for (const status of ALL_STATUSES) assert.ok(statuses.has(status), `the history holds a ${status} run`);
    for (const now of times) {
      const expected = refRuns.queued(now).map((run) => run.id);
      assert.deepEqual(sql.runs.queued(now, 100_000).map((run) => run.id), expected);
      assert.equal(sql.runs.queuedCount(now), expected.length);
      // Paging through the queue gives the same order.
      const paged: string[] = [];
      let after: RunRecord | undefined;
      for (;;) {
        const page = sql.runs.queued(now, 13, after);
        paged.push(...page.map((run) => run.id));
        if (page.length < 13) break;
        after = page[page.length - 1];
      }
      assert.deepEqual(paged, expected);
      for (const run of refRuns.all()) assert.equal(sql.runs.queuePosition(sql.runs.get(run.id)!, now), refRuns.queuePosition(run, now), run.id);
      assert.equal(sql.runs.nextScheduledTime(now), refRuns.nextScheduledTime(now));
      const scheduled = refRuns.list({ statuses: ['scheduled'], limit: 100_000 }, now).items;
      const firstScheduled = [...scheduled].sort((a, b) => (a.scheduledFor ?? '').localeCompare(b.scheduledFor ?? ''));
      const mine = sql.runs.scheduled(now, 12);
      assert.deepEqual(mine.items.map((run) => run.id), firstScheduled.slice(0, 12).map((run) => run.id));
      assert.equal(mine.total, scheduled.length);
    }
    assert.deepEqual(sql.runs.executingRuns().map((run) => run.id).sort(), refRuns.executingRuns().map((run) => run.id).sort());
    assert.deepEqual(sql.runs.executingRuns('r2').map((run) => run.id).sort(), refRuns.executingRuns().filter((run) => run.runner === 'r2').map((run) => run.id).sort());
  });

  it('answers per job what the reference does: latest, latest finished, next number, unfinished, by number, later runs', () => {
    for (const jobId of history.jobIds) {
      assert.equal(sql.runs.latestForJob(jobId)?.id, refRuns.latestForJob(jobId)?.id, jobId);
      assert.equal(sql.runs.latestFinishedForJob(jobId)?.id, refRuns.latestFinishedForJob(jobId)?.id, jobId);
      // Looked up for many jobs at once, as the job lists do: the outcome is run_jobs', not a run read.
      const joined = sql.runs.latestForJobs(history.jobIds)(jobId);
      assert.equal(joined.latest?.id, refRuns.latestForJob(jobId)?.id, jobId);
      assert.equal(joined.lastOutcome, refRuns.latestFinishedForJob(jobId)?.finishedStatus ?? null, jobId);
      assert.equal(sql.runs.nextNumber(jobId), refRuns.nextNumber(jobId), jobId);
      assert.equal(sql.runs.countForJob(jobId), refRuns.forJob(jobId).length, jobId);
      assert.deepEqual(sql.runs.executingRunIdsForJob(jobId).sort(), refRuns.executingRunIdsForJob(jobId).sort());
      assert.deepEqual(
        sql.runs.unfinishedForJob(jobId).map((run) => run.id),
        refRuns.forJob(jobId).filter((run) => run.phase !== 'finished').map((run) => run.id),
      );
      for (const run of refRuns.forJob(jobId).slice(0, 3)) assert.equal(sql.runs.byNumber(jobId, run.number)?.id, run.id);
    }
    let withLaterRuns = 0;
    for (const now of times) {
      // Looked up for every job at once, as the jobs page does (an id without runs answers null).
      const laterRunOf = sql.runs.earliestLaterRuns([...history.jobIds, 'j-without-runs'], now);
      assert.equal(laterRunOf('j-without-runs'), null);
      for (const jobId of history.jobIds) {
        const later = refRuns
          .forJob(jobId)
          .filter((run) => refRuns.statusOf(run, now) === 'scheduled')
          .map((run) => run.scheduledFor as string)
          .sort()[0];
        assert.equal(laterRunOf(jobId), later ?? null, `${jobId} at ${now.toISOString()}`);
        if (later !== undefined) withLaterRuns++;
      }
    }
    assert.ok(withLaterRuns > 0, 'the history has jobs with runs set for later');
  });

  it('finds the outputs the retention rules expire', () => {
    const keep = (jobId: string): number | null => refJobs.get(jobId)?.keepRuns ?? null;
    for (const days of [null, 1, 10, 10_000]) {
      const now = history.end;
      const expected = outputsToExpire(refRuns.all(), { keepRunsOf: keep, keepOutputDays: days }, now);
      const cutoff = days === null ? null : now.getTime() - days * 86_400_000;
      const actual = sql.runs.outputsDue(sql.jobs.keepingRuns(), cutoff);
      const byId = (a: { runId: string }, b: { runId: string }): number => a.runId.localeCompare(b.runId);
      assert.deepEqual([...actual].sort(byId), [...expected].sort(byId), `keepOutputDays ${days}`);
    }
    const expired = refRuns.all().filter((run) => run.outputExpiredAt !== null);
    assert.ok(expired.length > 0);
    assert.deepEqual(new Set(sql.runs.expiredAfter(-1, 100_000).map((row) => row.id)), new Set(expired.map((run) => run.id)));
  });

  it('holds the same jobs, names and ids as the reference', () => {
    const all = refJobs.all();
    assert.equal(sql.jobs.size, all.length);
    for (const job of all) {
      assert.deepEqual(sql.jobs.get(job.id), job);
      assert.equal(sql.jobs.find(job.name.toUpperCase())?.id, refJobs.find(job.name.toUpperCase())?.id);
      assert.equal(sql.jobs.nameHolder(job.name)?.id, job.id);
    }
    for (const id of history.jobIds) {
      assert.equal(sql.jobs.find(id)?.id, refJobs.find(id)?.id);
      assert.equal(sql.jobs.isTaken(id), refJobs.isTaken(id));
    }
    // Removed jobs under the name they had then, whatever its case.
    const formerNames = refJobs.formerNames();
    assert.ok(formerNames.length > 0, 'the history removes jobs');
    for (const name of [...formerNames, 'never a name', history.jobIds[0]]) {
      for (const limit of [1, 5]) assert.deepEqual(sql.jobs.removedNamed(name.toUpperCase(), limit), refJobs.removedNamed(name, limit), name);
    }
    const usedBy = (scriptId: string): string[] => all.filter((job) => job.scriptId === scriptId).map((job) => job.id);
    for (const scriptId of ['s0', 's1', 's3', 'none']) assert.deepEqual(sql.jobs.usingScript(scriptId).map((job) => job.id), usedBy(scriptId));
    assert.equal(sql.jobs.countByScript().get('s1'), usedBy('s1').length);
    assert.deepEqual(sql.jobs.tagsInUse(), [...new Set(all.flatMap((job) => job.tags))].sort());
  });

  it('lists jobs by name as a person sorts them, filtered as the reference does, a page at a time', () => {
    const matches = (job: JobRecord, filter: JobSearch, now: Date): boolean => {
      const q = filter.q !== undefined ? nameKey(filter.q.trim()) : '';
      if (q && !job.searchText.includes(q)) return false;
      const tag = filter.tag !== undefined ? nameKey(filter.tag.trim()) : '';
      if (tag && !job.tags.includes(tag)) return false;
      if (filter.lastStatus !== undefined) {
        const last = refRuns.latestForJob(job.id);
        if (filter.lastStatus === 'never' ? last !== undefined : last === undefined || refRuns.statusOf(last, now) !== filter.lastStatus) return false;
      }
      if (filter.lastOutcome !== undefined && (refRuns.latestFinishedForJob(job.id)?.finishedStatus ?? 'never') !== filter.lastOutcome) return false;
      return true;
    };
    const filters: JobSearch[] = [{}, { q: 'CAFÉ' }, { q: ' dep ' }, { q: 'e' }, { q: 'x 1' }, { q: 'zz' }, { tag: 'DB' }, { tag: 'nightly', q: 'service 1' }];
    for (const status of [...ALL_STATUSES, 'never'] as const) filters.push({ lastStatus: status });
    for (const outcome of [...FINISHED_STATUSES, 'never'] as const) filters.push({ lastOutcome: outcome as JobSearch['lastOutcome'] });
    filters.push({ q: 'test', lastOutcome: 'failed' });
    for (const now of times) {
      for (const filter of filters) {
        const expected = refJobs.all().filter((job) => matches(job, filter, now));
        const whole = sql.jobs.search(filter, now);
        assert.deepEqual(whole.items.map((job) => job.id), expected.map((job) => job.id), JSON.stringify(filter));
        assert.equal(whole.total, expected.length);
        const page = sql.jobs.search(filter, now, 20, 10);
        assert.deepEqual(page.items.map((job) => job.id), expected.slice(20, 30).map((job) => job.id));
        assert.equal(page.total, expected.length);
      }
    }
  });

  it('orders names as localeCompare does', () => {
    const names = ['b', 'A', 'a-b', 'a_b', 'ab', 'a b', 'a.b', 'a1', 'a10', 'a2', 'Zebra', 'zèbre', 'éclair', 'eclair2', 'Ångström', '#tag', '(x)', '$cash', '~tilde'];
    const expected = [...names].sort((a, b) => a.localeCompare(b));
    const actual = [...names].sort((a, b) => {
      const x = sortKeyOf(a);
      const y = sortKeyOf(b);
      return x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0;
    });
    assert.deepEqual(actual, expected);
  });

  it('changes nothing when an event is applied a second time in a row', () => {
    const twice = openModels();
    for (const event of history.events) {
      for (let i = 0; i < 2; i++) {
        twice.jobs.apply(event);
        twice.runs.apply(event);
      }
    }
    assert.deepEqual(dump(twice.db, mode === 'kept up to date'), dump(sql.db, mode === 'kept up to date'));
    // (A rolled-back batch moves it too: it only tells pollers to look again.)
    if (mode === 'kept up to date') assert.equal(twice.runs.finishedCount, sql.runs.finishedCount, 'the change signal moved once per finish');
    // The search indexes agree too.
    assert.deepEqual(twice.runs.list({ q: 'deploy', limit: 10_000 }, history.end).items.map((run) => run.id), sql.runs.list({ q: 'deploy', limit: 10_000 }, history.end).items.map((run) => run.id));
    assert.deepEqual(twice.jobs.search({ q: 'backup' }, history.end).items.map((job) => job.id), sql.jobs.search({ q: 'backup' }, history.end).items.map((job) => job.id));
  });

  it('reads every list from an index: no list walks a whole table or sorts all its rows', () => {
    const seen: string[] = [];
    const runsStatement = sql.runs.listStatement.bind(sql.runs);
    sql.runs.listStatement = (text: string) => {
      seen.push(text);
      return runsStatement(text);
    };
    const jobsStatement = (sql.jobs as unknown as { searchStatement: (text: string) => Database.Statement }).searchStatement.bind(sql.jobs);
    (sql.jobs as unknown as { searchStatement: (text: string) => Database.Statement }).searchStatement = (text: string) => {
      seen.push(text);
      return jobsStatement(text);
    };
    const filters: Array<Omit<RunFilter, 'limit'>> = [
      {},
      { before: 10 },
      { order: 'finished' },
      { statuses: FINISHED_STATUSES },
      { statuses: ['queued'] },
      { statuses: ['failed'], by: 'x' },
      { statuses: ['failed'], by: 'x', order: 'finished' },
      { jobId: 'j' },
      { jobId: 'j', order: 'finished' },
      { jobId: 'j', statuses: ['running', 'paused'] },
      { q: 'deploy' },
      { q: 'deploy', statuses: ['failed'], before: 10 },
    ];
    for (const filter of filters) sql.runs.list({ ...filter, limit: 50 }, history.end);
    sql.jobs.search({}, history.end, 0, 50);
    sql.jobs.search({ tag: 'db' }, history.end, 0, 50);
    sql.jobs.search({ lastOutcome: 'failed' }, history.end, 0, 50);
    const params = { limit: 51, now: 0, before: 100, job: 'j', by: 'b', q: 'abc', phrase: '"abc"', lastStatus: 'failed', lastOutcome: 'failed', tag: 't', offset: 0 };
    const problems: string[] = [];
    for (const text of seen) {
      const details = (sql.db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(params) as Array<{ detail: string }>).map((row) => row.detail);
      // A bare walk of the table is fine only in its own order (rowid: request order), stopped by the LIMIT.
      const walksInOrder = /^SELECT [^()]* FROM runs WHERE (1|runs\.seq < @before) ORDER BY seq DESC LIMIT/.test(text);
      for (const detail of details) {
        if (/^SCAN (runs|jobs)$/.test(detail) && !walksInOrder) problems.push(`${detail}: ${text}`);
      }
      // Sorting is allowed on the union of arms (each at most a page), never on a table read whole.
      if (details.includes('USE TEMP B-TREE FOR ORDER BY') && !/UNION ALL/.test(text)) problems.push(`sorts: ${text}`);
    }
    assert.deepEqual(problems, []);
  });
});
