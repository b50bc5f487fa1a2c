/**
 * `npm run bench -- schema-link [--events 100000] [--rounds 3] [--keep]`
 *
 * Issue 13, decision docs/decisions/0011-schema-link.md: what linking every change event to its
 * column types costs, for three ways of doing it, on the sport `activities` table (its real
 * schema document, read from the catalog; events rendered by the CDC service's ChangeMapper;
 * 90 % inserts, 5 % updates, 5 % deletes each followed by a tombstone, REPLICA IDENTITY FULL):
 *
 * - `none`: the payload alone (before the schema link);
 * - `header`: the chosen link, header `lakehouse.schema.id` naming a document in `<prefix>._schemas`;
 * - `schema block`: Debezium's `schemas.enable=true` (JsonConverter): key and value wrapped as
 *   `{"schema":..., "payload":...}`, the schema built as Debezium 3.6 builds it for this table
 *   (Envelope v2 with transaction block and ts_us/ts_ns, io.debezium.connector.postgresql.Source,
 *   field types per the CDC service's rendering modes).
 *
 * Measured, in alternating rounds (medians and ranges printed):
 * 1. Kafka bytes per event: exact Kafka record sizes (record format v2, varint lengths) and the
 *    broker's own partition size (DescribeLogDirs) after producing every variant to its own topic,
 *    uncompressed and gzip (the CDC service's two CDC_COMPRESSION settings).
 * 2. Producer throughput (events/s, CPU µs per event) with the project's producer
 *    (services/common/kafka, idempotent, acks=all, 2,000-event requests like the CDC sink).
 * 3. Bronze bytes per row and encoding throughput (rows/s): the bronze writer's segment and
 *    Parquet encoder (zstd) for `none` and `header`; for `schema block`, the rows with the block
 *    kept in a column (what bronze would have to store to keep the link).
 *
 * Stack: the environment's (`npm run stack -- up`), or with TEST_STACK_PORT_BASE the test stack on
 * those ports (started if needed). The sport database must be migrated (`npm run db:migrate`; the
 * test stack is).
 */
import { execSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { loadConfig, pgConnection } from '../services/common/config.ts';
import { SCHEMA_ID_HEADER, type TableSchema } from '../services/common/contracts/table-schema.ts';
import { createProducer, KafkaAdmin } from '../services/common/kafka/index.ts';
import { createLogger } from '../services/common/logger.ts';
import { ChangeMapper, type OutgoingEvent } from '../services/cdc/change-mapper.ts';
import { describeTable, readSchemaFacts, TypeCatalog } from '../services/cdc/postgres-catalog.ts';
import type { PgoutputMessage, RelationMessage } from '../services/cdc/pgoutput.ts';
import { buildTableSchema } from '../services/cdc/table-schema-builder.ts';
import { DuckDbParquetEncoder } from '../services/bronze-writer/parquet.ts';
import { SegmentBuilder } from '../services/bronze-writer/segment.ts';
import { stackUp } from '../scripts/lib/stack.ts';
import { testEnv } from '../tests/support/test-env.ts';

const opts = new Command('bench schema-link')
  .option('--events <n>', 'change events per variant (tombstones come on top)', (v) => Number(v), 100_000)
  .option('--rounds <n>', 'alternating rounds of the throughput measurements', (v) => Number(v), 3)
  .option('--keep', 'keep the benchmark topics')
  .parse(process.argv)
  .opts<{ events: number; rounds: number; keep?: boolean }>();

const portBase = process.env.TEST_STACK_PORT_BASE;
const env: NodeJS.ProcessEnv = portBase ? { ...process.env, ...testEnv(Number(portBase)) } : { ...process.env };
const config = loadConfig(env);
const logger = createLogger('bench-schema-link', 'warn');
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits = 0) => `${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)}`;

// ------------------------------------------------------------------------------------------------
// Debezium's schema block (Kafka Connect JsonConverter, schemas.enable=true)

