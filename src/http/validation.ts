import { ValidationPipe, type ValidationError as ClassValidationError } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ValidationError } from '../shared/domain-errors';

/** Flattens class-validator's tree into `field: problem` lines, nested fields with dotted paths. */
export function describeValidationErrors(errors: ClassValidationError[], parent = ''): string[] {
  const lines: string[] = [];
  for (const error of errors) {
    const path = parent ? `${parent}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) lines.push(`${path}: ${message}`);
    if (error.children && error.children.length > 0) lines.push(...describeValidationErrors(error.children, path));
  }
  return lines;
}

/**
 * The global pipe: unknown fields are refused (so a typo is an error, not a
 * silently ignored setting) and every invalid field is named at once.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new ValidationError(describeValidationErrors(errors)),
  });
}

/** Validates a plain object (a parsed multipart form, a page form) against a DTO class. */
export function validateInto<T extends object>(type: new () => T, plain: unknown): T {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) throw new ValidationError(['body: must be a JSON object']);
  const instance = plainToInstance(type, plain);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length > 0) throw new ValidationError(describeValidationErrors(errors));
  return instance;
}
