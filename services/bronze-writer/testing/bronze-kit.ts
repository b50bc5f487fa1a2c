/**
 * Test kit for the bronze writer's integration tests and benchmark: plays the CDC service
 * (Debezium envelopes per docs/contracts/change-events.md, produced with kafkajs), reads a topic
 * back with its Kafka coordinates, waits for a consumer group, and reads bronze back with DuckDB
 * (objects fetched through the lake storage into temporary files: no httpfs).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import type { LakeStorage } from '../../common/lake-storage.ts';
import { MANIFEST_ROOT, parseManifest, type BronzeFile } from '../../common/contracts/bronze-object.ts';

/** A message as the CDC service would produce it, with the bronze row it must become. */
export interface CdcMessage {
  key: string;
  /** JSON text; null = tombstone. */
  value: string | null;
  /** The row's expected columns (null for a tombstone or a poison message). */
  expected: ExpectedRow | null;
}

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
export function activityMessages(count: number, seed = 1, baseTsMs = Date.UTC(2026, 0, 15, 8)): CdcMessage[] {
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
    const source = `{"version":"test","connector":"postgresql","name":"sport","ts_ms":${tsMs},"snapshot":"${op === 'r' ? 'true' : 'false'}","db":"sport","schema":"public","table":"activities","txId":${txId},"lsn":${lsn},"xmin":null}`;
    const value = `{"before":${before ?? 'null'},"after":${after ?? 'null'},"source":${source},"op":"${op}","ts_ms":${tsMs + 7}}`;
    const key = `{"activity_id":${id}}`;
    out.push({
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
    if (op === 'd') out.push({ key, value: null, expected: null });
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

export function kafkaClient(brokers: string[], clientId = 'bronze-test'): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING });
}

/** Creates `topic` like the CDC service would (fails if it exists). */
export async function createTopic(admin: Admin, topic: string, partitions = 3): Promise<void> {
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  if (!created) throw new Error(`topic ${topic} already exists`);
}

/** Produces `messages` (keyed, so one row's changes share a partition), acks=all, in batches. */
export async function produce(producer: Producer, topic: string, messages: readonly Pick<CdcMessage, 'key' | 'value'>[], batch = 5000): Promise<void> {
  for (let i = 0; i < messages.length; i += batch) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + batch).map((m) => ({ key: m.key, value: m.value })) });
  }
}

/** Every message of `topic` with its partition, offset and timestamp (reads up to the current end). */
export async function readTopic(kafka: Kafka, admin: Admin, topic: string): Promise<PlacedMessage[]> {
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  const remaining = new Set([...ends].filter(([, high]) => high > 0).map(([p]) => p));
  const out: PlacedMessage[] = [];
  if (remaining.size === 0) return out;
  const consumer = kafka.consumer({ groupId: `bronze-test-reader-${Date.now()}-${Math.random().toString(36).slice(2)}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`readTopic ${topic}: timeout`)), 60_000);
    void consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          out.push({
            topic,
            partition: batch.partition,
            offset: Number(m.offset),
            timestampMs: Number(m.timestamp),
            key: m.key?.toString('utf8') ?? null,
            value: m.value === null ? null : m.value.toString('utf8'),
          });
          if (Number(m.offset) + 1 >= ends.get(batch.partition)!) remaining.delete(batch.partition);
        }
        if (remaining.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Committed offsets of `groupId` on `topic`, by partition (-1 = none). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, number>> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
}

/** Resolves once `groupId` has committed the end offset of every partition of `topic`. */
export async function waitForCommitted(admin: Admin, groupId: string, topic: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await committedOffsets(admin, groupId, topic);
    const behind = ends.filter((e) => Number(e.high) > 0 && committed.get(e.partition) !== Number(e.high));
    if (behind.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`group ${groupId} behind on ${topic}: ${JSON.stringify(behind.map((b) => ({ partition: b.partition, end: b.high, committed: committed.get(b.partition) })))}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
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
