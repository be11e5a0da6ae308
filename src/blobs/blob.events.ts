/**
 * Input files live in the log itself, content-addressed: the stream
 * `blob-<sha256>` holds the bytes in chunks small enough for EventStoreDB's
 * default 1 MiB append limit (base64 inside JSON grows them by a third), then a
 * `BlobCompleted` event. Identical files are stored once.
 */
export interface BlobChunkStored {
  type: 'BlobChunkStored';
  data: { sha256: string; index: number; data: string };
}

export interface BlobCompleted {
  type: 'BlobCompleted';
  data: { sha256: string; size: number; chunks: number };
}

export type BlobEvent = BlobChunkStored | BlobCompleted;

/** 512 KiB of bytes is about 683 KiB of base64: well inside a 1 MiB event. */
export const BLOB_CHUNK_BYTES = 512 * 1024;

export const blobStream = (sha256: string): string => `blob-${sha256}`;
