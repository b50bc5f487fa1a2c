/**
 * Where the stream is and what may be confirmed to PostgreSQL: the CDC service's offset context
 * (Debezium's PostgresOffsetContext plus the LSN flushing of PostgresStreamingChangeEventSource).
 *
 * Debezium stores its offsets in Kafka Connect and flushes the slot's LSN after Connect committed
 * them. This service keeps no offset store of its own: the slot's confirmed_flush_lsn *is* the
 * offset, so it is confirmed only once the broker acknowledged every event up to it
 * (docs/contracts/change-events.md, "Delivery"). The bookkeeping:
 * - a transaction opens a position at Begin ({@link OffsetContext.begin}); the events dispatched
 *   for it are counted against it ({@link OffsetContext.dispatched}) and it gets its LSN (the
 *   commit's end LSN) at Commit ({@link OffsetContext.commit});
 * - a keepalive records an event-free position ({@link OffsetContext.keepalive});
 * - acknowledgements come back as the positions of the acknowledged events, in any order
 *   ({@link OffsetContext.acknowledged}); the confirmable LSN is {@link AckTracker}'s.
 * {@link OffsetContext.statusUpdate} decides when a standby status update is due.
 *
 * Pure: no I/O; the clock is passed in.
 */
import { AckTracker, type Position } from './ack-tracker.ts';

export type { Position } from './ack-tracker.ts';

/** Standby status updates go out at most this often while the confirmable LSN moves. */
export const STATUS_TICK_MS = 200;

export class OffsetContext {
  private readonly tracker: AckTracker;
  private open: Position | null = null;
  private lastReceived: bigint;
  private lastSentLsn = -1n;
  private lastSentAt = Number.NEGATIVE_INFINITY;

  /**
   * @param startLsn the LSN streaming starts from (the slot's confirmed LSN, or the LSN confirmable
   *   when a previous stream of this process ended).
   * @param heartbeatMs a status update goes out at least this often, even when nothing moved, so
   *   the walsender does not time out (CDC_HEARTBEAT_INTERVAL_S).
   */
  constructor(readonly startLsn: bigint, private readonly heartbeatMs: number) {
    this.tracker = new AckTracker(startLsn);
    this.lastReceived = startLsn;
  }

  /** Records the LSN of a message received from the walsender (data or keepalive). */
  received(lsn: bigint): void {
    this.lastReceived = lsn;
  }

  /** The LSN of the last message received. */
  lastReceivedLsn(): bigint {
    return this.lastReceived;
  }

  /** Opens the position of a transaction (pgoutput Begin); its events are dispatched against it. */
  begin(): Position {
    this.open = this.tracker.open();
    return this.open;
  }

  /** The open transaction's position (the token of its events), or null between transactions. */
  current(): Position | null {
    return this.open;
  }

  /** Closes the open transaction at its commit's end LSN (pgoutput Commit). */
  commit(endLsn: bigint): void {
    if (this.open) this.tracker.close(this.open, endLsn);
    this.open = null;
  }

  /** Counts `n` events handed to the producer for `position`. */
  dispatched(position: Position, n: number): void {
    this.tracker.add(position, n);
  }

  /**
   * A point of the stream at `lsn` that must not be confirmed before `release` is called (a
   * signal whose effect, the snapshot state, must be durable first: confirming past it would lose
   * it on a crash). Call between transactions (signals are non-transactional messages).
   * @returns release: the point may be confirmed once every earlier position is.
   */
  hold(lsn: bigint): () => void {
    const position = this.tracker.open();
    this.tracker.add(position, 1);
    this.tracker.close(position, lsn);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.tracker.ack(position, 1);
    };
  }

  /** Records a keepalive (an event-free point of the stream) at `lsn`. */
  keepalive(lsn: bigint): void {
    this.tracker.marker(lsn);
  }

  /**
   * Records acknowledged events by their tokens (one per acknowledged event, `null` for events not
   * tracked here, e.g. snapshot rows). Runs of one position are counted together.
   */
  acknowledged(tokens: readonly (Position | null)[]): void {
    let run: Position | null = null;
    let n = 0;
    for (const t of tokens) {
      if (t === run) {
        n++;
        continue;
      }
      if (run && n > 0) this.tracker.ack(run, n);
      run = t;
      n = 1;
    }
    if (run && n > 0) this.tracker.ack(run, n);
  }

  /** The highest LSN every event up to which the broker acknowledged. */
  confirmable(): bigint {
    return this.tracker.confirmable();
  }

  /** Transactions and keepalives not yet confirmable. */
  pendingPositions(): number {
    return this.tracker.pendingPositions();
  }

  /**
   * Whether a standby status update is due, and with which LSN: when the server asked (`force`),
   * when the confirmable LSN moved, or when the heartbeat interval passed since the last one.
   * Calling it with a non-null result records the update as sent.
   * @param nowMs the clock, ms.
   * @returns the LSN to report as written/flushed/applied, or null when none is due.
   */
  statusUpdate(nowMs: number, force: boolean): bigint | null {
    const lsn = this.tracker.confirmable();
    if (!force && lsn === this.lastSentLsn && nowMs - this.lastSentAt < this.heartbeatMs) return null;
    this.lastSentLsn = lsn;
    this.lastSentAt = nowMs;
    return lsn;
  }
}
