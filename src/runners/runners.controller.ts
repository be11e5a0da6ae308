import { Body, Controller, Delete, Get, HttpCode, Param, Req } from '@nestjs/common';
import { Post } from '@nestjs/common';
import type { Request } from 'express';
import { Ctx } from '../auth/request-context';
import type { CommandContext } from '../shared/command-context';
import { RunnerEndpoint, runnerOf } from './runner-endpoint';
import { RunnerRegistry } from './runner-registry';
import { RegisterRunnerDto } from './runner.dto';
import { RunnersView, type RunnerView } from './runners.view';

/** REST resource `/api/runners`: job servers, for people (a key; never a runner token). */
@Controller('api/runners')
export class RunnersController {
  constructor(
    private readonly registry: RunnerRegistry,
    private readonly view: RunnersView,
  ) {}

  /** Every runner: registered, configured, and local runners of every server sharing the store. */
  @Get()
  list(): { items: RunnerView[] } {
    return { items: this.view.list() };
  }

  /** Registers a job server: 201 with its token, shown this once and never again. */
  @Post()
  register(@Body() dto: RegisterRunnerDto, @Ctx() context: CommandContext): Promise<{ name: string; token: string }> {
    return this.registry.register(dto.name, context);
  }

  /** Revokes a registered job server at once; its running runs end `lost`. 204. */
  @Delete(':name')
  @HttpCode(204)
  async revoke(@Param('name') name: string, @Ctx() context: CommandContext): Promise<void> {
    await this.registry.revoke(name, context);
  }
}

/**
 * `GET /api/runner/whoami` → `{name}`: the name a runner token belongs to. For a job
 * server (or its operator) to check its token; the runner protocol's other endpoints live
 * beside it under `/api/runner/`.
 */
@Controller('api/runner')
export class RunnerWhoAmIController {
  @Get('whoami')
  @RunnerEndpoint()
  whoami(@Req() request: Request): { name: string } {
    return { name: runnerOf(request).name };
  }
}
