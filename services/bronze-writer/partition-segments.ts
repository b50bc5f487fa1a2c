/**
 * The bronze writer's partitions (no I/O of its own): which topic-partitions this member owns,
 * each one's open segment, where consumption and durability stand, and which offsets may be
 * committed.
 *
 * Per partition, offsets move forward in three steps: `nextOffset` (everything below is in a
 * segment: a redelivery after a rebalance or a re-read is skipped), `durableNext` (everything below
 * is stored, or was a tombstone/dead letter inside a stored range) and `committedNext` (what the
 * group has committed). Only `durableNext` is ever committed, so a crash re-reads from a point
 * whose data is stored (at least once, never lost).
 *
 * A partition that the group takes away (a rebalance) is dropped at once: its open segment is
 * discarded (the new owner re-reads it from the committed offset), its sealed segments are not
 * stored, and it never commits again.
 *
 * Where a new segment must end comes from the manifest of earlier runs (segment.ts, "Boundary"),
 * through the {@link BoundarySource} given per partition (recorded-ranges.ts reads the lake).
 */
import { SegmentBuilder, type Boundary, type MessageHeaders, type RotationPolicy, type SealReason, type Segment } from './segment.ts';

/** Where recorded segments of one partition end (recorded-ranges.ts). */
export interface BoundarySource {
  boundaryFor(firstOffset: number): Promise<Boundary>;
}

/** One consumed message, as the Kafka adapter hands it over (bytes are copied into the segment). */
export interface IncomingMessage {
  offset: number;
  timestampMs: number;
  key: Uint8Array | null;
  /** null for a tombstone. */
  value: Uint8Array | null;
  /** Headers, when the message has any (values may be views into a fetch buffer: the segment copies them). */
  headers?: MessageHeaders;
}

export interface PartitionState {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  open: SegmentBuilder | null;
  nextOffset: number | null;
  durableNext: number | null;
  committedNext: number | null;
  /** A store gave up (shutdown): later segments of this partition must not be marked durable. */
  broken: boolean;
  revoked: boolean;
  readonly boundaries: BoundarySource;
  /** Size of the last segment sealed full, to size the next one's buffers. */
  lastSize: { messages: number; bytes: number } | undefined;
}

/** An offset to commit: the next offset to read of one partition. */
export interface CommitOffset {
  topic: string;
  partition: number;
  offset: number;
}

/** See the module documentation. */
export class PartitionSegments {
  private readonly states = new Map<string, PartitionState>();
  /** Undefined until the first assignment: then every partition is accepted. */
  private assigned: Set<string> | undefined;
  /** Key + value bytes in open segments. */
  openBytes = 0;

  constructor(
    private readonly policy: RotationPolicy,
    private readonly boundaries: (topic: string, partition: number) => BoundarySource,
  ) {}

