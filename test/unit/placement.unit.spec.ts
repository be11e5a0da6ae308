/** Placement: which runner may take a run, and what a run no online runner can take waits for. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canTake, labelProblems, normalizeLabels, waitingForRunner } from '../../src/runners/placement';

describe('placement', () => {
  it('lets any runner take a run without labels, and a runner with every label take a labelled one', () => {
    assert.equal(canTake([], []), true);
    assert.equal(canTake(['linux'], []), true);
    assert.equal(canTake(['linux', 'gpu', 'x86_64'], ['gpu', 'linux']), true, 'order does not matter, extra runner labels neither');
    assert.equal(canTake(['Linux'], ['linux']), true, 'case does not matter');
  });

  it('refuses a runner that lacks any one of the labels', () => {
    assert.equal(canTake([], ['linux']), false);
    assert.equal(canTake(['linux'], ['linux', 'gpu']), false);
    assert.equal(canTake(['linux-gpu'], ['gpu']), false, 'a label is matched whole, never as a part');
  });

  it('says what a run waits for when no online runner can take it, and nothing when one can', () => {
    const online = [{ labels: ['linux'] }, { labels: ['mac', 'arm64'] }];
    assert.equal(waitingForRunner(['linux', 'gpu'], online), 'a runner with labels linux, gpu');
    assert.equal(waitingForRunner(['windows'], online), 'a runner with label windows');
    assert.equal(waitingForRunner(['arm64', 'mac'], online), null);
    assert.equal(waitingForRunner([], online), null);
    assert.equal(waitingForRunner(['linux'], []), 'a runner with label linux');
    assert.equal(waitingForRunner([], []), 'a runner (none is online)');
  });

  it('accepts labels of letters, digits and - _ . : up to 64 characters, and names each bad one', () => {
    assert.deepEqual(labelProblems(['linux', 'arch:arm64', 'os.debian-12', 'x86_64', 'a'.repeat(64)]), []);
    const problems = labelProblems(['', 'has space', '-leading', 'a'.repeat(65), 'ünï', 'tab\there', 7]);
    assert.equal(problems.length, 7, problems.join('\n'));
    assert.match(problems[0], /^"" is not a label \(1–64 letters/);
    assert.match(problems[1], /"has space" is not a label/);
    assert.match(problems[5], /"tab\?here"/, 'a control character is not echoed as it is');
    assert.equal(problems[6], 'each label must be a string');
    assert.deepEqual(labelProblems('linux'), ['must be a list of labels']);
    assert.match(labelProblems(Array.from({ length: 33 }, (_, i) => `l${i}`))[0], /^may hold at most 32 labels, not 33/);
  });

  it('stores labels in lower case, each once, in the order first given', () => {
    assert.deepEqual(normalizeLabels(['Linux', 'gpu', 'LINUX', 'GPU', 'arm']), ['linux', 'gpu', 'arm']);
  });
});
