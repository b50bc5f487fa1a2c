/**
 * The buffer of one topic-partition and when to rotate it into a bronze file. Pure: no I/O;
 * time comes in as arguments.
 *
 * A segment covers a contiguous run of consumed offsets, tombstones and dead letters included.
 * It keeps the messages' key and value bytes packed in one growing buffer (a few typed arrays
 * index them), not as JavaScript objects: memory stays close to the consumed bytes, and the
 * whole segment is one cheap copy away from the encoder thread, which decodes it.
 *
 * It is sealed by whichever comes first: `maxRows` messages with a value (tombstones do not
 * count), `maxBytes` of key and value bytes, or `maxAgeMs` since its first message.
 *
 * Replays must write the same object keys (docs/architecture.md, "Replay"), but age- and
 * fetch-dependent rotation is not reproducible. So when the manifest already records a range
 * starting where a segment starts, the segment follows that {@link Boundary} instead: it ends
 * exactly at the recorded last offset, whatever the timing (issue 14: under load, a segment
 * sealed on age before its recorded end came back as two objects). Neither age nor the row limit
 * applies to it; the byte limit only as a memory guard at {@link EXACT_BYTES_FACTOR} times
 * `maxBytes` (a range recorded by a run with a much larger limit). No segment ever runs past the
 * start of the next recorded range. What ends such a segment early is the writer's business
 * (partition-segments.ts: it is dropped, not stored, at shutdown or when its partition is
 * revoked, and re-read from the last commit).
 *
 * The two schema-link headers (docs/contracts/table-schemas.md) are packed with the key and value
 * of each message: `lakehouse.schema.id` and `lakehouse.unavailable` become the bronze row's
 * `schema_id` and `unavailable`. A segment holds few distinct schema ids (one per table version):
 * each message keeps the index of its id in the segment's table of distinct values
 * ({@link PackedMessages.schemaIdValues}), not a copy of it. Other headers (rare: Debezium's key-change headers) are
 * kept by offset, for dead letters, which get every header back ({@link packedHeaders}). The
 * distinct schema ids of the segment's rows are collected as they come ({@link Segment.schemaIds}),
 * so the writer can store their documents before committing.
 */
import { SCHEMA_ID_HEADER, UNAVAILABLE_HEADER } from '../common/contracts/table-schema.ts';