/** The Connect schema of one column, as Debezium maps the type under this project's rendering modes. */
function connectField(c: TableSchema['columns'][number]): Record<string, unknown> {
  const named = (type: string, name: string) => ({ type, optional: c.nullable, name, version: 1 });
  const plain = (type: string) => ({ type, optional: c.nullable });
  const oid = c.category === 'domain' ? (c.baseTypeOid ?? c.typeOid) : c.typeOid;
  const adaptiveMillis = c.typeMod >= 0 && c.typeMod <= 3;
  const schema = (() => {
    switch (oid) {
      case 20: return plain('int64');
      case 23: return plain('int32');
      case 21: return plain('int16');
      case 16: return plain('boolean');
      case 700: return plain('float');
      case 701: return plain('double');
      case 17: return plain('bytes');
      case 1082: return named('int32', 'io.debezium.time.Date');
      case 1114: return named('int64', adaptiveMillis ? 'io.debezium.time.Timestamp' : 'io.debezium.time.MicroTimestamp');
      case 1184: return named('string', 'io.debezium.time.ZonedTimestamp');
      case 1083: return adaptiveMillis ? named('int32', 'io.debezium.time.Time') : named('int64', 'io.debezium.time.MicroTime');
      case 1266: return named('string', 'io.debezium.time.ZonedTime');
      case 1186: return named('string', 'io.debezium.time.Interval');
      case 2950: return named('string', 'io.debezium.data.Uuid');
      case 114: case 3802: return named('string', 'io.debezium.data.Json');
      default: return plain('string');
    }
  })();
  return { ...schema, field: c.name };
}