  /**
   * The group's new assignment (`topic -> partitions`). Partitions no longer ours are revoked:
   * their open segments are dropped and they never commit again; kept partitions keep their state.
   * @returns the revoked partitions.
   */
  assign(assignment: Record<string, readonly number[]>): PartitionState[] {
    const assigned = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) for (const p of partitions) assigned.add(`${topic}/${p}`);
    const revoked: PartitionState[] = [];
    for (const [key, st] of this.states) {
      if (assigned.has(key)) continue;
      st.revoked = true;
      if (st.open) this.openBytes -= st.open.bytes;
      st.open = null;
      this.states.delete(key);
      revoked.push(st);
    }
    this.assigned = assigned;
    return revoked;
  }

  /** Forgets every partition and the assignment (before subscribing again). */
  reset(): void {
    for (const st of this.states.values()) st.revoked = true;
    this.states.clear();
    this.assigned = undefined;
    this.openBytes = 0;
  }

  /** The state of an owned partition (created on first use), or undefined when it is not ours. */
  stateFor(topic: string, partition: number): PartitionState | undefined {
    const key = `${topic}/${partition}`;
    let st = this.states.get(key);
    if (st) return st;
    if (this.assigned && !this.assigned.has(key)) return undefined;
    st = { key, topic, partition, open: null, nextOffset: null, durableNext: null, committedNext: null, broken: false, revoked: false, boundaries: this.boundaries(topic, partition), lastSize: undefined };
    this.states.set(key, st);
    return st;
  }

  /** Owned partitions. */
  partitions(): IterableIterator<PartitionState> {
    return this.states.values();
  }

  get size(): number {
    return this.states.size;
  }

  /**
   * Packs `messages` (in offset order) into `st`'s open segment, skipping offsets already packed,
   * opening segments where the manifest says (awaits the boundary lookup) and sealing them when
   * full, old or at a boundary. Stops early when the partition is revoked meanwhile.
   * @param onSealed called with each segment sealed on the way, in order.
   */
  async pack(st: PartitionState, messages: readonly IncomingMessage[], nowMs: () => number, onSealed: (st: PartitionState, segment: Segment) => void): Promise<number> {
    let packed = 0;
    for (const m of messages) {
      if (st.revoked) break;
      if (st.nextOffset !== null && m.offset < st.nextOffset) continue; // redelivered after a rebalance
      if (st.open?.endsBefore(m.offset)) this.sealInto(st, 'boundary', onSealed);
      if (!st.open) {
        const boundary = await st.boundaries.boundaryFor(m.offset);
        if (st.revoked) break;
        st.open ??= new SegmentBuilder(st.topic, st.partition, this.policy, boundary, st.lastSize);
      }
      const now = nowMs();
      const before = st.open.bytes;
      st.open.add(m.offset, m.timestampMs, m.key, m.value, now, m.headers);
      this.openBytes += st.open.bytes - before;
      st.nextOffset = m.offset + 1;
      packed++;
      const reason = st.open.sealReason(now);
      if (reason) this.sealInto(st, reason, onSealed);
    }
    return packed;
  }

  /** Seals `st`'s open segment (if any, and not empty). @returns the sealed segment. */
  seal(st: PartitionState, reason: SealReason): Segment | undefined {
    let sealed: Segment | undefined;
    this.sealInto(st, reason, (_, segment) => (sealed = segment));
    return sealed;
  }

  private sealInto(st: PartitionState, reason: SealReason, onSealed: (st: PartitionState, segment: Segment) => void): void {
    const open = st.open;
    if (!open || open.isEmpty) return;
    st.open = null;
    this.openBytes -= open.bytes;
    const segment = open.seal(reason);
    // Only a partition that fills its segments is worth pre-sized buffers.
    st.lastSize = reason === 'rows' || reason === 'bytes' ? { messages: segment.messages, bytes: segment.packed.bytes.length } : undefined;
    onSealed(st, segment);
  }

  /** Open segments due by age at `nowMs`, sealed. */
  sealDue(nowMs: number, onSealed: (st: PartitionState, segment: Segment) => void): void {
    for (const st of this.states.values()) {
      const reason = st.open?.sealReason(nowMs);
      if (reason) this.sealInto(st, reason, onSealed);
    }
  }

  /**
   * Every open segment, sealed ("forced": shutdown, re-subscription), except those still short of
   * their recorded end (a replay): stored now, they would get keys no earlier run wrote, so they
   * are dropped instead and their offsets, never committed, are read again later (issue 14).
   * @returns the number of segments dropped.
   */
  sealAll(onSealed: (st: PartitionState, segment: Segment) => void): number {
    let dropped = 0;
    for (const st of this.states.values()) {
      if (st.open?.awaitsRecordedEnd) {
        this.openBytes -= st.open.bytes;
        st.nextOffset = st.open.firstOffset; // not in a segment any more: a redelivery must not be skipped
        st.open = null;
        dropped++;
      } else this.sealInto(st, 'forced', onSealed);
    }
    return dropped;
  }

  /**
   * The partition whose open segment holds the most bytes among those that may be sealed early
   * (not short of a recorded end), if any.
   */
  largestOpen(): PartitionState | undefined {
    let largest: PartitionState | undefined;
    for (const st of this.states.values()) {
      if (st.open && !st.open.isEmpty && !st.open.awaitsRecordedEnd && (!largest || st.open.bytes > largest.open!.bytes)) largest = st;
    }
    return largest;
  }

  /** Partitions whose open segment waits for its recorded end and got no message for `idleMs`. */
  idleAwaitingRecordedEnd(nowMs: number, idleMs: number): PartitionState[] {
    return [...this.states.values()].filter((st) => st.open?.awaitsRecordedEnd && st.open.idleMs(nowMs) >= idleMs);
  }

  /**
   * Records that `segment` of `st` is stored: every offset up to its last is durable.
   * @returns false when the partition was revoked or broken meanwhile (nothing to commit).
   */
  markDurable(st: PartitionState, segment: Segment): boolean {
    if (st.revoked || st.broken) return false;
    st.durableNext = segment.lastOffset + 1;
    return true;
  }

  /** Offsets durable but not committed yet, of owned partitions. */
  dueCommits(): CommitOffset[] {
    const due: CommitOffset[] = [];
    for (const st of this.states.values()) {
      if (!st.revoked && st.durableNext !== null && st.durableNext !== st.committedNext) due.push({ topic: st.topic, partition: st.partition, offset: st.durableNext });
    }
    return due;
  }

  /** Records that `offsets` were committed. */
  markCommitted(offsets: readonly CommitOffset[]): void {
    for (const o of offsets) {
      const st = this.states.get(`${o.topic}/${o.partition}`);
      if (st && !st.revoked) st.committedNext = o.offset;
    }
  }
}
