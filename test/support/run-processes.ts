import { findProcessesByEnvironment } from '../../src/runs/runner/process-group';
import { RUN_ID_VARIABLE } from '../../src/runs/runner/run-environment';

/** Pids of the processes whose environment carries a run's id: what is left of the run on this machine. */
export function processesOfRun(runId: string): Promise<number[]> {
  return findProcessesByEnvironment(RUN_ID_VARIABLE, runId);
}
