/**
 * Bronze object layout (docs/contracts/change-events.md, "Bronze objects"). Pure: no I/O.
 *
 * - Data:     `bronze/<topic>/dt=<YYYY-MM-DD>/p<partition>-<first>-<last>.parquet`
 * - Manifest: `_manifest/bronze/<topic>/p<partition>/<first>-<last>.json`
 *
 * `<first>`/`<last>` are the first and last Kafka offsets the file covers (tombstones and
 * dead-lettered messages included, so consecutive ranges tile the partition), zero-padded to 20
 * digits so that lexicographic order is offset order. `dt` is the UTC date of the first covered
 * message's Kafka timestamp. Both are properties of the offset range alone, so a retry or a
 * replay of the same range writes the same key.
 */

/** Width of a zero-padded offset: 20 digits hold any signed 64-bit Kafka offset. */
export const OFFSET_DIGITS = 20;

/** `42` -> `00000000000000000042`. @throws RangeError for a negative or non-integer offset. */
export function padOffset(offset: number): string {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`invalid Kafka offset ${offset}`);
  return String(offset).padStart(OFFSET_DIGITS, '0');
}

/** `YYYY-MM-DD` (UTC) of a timestamp in ms since epoch. */
export function utcDate(timestampMs: number): string {
  return new Date(timestampMs).toISOString().slice(0, 10);
}

/** The offset range one bronze file covers. */
export interface OffsetRange {
  topic: string;
  partition: number;
  /** First covered offset (inclusive). */
  firstOffset: number;
  /** Last covered offset (inclusive). */
  lastOffset: number;
}

/** Key of the Parquet object for `range`, whose first message has Kafka timestamp `firstTimestampMs`. */
export function bronzeObjectKey(range: OffsetRange, firstTimestampMs: number): string {
  return `bronze/${range.topic}/dt=${utcDate(firstTimestampMs)}/p${range.partition}-${padOffset(range.firstOffset)}-${padOffset(range.lastOffset)}.parquet`;
}

/** Listing prefix of the manifests of one topic-partition (ends with `/`). */
export function manifestPrefix(topic: string, partition: number): string {
  return `_manifest/bronze/${topic}/p${partition}/`;
}

/** Key of the manifest entry of `range`. */
export function manifestKey(range: OffsetRange): string {
  return `${manifestPrefix(range.topic, range.partition)}${padOffset(range.firstOffset)}-${padOffset(range.lastOffset)}.json`;
}

/**
 * The `startAfter` that lists the manifests of ranges starting at or after `offset`: keys
 * `<pad(first)>-...` sort after the bare `<pad(offset)>` exactly when `first >= offset`.
 */
export function manifestStartAfter(topic: string, partition: number, offset: number): string {
  return `${manifestPrefix(topic, partition)}${padOffset(offset)}`;
}

const MANIFEST_NAME = /^(\d{20})-(\d{20})\.json$/;

/** First and last offsets encoded in a manifest key, or undefined for a foreign key. */
export function parseManifestKey(key: string): { firstOffset: number; lastOffset: number } | undefined {
  const m = MANIFEST_NAME.exec(key.slice(key.lastIndexOf('/') + 1));
  if (!m) return undefined;
  const firstOffset = Number(m[1]);
  const lastOffset = Number(m[2]);
  if (!Number.isSafeInteger(firstOffset) || !Number.isSafeInteger(lastOffset) || lastOffset < firstOffset) return undefined;
  return { firstOffset, lastOffset };
}

/** The manifest object (JSON) written after each Parquet file, as the contract lists it. */
export interface BronzeManifestEntry {
  /** Key of the Parquet object. */
  key: string;
  topic: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
  /** Rows in the file (covered offsets minus tombstones and dead letters). */
  rows: number;
  /** Size of the Parquet object in bytes. */
  bytes: number;
  minKafkaTimestampMs: number;
  maxKafkaTimestampMs: number;
  /** ISO-8601 UTC time the file was written. */
  writtenAt: string;
}
