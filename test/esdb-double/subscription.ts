/**
 * `Streams.Read` with `subscription` on `$all`: a catch-up subscription, following
 * EventStore/EventStore `src/EventStore.Core/Services/Transport/Enumerators/`
 * `Enumerator.AllSubscription.cs` and `Enumerator.AllSubscriptionFiltered.cs`:
 * 1. a `confirmation` with a subscription id, first;
 * 2. catch-up: the stored events strictly after the checkpoint (`start` means from the
 *    beginning, `end` means from the last event), through the default `$all` filter and
 *    the client's filter;
 * 3. filtered only: a `checkpoint` every `checkpointIntervalMultiplier × maxSearchWindow`
 *    examined events (the window defaults to the read batch size, 32), and one when
 *    catch-up reaches the end of the log;
 * 4. `caught_up` when it goes live (sent since server 23.10; `fell_behind` is never sent
 *    to clients, see `Streams.Read.cs` `TryConvertReadResponse`);
 * 5. live events as they are written, with live checkpoints counted as
 *    `SubscriptionsService.cs` `ProcessEventCommited` does (every examined event counts).
 * A subscription whose checkpoint is at or past the last event goes live at once.
 */
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { ReadReq, ReadResp } from '@eventstore/db-client/generated/streams_pb';
import { compileFilter, passes } from './filters';
import { compareTf, LogRecord, TransactionLog } from './log';
import { eventResponse, handlerThrew, RpcStatusError, send, UINT64_MAX, wantsStringUuids } from './wire';

/** `Enumerator.ReadBatchSize`: the page size, and the default filter search window. */
const READ_BATCH_SIZE = 32;

/** A transaction-file position (`TFPos`); both parts are -1 before the first event. */
interface Tf { commit: bigint; prepare: bigint }
const HEAD_OF_TF: Tf = { commit: -1n, prepare: -1n };

const before = (a: Tf, b: Tf): boolean => compareTf(a.commit, a.prepare, b.commit, b.prepare) < 0;
const recordTf = (record: LogRecord): Tf => ({ commit: record.position, prepare: record.position });

/** Runs one `$all` subscription until the client cancels or the server stops. */
export async function subscribeToAll(log: TransactionLog, call: grpc.ServerWritableStream<ReadReq, ReadResp>, options: ReadReq.Options): Promise<void> {
  const filterOptions = options.getFilter();
  const filter = filterOptions ? compileFilter(filterOptions) : null;
  let window = READ_BATCH_SIZE;
  let interval = 0;
  if (filterOptions) {
    const multiplier = filterOptions.getCheckpointintervalmultiplier();
    // `ArgumentOutOfRangeException.ThrowIfZero(checkpointIntervalMultiplier)` in the enumerator's constructor.
    if (multiplier === 0) throw new RpcStatusError(handlerThrew());
    if (filterOptions.getWindowCase() === ReadReq.Options.FilterOptions.WindowCase.MAX) window = filterOptions.getMax();
    interval = multiplier * window;
  }
  const asString = wantsStringUuids(options);

  let wake: (() => void) | null = null;
  let ended = false;
  const end = (): void => { ended = true; wake?.(); };
  const stopListening = log.onAppend(() => wake?.());
  call.once('cancelled', end);
  call.once('close', end);
  call.once('error', end);
  const sendEvent = async (record: LogRecord): Promise<boolean> => send(call, eventResponse(record, asString));
  const sendCheckpoint = async (at: Tf): Promise<boolean> => {
    if (at.commit === HEAD_OF_TF.commit && at.prepare === HEAD_OF_TF.prepare) return true; // nothing to report yet
    const checkpoint = new ReadResp.Checkpoint().setCommitPosition(at.commit.toString()).setPreparePosition(at.prepare.toString());
    return send(call, new ReadResp().setCheckpoint(checkpoint));
  };

  try {
    const confirmation = new ReadResp.SubscriptionConfirmation().setSubscriptionId(randomUUID());
    if (!(await send(call, new ReadResp().setConfirmation(confirmation)))) return;

    const last = log.lastPosition();
    const lastTf: Tf = last === null ? HEAD_OF_TF : { commit: last, prepare: last };
    let checkpoint = startCheckpoint(options.getAll() as ReadReq.Options.AllOptions, lastTf);
    let index = log.firstIndexAfter(checkpoint.commit, checkpoint.prepare);

    if (before(checkpoint, lastTf)) {
      const caughtUp = filter
        ? await catchUpFiltered(log, checkpoint, filter, { window, interval }, sendEvent, sendCheckpoint)
        : await catchUp(log, index, checkpoint, sendEvent);
      if (!caughtUp) return;
      ({ checkpoint, index } = caughtUp);
    }

    if (!(await send(call, new ReadResp().setCaughtUp(new ReadResp.CaughtUp())))) return;

    let counter = 0;
    while (!ended) {
      while (index < log.length && !ended) {
        const record = log.at(index++);
        if (!before(checkpoint, recordTf(record))) continue;
        if (passes(record, filter)) {
          if (!(await sendEvent(record))) return;
          checkpoint = recordTf(record);
        }
        if (filter && ++counter >= interval) {
          counter = 0;
          if (!(await sendCheckpoint(recordTf(record)))) return;
        }
      }
      if (ended) return;
      await new Promise<void>((resolve) => { wake = resolve; });
      wake = null;
    }
  } finally {
    stopListening();
  }
}

