import { RunnerGuard } from './runner-endpoint';
import { RunnerPresence } from './runner-presence';
import { RunnerRegistry } from './runner-registry';
import { RunnerTokens } from './runner-tokens';
import { RunnersController, RunnerWhoAmIController } from './runners.controller';
import { RunnersPage } from './runners.page';
import { RunnersReadModel } from './runners.read-model';
import { RunnersView } from './runners.view';

/**
 * Job servers ("runners"): tokens, the guard of runner endpoints, presence, registration,
 * the listing and the Runners page. Like the web and live parts, listed here and added to `AppModule`
 * (whose providers they use); `RunnersReadModel` is also one of its projections.
 */
export const RUNNERS_CONTROLLERS = [RunnersController, RunnerWhoAmIController, RunnersPage];

export const RUNNERS_PROVIDERS = [RunnersReadModel, RunnerTokens, RunnerGuard, RunnerPresence, RunnerRegistry, RunnersView];

/** The runners' part of the application, as `AppModule` adds it: `controllers` and `providers`. */
export const RunnersModule = { controllers: RUNNERS_CONTROLLERS, providers: RUNNERS_PROVIDERS } as const;
