/**
 * What the run sandbox costs: request → finished of a trivial job on a server whose
 * runs are sandboxed, beside the same on a server without the sandbox and a bare
 * spawn of the interpreter, all in one run. The two servers take turns, sample by
 * sample, so a drift of the machine's speed hits both alike.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJob, runAndWait } from '../test/support/rest';
import { startServer, type ServerProcess } from '../test/support/server-process';
import { bareSpawn } from './run-bench';
import { median, ms, ratio, report } from './stats';

/** The bound: the sandbox adds at most this much to request → finished, at the median. */
const TARGET_OVERHEAD_MS = 10;

export async function benchSandbox(samples = 60): Promise<void> {
  const servers: ServerProcess[] = [];
  try {
    const sandboxed = await startServer({ env: { ENDERCOMPUTE_SANDBOX: 'bwrap' } });
    servers.push(sandboxed);
    const plain = await startServer({ env: { ENDERCOMPUTE_SANDBOX: 'none' } });
    servers.push(plain);
    const jobs = await Promise.all([createJob(sandboxed, 'bench-sandboxed', 'bash', 'true'), createJob(plain, 'bench-plain', 'bash', 'true')]);
    await runAndWait(sandboxed, jobs[0]); // warm-up
    await runAndWait(plain, jobs[1]);
    const withSandbox: number[] = [];
    const without: number[] = [];
    for (let i = 0; i < samples; i++) {
      const order: Array<[ServerProcess, string, number[]]> = [
        [sandboxed, jobs[0], withSandbox],
        [plain, jobs[1], without],
      ];
      // Alternate who goes first, so neither always runs right after the other.
      if (i % 2 === 1) order.reverse();
      for (const [server, jobId, into] of order) {
        const { run, sentAt } = await runAndWait(server, jobId);
        into.push(Date.parse(run.finishedAt ?? '') - sentAt);
      }
    }
    const dir = mkdtempSync(join(tmpdir(), 'ec-bench-'));
    const script = join(dir, 'script.sh');
    writeFileSync(script, 'true\n');
    const bare: number[] = [];
    for (let i = 0; i < samples; i++) bare.push((await bareSpawn('bash', script)).finishedMs);
    rmSync(dir, { recursive: true, force: true });

    const sandboxMedian = median(withSandbox);
    const plainMedian = median(without);
    const bareMedian = median(bare);
    report('trivial job in the sandbox: request → finished (median)', ms(sandboxMedian), `bare spawn → exit ${ms(bareMedian)} (${ratio(sandboxMedian, bareMedian)})`);
    report('trivial job without sandbox: request → finished (median)', ms(plainMedian), `bare spawn → exit ${ms(bareMedian)} (${ratio(plainMedian, bareMedian)})`);
    const added = sandboxMedian - plainMedian;
    report('the sandbox adds (median against median)', ms(added), `${ratio(sandboxMedian, plainMedian)} of the unsandboxed run; target ≤ ${TARGET_OVERHEAD_MS} ms`, added <= TARGET_OVERHEAD_MS);
  } finally {
    for (const server of servers) {
      await server.stop();
      server.cleanup();
    }
  }
}
