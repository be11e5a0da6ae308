import { applyDecorators } from '@nestjs/common';
import { IsString, Matches, MaxLength } from 'class-validator';
import { Optional } from '../http/validation';
import { DisplayNameRules, NO_NUL } from '../http/validators';
import { WHOLE_CHARACTERS } from '../shared/names';

/** 512 KiB keeps a template (and a run's snapshot of it) inside one 1 MiB EventStoreDB event. */
export const MAX_SCRIPT_BODY = 512 * 1024;
/** A program name or path; arguments belong to the job. */
export const INTERPRETER_PATTERN = /^[A-Za-z0-9_./+-]{1,200}$/;

const InterpreterRules = (): PropertyDecorator =>
  applyDecorators(
    IsString(),
    Matches(INTERPRETER_PATTERN, {
      message: 'interpreter must be a program name or path (letters, digits, _ . / + -), e.g. bash, python3, /usr/bin/env',
    }),
  );

const BodyRules = (): PropertyDecorator =>
  applyDecorators(
    IsString(),
    MaxLength(MAX_SCRIPT_BODY),
    Matches(NO_NUL, { message: 'body must not contain NUL characters' }),
    Matches(WHOLE_CHARACTERS, { message: 'body must not contain unpaired surrogates (half of a character)' }),
  );

export class CreateScriptDto {
  @DisplayNameRules() name!: string;
  @Optional() @InterpreterRules() interpreter?: string;
  @BodyRules() body!: string;
}

/** Any subset of the fields. */
export class UpdateScriptDto {
  @Optional() @DisplayNameRules() name?: string;
  @Optional() @InterpreterRules() interpreter?: string;
  @Optional() @BodyRules() body?: string;
}
