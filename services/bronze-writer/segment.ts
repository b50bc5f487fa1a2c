/**
 * The buffer of one topic-partition and when to rotate it into a bronze file. Pure: no I/O;
 * time comes in as arguments.
 *
 * A segment covers a contiguous run of consumed offsets, tombstones and dead letters included,
 * and holds the rows among them. It is sealed by whichever comes first: `maxRows` rows,
 * `maxBytes` of consumed message bytes, or `maxAgeMs` since its first message.
 *
 * Replays must write the same object keys (ARCHITECTURE.md, "Replay"), but age- and
 * fetch-dependent rotation is not reproducible. So when the manifest already records a range
 * starting where a segment starts, the segment follows that {@link Boundary} instead: it ends
 * exactly at the recorded last offset (only the byte limit, a memory guard, still applies), and
 * no segment ever runs past the start of the next recorded range.
 */
import type { BronzeRow } from './bronze-row.ts';

/** Rotation thresholds; whichever is reached first seals the segment. */
export interface RotationPolicy {
  /** Rows per file (tombstones and dead letters do not count). */
  maxRows: number;
  /** Consumed message bytes (key + value + headers) per file. */
  maxBytes: number;
  /** Milliseconds from a segment's first message to its rotation. */
  maxAgeMs: number;
}

/** What earlier runs recorded in the manifest about offsets from a segment's start onwards. */
export interface Boundary {
  /** A recorded range starts at this segment's first offset and ends here: end exactly here. */
  exactLastOffset?: number;
  /** The next recorded range starts after this offset: end here at the latest. */
  maxLastOffset?: number;
}

export type SealReason = 'rows' | 'bytes' | 'age' | 'boundary' | 'forced';

/** A sealed segment, ready to be written as one Parquet file. */
export interface Segment {
  topic: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
  /** Kafka timestamp of the message at firstOffset (names the dt= folder). */
  firstTimestampMs: number;
  minTimestampMs: number;
  maxTimestampMs: number;
  /** Rows in offset order. */
  rows: BronzeRow[];
  /** Messages consumed (rows + tombstones + dead letters). */
  messages: number;
  /** Consumed message bytes. */
  bytes: number;
  sealedBy: SealReason;
}

/** An open segment of one topic-partition. */
export class SegmentBuilder {
  readonly rows: BronzeRow[] = [];
  firstOffset = -1;
  lastOffset = -1;
  messages = 0;
  bytes = 0;
  private firstTimestampMs = 0;
  private minTimestampMs = Number.POSITIVE_INFINITY;
  private maxTimestampMs = Number.NEGATIVE_INFINITY;
  private openedAtMs = 0;
  private lastAppendAtMs = 0;

  /**
   * @param boundary what the manifest recorded from the first offset on (see module doc).
   */
  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly policy: RotationPolicy,
    readonly boundary: Boundary = {},
  ) {}

  get isEmpty(): boolean {
    return this.messages === 0;
  }

  /**
   * True when `offset` lies past this segment's planned end (offsets removed by compaction or
   * transaction markers can skip it): seal first, then start a new segment at `offset`.
   */
  endsBefore(offset: number): boolean {
    if (this.isEmpty) return false;
    const end = this.boundary.exactLastOffset ?? this.boundary.maxLastOffset;
    return end !== undefined && offset > end;
  }

  /**
   * Adds one consumed message.
   * @param row the decoded row, or null for a tombstone or a dead-lettered message.
   * @param bytes its size in bytes (key + value + headers).
   * @param nowMs wall-clock time, ms since epoch.
   * @throws RangeError when offsets do not increase.
   */
  add(offset: number, timestampMs: number, row: BronzeRow | null, bytes: number, nowMs: number): void {
    if (this.isEmpty) {
      this.firstOffset = offset;
      this.firstTimestampMs = timestampMs;
      this.openedAtMs = nowMs;
    } else if (offset <= this.lastOffset) {
      throw new RangeError(`offset ${offset} after ${this.lastOffset} in ${this.topic}/${this.partition}`);
    }
    this.lastOffset = offset;
    this.lastAppendAtMs = nowMs;
    this.messages++;
    this.bytes += bytes;
    if (timestampMs < this.minTimestampMs) this.minTimestampMs = timestampMs;
    if (timestampMs > this.maxTimestampMs) this.maxTimestampMs = timestampMs;
    if (row) this.rows.push(row);
  }

  /** Why the segment should be sealed now, or undefined to keep filling it. */
  sealReason(nowMs: number): SealReason | undefined {
    if (this.isEmpty) return undefined;
    const { exactLastOffset, maxLastOffset } = this.boundary;
    if (this.bytes >= this.policy.maxBytes) return 'bytes';
    if (exactLastOffset !== undefined) {
      if (this.lastOffset >= exactLastOffset) return 'boundary';
      // The recorded end may never come (compacted away); an idle partition must not hold
      // its rows forever.
      return nowMs - this.lastAppendAtMs >= this.policy.maxAgeMs ? 'age' : undefined;
    }
    if (maxLastOffset !== undefined && this.lastOffset >= maxLastOffset) return 'boundary';
    if (this.rows.length >= this.policy.maxRows) return 'rows';
    if (nowMs - this.openedAtMs >= this.policy.maxAgeMs) return 'age';
    return undefined;
  }

  /** The sealed segment. @throws Error when empty. */
  seal(reason: SealReason): Segment {
    if (this.isEmpty) throw new Error(`cannot seal an empty segment of ${this.topic}/${this.partition}`);
    return {
      topic: this.topic,
      partition: this.partition,
      firstOffset: this.firstOffset,
      lastOffset: this.lastOffset,
      firstTimestampMs: this.firstTimestampMs,
      minTimestampMs: this.minTimestampMs,
      maxTimestampMs: this.maxTimestampMs,
      rows: this.rows,
      messages: this.messages,
      bytes: this.bytes,
      sealedBy: reason,
    };
  }
}

/**
 * The boundary a segment starting at `firstOffset` must respect, given the recorded ranges
 * that start at or after it (sorted by first offset).
 */
export function boundaryFor(firstOffset: number, recorded: readonly { firstOffset: number; lastOffset: number }[]): Boundary {
  for (const range of recorded) {
    if (range.firstOffset < firstOffset) continue;
    if (range.firstOffset === firstOffset) return { exactLastOffset: range.lastOffset };
    return { maxLastOffset: range.firstOffset - 1 };
  }
  return {};
}
