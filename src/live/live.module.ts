import { ApiOutputStream } from './api-output-stream';
import { LiveOutputHub } from './live-output.hub';
import { LiveOutputProjection } from './live-output.projection';
import { OutputBytes } from './output-bytes';
import { OutputPagesController } from './output-pages.controller';
import { OutputStreamController } from './output-stream.controller';
import { OutputView } from './output-view';
import { PageOutputStream } from './page-output-stream';

/**
 * Live output: the hub the run executor publishes to, the API stream, and the
 * run page's live output and paging. Listed here and added to `AppModule`;
 * {@link LiveOutputProjection} listens to the projection engine's committed batches.
 */
export const LIVE_CONTROLLERS = [OutputStreamController, OutputPagesController];

export const LIVE_PROVIDERS = [LiveOutputHub, LiveOutputProjection, OutputBytes, OutputView, ApiOutputStream, PageOutputStream];
