import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ProjectionEngine } from './projection-engine';

const WITHOUT_READ_MODELS = 'endercompute:without-read-models';

/** Marks a route that answers without the read models (health reports their failure itself). */
export const WithoutReadModels = (): MethodDecorator & ClassDecorator => SetMetadata(WITHOUT_READ_MODELS, true);

/**
 * Once the read models stopped (an event a projection cannot apply, a lost
 * subscription), every route that reads them answers 503 with the reason, through
 * the error filter (JSON for the API, a message for pages), instead of serving a
 * state that silently lacks that event. Requests that wait for their own write get
 * the same answer from `ProjectionEngine.waitFor`.
 */
@Injectable()
export class ReadModelsGuard implements CanActivate {
  constructor(
    private readonly engine: ProjectionEngine,
    private readonly reflector: Reflector,
  ) {}

  canActivate(execution: ExecutionContext): boolean {
    const failure = this.engine.stoppedBecause;
    if (failure === null) return true;
    if (this.reflector.getAllAndOverride<boolean>(WITHOUT_READ_MODELS, [execution.getHandler(), execution.getClass()])) return true;
    throw failure;
  }
}
