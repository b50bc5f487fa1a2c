/**
 * Turns what the snapshot and streaming sources read into change events and hands them to the
 * producer (Debezium's EventDispatcher): rows and pgoutput messages go through the
 * {@link ChangeMapper}, each event is pushed with its offset token (the transaction's position,
 * see offset-context.ts), and acknowledged events are counted for the metrics.
 *
 * The producer is reached through {@link EventSink}, so the dispatcher (and the sources above it)
 * run in unit tests against an in-memory sink. Mapper warnings (unknown type, unrenderable value,
 * unavailable TOAST value) are throttled by {@link WarningThrottle}: logged at the first occurrence
 * and every 1000th, counted every time.
 *
 * No I/O of its own.
 */
import type { Logger } from '../common/logger.ts';
import type { ChangeMapper, MapperWarning, OutgoingEvent, RelationPlan, SnapshotContext } from './change-mapper.ts';
import type { CdcMetrics } from './metrics.ts';
import type { PgoutputMessage } from './pgoutput.ts';

/**
 * The producer as the dispatcher and the sources see it (kafka-sink.ts implements it): events are
 * queued in order, each with a token that comes back once the broker acknowledged the event.
 */
export interface EventSink<T> {
  /** Queues one event. @throws the sink's failure once it has failed. */
  push(event: OutgoingEvent, token: T): void;
  /** True while more events may be queued (below the pending-events and pending-text bounds). */
  hasCapacity(): boolean;
  /** Resolves when there is capacity again (or at once); rejects if the sink failed. */
  waitForCapacity(): Promise<void>;
  /** Resolves when every queued event is acknowledged; rejects if the sink failed. */
  flush(): Promise<void>;
  /** Events queued and not yet acknowledged. */
  pending(): number;
}

/** Counts of warnings by (kind, table, column): which occurrences to log. */
export class WarningThrottle {
  private readonly counts = new Map<string, number>();

  /**
   * Counts one occurrence.
   * @returns its number and whether to log it (the first, then every `every`-th).
   */
  record(w: MapperWarning, every = 1000): { occurrences: number; log: boolean } {
    const key = `${w.kind}|${w.schema}.${w.table}|${w.column ?? ''}`;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return { occurrences: n, log: n === 1 || n % every === 0 };
  }
}

/**
 * Counts events by `topic|op`. Events come in runs of one topic and op (a transaction's rows, a
 * snapshot chunk), so runs are counted, not events.
 */
export function countByTopicOp(events: readonly OutgoingEvent[]): Map<string, number> {
  const counts = new Map<string, number>();
  let topic = '';
  let op = '';
  let run = 0;
  for (const e of events) {
    if (e.topic === topic && e.op === op) {
      run++;
      continue;
    }
    if (run > 0) counts.set(`${topic}|${op}`, (counts.get(`${topic}|${op}`) ?? 0) + run);
    topic = e.topic;
    op = e.op;
    run = 1;
  }
  if (run > 0) counts.set(`${topic}|${op}`, (counts.get(`${topic}|${op}`) ?? 0) + run);
  return counts;
}

/** Hooks for benchmarks: every batch of acknowledged events with the time of its acknowledgement. */
export interface DispatcherHooks {
  onAcknowledged?: (events: OutgoingEvent[], ackedAtMs: number) => void;
}

export class EventDispatcher<T> {
  private readonly throttle = new WarningThrottle();
  private acked = 0;
  private sink: EventSink<T> | null = null;
  private observer: ((events: readonly OutgoingEvent[]) => void) | null = null;

  constructor(
    private readonly mapper: ChangeMapper,
    private readonly metrics: CdcMetrics,
    private readonly logger: Logger,
    private readonly hooks: DispatcherHooks = {},
  ) {}

  /** Sets the producer events go to (the sink is created after the dispatcher it reports to). */
  attach(sink: EventSink<T>): void {
    this.sink = sink;
  }

  private target(): EventSink<T> {
    if (!this.sink) throw new Error('event dispatcher has no sink');
    return this.sink;
  }

  /**
   * Sets who sees every streamed event before it is pushed (the incremental snapshot's open
   * window, incremental-snapshot-window.ts); null for none.
   */
  observe(observer: ((events: readonly OutgoingEvent[]) => void) | null): void {
    this.observer = observer;
  }

  /** Pushes prepared events (the rows of an incremental snapshot chunk) with one token. */
  dispatchPrepared(events: readonly OutgoingEvent[], token: T): void {
    const sink = this.target();
    for (const e of events) sink.push(e, token);
  }

  /** Dispatches one snapshot row as an op "r" event. */
  dispatchSnapshotRecord(plan: RelationPlan, values: (string | null)[], ctx: SnapshotContext, token: T): void {
    this.target().push(this.mapper.snapshotEvent(plan, values, ctx), token);
  }

  /**
   * Dispatches the events of one data message (insert, update, delete, truncate; Begin/Commit
   * update the mapper's transaction and yield no event).
   * @param lsn the message's LSN.
   * @param token the transaction's offset token.
   * @param beforePush called with the number of events before they are pushed (so the offset
   *   context counts them before any acknowledgement can arrive).
   * @returns the number of events pushed.
   * @throws Error on a protocol violation (change outside a transaction, unknown relation).
   */
  dispatchChange(message: PgoutputMessage, lsn: bigint, token: T, beforePush?: (n: number) => void): number {
    const events = this.mapper.handle(message, lsn);
    if (events.length === 0) return 0;
    this.observer?.(events);
    beforePush?.(events.length);
    const sink = this.target();
    for (const e of events) sink.push(e, token);
    return events.length;
  }

  /** Called by the sink with the events the broker acknowledged: metrics and hooks. */
  acknowledged(events: OutgoingEvent[]): void {
    this.acked += events.length;
    this.metrics.acknowledged(countByTopicOp(events), events.length);
    this.hooks.onAcknowledged?.(events, Date.now());
  }

  /** Events the broker acknowledged since start (snapshot included; TRUNCATE counts once). */
  acknowledgedEvents(): number {
    return this.acked;
  }

  /** The mapper's warning listener: counted in `cdc_errors_total{kind}`, logged when throttled in. */
  warn(w: MapperWarning): void {
    const { occurrences, log } = this.throttle.record(w);
    this.metrics.errors.inc({ kind: w.kind });
    if (log) this.logger.warn({ ...w, occurrences }, `cdc: ${w.kind}`);
  }
}
