import { ArtifactsReadModel } from '../artifacts/artifacts.read-model';
import { JobsReadModel } from '../jobs/jobs.read-model';
import type { Projection } from '../projections/projection';
import { RunnersReadModel } from '../runners/runners.read-model';
import { RunsReadModel } from '../runs/runs.read-model';
import { SchedulesReadModel } from '../schedules/schedules.read-model';
import { ScriptsReadModel } from '../scripts/scripts.read-model';

/**
 * The projections the server feeds (AppModule's PROJECTIONS, in its order), new, for a
 * build outside the application: the offline tool and the server's build worker. Should
 * this list ever differ from the server's, the versions table makes the server rebuild
 * at start: never wrong, only slower.
 */
export function serverProjections(): Projection[] {
  const runs = new RunsReadModel();
  return [new ScriptsReadModel(), new JobsReadModel(), runs, new SchedulesReadModel(), new ArtifactsReadModel(runs), new RunnersReadModel()];
}