/** Rotation thresholds; whichever is reached first seals the segment. */
export interface RotationPolicy {
  /** Messages with a value (rows, or dead letters) per file. */
  maxRows: number;
  /** Consumed key + value bytes per file. */
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

/**
 * A segment with an exact recorded boundary is sealed on bytes only past this many times
 * `maxBytes` (a memory guard; that range then gets new keys, as no replay could avoid).
 */
export const EXACT_BYTES_FACTOR = 4;

/** A message's Kafka headers: the consumer's map (name -> value bytes), or a plain record. */
export type MessageHeaders = ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>;

/** Spans (start, length) per packed message: key, value, schema-id header, unavailable header. */
export const SPANS_PER_MESSAGE = 8;

/**
 * Messages packed for transfer: message `i` has offset `offsets[i]`, Kafka timestamp
 * `timestamps[i]` (ms), key bytes `bytes[spans[8i] .. +spans[8i+1]]`, value bytes
 * `bytes[spans[8i+2] .. +spans[8i+3]]`, `lakehouse.schema.id` header value
 * `schemaIdValues[spans[8i+4]]` (spans[8i+5] its length) and `lakehouse.unavailable` header bytes
 * `bytes[spans[8i+6] .. +spans[8i+7]]`; a length of -1 means null (a tombstone's value, an
 * absent header).
 */
export interface PackedMessages {
  count: number;
  /** The distinct `lakehouse.schema.id` values of the messages (well-formed or not), in order of appearance. */
  schemaIdValues: Uint8Array[];
  offsets: Float64Array;
  timestamps: Float64Array;
  spans: Int32Array;
  bytes: Uint8Array;
  /**
   * Schema id -> key columns of its table (`[]` = keyless) for the schema ids the writer knew
   * when the segment was encoded: the key checks of key-check.ts. Absent = nothing checked.
   */
  keyColumns?: Record<string, readonly string[]>;
}

/** A packed message: views into `packed.bytes`, not copies. */
export interface PackedMessage {
  offset: number;
  timestampMs: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  /** The `lakehouse.schema.id` header's value. */
  schemaId: Uint8Array | null;
  /** The `lakehouse.unavailable` header's value. */
  unavailable: Uint8Array | null;
}

/** Packed message `i` (views into `packed.bytes`, not copies). */
export function packedMessage(packed: PackedMessages, i: number): PackedMessage {
  const s = packed.spans;
  const at = (start: number, length: number) => (length < 0 ? null : packed.bytes.subarray(start, start + length));
  const o = SPANS_PER_MESSAGE * i;
  return {
    offset: packed.offsets[i]!,
    timestampMs: packed.timestamps[i]!,
    key: at(s[o]!, s[o + 1]!),
    value: at(s[o + 2]!, s[o + 3]!),
    schemaId: s[o + 5]! < 0 ? null : packed.schemaIdValues[s[o + 4]!]!,
    unavailable: at(s[o + 6]!, s[o + 7]!),
  };
}

/**
 * Every Kafka header message `i` of `segment` had (the two packed ones and the others), as
 * copies; undefined when it had none. For dead letters, which are published unchanged.
 */
export function packedHeaders(segment: Pick<Segment, 'packed' | 'headers'>, i: number): Record<string, Buffer> | undefined {
  const m = packedMessage(segment.packed, i);
  const others = segment.headers.get(m.offset);
  if (!others && m.schemaId === null && m.unavailable === null) return undefined;
  const out: Record<string, Buffer> = {};
  if (m.schemaId !== null) out[SCHEMA_ID_HEADER] = Buffer.from(m.schemaId);
  if (m.unavailable !== null) out[UNAVAILABLE_HEADER] = Buffer.from(m.unavailable);
  return others ? { ...out, ...others } : out;
}

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
  /** Messages consumed (rows + tombstones + dead letters). */
  messages: number;
  /** Messages with a value. */
  valued: number;
  /** Consumed key + value bytes. */
  bytes: number;
  packed: PackedMessages;
  /** Headers other than the two packed ones, by offset (kept for dead letters; {@link packedHeaders}); records may be shared by several offsets: read-only. */
  headers: Map<number, Record<string, Buffer>>;
  /** Distinct well-formed `lakehouse.schema.id` values of the messages with a value, in order of appearance. */
  schemaIds: string[];
  sealedBy: SealReason;
}

/** `array`, or a copy twice as large (at least `needed`) when it is too small. */
function growFloat64(array: Float64Array<ArrayBuffer>, needed: number): Float64Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const next = new Float64Array(Math.max(needed, array.length * 2));
  next.set(array);
  return next;
}

function growInt32(array: Int32Array<ArrayBuffer>, needed: number): Int32Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const next = new Int32Array(Math.max(needed, array.length * 2));
  next.set(array);
  return next;
}

function growBytes(array: Uint8Array<ArrayBuffer>, needed: number): Uint8Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const next = new Uint8Array(Math.max(needed, array.length * 2));
  next.set(array);
  return next;
}

/** An open segment of one topic-partition. */
export class SegmentBuilder {
  firstOffset = -1;
  lastOffset = -1;
  messages = 0;
  valued = 0;
  bytes = 0;
  private offsets: Float64Array<ArrayBuffer>;
  private timestamps: Float64Array<ArrayBuffer>;
  private spans: Int32Array<ArrayBuffer>;
  private data: Uint8Array<ArrayBuffer>;
  private used = 0;
  private readonly headers = new Map<number, Record<string, Buffer>>();
  private readonly schemaIds: string[] = [];
  /** Distinct schema-id header values (copies), and the index of the last one used. */
  private readonly schemaIdValues: Uint8Array[] = [];
  private lastSchemaIdIndex = -1;
  /** The last other-headers record kept, and its number of headers ({@link otherHeaders}). */
  private lastOthers: Record<string, Buffer> | undefined;
  private lastOthersCount = 0;
  private firstTimestampMs = 0;
  private minTimestampMs = Number.POSITIVE_INFINITY;
  private maxTimestampMs = Number.NEGATIVE_INFINITY;
  private openedAtMs = 0;
  private lastAppendAtMs = 0;