/** `{ key, value }` Connect schemas of `doc`'s table, as JsonConverter prints them. */
export function debeziumSchemas(doc: TableSchema): { key: string; value: string } {
  const row = { type: 'struct', fields: doc.columns.map(connectField), optional: true, name: `${doc.topic}.Value` };
  const key = { type: 'struct', fields: doc.columns.filter((c) => c.keyPosition !== null).sort((a, b) => a.keyPosition! - b.keyPosition!).map((c) => connectField({ ...c, nullable: false })), optional: false, name: `${doc.topic}.Key` };
  const s = (type: string, field: string, optional = false) => ({ type, optional, field });
  const source = {
    type: 'struct',
    fields: [
      s('string', 'version'), s('string', 'connector'), s('string', 'name'), s('int64', 'ts_ms'),
      { type: 'string', optional: true, name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental' }, default: 'false', field: 'snapshot' },
      s('string', 'db'), s('string', 'sequence', true), s('int64', 'ts_us', true), s('int64', 'ts_ns', true), s('string', 'schema'), s('string', 'table'),
      s('int64', 'txId', true), s('int64', 'lsn', true), s('int64', 'xmin', true), s('string', 'origin', true), s('int64', 'origin_lsn', true),
    ],
    optional: false, name: 'io.debezium.connector.postgresql.Source', version: 1, field: 'source',
  };
  const value = {
    type: 'struct',
    fields: [
      { ...row, field: 'before' }, { ...row, field: 'after' }, source,
      { type: 'struct', fields: [s('string', 'id'), s('int64', 'total_order'), s('int64', 'data_collection_order')], optional: true, name: 'event.block', version: 1, field: 'transaction' },
      s('string', 'op'), s('int64', 'ts_ms', true), s('int64', 'ts_us', true), s('int64', 'ts_ns', true),
    ],
    optional: false, name: `${doc.topic}.Envelope`, version: 2,
  };
  return { key: JSON.stringify(key), value: JSON.stringify(value) };
}

// ------------------------------------------------------------------------------------------------
// Events of the real activities table

const SPORTS = ['Runing', 'Randonnée', 'Vélo', 'Natation', 'Tennis', 'Escalade'];
const pgTimestamptz = (ms: number) => `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}+00`;

/** Change events of `public.activities` as the CDC service renders them, with their schema document. */
async function activityEvents(count: number): Promise<{ doc: TableSchema; events: OutgoingEvent[] }> {
  const db = new pg.Client(pgConnection(config, 'admin'));
  await db.connect();
  try {
    const table = await describeTable(db, 'public', 'activities');
    if (!table) throw new Error(`public.activities not found in ${config.postgres.database}: run npm run db:migrate`);
    const facts = await readSchemaFacts(db, table.oid, { topicPrefix: 'sport', database: 'sport', intervalMode: config.cdc.intervalHandling }, { published: table.columns });
    const doc = buildTableSchema(facts!);
    const types = new TypeCatalog();
    await types.ensure(db, table.columns.map((c) => c.typeOid));
    const mapper = new ChangeMapper({ topicPrefix: 'sport', database: 'sport', version: '0.1.0' });
    const relation: RelationMessage = {
      tag: 'relation', relationId: table.oid, schema: 'public', name: 'activities', replicaIdentity: 'f',
      columns: table.columns.map((c) => ({ ...c, isIdentity: true })),
    };
    mapper.registerRelation(relation, table.primaryKey, types.lookup, doc.schemaId);
    const names = table.columns.map((c) => c.name);
    const row = (i: number, distanceBonus = 0): (string | null)[] => {
      const start = Date.UTC(2026, 0, 1) + i * 600_000;
      const values: Record<string, string | null> = {
        activity_id: String(1_000_000 + i), employee_id: String(1000 + (i % 160)), sport_type: SPORTS[i % SPORTS.length]!,
        started_at: pgTimestamptz(start), ended_at: pgTimestamptz(start + 2_760_000), elapsed_seconds: String(2760 + (i % 600)),
        distance_m: i % 6 === 5 ? null : String(5000 + ((i * 37) % 20_000) + distanceBonus),
        comment: i % 4 === 0 ? `Sortie n°${i} autour de Lattes, très belle météo` : null,
        source: 'simulator', created_at: pgTimestamptz(start + 2_800_000), updated_at: pgTimestamptz(start + 2_800_000),
      };
      return names.map((n) => values[n] ?? null);
    };
    const events: OutgoingEvent[] = [];
    const feed = (m: PgoutputMessage, lsn: bigint) => events.push(...mapper.handle(m, lsn));
    for (let i = 0; i < count; i++) {
      const lsn = 0x1000_0000n + BigInt(i) * 64n;
      feed({ tag: 'begin', finalLsn: lsn + 32n, commitTimeUs: BigInt(Date.UTC(2026, 0, 1) + i * 1000) * 1000n, xid: 5000 + i }, lsn);
      const kind = i % 20;
      if (kind === 7) feed({ tag: 'update', relationId: table.oid, keyTuple: null, oldTuple: row(i - 1), newTuple: row(i - 1, 250) }, lsn + 8n);
      else if (kind === 13) feed({ tag: 'delete', relationId: table.oid, keyTuple: null, oldTuple: row(i - 2) }, lsn + 8n);
      else feed({ tag: 'insert', relationId: table.oid, newTuple: row(i) }, lsn + 8n);
      feed({ tag: 'commit', flags: 0, commitLsn: lsn + 32n, endLsn: lsn + 40n, commitTimeUs: BigInt(Date.UTC(2026, 0, 1) + i * 1000) * 1000n }, lsn + 32n);
    }
    return { doc, events };
  } finally {
    await db.end();
  }
}

// ------------------------------------------------------------------------------------------------
// Variants

interface Message {
  key: string | null;
  value: string | null;
  headers?: Record<string, string>;
}

type Variant = 'none' | 'header' | 'schema block';
const VARIANTS: Variant[] = ['none', 'header', 'schema block'];

function messagesOf(variant: Variant, events: OutgoingEvent[], doc: TableSchema): Message[] {
  const schemas = debeziumSchemas(doc);
  return events.map((e) => {
    if (variant === 'header') return { key: e.key, value: e.value, headers: { [SCHEMA_ID_HEADER]: doc.schemaId } };
    if (variant === 'none') return { key: e.key, value: e.value };
    // JsonConverter: a tombstone stays null (no envelope, no schema); keys always carry theirs.
    return {
      key: e.key === null ? null : `{"schema":${schemas.key},"payload":${e.key}}`,
      value: e.value === null ? null : `{"schema":${schemas.value},"payload":${e.value}}`,
    };
  });
}

/** Size of an unsigned varint / a zig-zag varint. */
const varintSize = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
const zigzagSize = (n: number) => varintSize(n >= 0 ? 2 * n : -2 * n - 1);

/** Bytes of one record in a v2 RecordBatch (https://kafka.apache.org/documentation/#record), offset/timestamp deltas of 0. */
function recordBytes(m: Message): number {
  const field = (text: string | null) => (text === null ? zigzagSize(-1) : zigzagSize(Buffer.byteLength(text)) + Buffer.byteLength(text));
  let body = 1 + 1 + 1 + field(m.key) + field(m.value);
  const headers = Object.entries(m.headers ?? {});
  body += varintSize(headers.length);
  for (const [k, v] of headers) body += field(k) + field(v);
  return zigzagSize(body) + body;
}

// ------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (portBase) await stackUp(config, (l) => console.log(`[stack] ${l}`));
  const load = () => execSync('uptime').toString().trim();
  console.log(`# schema link: ${fmt(opts.events)} change events of sport.public.activities per variant, ${opts.rounds} rounds\nmachine: ${load()}`);
  const { doc, events } = await activityEvents(opts.events);
  const valued = events.filter((e) => e.value !== null).length;
  console.log(`events: ${fmt(events.length)} messages (${fmt(valued)} with a value, ${fmt(events.length - valued)} tombstones); schema document ${doc.schemaId}: ${fmt(Buffer.byteLength(JSON.stringify(doc)))} bytes, once per table version`);
  const byVariant = new Map(VARIANTS.map((v) => [v, messagesOf(v, events, doc)]));
  const run = `slbench${Date.now().toString(36)}`;

  // 1. Kafka bytes per event.
  console.log('\n## Kafka bytes per message');
  console.log('| variant | record bytes (computed, mean) | x none | broker bytes/message, none compression | broker bytes/message, gzip |');
  console.log('|---|---:|---:|---:|---:|');
  const admin = KafkaAdmin.create(config, 'bench-schema-link', logger);
  const producer = createProducer(config, 'bench-schema-link', logger);
  const topics: string[] = [];
  const computed = new Map<Variant, number>();
  const broker = new Map<string, number>();
  for (const variant of VARIANTS) {
    const messages = byVariant.get(variant)!;
    computed.set(variant, messages.reduce((a, m) => a + recordBytes(m), 0) / messages.length);
    for (const compression of ['none', 'gzip'] as const) {
      const topic = `${run}.${variant.replace(' ', '_')}.${compression}`;
      topics.push(topic);
      await admin.ensureTopic(topic, 1);
      for (let i = 0; i < messages.length; i += 2000) {
        await producer.send({ compression, messages: messages.slice(i, i + 2000).map((m) => ({ topic, key: m.key, value: m.value, headers: m.headers, partition: 0 })) });
      }
      const dirs = await admin.client.describeLogDirs({ topics: [{ name: topic, partitions: [0] }] });
      let bytes = 0n;
      for (const b of dirs) for (const r of b.results) for (const t of r.topics) if (t.name === topic) for (const p of t.partitions) bytes += p.partitionSize;
      broker.set(`${variant}/${compression}`, Number(bytes) / messages.length);
    }
    const none = computed.get('none')!;
    console.log(`| ${variant} | ${fmt(computed.get(variant)!, 1)} | ${fmt(computed.get(variant)! / none, 2)} | ${fmt(broker.get(`${variant}/none`)!, 1)} | ${fmt(broker.get(`${variant}/gzip`)!, 1)} |`);
  }
  console.log(`header adds ${fmt(computed.get('header')! - computed.get('none')!, 1)} bytes per message (computed), ${fmt(broker.get('header/none')! - broker.get('none/none')!, 1)} on the broker uncompressed, ${fmt(broker.get('header/gzip')! - broker.get('none/gzip')!, 1)} with gzip; the schema block adds ${fmt(broker.get('schema block/none')! - broker.get('none/none')!, 0)} / ${fmt(broker.get('schema block/gzip')! - broker.get('none/gzip')!, 0)}.`);

  // 2. Producer throughput, alternating rounds.
  console.log(`\n## Producer throughput (services/common/kafka producer, idempotent, acks=all, 2,000 messages per request, no compression)`);
  const rates = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  const cpu = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < opts.rounds; round++) {
    for (const variant of VARIANTS) {
      const topic = `${run}.tput.${round}.${variant.replace(' ', '_')}`;
      topics.push(topic);
      await admin.ensureTopic(topic, 3);
      const messages = byVariant.get(variant)!;
      const startCpu = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < messages.length; i += 2000) {
        await producer.send({ messages: messages.slice(i, i + 2000).map((m, j) => ({ topic, key: m.key, value: m.value, headers: m.headers, partition: (i + j) % 3 })) });
      }
      const seconds = (performance.now() - t0) / 1000;
      const used = process.cpuUsage(startCpu);
      rates.get(variant)!.push(messages.length / seconds);
      cpu.get(variant)!.push((used.user + used.system) / messages.length);
    }
  }
  console.log('| variant | messages/s (median, range) | CPU µs/message (median, range) |');
  console.log('|---|---:|---:|');
  for (const v of VARIANTS) console.log(`| ${v} | ${fmt(median(rates.get(v)!))} (${range(rates.get(v)!)}) | ${fmt(median(cpu.get(v)!), 2)} (${range(cpu.get(v)!, 2)}) |`);
  await producer.close();
  if (!opts.keep) await admin.deleteTopics(topics);
  await admin.close();

  // 3. Bronze bytes and encoding throughput.
  console.log('\n## Bronze (bronze writer segments of 10,000 rows, Parquet zstd)');
  const encoder = await DuckDbParquetEncoder.open();
  const segments = (variant: 'none' | 'header') => {
    const out = [];
    const messages = byVariant.get(variant)!;
    let builder = new SegmentBuilder('sport.public.activities', 0, { maxRows: 10_000, maxBytes: 1 << 30, maxAgeMs: 1 << 30 });
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const headers = m.headers ? Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Buffer.from(v)])) : undefined;
      builder.add(i, Date.UTC(2026, 0, 1), m.key === null ? null : Buffer.from(m.key), m.value === null ? null : Buffer.from(m.value), 0, headers);
      if (builder.sealReason(0)) {
        out.push(builder.seal('rows'));
        builder = new SegmentBuilder('sport.public.activities', 0, { maxRows: 10_000, maxBytes: 1 << 30, maxAgeMs: 1 << 30 });
      }
    }
    if (!builder.isEmpty) out.push(builder.seal('forced'));
    return out;
  };
  const bronzeRates = new Map<string, number[]>([['none', []], ['header', []]]);
  const bronzeBytes = new Map<string, number>();
  const segs = { none: segments('none'), header: segments('header') };
  for (let round = 0; round < opts.rounds; round++) {
    for (const variant of ['none', 'header'] as const) {
      let bytes = 0;
      let rows = 0;
      const t0 = performance.now();
      for (const s of segs[variant]) {
        const encoded = await encoder.encodePacked(s.topic, s.partition, s.packed, new Date());
        bytes += encoded.parquet?.length ?? 0;
        rows += encoded.rows;
      }
      bronzeRates.get(variant)!.push(rows / ((performance.now() - t0) / 1000));
      bronzeBytes.set(variant, bytes / rows);
    }
  }
  await encoder.close();
  // The schema block kept per row (what bronze would need to keep that link): the header variant's
  // files plus a column holding the value schema.
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-schema-link-'));
  let blockBytes = 0;
  try {
    const duck = await DuckDBInstance.create(':memory:');
    const con = await duck.connect();
    const schemaText = debeziumSchemas(doc).value.replaceAll("'", "''");
    for (const [i, s] of segs.header.entries()) {
      const encoder2 = await DuckDbParquetEncoder.open({ tempDir: dir });
      const encoded = await encoder2.encodePacked(s.topic, s.partition, s.packed, new Date());
      await encoder2.close();
      const file = path.join(dir, `h${i}.parquet`);
      await writeFile(file, encoded.parquet!);
      const out = path.join(dir, `b${i}.parquet`);
      await con.run(`COPY (SELECT * EXCLUDE (schema_id), '${schemaText}' AS value_schema FROM read_parquet('${file}')) TO '${out}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`);
      blockBytes += (await readFile(out)).length;
    }
    con.closeSync();
    duck.closeSync();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const rowsTotal = valued;
  console.log('| variant | bronze bytes/row | encoding rows/s (median, range) |');
  console.log('|---|---:|---:|');
  console.log(`| none | ${fmt(bronzeBytes.get('none')!, 2)} | ${fmt(median(bronzeRates.get('none')!))} (${range(bronzeRates.get('none')!)}) |`);
  console.log(`| header (schema_id column) | ${fmt(bronzeBytes.get('header')!, 2)} | ${fmt(median(bronzeRates.get('header')!))} (${range(bronzeRates.get('header')!)}) |`);
  console.log(`| schema block kept per row | ${fmt(blockBytes / rowsTotal, 2)} | (not measured: the bronze writer does not read it) |`);
  console.log(`header adds ${fmt(bronzeBytes.get('header')! - bronzeBytes.get('none')!, 2)} bronze bytes per row; the documents in the lake: one object of ${fmt(Buffer.byteLength(JSON.stringify(doc)))} bytes per table version.`);
  console.log(`\nmachine after: ${load()}`);
}

await main();
