import { IsString, Matches } from 'class-validator';
import { RUNNER_NAME_PATTERN } from './runner-names';

/** `POST /api/runners`: the name of the job server to register. */
export class RegisterRunnerDto {
  /** 1–64 characters: a letter or digit, then letters, digits, `.`, `_` or `-`; not `system`, `runner` or `schedule`. */
  @IsString()
  @Matches(RUNNER_NAME_PATTERN, { message: 'name must be 1–64 characters: a letter or digit, then letters, digits, ".", "_" or "-"' })
  name!: string;
}
