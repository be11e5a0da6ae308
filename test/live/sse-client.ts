/**
 * A small `text/event-stream` client for the tests: reads a stream event by
 * event (per the SSE rules: `id`, `event`, `data` lines, comments) and keeps
 * the raw text, so tests can see heartbeats and exact ids.
 */
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
  /** When it arrived (performance.now()). */
  at: number;
}

export interface SseStream {
  status: number;
  headers: Headers;
  /** The next event, or null when the stream ended. */
  next(timeoutMs?: number): Promise<SseEvent | null>;
  /** The last 64 KiB read, as text. */
  raw(): string;
  /** Comment lines seen so far. */
  comments(): string[];
  /** Reads on (keeping the events for {@link next}) until a comment line matches. */
  waitForComment(match: RegExp, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let raw = '';
  const comments: string[] = [];
  const queue: SseEvent[] = [];
  let ended = false;
  let current: { id: string | null; event: string; data: string[]; hasData: boolean } = { id: null, event: '', data: [], hasData: false };

  /** Where to look for the next line end: the buffer before it has none. */
  let scanFrom = 0;
  const parse = (): void => {
    for (;;) {
      const newline = buffer.indexOf('\n', scanFrom);
      const carriage = buffer.indexOf('\r', scanFrom);
      if (newline < 0 && (carriage < 0 || carriage === buffer.length - 1)) {
        // A \r at the very end may be the first half of \r\n.
        scanFrom = Math.max(0, carriage < 0 ? buffer.length : carriage);
        return;
      }
      const end = carriage >= 0 && (newline < 0 || carriage < newline) ? carriage : newline;
      const length = end === carriage && buffer[end + 1] === '\n' ? 2 : 1;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + length);
      scanFrom = 0;
      if (line === '') {
        if (current.hasData || current.event !== '' || current.id !== null) {
          queue.push({ id: current.id, event: current.event || 'message', data: current.data.join('\n'), at: performance.now() });
        }
        current = { id: null, event: '', data: [], hasData: false };
        continue;
      }
      if (line.startsWith(':')) {
        comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') {
        current.data.push(value);
        current.hasData = true;
      } else if (field === 'event') current.event = value;
      else if (field === 'id') current.id = value;
    }
  };

  const read = async (until: () => boolean, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!until()) {
      if (ended) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`No event within ${timeoutMs} ms; read so far:\n${raw.slice(-2000)}`);
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        reader.read(),
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), remaining))),
      ]);
      clearTimeout(timer);
      if (result === 'timeout') continue;
      if (result.done) {
        ended = true;
        buffer += decoder.decode();
        raw += '';
        parse();
        continue;
      }
      const text = decoder.decode(result.value, { stream: true });
      raw = (raw.length > 65536 ? raw.slice(-65536) : raw) + text;
      buffer += text;
      parse();
    }
  };

  const next = async (timeoutMs = 15_000): Promise<SseEvent | null> => {
    await read(() => queue.length > 0, timeoutMs);
    return queue.shift() ?? null;
  };

  return {
    status: response.status,
    headers: response.headers,
    next,
    raw: () => raw,
    comments: () => comments,
    waitForComment: async (match, timeoutMs = 15_000) => {
      await read(() => comments.some((comment) => match.test(comment)), timeoutMs);
      const found = comments.find((comment) => match.test(comment));
      if (found === undefined) throw new Error(`The stream ended without a comment matching ${match}`);
      return found;
    },
    close: async () => {
      controller.abort();
      await reader.cancel().catch(() => undefined);
    },
  };
}

/** Output bytes of an API stream `output` event. */
export function outputBytes(event: SseEvent): { offset: number; bytes: Buffer } {
  const data = JSON.parse(event.data) as { offset: number; data: string };
  return { offset: data.offset, bytes: Buffer.from(data.data, 'base64') };
}

/**
 * Reads an API stream to its `end` event, checking that every output event
 * starts where the previous one ended (no repeat, no gap) and carries the
 * offset after it as its id. Returns the bytes and the end event's data.
 */
export async function readToEnd(
  stream: SseStream,
  from = 0,
  timeoutMs = 30_000,
): Promise<{ bytes: Buffer; end: Record<string, unknown>; events: SseEvent[]; endId: string | null }> {
  const parts: Buffer[] = [];
  const events: SseEvent[] = [];
  let at = from;
  for (;;) {
    const event = await stream.next(timeoutMs);
    if (event === null) throw new Error('The stream ended without an end event');
    events.push(event);
    if (event.event === 'output') {
      const { offset, bytes } = outputBytes(event);
      if (offset !== at) throw new Error(`An output event starts at ${offset}, expected ${at}`);
      if (event.id !== String(offset + bytes.length)) throw new Error(`Event id ${event.id}, expected ${offset + bytes.length}`);
      parts.push(bytes);
      at += bytes.length;
    } else if (event.event === 'end') {
      return { bytes: Buffer.concat(parts), end: JSON.parse(event.data) as Record<string, unknown>, events, endId: event.id };
    }
  }
}
