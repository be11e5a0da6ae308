import type { Request } from 'express';

/**
 * Counts the parts of a multipart body as its bytes stream by, beside the form
 * parser. The parser (busboy) drops, without a word, a part whose
 * `Content-Disposition` it cannot decode (a file name in an unknown charset or
 * with broken percent-encoding); comparing this count with the parts it
 * reported turns that silent loss into a 400.
 */
export class MultipartPartCounter {
  private readonly delimiter: Buffer;
  // The body may open with the delimiter itself, without the CRLF before it.
  private carry = Buffer.from('\r\n');
  /** Parts begun so far (delimiters not followed by `--`, the closing one). */
  parts = 0;
  /**
   * Parts that are a browser's empty file input (`filename=""`): the parser
   * drops those by design, or reads them as an empty text field.
   */
  emptyFileInputs = 0;

  constructor(boundary: string) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  /** The counter for a multipart request, listening to its bytes; null when the request is not multipart. */
  static attach(request: Request): MultipartPartCounter | null {
    const match = /^multipart\/form-data\b.*?;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(request.headers['content-type'] ?? '');
    if (!match) return null;
    const counter = new MultipartPartCounter(match[1] ?? match[2]);
    request.on('data', (chunk: Buffer) => counter.feed(chunk));
    return counter;
  }

  feed(chunk: Buffer): void {
    const data = Buffer.concat([this.carry, chunk]);
    const length = this.delimiter.length;
    let from = 0;
    let waitFrom = -1;
    for (;;) {
      const at = data.indexOf(this.delimiter, from);
      if (at < 0) break;
      // Two more bytes tell a part's start from the closing `--`: wait for them.
      if (at + length + 2 > data.length) {
        waitFrom = at;
        break;
      }
      if (data[at + length] === 0x2d && data[at + length + 1] === 0x2d) {
        from = at + length;
        continue;
      }
      const headerEnd = data.indexOf('\r\n\r\n', at + length);
      // A part's headers are read whole before it is counted (the next bytes may complete them).
      if (headerEnd < 0 && data.length - at < MAX_HEADER_BYTES) {
        waitFrom = at;
        break;
      }
      this.parts++;
      if (headerEnd >= 0 && isEmptyFileInput(data.toString('latin1', at + length, headerEnd))) this.emptyFileInputs++;
      from = headerEnd >= 0 ? headerEnd : at + length;
    }
    this.carry = waitFrom >= 0 ? data.subarray(waitFrom) : data.subarray(Math.max(from, data.length - (length + 1)));
  }
}

/** Headers of one part longer than this are counted without being read. */
const MAX_HEADER_BYTES = 16 * 1024;

function isEmptyFileInput(headers: string): boolean {
  return /;\s*filename=""/i.test(headers) && !/filename\*=/i.test(headers);
}

/** Text values in a parsed multipart body (a repeated field counts once per value; `a[b]` names nest). */
export function countFieldValues(body: unknown): number {
  let count = 0;
  const pending: unknown[] = [body];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') count++;
    else if (typeof value === 'object' && value !== null) pending.push(...Object.values(value));
  }
  return count;
}

/**
 * What is wrong with a parsed multipart request beyond what the parser itself
 * refuses: parts it dropped (see {@link MultipartPartCounter}), file names that
 * were not valid UTF-8 (the parser puts U+FFFD in place of the bad bytes:
 * storing that would keep a different name from the one sent), and text fields
 * on a route that takes files only (`takesFields` false), which would otherwise
 * be ignored.
 */
export function multipartProblems(request: Request, counter: MultipartPartCounter | null, takesFields: boolean): string[] {
  const files = (request.files ?? []) as Express.Multer.File[];
  const problems: string[] = [];
  const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, unknown>;
  // A browser sends an empty file input as a text part `file` with no file name: that is no field.
  const fields = Object.keys(body).filter((field) => !(field === 'file' && body[field] === ''));
  if (counter) {
    const dropped = counter.parts - counter.emptyFileInputs - files.length - countFieldValues(request.body);
    if (dropped > 0) {
      problems.push(
        `file: ${dropped} part${dropped === 1 ? '' : 's'} of the form could not be read (a missing Content-Disposition, or a file name that cannot be decoded): send names as UTF-8, in filename="…" or filename*=UTF-8''…`,
      );
    }
  }
  for (const file of files) {
    if (file.originalname.includes('\uFFFD')) problems.push(`file: the name "${file.originalname.slice(0, 60)}" is not valid UTF-8: send file names as UTF-8`);
  }
  if (!takesFields && fields.length > 0) {
    const named = fields.slice(0, 10).map((field) => JSON.stringify(field.slice(0, 60))).join(', ');
    problems.push(`${fields[0].slice(0, 60)}: ${named}${fields.length > 10 ? ` and ${fields.length - 10} more` : ''}: this route takes only file parts named "file"`);
  }
  return problems;
}
