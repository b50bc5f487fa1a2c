/**
 * Test kit for the bronze writer's integration tests and benchmark: plays the CDC service
 * (Debezium envelopes per docs/contracts/change-events.md, produced through the project's Kafka
 * factory, tests/support/kafka.ts), reads a topic
 * back with its Kafka coordinates, waits for a consumer group, and reads bronze back with DuckDB
 * (objects fetched through the lake storage into temporary files: no httpfs).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { KafkaAdmin, KafkaProducer } from '../../common/kafka/index.ts';
import { committedOffsets, kafkaTarget, produceMessages, readRecords, testAdmin, testProducer, waitForCommitted, type KafkaTarget } from '../../../tests/support/kafka.ts';
import type { LakeStorage } from '../../common/lake-storage.ts';
import { MANIFEST_ROOT, parseManifest, type BronzeFile } from '../../common/contracts/bronze-object.ts';
import { debeziumContextHeaders } from '../../common/contracts/change-event.ts';

/** A message as the CDC service would produce it, with the bronze row it must become. */
export interface CdcMessage {
  key: string;
  /** JSON text; null = tombstone. */
  value: string | null;
  /** The row's expected columns (null for a tombstone or a poison message). */
  expected: ExpectedRow | null;
  /** Kafka headers, as the CDC service sends them (Debezium's `__debezium.context.*`). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * Envelope shapes: `cdc` is what the CDC service writes today (Debezium 3.6.1's fields: source
 * `sequence`, `ts_us`, `ts_ns`, `origin`, `origin_lsn`, envelope `transaction`, `ts_us`, `ts_ns`, and the
 * `__debezium.context.*` headers); `minimal` is the contract's required core without headers (the
 * CDC service's output before issue 12), for before/after comparisons in the benchmark.
 */
export type EnvelopeFormat = 'cdc' | 'minimal';

const CONTEXT_HEADERS = debeziumContextHeaders('sport', '5f0c6a52-8d5e-4a43-9d77-2b1f3c9e0a11');

/** The bronze columns that do not depend on Kafka placement or write time. */
export interface ExpectedRow {
  key: string;
  op: string;
  lsn: bigint;
  tx_id: bigint;
  source_ts_ms: bigint;
  event_ts_ms: bigint;
  snapshot: string;
  source_schema: string;
  source_table: string;
  before: string | null;
  after: string | null;
  /** Headers lakehouse.schema.id / lakehouse.unavailable (docs/contracts/table-schemas.md); null without. */
  schema_id: string | null;
  unavailable: string | null;
}

const SPORTS = ['Runing', 'Randonnée', 'Vélo', 'Natation', 'Tennis', 'Escalade'];

/**
 * `count` change events on the activities table (deterministic for a given `seed`): mostly
 * inserts, plus snapshot reads, updates, and deletes each followed by a tombstone; some text
 * with accents, emoji, quotes and backslashes, and a bigint beyond 2^53. Tombstones come on
 * top of `count`.
 */
export function activityMessages(count: number, seed = 1, baseTsMs = Date.UTC(2026, 0, 15, 8), format: EnvelopeFormat = 'cdc'): CdcMessage[] {
  const out: CdcMessage[] = [];
  for (let i = 0; i < count; i++) {
    const id = seed * 10_000_000 + i;
    const kind = i % 20;
    const op = kind === 0 ? 'r' : kind === 7 ? 'u' : kind === 13 ? 'd' : 'c';
    const tsMs = baseTsMs + i * 1000;
    const lsn = 1_000_000_000 + seed * 10_000_000 + i * 64;
    const txId = 70_000 + seed * 10_000 + Math.floor(i / 3);
    const row = (distance: number) =>
      i % 50 === 3
        ? // Raw text: a bigint that JSON.parse would round, plus escapes and an emoji.
          `{"activity_id":${id},"employee_id":9007199254740993,"sport_type":"Vélo","distance_m":${distance},"comment":"\\"Top\\" 🚴 C:\\\\tmp"}`
        : JSON.stringify({
            activity_id: id,
            employee_id: 1000 + (i % 160),
            started_at: new Date(tsMs - 3_600_000).toISOString().replace('Z', '000Z'),
            elapsed_s: 1800 + (i % 3600),
            sport_type: SPORTS[i % SPORTS.length],
            distance_m: i % 6 === 5 ? null : 5000 + ((i * 37) % 20_000),
            comment: i % 4 === 0 ? `Sortie n°${i} autour de Lattes, très belle météo` : null,
          });
    const before = op === 'u' ? row(1000) : op === 'd' ? row(2000) : null;
    const after = op === 'd' ? null : row(3000 + (i % 100));
    const cdc = format === 'cdc';
    const sequence = cdc ? `,"sequence":"[\\"${lsn - 200}\\",\\"${lsn}\\"]","ts_us":${tsMs}123,"ts_ns":${tsMs}123000` : '';
    const origin = cdc ? ',"origin":null,"origin_lsn":null' : '';
    const source = `{"version":"test","connector":"postgresql","name":"sport","ts_ms":${tsMs},"snapshot":"${op === 'r' ? 'true' : 'false'}","db":"sport"${sequence},"schema":"public","table":"activities","txId":${txId},"lsn":${lsn},"xmin":null${origin}}`;
    const value = cdc
      ? `{"before":${before ?? 'null'},"after":${after ?? 'null'},"source":${source},"transaction":null,"op":"${op}","ts_ms":${tsMs + 7},"ts_us":${tsMs + 7}000,"ts_ns":${tsMs + 7}000000}`
      : `{"before":${before ?? 'null'},"after":${after ?? 'null'},"source":${source},"op":"${op}","ts_ms":${tsMs + 7}}`;
    const key = `{"activity_id":${id}}`;
    const headers = cdc ? { headers: CONTEXT_HEADERS } : {};
    out.push({
      ...headers,
      key,
      value,
      expected: {
        key,
        op,
        lsn: BigInt(lsn),
        tx_id: BigInt(txId),
        source_ts_ms: BigInt(tsMs),
        event_ts_ms: BigInt(tsMs + 7),
        snapshot: op === 'r' ? 'true' : 'false',
        source_schema: 'public',
        source_table: 'activities',
        before,
        after,
        schema_id: null,
        unavailable: null,
      },
    });
    if (op === 'd') out.push({ key, value: null, expected: null, ...headers });
  }
  return out;
}

/** A message with its Kafka coordinates, as read back from the topic. */
export interface PlacedMessage {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
  key: string | null;
  value: string | null;
}

export { committedOffsets, waitForCommitted };

/** The test clients of the bronze tests and benchmark: an admin client and an idempotent producer on `brokers`. */
export function kafkaClient(brokers: string[]): { target: KafkaTarget; admin: KafkaAdmin; producer: KafkaProducer; close(): Promise<void> } {
  const target = kafkaTarget(brokers);
  const admin = testAdmin(target);
  const producer = testProducer(target);
  return { target, admin, producer, close: async () => void (await Promise.all([producer.close(), admin.close()])) };
}

/** Creates `topic` like the CDC service would. @throws when it exists already. */
export async function createTopic(admin: KafkaAdmin, topic: string, partitions = 3): Promise<void> {
  if (!(await admin.ensureTopic(topic, partitions))) throw new Error(`topic ${topic} already exists`);
}

/** Produces `messages` (keyed, so one row's changes share a partition), acks=all, in batches. */
export async function produce(producer: KafkaProducer, topic: string, messages: readonly Pick<CdcMessage, 'key' | 'value' | 'headers'>[], batch = 5000): Promise<void> {
  await produceMessages(producer, topic, messages, batch);
}

/** Every message of `topic` with its partition, offset and timestamp (reads up to the current end). */
export async function readTopic(target: KafkaTarget, topic: string): Promise<PlacedMessage[]> {
  return (await readRecords(target, topic)).map((r) => ({
    topic,
    partition: r.partition,
    offset: r.offset,
    timestampMs: r.timestampMs,
    key: r.key?.toString('utf8') ?? null,
    value: r.value === null ? null : r.value.toString('utf8'),
  }));
}

/** One bronze row as DuckDB returns it (BIGINT as bigint, TIMESTAMPTZ as Date). */
export interface BronzeRecord extends ExpectedRow {
  topic: string;
  partition: number;
  offset: bigint;
  kafka_timestamp_ms: bigint;
  ingested_at: Date;
}

/** Keys of the Parquet objects of `topic`, in key order. */
export async function bronzeKeys(lake: LakeStorage, topic: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of lake.list(`bronze/${topic}/`)) keys.push(o.key);
  return keys;
}

