import { request as httpRequest } from 'node:http';
import { TEST_KEY } from './server-process';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Milliseconds from sending to the end of the answer. */
  ms: number;
}

/**
 * One request exactly as given, through `node:http`: a body on any method
 * (fetch refuses one on GET), any Content-Type or none, any query string.
 * Sends the test key unless `authorization` is given. Fails after `timeoutMs`
 * (an answer that never ends, such as an event stream that was opened).
 */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string | string[]>; body?: Buffer | string; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  // A list is sent as that many lines of the header (fetch would join them into one).
  const headers: Record<string, string | string[]> = { authorization: `Bearer ${TEST_KEY}`, ...options.headers };
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks), ms: performance.now() - started }),
      );
      response.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`${method} ${path.slice(0, 80)}: no complete answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A multipart body by hand, so a test controls every header of every part. */
export function multipartBody(parts: Array<{ disposition: string | Buffer; contentType?: string; content: string | Buffer }>): { body: Buffer; contentType: string } {
  const boundary = 'hostileBoundary7MA4YWxkTrZu0gW';
  const chunks: Buffer[] = [];
  for (const part of parts) {
    // A disposition given as bytes is sent as is (a name in another encoding); text is sent as UTF-8.
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: `), Buffer.from(part.disposition));
    chunks.push(Buffer.from(`\r\n${part.contentType ? `Content-Type: ${part.contentType}\r\n` : ''}\r\n`), Buffer.from(part.content), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}
