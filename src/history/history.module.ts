import { AsOfQueries } from './as-of';
import { AsOfPages } from './as-of.page';
import { JobHistoryPages, ScriptHistoryPages } from './history.page';
import { JobHistory, ScriptHistory } from './histories';
import { JobVersionsController, ScriptVersionsController } from './history.controller';
import { RestoreJobVersionHandler, RestoreScriptVersionHandler } from './restore.handlers';

/** Version history, restore and "as of a time": listed here and added to `AppModule`, whose providers they use. */
export const HISTORY_CONTROLLERS = [JobVersionsController, ScriptVersionsController, JobHistoryPages, ScriptHistoryPages];

export const HISTORY_PROVIDERS = [JobHistory, ScriptHistory, AsOfQueries, AsOfPages, RestoreJobVersionHandler, RestoreScriptVersionHandler];