/** Manifest entries of every partition of `topic`. */
export async function manifestEntries(lake: LakeStorage, topic: string): Promise<BronzeFile[]> {
  const out: BronzeFile[] = [];
  for await (const o of lake.list(`${MANIFEST_ROOT}${topic}/`)) {
    const entry = parseManifest(o.key, (await lake.get(o.key)).toString('utf8'));
    if ('problem' in entry) throw new Error(`${o.key}: ${entry.problem}`);
    out.push(entry);
  }
  return out;
}

/**
 * Reads Parquet objects back with DuckDB: each object is fetched through the lake storage into
 * a temporary file. @returns the rows, plus each file's row count and compression codecs.
 */
export async function readBronze(lake: LakeStorage, keys: readonly string[]): Promise<{ rows: BronzeRecord[]; codecs: string[] }> {
  if (keys.length === 0) return { rows: [], codecs: [] };
  const dir = await mkdtemp(path.join(tmpdir(), 'bronze-read-'));
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    const files: string[] = [];
    for (const [i, key] of keys.entries()) {
      const file = path.join(dir, `${i}.parquet`);
      await writeFile(file, await lake.get(key));
      files.push(file);
    }
    const list = files.map((f) => `'${f}'`).join(', ');
    const rows = (await con.runAndReadAll(`SELECT * FROM read_parquet([${list}]) ORDER BY topic, "partition", "offset", ingested_at`)).getRowObjectsJS() as unknown as BronzeRecord[];
    const codecs = (await con.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata([${list}])`)).getRowObjectsJS().map((r) => String(r.compression));
    return { rows, codecs };
  } finally {
    con.closeSync();
    db.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}
