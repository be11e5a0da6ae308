import type { Response } from 'express';

/**
 * Writes every chunk to the answer, waiting for the client to take each one in
 * (memory stays bounded by one chunk per answer), then ends it. When the client
 * goes away the reading stops; when reading fails after the status line went
 * out, the connection is destroyed, so the client sees a cut transfer instead
 * of a complete-looking shorter one.
 */
export async function sendAll(response: Response, chunks: AsyncIterable<Buffer>): Promise<void> {
  try {
    for await (const chunk of chunks) {
      if (response.destroyed) return;
      if (!response.write(chunk)) await drained(response);
    }
    response.end();
  } catch (error) {
    if (!response.headersSent) throw error;
    response.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Resolves when the answer can take more, or when its connection closed. */
function drained(response: Response): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.once('drain', done);
    response.once('close', done);
  });
}
