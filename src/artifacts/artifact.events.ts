/**
 * Artifacts in the log. Two kinds of stream, both bulk that retention removes with a
 * run's output (docs/DESIGN.md, "Artifacts"):
 *
 * - `artifacts-<runId>`: the run's list, `RunArtifactsCollected` events (several when
 *   the list is long, each well inside EventStoreDB's 1 MiB append limit).
 * - `artifactdata-<sha256>-<runId>`: one copy of a content, stored by the run named in
 *   it (the first to have it): `BlobChunkStored` chunks of 64 KiB (chunk i at revision
 *   i), `BlobCompleted`, then an `ArtifactContentReferenced` for every run that keeps
 *   it (the first included). A later run with the same bytes references this copy
 *   instead of storing another. When every referencing run has expired, retention
 *   appends `ArtifactContentReleased` (with the expected revision, so a reference
 *   landing at that moment wins and the copy stays) and deletes the stream. A
 *   released copy is never referenced again; the same bytes arriving later are
 *   stored afresh under the new run's name (a deleted stream is never written again).
 */
import type { SkippedArtifact } from '../runs/runner/artifact-collector';

/** One kept file of a run, and the stream holding its bytes. */
export interface ArtifactEntry {
  /** Relative, `/`-separated: where it was in the work directory (or the artifacts directory). */
  path: string;
  size: number;
  sha256: string;
  /** The `artifactdata-…` stream with its bytes. */
  content: string;
}

export interface RunArtifactsCollected {
  type: 'RunArtifactsCollected';
  data: { runId: string; files: ArtifactEntry[]; skipped: SkippedArtifact[] };
}

export interface ArtifactContentReferenced {
  type: 'ArtifactContentReferenced';
  data: { sha256: string; runId: string };
}

export interface ArtifactContentReleased {
  type: 'ArtifactContentReleased';
  data: { sha256: string };
}

export type ArtifactEvent = RunArtifactsCollected | ArtifactContentReferenced | ArtifactContentReleased;

export const ARTIFACT_LIST_PREFIX = 'artifacts-';
export const ARTIFACT_CONTENT_PREFIX = 'artifactdata-';

export const artifactListStream = (runId: string): string => `${ARTIFACT_LIST_PREFIX}${runId}`;
export const artifactContentStream = (sha256: string, runId: string): string => `${ARTIFACT_CONTENT_PREFIX}${sha256}-${runId}`;
/** The run a copy is named after (the one that stored it): what follows the sha256, which has no `-`. */
export const ownerOfContentStream = (stream: string): string => {
  const afterPrefix = stream.slice(ARTIFACT_CONTENT_PREFIX.length);
  return afterPrefix.slice(afterPrefix.indexOf('-') + 1);
};

/** Entries (files and skipped together) per `RunArtifactsCollected`: at most ~1 KiB of path each, so ~200 KB an event. */
export const ARTIFACT_ENTRIES_PER_EVENT = 200;
