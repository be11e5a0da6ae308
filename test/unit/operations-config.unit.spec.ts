/** The operations settings: ENDERCOMPUTE_LOG_LEVEL and ENDERCOMPUTE_METRICS_TOKEN. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/app-config';
import { JobLabels, OTHER_JOBS } from '../../src/metrics/job-labels';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('ENDERCOMPUTE_LOG_LEVEL and ENDERCOMPUTE_METRICS_TOKEN', () => {
  it('log at info and have no metrics token by default', () => {
    const config = loadConfig({});
    assert.equal(config.logLevel, 'info');
    assert.equal(config.metricsToken, null);
  });

  it('take any pino level, in any case', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) assert.equal(loadConfig({ ENDERCOMPUTE_LOG_LEVEL: level.toUpperCase() }).logLevel, level);
    assert.equal(loadConfig({ ENDERCOMPUTE_METRICS_TOKEN: ' scrape-token-0123456789 ' }).metricsToken, 'scrape-token-0123456789');
  });

  it('refuse an unknown level and a short token, without echoing the token', () => {
    const problems = problemsOf({ ENDERCOMPUTE_LOG_LEVEL: 'verbose', ENDERCOMPUTE_METRICS_TOKEN: 'short-secret' });
    assert.deepEqual(problems, [
      'ENDERCOMPUTE_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, not "verbose"',
      'ENDERCOMPUTE_METRICS_TOKEN must be at least 16 characters long, without spaces',
    ]);
    assert.ok(!problems.join('\n').includes('short-secret'));
    assert.deepEqual(problemsOf({ ENDERCOMPUTE_METRICS_TOKEN: 'has a space 0123456789' }), ['ENDERCOMPUTE_METRICS_TOKEN must be at least 16 characters long, without spaces']);
  });
});

describe('JobLabels', () => {
  it('gives the first jobs a label each, then "other", and keeps each label for good', () => {
    const labels = new JobLabels(2);
    assert.equal(labels.labelOf('build'), 'build');
    assert.equal(labels.labelOf('deploy'), 'deploy');
    assert.equal(labels.labelOf('backup'), OTHER_JOBS);
    assert.equal(labels.labelOf('build'), 'build');
    assert.equal(labels.labelOf('nightly'), OTHER_JOBS);
  });

  it('does not let a job named "other" take a label of its own', () => {
    const labels = new JobLabels(2);
    assert.equal(labels.labelOf(OTHER_JOBS), OTHER_JOBS);
    assert.equal(labels.labelOf('a'), 'a');
    assert.equal(labels.labelOf('b'), 'b');
  });
});
