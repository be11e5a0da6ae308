import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsString, Length, Matches, registerDecorator, type ValidationOptions } from 'class-validator';
import { addressableNameProblems, nameContentProblems, normalizeName, WHOLE_CHARACTERS } from '../shared/names';

/** No control characters at all (names, tags, interpreters). */
export const NO_CONTROL_CHARS = /^[^\x00-\x1f\x7f]*$/;
/** No NUL: a process cannot receive it in an argument or a variable. */
export const NO_NUL = /^[^\x00]*$/;
/** A POSIX-style environment variable name. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Variables the runner sets itself; a job cannot override them. */
export const RESERVED_ENV_PREFIX = 'ENDERCOMPUTE_';

export const MAX_ENV_VARS = 200;
export const MAX_ENV_VALUE = 32 * 1024;

/** Problems with an environment map, or an empty list. */
export function envProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['must be an object of NAME: "value" pairs'];
  const entries = Object.entries(value as Record<string, unknown>);
  const problems: string[] = [];
  if (entries.length > MAX_ENV_VARS) problems.push(`must have at most ${MAX_ENV_VARS} variables`);
  for (const [name, val] of entries) {
    if (name === '__proto__') problems.push('__proto__ is not allowed as a variable name');
    else if (!ENV_NAME.test(name)) problems.push(`"${name.slice(0, 40)}" is not a valid variable name (letters, digits and _, not starting with a digit)`);
    else if (name.toUpperCase().startsWith(RESERVED_ENV_PREFIX)) problems.push(`${name} is reserved: ${RESERVED_ENV_PREFIX}* variables are set by EnderCompute`);
    if (typeof val !== 'string') problems.push(`${name.slice(0, 40)} must be a string`);
    else if (!NO_NUL.test(val)) problems.push(`${name.slice(0, 40)} must not contain NUL characters`);
    else if (!WHOLE_CHARACTERS.test(val)) problems.push(`${name.slice(0, 40)} must not contain unpaired surrogates (half of a character)`);
    else if (val.length > MAX_ENV_VALUE) problems.push(`${name.slice(0, 40)} must be at most ${MAX_ENV_VALUE} characters`);
  }
  return problems;
}

/** Validates a `{NAME: "value"}` environment map. */
export function IsEnvMap(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isEnvMap',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => envProblems(value).length === 0,
        defaultMessage: (args) => envProblems(args?.value).join('; '),
      },
    });
}

/**
 * A person-facing name of something addressed by id or name (script template, job):
 * stored trimmed and in NFC, 1–100 characters, not blank, none of the characters
 * `src/shared/names.ts` refuses, and not shaped like an id.
 */
export const DisplayNameRules = (): PropertyDecorator =>
  applyDecorators(
    Transform(({ value }: { value: unknown }) => normalizeName(value)),
    IsString(),
    Length(1, 100),
    Matches(/\S/, { message: '$property must not be blank' }),
    (target: object, propertyName: string | symbol) =>
      registerDecorator({
        name: 'isAddressableName',
        target: target.constructor,
        propertyName: propertyName as string,
        validator: {
          validate: (value: unknown) => typeof value !== 'string' || addressableNameProblems(value).length === 0,
          defaultMessage: (args) => addressableNameProblems(String(args?.value)).map((problem) => `${args?.property} ${problem}`).join('; '),
        },
      }),
  );

/** Problems with an input file's name, or an empty list: a plain name, never a path. */
export function fileNameProblems(name: string): string[] {
  if (name.length === 0) return ['the file name is empty'];
  if (name.includes('\0')) return ['the file name contains a NUL character'];
  if (name.includes('/') || name.includes('\\')) return [`"${name}" is a path: give a plain file name`];
  if (name === '.' || name === '..') return [`"${name}" is not a file name`];
  if (/[\x00-\x1f\x7f]/.test(name)) return [`"${name.replace(/[\x00-\x1f\x7f]/g, '?')}" contains control characters`];
  // Invisible characters (a right-to-left override makes `txt.exe` show as `exe.txt`) and half characters.
  const content = nameContentProblems(name);
  if (content.length > 0) return content.map((problem) => `the file name ${problem}`);
  if (Buffer.byteLength(name) > 255) return ['the file name is longer than 255 bytes'];
  if (name.startsWith('.endercompute')) return [`"${name}" is reserved for EnderCompute's own files`];
  return [];
}

/**
 * Problems with the names of the input files of one request: every name must
 * be a plain file name, and no name may come twice (the second would silently
 * replace the first).
 */
export function inputFileProblems(names: readonly string[]): string[] {
  const problems = names.flatMap((name) => fileNameProblems(name));
  const repeated = [...new Set(names.filter((name, index) => names.indexOf(name) !== index))];
  for (const name of repeated) problems.push(`"${name}" is given twice`);
  return problems;
}
