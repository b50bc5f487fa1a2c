/**
 * Contract: the bronze objects on the lake and their manifests (docs/contracts/change-events.md,
 * "Bronze objects"). The bronze writer writes them; the batch (and anything else reading bronze)
 * reads them through this module only. Pure: no I/O.
 *
 * - Data:     `bronze/<topic>/dt=<YYYY-MM-DD>/p<partition>-<first>-<last>.parquet`
 * - Manifest: `_manifest/bronze/<topic>/p<partition>/<first>-<last>.json`
 *
 * `<first>`/`<last>` are the first and last Kafka offsets the file covers (tombstones and
 * dead-lettered messages included, so consecutive ranges tile the partition), zero-padded to 20
 * digits so that lexicographic order is offset order. `dt` is the UTC date of the first covered
 * message's Kafka timestamp. Both are properties of the offset range alone, so a retry or a
 * replay of the same range writes the same key.
 *
 * - Schema: {@link bronzeManifestSchema} ({@link BronzeManifest} is derived from it).
 * - Reader: {@link parseManifest} (checks the entry against the key it was found under).
 * - Writer: {@link encodeManifest}; object keys: {@link bronzeObjectKey}, {@link manifestKey}.
 */
import { z } from 'zod';
import { formatIssues } from './contract-error.ts';

/** Width of a zero-padded offset: 20 digits hold any signed 64-bit Kafka offset. */
export const OFFSET_DIGITS = 20;

/** Root of every bronze data object. */
export const BRONZE_ROOT = 'bronze/';

/** Root of every bronze manifest. */
export const MANIFEST_ROOT = '_manifest/bronze/';

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
  return `${BRONZE_ROOT}${range.topic}/dt=${utcDate(firstTimestampMs)}/p${range.partition}-${padOffset(range.firstOffset)}-${padOffset(range.lastOffset)}.parquet`;
}

/** Listing prefix of the manifests of one topic-partition (ends with `/`). */
export function manifestPrefix(topic: string, partition: number): string {
  return `${MANIFEST_ROOT}${topic}/p${partition}/`;
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

/** `_manifest/bronze/<topic>/p<partition>/<name>` -> topic and partition; undefined for any other key. */
export function topicPartitionOf(manifestKey: string): { topic: string; partition: number } | undefined {
  if (!manifestKey.startsWith(MANIFEST_ROOT)) return undefined;
  const rest = manifestKey.slice(MANIFEST_ROOT.length).split('/');
  if (rest.length !== 3) return undefined;
  const m = /^p(\d+)$/.exec(rest[1]!);
  if (!m || !rest[0]) return undefined;
  return { topic: rest[0], partition: Number(m[1]) };
}

const offset = z.number().int().min(0);

/** The manifest object (JSON) written after each Parquet file. */
export const bronzeManifestSchema = z.object({
  /** Key of the Parquet object. */
  key: z.string().min(1),
  topic: z.string().min(1),
  partition: z.number().int().min(0),
  firstOffset: offset,
  lastOffset: offset,
  /** Rows in the file (covered offsets minus tombstones and dead letters). */
  rows: z.number().int().min(0),
  /** Size of the Parquet object in bytes. */
  bytes: z.number().int().min(0),
  /** Smallest and largest Kafka timestamp of the file's rows, ms since epoch. */
  minKafkaTimestampMs: z.number(),
  maxKafkaTimestampMs: z.number(),
  /** ISO-8601 UTC time the file was written. */
  writtenAt: z.iso.datetime(),
});

/** One manifest entry. */
export type BronzeManifest = z.output<typeof bronzeManifestSchema>;

/** A manifest as a reader uses it: the entry plus the key it was found under. */
export type BronzeFile = BronzeManifest & { manifestKey: string };

/** Problems of an entry against the key it is (to be) stored under; empty when consistent. */
function keyProblems(key: string, m: BronzeManifest): string[] {
  const problems: string[] = [];
  const range = parseManifestKey(key);
  if (!range || range.firstOffset !== m.firstOffset || range.lastOffset !== m.lastOffset) problems.push(`offsets ${m.firstOffset}-${m.lastOffset} do not match the manifest key`);
  else if (!key.startsWith(manifestPrefix(m.topic, m.partition))) problems.push(`topic/partition ${m.topic}/${m.partition} do not match the manifest key`);
  else if (!m.key.startsWith(`${BRONZE_ROOT}${m.topic}/`) || !m.key.endsWith('.parquet')) problems.push(`data key ${m.key} is outside ${BRONZE_ROOT}${m.topic}/`);
  return problems;
}

/**
 * Reader: parses a manifest object and checks it against the key it was found under.
 * @returns the file, or a human-readable problem (`path: message` lines joined by "; ").
 */
export function parseManifest(manifestKey: string, body: string): BronzeFile | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { problem: 'not valid JSON' };
  }
  const parsed = bronzeManifestSchema.safeParse(json);
  if (!parsed.success) return { problem: formatIssues(parsed.error.issues).join('; ') };
  const problems = keyProblems(manifestKey, parsed.data);
  if (problems.length > 0) return { problem: problems.join('; ') };
  return { ...parsed.data, manifestKey };
}

/**
 * Writer: the manifest's key and JSON body for `entry`.
 * @throws Error naming every problem, for an entry the reader would reject.
 */
export function encodeManifest(entry: BronzeManifest): { key: string; body: string } {
  const parsed = bronzeManifestSchema.safeParse(entry);
  const key = manifestKey(entry);
  const problems = parsed.success ? keyProblems(key, parsed.data) : formatIssues(parsed.error.issues);
  if (problems.length > 0) throw new Error(`invalid bronze manifest ${key}: ${problems.join('; ')}`);
  return { key, body: JSON.stringify(parsed.data) };
}