  /**
   * @param boundary what the manifest recorded from the first offset on (see module doc).
   * @param sizeHint the previous segment's size: buffers start that large, so a steady stream
   *   fills them without growing (each growth copies and leaves garbage behind).
   */
  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly policy: RotationPolicy,
    readonly boundary: Boundary = {},
    sizeHint: { messages: number; bytes: number } = { messages: 256, bytes: 64 * 1024 },
  ) {
    const messages = Math.max(16, Math.ceil(sizeHint.messages * 1.05));
    this.offsets = new Float64Array(messages);
    this.timestamps = new Float64Array(messages);
    this.spans = new Int32Array(SPANS_PER_MESSAGE * messages);
    this.data = new Uint8Array(Math.max(1024, Math.ceil(sizeHint.bytes * 1.05)));
  }

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

  /** Appends `bytes` to the data buffer; returns where they start. */
  private put(bytes: Uint8Array): number {
    this.data = growBytes(this.data, this.used + bytes.length);
    this.data.set(bytes, this.used);
    const start = this.used;
    this.used += bytes.length;
    return start;
  }

  /**
   * The index of a schema-id header value in the segment's table of distinct values (added when
   * new); the well-formed ids of messages with a value are also listed in `schemaIds`. The last
   * value used is tried first: the usual case is one table version after another.
   */
  private schemaIdIndex(id: Uint8Array, valued: boolean): number {
    let index = this.lastSchemaIdIndex >= 0 && sameBytes(this.schemaIdValues[this.lastSchemaIdIndex]!, id) ? this.lastSchemaIdIndex : -1;
    if (index < 0) {
      index = this.schemaIdValues.findIndex((known) => sameBytes(known, id));
      if (index < 0) {
        index = this.schemaIdValues.length;
        this.schemaIdValues.push(new Uint8Array(id)); // a copy (a Buffer's slice() would be a view into the fetch response)
      }
      this.lastSchemaIdIndex = index;
    }
    if (valued && isSchemaIdBytes(id)) {
      const text = Buffer.from(id.buffer, id.byteOffset, id.length).toString('latin1');
      if (this.schemaIds.length === 0 || this.schemaIds[this.schemaIds.length - 1] !== text) {
        if (!this.schemaIds.includes(text)) this.schemaIds.push(text);
      }
    }
    return index;
  }

  /**
   * The headers of a message other than the two packed ones, as copies kept for dead letters.
   * Consecutive messages usually carry the same ones (Debezium's `__debezium.context.*` on every
   * CDC event): when they are the previous message's bytes, that record is shared (read-only), so
   * a steady stream copies nothing per message.
   */
  private otherHeaders(headers: ReadonlyMap<string, Uint8Array>, count: number): Record<string, Buffer> {
    const last = this.lastOthers;
    if (last !== undefined && count === this.lastOthersCount) {
      let same = true;
      for (const [name, v] of headers) {
        if (name === SCHEMA_ID_HEADER || name === UNAVAILABLE_HEADER) continue;
        const known = last[name];
        if (known === undefined || !sameBytes(known, v)) {
          same = false;
          break;
        }
      }
      if (same) return last;
    }
    const others: Record<string, Buffer> = {};
    for (const [name, v] of headers) if (name !== SCHEMA_ID_HEADER && name !== UNAVAILABLE_HEADER) others[name] = Buffer.from(v);
    this.lastOthers = others;
    this.lastOthersCount = count;
    return others;
  }

  /**
   * Adds one consumed message; its bytes (key, value, header values) are copied, so the caller
   * may pass views into a fetch buffer.
   * @param value null for a tombstone.
   * @param headers its Kafka headers: `lakehouse.schema.id` and `lakehouse.unavailable` are packed,
   *   the others kept by offset when there are any.
   * @param nowMs wall-clock time, ms since epoch.
   * @throws RangeError when offsets do not increase.
   */
  add(offset: number, timestampMs: number, key: Uint8Array | null, value: Uint8Array | null, nowMs: number, headers?: MessageHeaders): void {
    if (this.isEmpty) {
      this.firstOffset = offset;
      this.firstTimestampMs = timestampMs;
      this.openedAtMs = nowMs;
    } else if (offset <= this.lastOffset) {
      throw new RangeError(`offset ${offset} after ${this.lastOffset} in ${this.topic}/${this.partition}`);
    }
    const i = this.messages;
    this.offsets = growFloat64(this.offsets, i + 1);
    this.timestamps = growFloat64(this.timestamps, i + 1);
    this.spans = growInt32(this.spans, SPANS_PER_MESSAGE * (i + 1));
    this.offsets[i] = offset;
    this.timestamps[i] = timestampMs;
    const keyLength = key === null ? -1 : key.length;
    // An empty value is not a tombstone (that is a null value): kept as length 0, dead-lettered at decoding.
    const valueLength = value === null ? -1 : value.length;
    const o = SPANS_PER_MESSAGE * i;
    this.spans[o] = keyLength < 0 ? 0 : this.put(key!);
    this.spans[o + 1] = keyLength;
    this.spans[o + 2] = valueLength < 0 ? 0 : this.put(value!);
    this.spans[o + 3] = valueLength;
    let schemaId: Uint8Array | undefined;
    let unavailable: Uint8Array | undefined;
    let others: Record<string, Buffer> | undefined;
    if (headers === undefined) {
      // nothing else
    } else if (headers instanceof Map) {
      // The consumer's map: two lookups; the others (Debezium's context headers on every CDC
      // event) are shared with the previous message when they are the same bytes.
      const map = headers as ReadonlyMap<string, Uint8Array>;
      schemaId = map.get(SCHEMA_ID_HEADER);
      unavailable = map.get(UNAVAILABLE_HEADER);
      const otherCount = map.size - (schemaId === undefined ? 0 : 1) - (unavailable === undefined ? 0 : 1);
      if (otherCount > 0) others = this.otherHeaders(map, otherCount);
    } else {
      const record = headers as Readonly<Record<string, Uint8Array>>;
      for (const name in record) {
        const v = record[name]!;
        if (name === SCHEMA_ID_HEADER) schemaId = v;
        else if (name === UNAVAILABLE_HEADER) unavailable = v;
        else (others ??= {})[name] = Buffer.from(v);
      }
    }
    this.spans[o + 4] = schemaId === undefined ? 0 : this.schemaIdIndex(schemaId, valueLength >= 0);
    this.spans[o + 5] = schemaId === undefined ? -1 : schemaId.length;
    this.spans[o + 6] = unavailable === undefined ? 0 : this.put(unavailable);
    this.spans[o + 7] = unavailable === undefined ? -1 : unavailable.length;
    if (others) this.headers.set(offset, others);
    this.lastOffset = offset;
    this.lastAppendAtMs = nowMs;
    this.messages++;
    if (valueLength >= 0) this.valued++;
    this.bytes += Math.max(0, keyLength) + Math.max(0, valueLength);
    if (timestampMs < this.minTimestampMs) this.minTimestampMs = timestampMs;
    if (timestampMs > this.maxTimestampMs) this.maxTimestampMs = timestampMs;
  }

  /** True when the segment follows a recorded range and has not reached its end yet. */
  get awaitsRecordedEnd(): boolean {
    return !this.isEmpty && this.boundary.exactLastOffset !== undefined && this.lastOffset < this.boundary.exactLastOffset;
  }

  /** Milliseconds since the last message was added. */
  idleMs(nowMs: number): number {
    return nowMs - this.lastAppendAtMs;
  }

  /**
   * Why the segment should be sealed now, or undefined to keep filling it. A segment with an
   * exact recorded boundary is sealed only there (see the module documentation): time plays no part.
   */
  sealReason(nowMs: number): SealReason | undefined {
    if (this.isEmpty) return undefined;
    const { exactLastOffset, maxLastOffset } = this.boundary;
    if (exactLastOffset !== undefined) {
      if (this.lastOffset >= exactLastOffset) return 'boundary';
      return this.bytes >= EXACT_BYTES_FACTOR * this.policy.maxBytes ? 'bytes' : undefined;
    }
    if (this.bytes >= this.policy.maxBytes) return 'bytes';
    if (maxLastOffset !== undefined && this.lastOffset >= maxLastOffset) return 'boundary';
    if (this.valued >= this.policy.maxRows) return 'rows';
    if (nowMs - this.openedAtMs >= this.policy.maxAgeMs) return 'age';
    return undefined;
  }

  /**
   * The sealed segment; the builder must not be used afterwards. Buffers mostly filled are
   * handed over as they are, others are trimmed copies. @throws Error when empty.
   */
  seal(reason: SealReason): Segment {
    if (this.isEmpty) throw new Error(`cannot seal an empty segment of ${this.topic}/${this.partition}`);
    const n = this.messages;
    const fitted = <T extends Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer> | Uint8Array<ArrayBuffer>>(array: T, length: number): T =>
      (length >= array.length * 0.8 ? array.subarray(0, length) : array.slice(0, length)) as T;
    return {
      topic: this.topic,
      partition: this.partition,
      firstOffset: this.firstOffset,
      lastOffset: this.lastOffset,
      firstTimestampMs: this.firstTimestampMs,
      minTimestampMs: this.minTimestampMs,
      maxTimestampMs: this.maxTimestampMs,
      messages: n,
      valued: this.valued,
      bytes: this.bytes,
      packed: {
        count: n,
        schemaIdValues: this.schemaIdValues,
        offsets: fitted(this.offsets, n),
        timestamps: fitted(this.timestamps, n),
        spans: fitted(this.spans, SPANS_PER_MESSAGE * n),
        bytes: fitted(this.data, this.used),
      },
      headers: this.headers,
      schemaIds: this.schemaIds,
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

/** True for the bytes of a well-formed schema id: 20 lower-case hex digits (docs/contracts/table-schemas.md). */
export function isSchemaIdBytes(bytes: Uint8Array): boolean {
  if (bytes.length !== 20) return false;
  for (let k = 0; k < 20; k++) {
    const c = bytes[k]!;
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * A copy of `segment` holding only the messages at `indexes` (ascending), e.g. to encode part of
 * a segment apart from a message that cannot be stored (unstorable.ts). Offsets, timestamps,
 * headers and schema ids keep their values; `firstOffset`/`lastOffset` stay the segment's own, so
 * the part still names the range it came from. Pure.
 */
export function subSegment(segment: Segment, indexes: readonly number[]): Segment {
  const source = segment.packed;
  const n = indexes.length;
  const offsets = new Float64Array(n);
  const timestamps = new Float64Array(n);
  const spans = new Int32Array(SPANS_PER_MESSAGE * n);
  let size = 0;
  // Span 4/5 (the schema id) is an index into the segment's distinct values, shared, not bytes.
  for (const i of indexes) for (let s = 1; s < SPANS_PER_MESSAGE; s += 2) if (s !== 5) size += Math.max(0, source.spans[SPANS_PER_MESSAGE * i + s]!);
  const bytes = new Uint8Array(size);
  let used = 0;
  let valued = 0;
  let consumed = 0;
  indexes.forEach((i, k) => {
    offsets[k] = source.offsets[i]!;
    timestamps[k] = source.timestamps[i]!;
    for (let s = 0; s < SPANS_PER_MESSAGE; s += 2) {
      const start = source.spans[SPANS_PER_MESSAGE * i + s]!;
      const length = source.spans[SPANS_PER_MESSAGE * i + s + 1]!;
      spans[SPANS_PER_MESSAGE * k + s + 1] = length;
      if (length < 0) continue;
      if (s === 4) {
        spans[SPANS_PER_MESSAGE * k + s] = start;
        continue;
      }
      bytes.set(source.bytes.subarray(start, start + length), used);
      spans[SPANS_PER_MESSAGE * k + s] = used;
      used += length;
      if (s < 4) consumed += length;
    }
    if (source.spans[SPANS_PER_MESSAGE * i + 3]! >= 0) valued++;
  });
  return { ...segment, messages: n, valued, bytes: consumed, packed: { count: n, schemaIdValues: source.schemaIdValues, offsets, timestamps, spans, bytes, keyColumns: source.keyColumns } };
}

/** True when `a` and `b` hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}
