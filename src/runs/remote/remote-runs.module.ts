import { RemoteRuns } from './remote-runs';
import { RunnerLostWatch } from './runner-lost';
import { RunnerProtocolController } from './runner-protocol.controller';

/** The runner protocol (what job servers call) and the lost rule for their runs. */
export const REMOTE_RUNS_CONTROLLERS = [RunnerProtocolController];
export const REMOTE_RUNS_PROVIDERS = [RemoteRuns, RunnerLostWatch];
