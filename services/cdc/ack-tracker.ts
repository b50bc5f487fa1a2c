/**
 * Which LSN may be confirmed to PostgreSQL, given which events the broker has acknowledged.
 *
 * The rule (docs/architecture.md, "Delivery"): an LSN is confirmed only once every event produced up
 * to it is acknowledged (acks=all). Positions enter in stream order:
 * - a transaction opens a position at Begin, events are counted against it as they are produced,
 *   and it gets its LSN (the commit's end LSN) at Commit;
 * - a keepalive adds an event-free position at the server's WAL end, so an idle database still
 *   lets the slot advance (the walsender sends every transaction committed before that point
 *   ahead of the keepalive).
 * The confirmable LSN is the LSN of the last position such that it and every earlier position are
 * closed and fully acknowledged. It never goes backwards.
 *
 * Pure: no I/O, no clock.
 */

/** A transaction (or keepalive) in the stream, with its outstanding event count. */
export interface Position {
  /** Commit end LSN or keepalive LSN; null while the transaction is open. */
  lsn: bigint | null;
  outstanding: number;
  /** Called once when the last outstanding event is acknowledged (a position outside the stream, see {@link outsidePosition}). */
  settled?: () => void;
}

/**
 * A token for events that are not part of the stream's positions (an incremental snapshot
 * chunk's rows): the tracker counts their acknowledgements and calls `settled` once all `count`
 * are in; it never holds back the confirmable LSN (the chunk's progress is kept elsewhere).
 */
export function outsidePosition(count: number, settled: () => void): Position {
  return { lsn: null, outstanding: count, settled };
}

export class AckTracker {
  private readonly queue: Position[] = [];
  private head = 0;
  private confirmed: bigint;

  /** @param startLsn the slot's confirmed LSN when streaming starts. */
  constructor(startLsn: bigint) {
    this.confirmed = startLsn;
  }

  /** Opens a position for a transaction whose events follow. */
  open(): Position {
    const position: Position = { lsn: null, outstanding: 0 };
    this.queue.push(position);
    return position;
  }

  /** Counts `n` produced, not yet acknowledged events against `position`. */
  add(position: Position, n = 1): void {
    position.outstanding += n;
  }

  /**
   * Closes a transaction's position at its commit end LSN.
   * @throws Error if the position was already closed.
   */
  close(position: Position, lsn: bigint): void {
    if (position.lsn !== null) throw new Error('position closed twice');
    position.lsn = lsn;
    this.advance();
  }

  /** Records a keepalive (or other event-free point) at `lsn`. */
  marker(lsn: bigint): void {
    const last = this.queue[this.queue.length - 1];
    if (this.queue.length > this.head && last && last.outstanding === 0 && last.lsn !== null) {
      // Consecutive idle markers collapse into one, so a stalled broker cannot grow the queue.
      if (lsn > last.lsn) last.lsn = lsn;
    } else {
      this.queue.push({ lsn, outstanding: 0 });
    }
    this.advance();
  }

  /**
   * Records that the broker acknowledged `n` events of `position`.
   * @throws Error when more events are acknowledged than were added.
   */
  ack(position: Position, n = 1): void {
    position.outstanding -= n;
    if (position.outstanding < 0) throw new Error('more acknowledgements than events');
    if (position.outstanding === 0) {
      position.settled?.();
      this.advance();
    }
  }

  /** The highest LSN that may be confirmed to PostgreSQL. */
  confirmable(): bigint {
    return this.confirmed;
  }

  /** Number of positions not yet confirmable (open transactions, unacknowledged events). */
  pendingPositions(): number {
    return this.queue.length - this.head;
  }

  private advance(): void {
    while (this.head < this.queue.length) {
      const p = this.queue[this.head]!;
      if (p.lsn === null || p.outstanding > 0) break;
      if (p.lsn > this.confirmed) this.confirmed = p.lsn;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
