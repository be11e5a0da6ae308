import { IsString, Matches } from 'class-validator';

/** `POST /api/runners`: the name of the job server to register. */
export class RegisterRunnerDto {
  /** 1–64 characters: a letter or digit, then letters, digits, `.`, `_` or `-`. */
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'name must be 1–64 characters: a letter or digit, then letters, digits, ".", "_" or "-"' })
  name!: string;
}
