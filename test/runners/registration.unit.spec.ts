import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideRegistration, evolveRegistration, initialRegistration, type RegistrationCommand } from '../../src/runners/runner-registration.decider';
import { ConflictError, NotFoundError } from '../../src/shared/domain-errors';

const register = (overrides: Partial<Extract<RegistrationCommand, { type: 'Register' }>> = {}): RegistrationCommand => ({
  type: 'Register',
  name: 'gpu-1',
  tokenDigest: 'd'.repeat(64),
  configuredByEnvironment: false,
  localRunner: false,
  ...overrides,
});
const revoke = (configuredByEnvironment = false): RegistrationCommand => ({ type: 'Revoke', name: 'gpu-1', configuredByEnvironment });
const registered = evolveRegistration(initialRegistration, { type: 'RunnerRegistered', data: { name: 'gpu-1', tokenDigest: 'x' } });
const revoked = evolveRegistration(registered, { type: 'RunnerRevoked', data: { name: 'gpu-1' } });

describe('registering and revoking a job server', () => {
  it('registers a free name with its token digest, and a revoked name anew', () => {
    assert.deepEqual(decideRegistration(register(), initialRegistration), [{ type: 'RunnerRegistered', data: { name: 'gpu-1', tokenDigest: 'd'.repeat(64) } }]);
    assert.equal(decideRegistration(register(), revoked)[0].type, 'RunnerRegistered');
  });

  it('refuses a taken name, an environment runner and a local runner (409)', () => {
    assert.throws(() => decideRegistration(register(), registered), (error: unknown) => error instanceof ConflictError && /registered already/.test(error.message));
    assert.throws(() => decideRegistration(register({ configuredByEnvironment: true }), initialRegistration), (error: unknown) => error instanceof ConflictError && /ENDERCOMPUTE_RUNNER_TOKENS/.test(error.message));
    assert.throws(() => decideRegistration(register({ localRunner: true }), initialRegistration), (error: unknown) => error instanceof ConflictError && /server's own runner/.test(error.message));
  });

  it('revokes a registered runner once; an unknown or revoked one is a 404, an environment one a 409 saying how', () => {
    assert.deepEqual(decideRegistration(revoke(), registered), [{ type: 'RunnerRevoked', data: { name: 'gpu-1' } }]);
    assert.throws(() => decideRegistration(revoke(), revoked), NotFoundError);
    assert.throws(() => decideRegistration(revoke(), initialRegistration), NotFoundError);
    assert.throws(() => decideRegistration(revoke(true), initialRegistration), (error: unknown) => error instanceof ConflictError && /remove it from that setting and restart/.test(error.message));
  });
});
