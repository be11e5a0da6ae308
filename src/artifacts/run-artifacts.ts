import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { collectArtifacts, type ArtifactCollection } from '../runs/runner/artifact-collector';
import type { CommandContext } from '../shared/command-context';
import { ArtifactStore } from './artifact-store';

/**
 * Keeps a run's artifacts from a work directory on this machine: the runner's
 * collector finds them, {@link ArtifactStore} stores them. The execution module
 * collects them when a local run ends (whatever its status) and hands them to
 * {@link store}; recovery calls {@link keepFrom} for a `lost` run whose directory
 * survived; always before the directory is removed.
 */
@Injectable()
export class RunArtifacts {
  private readonly logger = new Logger(RunArtifacts.name);

  constructor(
    private readonly config: AppConfig,
    private readonly artifacts: ArtifactStore,
  ) {}

  /**
   * Collects and stores the artifacts of `runId` from `workdir` (its job's
   * `patterns` and `$ENDERCOMPUTE_ARTIFACTS_DIR`). Never throws: the run's end
   * must be recorded whatever happens here; a failure is logged.
   */
  async keepFrom(runId: string, workdir: string, patterns: readonly string[], context: CommandContext): Promise<void> {
    try {
      const collection = await collectArtifacts(workdir, patterns, { maxBytes: this.config.maxArtifactBytes });
      await this.store(runId, collection, context);
    } catch (error) {
      this.logger.error(`The artifacts of run ${runId} could not be collected: ${String(error)}`);
    }
  }

  /** Stores what the collector found in a work directory on this machine (nothing when it found nothing). Never throws. */
  async store(runId: string, collection: ArtifactCollection, context: CommandContext): Promise<void> {
    if (collection.files.length === 0 && collection.skipped.length === 0) return;
    await this.artifacts.storeCollection(runId, collection, context);
  }
}
