import { IsISO8601 } from 'class-validator';
import { Optional, WholeNumber } from '../http/validation';
import { IsEnvMap } from '../http/validators';
import { ArgsRules } from '../jobs/job.dto';
import { DELAY_SECONDS } from '../shared/whole-number';

/**
 * The body of `POST /api/jobs/:id/runs` (JSON, or the fields of a multipart form).
 * Values are taken as their JSON type: `delaySeconds: "10"` or `true` is a 400
 * (a multipart form's text is read strictly before it gets here).
 */
export class StartRunDto {
  /** Appended to the job's arguments. */
  @Optional() @ArgsRules() args?: string[];
  /** On top of the job's environment. */
  @Optional() @IsEnvMap() env?: Record<string, string>;
  @Optional() @IsISO8601({ strict: true, strictSeparator: true }, { message: 'at must be an ISO-8601 time such as 2026-12-01T08:00:00Z' }) at?: string;
  @Optional() @WholeNumber(DELAY_SECONDS) delaySeconds?: number;
}

/** The body of `POST /api/runs/:id/reschedule`: a new time, or neither field to start it as soon as there is room. */
export class RescheduleRunDto {
  @Optional() @IsISO8601({ strict: true, strictSeparator: true }, { message: 'at must be an ISO-8601 time such as 2026-12-01T08:00:00Z' }) at?: string;
  @Optional() @WholeNumber(DELAY_SECONDS) delaySeconds?: number;
}
