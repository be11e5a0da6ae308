import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seedLog } from '../../bench/seed-log';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { startServer, type ServerProcess } from '../support/server-process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const MiB = 1024 * 1024;

/** The server process's resident set size now, from /proc (bytes). */
function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Samples the RSS every 100 ms while `work` runs; the peak seen (bytes). */
async function peakRssDuring(pid: number, work: () => Promise<void>): Promise<number> {
  let peak = rssOf(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 100);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rssOf(pid));
}

/**
 * Issue 14's figure: the NDJSON export of a log of 100,000 events streams in constant
 * memory. The server's peak RSS while a client takes the whole export grows by at most
 * 50 MiB over its peak while idle. On the same log, the jobs as of now rebuilt from the
 * log equal the jobs the read model shows.
 */
describe('NDJSON export of 100,000 events: memory', () => {
  let server: ServerProcess;
  let events = 0;

  before(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-export-'));
    const store = SqliteEventStore.open(join(dataDir, 'events.db'));
    const seeded = await seedLog(store, { jobs: 300, runs: 21_000, scripts: 5, scheduledEvery: 20, days: 20 });
    events = seeded.events;
    await store.close();
    // The first start builds the read models from the whole log; the figure is taken on a
    // server started warm afterwards, as `npm run start:prod` starts it, as it runs day to
    // day (not one still giving back what a cold rebuild used).
    const building = await startServer({ dataDir });
    await building.stop();
    server = await startServer({ dataDir });
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  // First, on a server that has done nothing else since it started: the idle figure is honest.
  for (const query of ['', '?includeBytes=true']) {
    it(`streams every event${query ? ' with its bytes' : ''}, peak RSS at most 50 MiB over idle`, async (t) => {
      assert.ok(events >= 100_000, `seeded ${events} events`);
      const pid = server.child.pid!;
      // Idle: the server has caught up (it answers) and sits still for two seconds.
      await server.request('/api/jobs?q=zzz');
      const idle = await peakRssDuring(pid, () => new Promise((resolve) => setTimeout(resolve, 2_000)));
      let lines = 0;
      let bytes = 0;
      const peak = await peakRssDuring(pid, async () => {
        const response = await server.request(`/api/events${query}`, { headers: { accept: 'application/x-ndjson' } });
        assert.equal(response.status, 200);
        const reader = response.body!.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes += value.length;
          for (const byte of value) if (byte === 10) lines++;
        }
      });
      const growth = (peak - idle) / MiB;
      t.diagnostic(`events ${lines}, ${(bytes / MiB).toFixed(1)} MiB sent; RSS idle ${(idle / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, growth ${growth.toFixed(1)} MiB`);
      assert.ok(lines >= 100_000, `exported ${lines} events`);
      assert.ok(growth <= 50, `RSS grew by ${growth.toFixed(1)} MiB over idle`);
    });
  }

  it('rebuilds the jobs as of a time from the same log: now, all of them; before the first, none', async (t) => {
    const now = (await (await server.request('/api/jobs')).json()) as { items: Array<{ id: string; version: number }> };
    const started = performance.now();
    const asOf = (await (await server.request(`/api/jobs?asOf=${encodeURIComponent(new Date().toISOString())}`)).json()) as { items: Array<{ id: string; version: number }> };
    const ms = performance.now() - started;
    t.diagnostic(`GET /api/jobs?asOf=now over ${events} events (${now.items.length} jobs): ${ms.toFixed(0)} ms`);
    assert.deepEqual(asOf.items.map((job) => [job.id, job.version]), now.items.map((job) => [job.id, job.version]));
    const before = (await (await server.request('/api/jobs?asOf=2000-01-01T00:00:00Z')).json()) as { items: unknown[] };
    assert.deepEqual(before.items, []);
  });
});
