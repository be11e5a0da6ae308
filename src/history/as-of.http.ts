/** The header an answer as of a time carries (besides its `asOf` field): the time it shows, in UTC. */
export const AS_OF_HEADER = 'X-As-Of';

/** `{"items": [...], "asOf": "…"}` a hundred items at a time, for `sendAll`. */
export async function* asOfListJson(items: readonly object[], asOf: Date): AsyncGenerator<Buffer> {
  yield Buffer.from('{"items":[');
  for (let from = 0; from < items.length; from += 100) {
    yield Buffer.from(`${from === 0 ? '' : ','}${items.slice(from, from + 100).map((item) => JSON.stringify(item)).join(',')}`);
  }
  yield Buffer.from(`],"asOf":${JSON.stringify(asOf.toISOString())}}`);
}
