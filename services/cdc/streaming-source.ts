/**
 * Streaming from the replication slot (Debezium's PostgresStreamingChangeEventSource): messages
 * arrive from the walsender in WAL order, wait in an inbox, and are applied one at a time:
 * Relation messages re-describe the table, Begin/Commit open and close the transaction's offset
 * position, row messages are dispatched as events, keepalives become event-free positions. An LSN
 * is confirmed (standby status update) once offset-context.ts says every event up to it is
 * acknowledged.
 *
 * Pure parts, reached by unit tests without I/O:
 * - {@link ChangeInbox}: the queue between the socket and the processing, with the decisions to
 *   pause the socket above {@link INBOX_HIGH_WATER} items and resume below half of it;
 * - {@link ChangeStreamProcessor}: what one message does to the offset context and the dispatcher.
 * {@link StreamingChangeEventSource} is the adapter: the replication connection
 * (replication-stream.ts), the processing loop, the status, progress and lag timers.
 */
import type { CdcConfig } from '../common/config.ts';
import type { Logger } from '../common/logger.ts';
import type { EventDispatcher, EventSink } from './event-dispatcher.ts';
import { formatLsn } from './lsn.ts';
import type { CdcMetrics } from './metrics.ts';
import { STATUS_TICK_MS, type OffsetContext, type Position } from './offset-context.ts';
import type { LogicalMessage, RelationMessage } from './pgoutput.ts';
import { ReplicationStream, type DecodedPayload } from './replication-stream.ts';
import pRetry, { AbortError } from 'p-retry';
import { cdcConnection } from './postgres-setup.ts';

/** Inbox size above which the replication socket is paused. */
export const INBOX_HIGH_WATER = 5_000;

/** A message from the walsender: decoded XLogData, or a keepalive with the server's position. */
export type InboxItem = { kind: 'data'; lsn: bigint; payload: DecodedPayload } | { kind: 'keepalive'; lsn: bigint };

/** FIFO of received messages with the socket's pause/resume decisions. Pure. */
export class ChangeInbox {
  private items: (InboxItem | undefined)[] = [];
  private head = 0;
  private paused = false;

  constructor(private readonly highWater = INBOX_HIGH_WATER) {}

  /** Items waiting. */
  size(): number {
    return this.items.length - this.head;
  }

  /**
   * Appends an item.
   * @returns true when the socket should be paused now (above the high-water mark, not paused yet).
   */
  push(item: InboxItem): boolean {
    this.items.push(item);
    if (!this.paused && this.size() > this.highWater) {
      this.paused = true;
      return true;
    }
    return false;
  }

  /** The oldest item, removed; undefined when empty. */
  shift(): InboxItem | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    return item;
  }

  /**
   * Compacts the queue after a processing pass.
   * @returns true when the socket should be resumed now (paused, and below half the high-water mark).
   */
  drained(): boolean {
    if (this.head > 0 && this.head >= this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 10_000 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    if (this.paused && this.size() < this.highWater / 2) {
      this.paused = false;
      return true;
    }
    return false;
  }
}

/**
 * What one message does: pure except for `registerRelation` (a catalog read), injected.
 * Events are pushed with their transaction's position as token, counted against it first.
 */
export class ChangeStreamProcessor {
  constructor(
    private readonly offsets: OffsetContext,
    private readonly dispatcher: EventDispatcher<Position | null>,
    private readonly registerRelation: (message: RelationMessage) => Promise<void>,
    private readonly onLogicalMessage: (message: LogicalMessage, lsn: bigint) => void = () => undefined,
  ) {}

  /**
   * Applies one message. Returns a promise only when it waits for the catalog (Relation).
   * @throws the decoding error of an undecodable message, or a protocol violation.
   */
  apply(item: InboxItem): Promise<void> | undefined {
    const offsets = this.offsets;
    if (item.kind === 'keepalive') {
      offsets.keepalive(item.lsn);
      return undefined;
    }
    offsets.received(item.lsn);
    if (!item.payload.ok) throw item.payload.error;
    const message = item.payload.message;
    switch (message.tag) {
      case 'relation':
        return this.registerRelation(message);
      case 'message':
        // pg_logical_emit_message: signals and watermarks of incremental snapshots (incremental-snapshot-source.ts).
        this.onLogicalMessage(message, item.lsn);
        return undefined;
      case 'begin':
        offsets.begin();
        this.dispatcher.dispatchChange(message, item.lsn, null);
        return undefined;
      case 'commit':
        this.dispatcher.dispatchChange(message, item.lsn, null);
        offsets.commit(message.endLsn);
        return undefined;
      default: {
        const position = offsets.current();
        this.dispatcher.dispatchChange(message, item.lsn, position, position ? (n) => offsets.dispatched(position, n) : undefined);
        return undefined;
      }
    }
  }
}

export interface StreamingDeps {
  config: CdcConfig;
  logger: Logger;
  metrics: CdcMetrics;
  dispatcher: EventDispatcher<Position | null>;
  sink: EventSink<Position | null>;
  offsets: OffsetContext;
  registerRelation: (message: RelationMessage) => Promise<void>;
  /** A logical decoding message (pg_logical_emit_message), in stream order. */
  onLogicalMessage?: (message: LogicalMessage, lsn: bigint) => void;
  /** True once the service should stop (stop requested or a fatal error). */
  interrupted: () => boolean;
  /** Reports a fatal error of the stream (the service stops). */
  fail: (err: Error, kind: string) => void;
}

