/**
 * Domain errors carry a code; one exception filter maps the codes to HTTP
 * (400/404/409/410/413/503/507). Deciders throw these, never HTTP exceptions.
 */
export type DomainErrorCode = 'VALIDATION' | 'NOT_FOUND' | 'CONFLICT' | 'GONE' | 'TOO_LARGE' | 'UNAVAILABLE' | 'STORAGE_FULL';

export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
}

/** The input is malformed or breaks a rule; `problems` names every invalid field. */
export class ValidationError extends DomainError {
  readonly code = 'VALIDATION';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The request does not fit the current state (duplicate name, stale version, finished run, …). */
export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** It existed and was removed on purpose (a run's output expired by retention): asking again will not help. */
export class GoneError extends DomainError {
  readonly code = 'GONE';
  constructor(message: string) {
    super(message);
    this.name = 'GoneError';
  }
}

export class TooLargeError extends DomainError {
  readonly code = 'TOO_LARGE';
  constructor(message: string) {
    super(message);
    this.name = 'TooLargeError';
  }
}

/** A dependency (the store) cannot serve the request now; nothing was changed. */
export class UnavailableError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'UnavailableError';
  }
}

/**
 * The server's disk (or the log's) is full: what the request asked for was not
 * done. Raised from a full-disk failure anywhere (see `storage-full.ts`).
 */
export class StorageFullError extends DomainError {
  readonly code = 'STORAGE_FULL';
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'StorageFullError';
  }
}
