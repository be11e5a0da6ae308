import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsString, Length, Matches, MaxLength, registerDecorator } from 'class-validator';
import { Optional, WholeNumber } from '../http/validation';
import { DisplayNameRules, IsEnvMap, NO_NUL } from '../http/validators';
import { artifactPatternProblems } from '../runs/runner/artifact-patterns';
import { scheduleProblems } from '../schedules/cron';
import { labelProblems, normalizeLabels } from '../runners/placement';
import { nameKey, WHOLE_CHARACTERS } from '../shared/names';
import { JOB_CONCURRENCY, KEEP_RUNS, TIMEOUT_SECONDS } from '../shared/whole-number';
import type { JobDefinition, JobSchedule } from './job.events';

export const TAG_PATTERN = /^[\p{L}\p{N}_.:/+-]{1,40}$/u;

const DescriptionRules = (): PropertyDecorator =>
  applyDecorators(
    IsString(),
    MaxLength(4000),
    Matches(NO_NUL, { message: 'description must not contain NUL characters' }),
    Matches(WHOLE_CHARACTERS, { message: 'description must not contain unpaired surrogates (half of a character)' }),
  );

const ScriptRefRules = (): PropertyDecorator => applyDecorators(IsString(), Length(1, 100));

/** Arguments: strings without NUL (a process cannot receive one). */
export const ArgsRules = (): PropertyDecorator =>
  applyDecorators(
    IsArray(),
    ArrayMaxSize(256),
    IsString({ each: true }),
    MaxLength(8192, { each: true }),
    Matches(NO_NUL, { each: true, message: 'each value in $property must not contain NUL characters' }),
    Matches(WHOLE_CHARACTERS, { each: true, message: 'each value in $property must not contain unpaired surrogates (half of a character)' }),
  );

const TagsRules = (): PropertyDecorator =>
  applyDecorators(
    IsArray(),
    ArrayMaxSize(30),
    IsString({ each: true }),
    Matches(TAG_PATTERN, { each: true, message: 'each tag must be 1–40 letters, digits or _ . : / + -' }),
    // Tags compare in NFC, case-insensitively, and once each (see src/shared/names.ts).
    Transform(({ value }: { value: unknown }) =>
      Array.isArray(value) && value.every((t) => typeof t === 'string') ? [...new Set(value.map((t: string) => nameKey(t)))] : value,
    ),
  );

const TimeoutRules = (): PropertyDecorator => WholeNumber(TIMEOUT_SECONDS, 'or null for no time limit');

const MaxConcurrentRules = (): PropertyDecorator => WholeNumber(JOB_CONCURRENCY, 'or null for no limit of its own');

const KeepRunsRules = (): PropertyDecorator => WholeNumber(KEEP_RUNS, 'or null to keep the output of every run');

/** `[{cron, timeZone}]`; a schedule without a time zone is read in UTC. */
const SchedulesRules = (): PropertyDecorator =>
  applyDecorators(
    Transform(({ value }: { value: unknown }) =>
      Array.isArray(value)
        ? value.map((entry: unknown) =>
            typeof entry === 'object' && entry !== null && !Array.isArray(entry) && (entry as { timeZone?: unknown }).timeZone === undefined
              ? { ...entry, timeZone: 'UTC' }
              : entry,
          )
        : value,
    ),
    (target: object, propertyName: string | symbol) =>
      registerDecorator({
        name: 'isSchedules',
        target: target.constructor,
        propertyName: propertyName as string,
        validator: {
          validate: (value: unknown) => scheduleProblems(value).length === 0,
          defaultMessage: (args) => scheduleProblems(args?.value, '').map((problem) => problem.trim()).join('; '),
        },
      }),
  );

/** Glob patterns relative to the work directory (see artifact-patterns.ts for the rules); `[]` keeps none. */
const ArtifactsRules = (): PropertyDecorator => (target: object, propertyName: string | symbol) =>
  registerDecorator({
    name: 'isArtifactPatterns',
    target: target.constructor,
    propertyName: propertyName as string,
    validator: {
      validate: (value: unknown) => artifactPatternProblems(value).length === 0,
      // The pipe names the field itself.
      defaultMessage: (args) => artifactPatternProblems(args?.value).map((problem) => problem.replace(/^artifacts: /, '')).join('; '),
    },
  });
/**
 * Labels a runner must have (see `runners/placement.ts` for the syntax): stored in lower
 * case, each once. Every bad label is named in the 400.
 */