/** `ConvertCheckpoint` in the enumerators. */
function startCheckpoint(all: ReadReq.Options.AllOptions, lastTf: Tf): Tf {
  switch (all.getAllOptionCase()) {
    case ReadReq.Options.AllOptions.AllOptionCase.START:
      return HEAD_OF_TF;
    case ReadReq.Options.AllOptions.AllOptionCase.END:
      return lastTf;
    default: {
      const position = all.getPosition() as ReadReq.Options.Position;
      const commit = BigInt(position.getCommitPosition());
      return commit === UINT64_MAX ? lastTf : { commit, prepare: BigInt(position.getPreparePosition()) };
    }
  }
}

type Sender<T> = (value: T) => Promise<boolean>;

/** Unfiltered catch-up: every event after the checkpoint, until the log's end. */
async function catchUp(log: TransactionLog, index: number, checkpoint: Tf, sendEvent: Sender<LogRecord>): Promise<{ checkpoint: Tf; index: number } | null> {
  for (; index < log.length; index++) {
    const record = log.at(index);
    if (!passes(record, null)) continue;
    if (!(await sendEvent(record))) return null;
    checkpoint = recordTf(record);
  }
  return { checkpoint, index };
}

/**
 * Filtered catch-up in pages, as `AllSubscriptionFiltered.CatchUp` reads them: each
 * page examines at most the search window (and returns at most a batch); a page
 * starts at the post-position of the last examined record (prepare part 0), which is
 * what a checkpoint reports when no later event was sent.
 */
async function catchUpFiltered(
  log: TransactionLog,
  checkpoint: Tf,
  filter: (record: LogRecord) => boolean,
  { window, interval }: { window: number; interval: number },
  sendEvent: Sender<LogRecord>,
  sendCheckpoint: Sender<Tf>,
): Promise<{ checkpoint: Tf; index: number } | null> {
  let pageStart: Tf = before(checkpoint, { commit: 0n, prepare: 0n }) ? { commit: 0n, prepare: 0n } : checkpoint;
  let index = log.firstIndexAtOrAfter(pageStart.commit, pageStart.prepare);
  let counter = 0;
  for (;;) {
    const currentPos = pageStart;
    let examined = 0;
    const matched: LogRecord[] = [];
    let lastExamined: LogRecord | undefined;
    while (index < log.length && matched.length < READ_BATCH_SIZE && examined < window) {
      lastExamined = log.at(index++);
      examined++;
      if (passes(lastExamined, filter)) matched.push(lastExamined);
    }
    const endOfLog = index >= log.length && matched.length < READ_BATCH_SIZE && examined < window;

    for (const record of matched) {
      if (!before(checkpoint, recordTf(record))) continue;
      if (!(await sendEvent(record))) return null;
      checkpoint = recordTf(record);
    }
    counter += examined;
    if (endOfLog) {
      if (before(checkpoint, currentPos)) checkpoint = currentPos;
      if (!(await sendCheckpoint(checkpoint))) return null;
      return { checkpoint, index };
    }
    if (counter >= interval) {
      counter %= interval;
      if (before(checkpoint, currentPos)) checkpoint = currentPos;
      if (!(await sendCheckpoint(checkpoint))) return null;
    }
    if (lastExamined) pageStart = { commit: lastExamined.postPosition, prepare: 0n };
  }
}
