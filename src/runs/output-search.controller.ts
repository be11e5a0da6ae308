import { Controller, Get, Param, Query } from '@nestjs/common';
import { NotFoundError } from '../shared/domain-errors';
import { OutputSearch, parseSearchQuery, type OutputMatch } from './output-search';
import { refuseExpiredOutput } from './runs.controller';
import { RunsReadModel } from './runs.read-model';

/** The answer of `GET /api/runs/:id/output/search`. */
export interface OutputSearchAnswer {
  q: string;
  matches: OutputMatch[];
  /** Cursor: give as `from` for the matches after these; null when there are no more. */
  next: string | null;
  /** Bytes of stored output searched (a running run's output may have grown since). */
  searchedBytes: number;
}

/** `GET /api/runs/:id/output/search?q=`: where a text occurs in a run's stored output, by line and byte offset. */
@Controller('api')
export class OutputSearchController {
  constructor(
    private readonly runs: RunsReadModel,
    private readonly search: OutputSearch,
  ) {}

  @Get('runs/:id/output/search')
  async find(@Param('id') id: string, @Query('q') q: unknown, @Query('from') from: unknown, @Query('limit') limit: unknown): Promise<OutputSearchAnswer> {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`No run "${id}" exists`);
    refuseExpiredOutput(run);
    const parsed = parseSearchQuery({ q, from, limit });
    const result = await this.search.search(run, parsed);
    return { q: parsed.q, matches: result.matches, next: result.next === null ? null : String(result.next), searchedBytes: result.searchedTo };
  }
}