export class StreamingChangeEventSource {
  private stream: ReplicationStream | null = null;
  private readonly inbox = new ChangeInbox();
  private readonly processor: ChangeStreamProcessor;
  private processing = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly deps: StreamingDeps) {
    this.processor = new ChangeStreamProcessor(deps.offsets, deps.dispatcher, deps.registerRelation, deps.onLogicalMessage);
  }

  /**
   * Connects to the slot at the offset context's start LSN and starts the processing.
   * A slot still held by a killed predecessor's walsender is retried for about 15 s.
   * @returns a promise that settles when the stream ends (rejects with the reason when it ends
   *   while not stopping).
   */
  async start(): Promise<{ ended: Promise<unknown> }> {
    const { config, logger, offsets } = this.deps;
    const startLsn = offsets.startLsn;
    const stream = new ReplicationStream(cdcConnection(config, true));
    this.stream = stream;
    stream.on('data', (lsn: bigint, payload: DecodedPayload) => {
      if (this.inbox.push({ kind: 'data', lsn, payload })) stream.pause();
      this.kick();
    });
    stream.on('heartbeat', (walEnd: bigint, replyRequested: boolean) => {
      if (this.inbox.push({ kind: 'keepalive', lsn: walEnd })) stream.pause();
      if (replyRequested) this.sendStatus(true);
      this.kick();
    });
    let started = false;
    stream.on('error', (err: Error) => {
      // Before the stream starts, connection errors are retried below.
      if (started) this.deps.fail(err, 'replication');
      else logger.debug({ err }, 'replication connection error before start');
    });

    const { ended } = await pRetry(
      async () => {
        try {
          const running = await stream.start(config.cdc.slotName, startLsn, config.postgres.publication);
          started = true;
          return running;
        } catch (err) {
          await stream.stop();
          // A killed predecessor's walsender may hold the slot for a moment.
          if (/is active for PID/.test((err as Error).message) && !this.deps.interrupted()) throw err;
          throw new AbortError(err as Error);
        }
      },
      { retries: 30, minTimeout: 500, maxTimeout: 1000, factor: 1 },
    );
    logger.info({ slot: config.cdc.slotName, publication: config.postgres.publication, from: formatLsn(startLsn) }, 'streaming changes');
    this.startTimers();
    return { ended };
  }

  private startTimers(): void {
    const { config, logger, metrics, offsets, dispatcher, sink } = this.deps;
    const tick = Math.min(STATUS_TICK_MS, config.cdc.heartbeatIntervalMs);
    this.timers.push(setInterval(() => this.sendStatus(false), tick));
    let lastProgress = Date.now();
    let eventsAtLastProgress = 0;
    this.timers.push(
      setInterval(() => {
        const rate = metrics.updateRate();
        metrics.pendingEvents.set(sink.pending());
        metrics.lastReceivedLsn.set(Number(offsets.lastReceivedLsn()));
        if (Date.now() - lastProgress >= 30_000) {
          const total = dispatcher.acknowledgedEvents();
          if (total !== eventsAtLastProgress) {
            logger.info({ eventsPerSecond: rate, events: total, lastReceivedLsn: formatLsn(offsets.lastReceivedLsn()), confirmedLsn: formatLsn(offsets.confirmable()), pending: sink.pending() }, 'streaming progress');
          }
          lastProgress = Date.now();
          eventsAtLastProgress = total;
        }
      }, 1000),
    );
    this.timers.push(setInterval(() => void metrics.readLag(), config.cdc.heartbeatIntervalMs));
  }

  private kick(): void {
    if (!this.processing) void this.processInbox();
  }

  private async processInbox(): Promise<void> {
    this.processing = true;
    const { sink, interrupted } = this.deps;
    try {
      while (this.inbox.size() > 0 && !interrupted()) {
        if (!sink.hasCapacity()) {
          await sink.waitForCapacity();
          continue;
        }
        const pending = this.processor.apply(this.inbox.shift()!);
        if (pending) await pending;
      }
      if (this.inbox.drained()) this.stream?.resume();
    } catch (err) {
      this.deps.fail(err as Error, 'stream_processing');
    } finally {
      this.processing = false;
    }
    if (this.inbox.size() > 0 && !interrupted()) void this.processInbox();
  }

  /** Sends a standby status update when one is due (see OffsetContext.statusUpdate). */
  sendStatus(force: boolean): void {
    const stream = this.stream;
    if (!stream) return;
    const lsn = this.deps.offsets.statusUpdate(Date.now(), force);
    if (lsn === null) return;
    stream.confirm(lsn);
    this.deps.metrics.confirmedLsn.set(Number(lsn));
  }

  /** Stops the timers and reading from the socket (messages already received stay unprocessed). */
  pause(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.stream?.pause();
  }

  /** Sends the final status update (the confirmable LSN) and closes the replication connection. */
  async close(): Promise<void> {
    if (!this.stream) return;
    this.sendStatus(true);
    await this.stream.stop();
  }
}
