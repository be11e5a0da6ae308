import { type ArgumentMetadata, Injectable, type PipeTransform, type ValidationError as ClassValidationError } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { plainToInstance, Transform } from 'class-transformer';
import { getMetadataStorage, registerDecorator, ValidateIf, validateSync } from 'class-validator';
import { ValidationError } from '../shared/domain-errors';
import { numberFromText, wholeNumberIn, wholeNumberWanted, type WholeNumberRange } from '../shared/whole-number';
import { jsonWidthProblems } from './json-shape';

/**
 * Flattens class-validator's tree into `field: problem` lines, nested fields with
 * dotted paths. A required field that is missing is one line, `field: is required`,
 * not every rule its absent value breaks (a missing `body` broke six, among them its
 * length and its characters).
 */
export function describeValidationErrors(errors: ClassValidationError[], parent = ''): string[] {
  const lines: string[] = [];
  for (const error of errors) {
    const path = parent ? `${parent}.${error.property}` : error.property;
    // Optional fields skip their rules when absent (`Optional`): an absent value with problems is a required one.
    if (error.value === undefined && error.constraints) lines.push(`${path}: is required`);
    else for (const message of Object.values(error.constraints ?? {})) lines.push(`${path}: ${message}`);
    if (error.children && error.children.length > 0) lines.push(...describeValidationErrors(error.children, path));
  }
  return lines;
}

/** Fields of DTO classes where the contract gives `null` a meaning (e.g. "no time limit"). */
const NULLABLE = new WeakMap<object, Set<string>>();

/**
 * An optional field: absent is fine, and the field's rules apply to anything
 * else, `null` included, so `{"tags": null}` is a 400 naming `tags` rather than
 * a stored null. `nullable: true` where the contract gives null a meaning
 * (`timeoutSeconds: null` clears the limit): then null passes as itself.
 */
export function Optional(options: { nullable?: boolean } = {}): PropertyDecorator {
  return (target, property) => {
    if (options.nullable) {
      const fields = NULLABLE.get(target.constructor) ?? new Set<string>();
      fields.add(String(property));
      NULLABLE.set(target.constructor, fields);
    }
    ValidateIf((_object: unknown, value: unknown) => value !== undefined && !(options.nullable === true && value === null))(target, property);
  };
}

/**
 * A whole number from a query string or a form field, read strictly: only
 * digits become a number; anything else (`1.5`, `0x10`, `1e3`, ` 5`, `-1`, an
 * empty value, a repeated parameter) is left as it is, for the field's
 * {@link WholeNumber} rule to refuse by name.
 */
export const WholeNumberText = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? numberFromText(value) : value));

/**
 * A whole number within `range` (a JSON number, or a {@link WholeNumberText}),
 * checked as one rule with one message however the value is wrong:
 * `keepRuns must be a whole number from 1 to 1000000`, then `, ${orElse}` where
 * another value has a meaning (`or null to keep the output of every run`).
 * Not `IsInt` + `Min` + `Max`: "1.5" broke all three and got three messages
 * that read as a contradiction (see shared/whole-number.ts). The OpenAPI
 * description gets the type `integer` and the bounds.
 */
export function WholeNumber(range: WholeNumberRange, orElse?: string): PropertyDecorator {
  return (target, property) => {
    registerDecorator({
      name: 'wholeNumber',
      target: target.constructor,
      propertyName: String(property),
      validator: {
        validate: (value: unknown) => wholeNumberIn(value, range) !== undefined,
        defaultMessage: () => `${String(property)} must be ${wholeNumberWanted(range)}${orElse ? `, ${orElse}` : ''}`,
      },
    });
    ApiProperty({ type: 'integer', minimum: range.min, maximum: range.max ?? Number.MAX_SAFE_INTEGER })(target, property);
  };
}

/** `true` or `false` from a query string, read strictly; anything else is left for `IsBoolean` to refuse. */
export const BooleanText = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value));

/** How many problems of one kind an answer names before it says "and N more". */
const NAMED_PROBLEMS = 10;

/** The field names a DTO class declares (any class-validator rule, `Optional` or `Allow`). */
export function knownFields(type: new () => object): Set<string> {
  return new Set(getMetadataStorage().getTargetValidationMetadatas(type, '', true, false).map((meta) => meta.propertyName));
}

/**
 * Validates a plain object (a JSON body, a query string, a parsed form) against
 * a DTO class and answers an instance of it, or throws one {@link ValidationError}
 * naming every problem. Checks that cost one pass come first and guard the
 * rest: unknown fields (so a typo is an error, not an ignored setting; a body
 * of 150,000 unknown keys is answered at once, naming the first few) and
 * `null` where null has no meaning; values too wide are refused before any
 * validator walks them. `source` words the message about a non-object.
 */
export function validateInto<T extends object>(type: new () => T, plain: unknown, source = 'body'): T {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) throw new ValidationError([`${source}: must be a JSON object`]);
  const known = knownFields(type);
  const nullable = NULLABLE.get(type) ?? new Set<string>();
  const problems: string[] = [];
  const unknown: string[] = [];
  const refused = new Set<string>();
  const kept: Record<string, unknown> = {};
  for (const key of Object.keys(plain)) {
    const value = (plain as Record<string, unknown>)[key];
    if (!known.has(key)) unknown.push(key);
    else if (value === null && !nullable.has(key)) {
      problems.push(`${key}: must not be null (leave the field out instead)`);
      refused.add(key);
    } else {
      const wide = jsonWidthProblems(value, key);
      if (wide.length > 0) {
        problems.push(...wide);
        refused.add(key);
      } else kept[key] = value;
    }
  }
  if (unknown.length > 0) problems.unshift(unknownFieldsProblem(unknown, [...known], source));
  const instance = plainToInstance(type, kept);
  const errors = validateSync(instance, { forbidUnknownValues: true }).filter((error) => !refused.has(error.property));
  problems.push(...describeValidationErrors(errors));
  if (problems.length > 0) throw new ValidationError(problems);
  return instance;
}

/** One line naming the first unknown fields, how many more there are, and the known ones. */
export function unknownFieldsProblem(fields: string[], known: string[], source: string): string {
  const noun = source === 'query' ? 'query parameter' : 'field';
  const quoted = (field: string): string => JSON.stringify(field.length > 60 ? `${field.slice(0, 60)}…` : field);
  const first = fields[0].length > 60 ? `${fields[0].slice(0, 60)}…` : fields[0];
  const named = fields.slice(0, NAMED_PROBLEMS).map(quoted).join(', ');
  const more = fields.length > NAMED_PROBLEMS ? ` and ${fields.length - NAMED_PROBLEMS} more` : '';
  const what = fields.length === 1 ? `is not a known ${noun}` : `${named}${more} are not known ${noun}s`;
  const allowed = known.length === 0 ? `this route takes no ${noun}s` : `the ${noun}s are ${known.join(', ')}`;
  return `${first}: ${what}; ${allowed}`;
}

/**
 * The global pipe: `@Body()` and `@Query()` parameters typed with a DTO class
 * go through {@link validateInto}; everything else (path parameters, single
 * query values, untyped bodies that a handler validates itself) passes as is.
 */
@Injectable()
export class DtoValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if ((metadata.type !== 'body' && metadata.type !== 'query') || metadata.data !== undefined) return value;
    const type = metadata.metatype;
    if (!type || [Object, String, Number, Boolean, Array].includes(type as never)) return value;
    return validateInto(type as new () => object, value ?? {}, metadata.type);
  }
}
