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

/**
 * 64 KiB of bytes is about 87 KB of base64 per event. Small on purpose: every
 * string a chunk becomes (base64, JSON, the row read back) stays under V8's
 * large-object size, so it dies young in the new space instead of growing the
 * old one, and storing or reading a file of any size costs little memory.
 * Logs written with larger chunks (512 KiB before) stay readable and resumable.
 */
export const BLOB_CHUNK_BYTES = 64 * 1024;

/** Chunks appended together: about 700 KB, inside EventStoreDB's 1 MiB append limit. */
export const BLOB_CHUNKS_PER_APPEND = 8;

export const blobStream = (sha256: string): string => `blob-${sha256}`;