export const RunsOnRules = (): PropertyDecorator =>
  applyDecorators(
    Transform(({ value }: { value: unknown }) =>
      Array.isArray(value) && labelProblems(value).length === 0 ? normalizeLabels(value as string[]) : value,
    ),
    (target: object, propertyName: string | symbol) =>
      registerDecorator({
        name: 'isLabelList',
        target: target.constructor,
        propertyName: propertyName as string,
        validator: {
          validate: (value: unknown) => labelProblems(value).length === 0,
          defaultMessage: (args) => labelProblems(args?.value).join('; '),
        },
      }),
  );

/** Optional, but never null: there is no third state to clear it to. */
const KeepWorkdirRules = (): PropertyDecorator => IsBoolean({ message: 'keepWorkdir must be true or false' });

export class CreateJobDto {
  @DisplayNameRules() name!: string;
  @Optional() @DescriptionRules() description?: string;
  /** The template's id or name. */
  @ScriptRefRules() scriptId!: string;
  @Optional() @ArgsRules() args?: string[];
  @Optional() @IsEnvMap() env?: Record<string, string>;
  @Optional() @TagsRules() tags?: string[];
  /** Null or absent: no time limit. */
  @Optional({ nullable: true }) @TimeoutRules() timeoutSeconds?: number | null;
  /** Null or absent: only the server's limit. */
  @Optional({ nullable: true }) @MaxConcurrentRules() maxConcurrent?: number | null;
  @Optional() @SchedulesRules() schedules?: JobSchedule[];
  /** Absent: false (its runs' work directories are removed when they end). */
  @Optional() @KeepWorkdirRules() keepWorkdir?: boolean;
  /** Null or absent: the output of every run is kept. */
  @Optional({ nullable: true }) @KeepRunsRules() keepRuns?: number | null;
  /** Absent: none. Glob patterns of the files each run keeps as artifacts. */
  @Optional() @ArtifactsRules() artifacts?: string[];
  /**
   * Labels a runner must all have to take its runs (each 1–64 letters, digits, `-`, `_`,
   * `.` or `:`, starting with a letter or digit; stored in lower case); absent or `[]`: any runner.
   */
  @Optional() @RunsOnRules() runsOn?: string[];
}

/** Any subset of the fields; `timeoutSeconds: null` removes the limit. `null` for any other field is a 400. */
export class UpdateJobDto {
  @Optional() @DisplayNameRules() name?: string;
  @Optional() @DescriptionRules() description?: string;
  @Optional() @ScriptRefRules() scriptId?: string;
  @Optional() @ArgsRules() args?: string[];
  @Optional() @IsEnvMap() env?: Record<string, string>;
  @Optional() @TagsRules() tags?: string[];
  @Optional({ nullable: true }) @TimeoutRules() timeoutSeconds?: number | null;
  /** `null` removes the job's own limit. */
  @Optional({ nullable: true }) @MaxConcurrentRules() maxConcurrent?: number | null;
  /** The whole list; `[]` removes every schedule. */
  @Optional() @SchedulesRules() schedules?: JobSchedule[];
  @Optional() @KeepWorkdirRules() keepWorkdir?: boolean;
  /** `null` keeps the output of every run again. */
  @Optional({ nullable: true }) @KeepRunsRules() keepRuns?: number | null;
  /** The whole list; `[]` keeps no artifacts. */
  @Optional() @ArtifactsRules() artifacts?: string[];
  /** The whole list of runner labels (as on creation); `[]`: any runner again. */
  @Optional() @RunsOnRules() runsOn?: string[];
}


/** A new job's definition from a validated body: absent fields get their defaults. */
export function jobDefinitionFrom(dto: CreateJobDto, schedules: JobSchedule[] = dto.schedules ?? []): JobDefinition {
  return {
    name: dto.name.trim(),
    description: dto.description ?? '',
    scriptId: dto.scriptId,
    args: dto.args ?? [],
    env: dto.env ?? {},
    tags: dto.tags ?? [],
    timeoutSeconds: dto.timeoutSeconds ?? null,
    maxConcurrent: dto.maxConcurrent ?? null,
    schedules,
    keepWorkdir: dto.keepWorkdir ?? false,
    keepRuns: dto.keepRuns ?? null,
    artifacts: dto.artifacts ?? [],
    runsOn: dto.runsOn ?? [],
  };
}
