import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MultipartPartCounter } from '../../src/http/multipart-parts';
import { multipartBody } from '../support/raw-http';

describe('MultipartPartCounter', () => {
  const { body, contentType } = multipartBody([
    { disposition: 'form-data; name="args"', content: '["a"]' },
    { disposition: 'form-data; name="file"; filename="a.txt"', contentType: 'text/plain', content: 'x'.repeat(5000) },
    { disposition: 'form-data; name="file"; filename=""', contentType: 'application/octet-stream', content: '' },
    { disposition: "form-data; name=\"file\"; filename*=x-unknown''b.txt", contentType: 'text/plain', content: '--not a boundary\r\n--' },
  ]);
  const boundary = /boundary=(.+)$/.exec(contentType)![1];

  function count(chunkSizes: (index: number) => number): MultipartPartCounter {
    const counter = new MultipartPartCounter(boundary);
    for (let at = 0, i = 0; at < body.length; i++) {
      const size = Math.max(1, chunkSizes(i));
      counter.feed(body.subarray(at, at + size));
      at += size;
    }
    return counter;
  }

  it('counts every part, and the empty file inputs among them, however the bytes are split', () => {
    for (const [label, sizes] of [
      ['whole', () => body.length],
      ['byte by byte', () => 1],
      ['in odd chunks', (i: number) => (i * 7919) % 97],
      ['split inside the delimiter', (i: number) => (i % 2 === 0 ? 13 : 3)],
    ] as const) {
      const counter = count(sizes);
      assert.equal(counter.parts, 4, label);
      assert.equal(counter.emptyFileInputs, 1, label);
    }
  });

  it('ignores bodies that are not multipart', () => {
    const request = { headers: { 'content-type': 'application/json' } } as never;
    assert.equal(MultipartPartCounter.attach(request), null);
  });
});
