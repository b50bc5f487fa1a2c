/**
 * Test fixture: writes bronze exactly as docs/contracts/change-events.md defines it (Parquet per
 * topic/partition/offset range under `bronze/<topic>/dt=<day>/p<partition>-<first>-<last>.parquet`,
 * the contract's columns and types, JSON-text key/before/after rendered as Debezium's JSON
 * converter renders PostgreSQL values, a manifest per file under `_manifest/bronze/...`), so the
 * batch job can be tested without the CDC service and the bronze writer.
 *
 * Bronze follows the schema contract (table-schema.ts): every row carries `schema_id` (the table
 * schema document of the table's current version in the fixture, see {@link BronzeFixture.setSchema})
 * and `unavailable`, and each flush writes the documents to `_schemas/<topic>/<id>.json`, as the
 * CDC service and the bronze writer do. Rows are given with natural JS values (numbers, strings,
 * Date for timestamptz, 'YYYY-MM-DD' for dates) and rendered per the column types of that
 * document (default: the sport tables, testing/table-schemas.ts). Every
 * event of a key goes to the same partition (hash of the key), offsets increase per partition,
 * a delete is followed by a tombstone (an offset covered by the file but not written), and LSNs
 * increase in the order events are added unless given.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { bronzeObjectKey, encodeManifest } from '../../common/contracts/bronze-object.ts';
import type { LakeStorage } from '../../common/lake-storage.ts';
import { literal } from '../sql.ts';
import { schemaKey, type TableSchema } from '../table-schema.ts';
import { sportSchemas } from './table-schemas.ts';

export type Row = Record<string, unknown>;
export type Op = 'c' | 'u' | 'd' | 'r' | 't';

export interface FixtureEvent {
  table: string;
  op: Op;
  before: Row | null;
  after: Row | null;
  /** Commit time, ms since epoch (source.ts_ms). */
  tsMs: number;
  lsn: number;
  txId: number;
  /** Override the partition (default: hash of the key). */
  partition?: number;
  /** Raw JSON texts, to write malformed events on purpose. */
  rawAfter?: string | null;
  rawKey?: string | null;
  /** The schema version the event was produced with (default: the table's current one); null: no link (written before schemas travelled). */
  schema?: TableSchema | null;
  /** Columns whose value the log did not carry (header `lakehouse.unavailable`); their value in `after` is Debezium's placeholder. */
  unavailable?: string[];
}


/** The contract's bronze columns with their types (docs/contracts/change-events.md; as the bronze writer writes them). */
const CONTRACT_CASTS = [
  '"topic"::VARCHAR AS "topic"',
  '"partition"::INTEGER AS "partition"',
  '"offset"::BIGINT AS "offset"',
  'kafka_timestamp_ms::BIGINT AS kafka_timestamp_ms',
  '"key"::VARCHAR AS "key"',
  'op::VARCHAR AS op',
  'lsn::BIGINT AS lsn',
  'tx_id::BIGINT AS tx_id',
  'source_ts_ms::BIGINT AS source_ts_ms',
  'event_ts_ms::BIGINT AS event_ts_ms',
  '"snapshot"::VARCHAR AS "snapshot"',
  'source_schema::VARCHAR AS source_schema',
  'source_table::VARCHAR AS source_table',
  '"before"::VARCHAR AS "before"',
  '"after"::VARCHAR AS "after"',
  'ingested_at::TIMESTAMPTZ AS ingested_at',
  'schema_id::VARCHAR AS schema_id',
  'unavailable::VARCHAR AS unavailable',
].join(', ');

/**
 * Renders one value of PostgreSQL type `pgType` (format_type form) as Debezium's JSON converter
 * would (as a JS value for JSON.stringify). Values of other types are passed through as given.
 */
export function renderDebezium(pgType: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  let t = pgType.toLowerCase();
  if (t === 'timestamp with time zone') t = 'timestamptz';
  if (t === 'timestamp without time zone') t = 'timestamp';
  const numeric = /^numeric\s*\(\s*\d+\s*,\s*(\d+)\s*\)$/.exec(t);
  if (numeric) return typeof value === 'string' ? value : Number(value).toFixed(Number(numeric[1]));
  if (t === 'numeric') return String(value);
  // Already rendered (a day number, epoch micros, an infinity): as given.
  if (typeof value === 'number' || (typeof value === 'string' && value.endsWith('infinity'))) return value;
  if (t === 'date') {
    const d = typeof value === 'string' ? new Date(`${value}T00:00:00Z`) : (value as Date);
    return Math.round(d.getTime() / 86_400_000);
  }
  if (t === 'timestamptz') {
    const d = value instanceof Date ? value : new Date(String(value));
    return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  }
  if (t === 'timestamp') {
    const d = value instanceof Date ? value : new Date(String(value));
    return d.getTime() * 1000;
  }
  return value;
}

/** Renders a row image of `table` (only the columns present in `row`, in the table's order). */
export function renderRow(table: Pick<TableSchema, 'columns'>, row: Row): Row {
  const out: Row = {};
  for (const c of table.columns) if (c.name in row) out[c.name] = renderDebezium(c.pgType, row[c.name]);
  for (const [k, v] of Object.entries(row)) if (!(k in out)) out[k] = v instanceof Date ? v.toISOString() : v;
  return out;
}

/** Collects events and writes them as bronze files. */
export class BronzeFixture {
  readonly events: FixtureEvent[] = [];
  private nextLsn = 10_000_000;
  private nextTx = 700;
  private clock = Date.UTC(2026, 0, 5, 8, 0, 0);
  /** Next Kafka offset per topic-partition (persists across flushes, like a real topic). */
  private readonly offsets = new Map<string, number>();
  /** Files written so far. */
  readonly written: { key: string; manifestKey: string; rows: number }[] = [];

  /** Current schema version of each table, by table name. */
  private readonly schemas = new Map<string, TableSchema>();
  /** Every version used or set, written to `_schemas/` at each flush. */
  private readonly allSchemas = new Map<string, TableSchema>();

  constructor(
    private readonly lake: LakeStorage,
    readonly options: { prefix?: string; partitions?: number; schema?: string; schemas?: TableSchema[] } = {},
  ) {
    for (const s of options.schemas ?? sportSchemas(options.prefix ?? 'sport')) this.setSchema(s);
  }

  /** Makes `schema` its table's current version (an ALTER TABLE in the source): later events use it. */
  setSchema(schema: TableSchema): void {
    this.schemas.set(schema.source.table, schema);
    this.allSchemas.set(schema.schemaId, schema);
  }

  /** The table's current schema version. */
  schemaOf(table: string): TableSchema {
    const t = this.schemas.get(table);
    if (!t) throw new Error(`fixture: table ${table} has no schema document; setSchema() it first`);
    return t;
  }

  topicOf(table: string): string {
    const s = this.schemas.get(table);
    return s ? s.topic : `${this.options.prefix ?? 'sport'}.${this.options.schema ?? 'public'}.${table}`;
  }

  /** Adds an event; rows are rendered with the column types of the table's current schema version. */
  push(table: string, op: Op, before: Row | null, after: Row | null, extra: Partial<FixtureEvent> = {}): FixtureEvent {
    const src = extra.schema ?? this.schemaOf(table);
    if (extra.schema) this.allSchemas.set(extra.schema.schemaId, extra.schema);
    this.clock += 60_000;
    const placeholder = src.rendering.unavailableValue;
    const renderedAfter = after && renderRow(src, after);
    if (renderedAfter && extra.unavailable) for (const c of extra.unavailable) renderedAfter[c] = placeholder;
    const event: FixtureEvent = {
      table,
      op,
      before: before && renderRow(src, before),
      after: renderedAfter,
      tsMs: this.clock,
      lsn: (this.nextLsn += 16),
      txId: this.nextTx++,
      schema: src,
      ...extra,
    };
    this.events.push(event);
    return event;
  }

  insert(table: string, row: Row, extra: Partial<FixtureEvent> = {}) {
    return this.push(table, 'c', null, row, extra);
  }
  snapshot(table: string, row: Row, extra: Partial<FixtureEvent> = {}) {
    return this.push(table, 'r', null, row, extra);
  }
  update(table: string, before: Row, after: Row, extra: Partial<FixtureEvent> = {}) {
    return this.push(table, 'u', before, after, extra);
  }
  delete(table: string, before: Row, extra: Partial<FixtureEvent> = {}) {
    return this.push(table, 'd', before, null, extra);
  }

  private keyOf(event: FixtureEvent): string | null {
    if (event.rawKey !== undefined) return event.rawKey;
    const src = event.schema ?? this.schemas.get(event.table);
    const img = event.op === 'd' ? event.before : event.after;
    if (!src || !img || src.primaryKey.length === 0) return null;
    return JSON.stringify(Object.fromEntries(src.primaryKey.map((k) => [k, img[k] ?? null])));
  }

  private partitionOf(event: FixtureEvent, key: string | null): number {
    if (event.partition !== undefined) return event.partition;
    const n = this.options.partitions ?? 3;
    // Keyless tables: every event on partition 0 (docs/contracts/change-events.md).
    return key ? createHash('md5').update(key).digest().readUInt32BE(0) % n : 0;
  }

  /**
   * Writes the events added since the last flush: one file per topic-partition (or `filesPer`
   * files, splitting its events evenly), then each file's manifest.
   * @returns the lake keys of the Parquet files written.
   */
  async flush(options: { filesPer?: number } = {}): Promise<string[]> {
    const pending = this.events.splice(0);
    type Positioned = { event: FixtureEvent; key: string | null; topic: string; partition: number; offset: number };
    const groups = new Map<string, Positioned[]>();
    for (const event of pending) {
      const key = this.keyOf(event);
      const topic = this.topicOf(event.table);
      const partition = this.partitionOf(event, key);
      const id = `${topic}/${partition}`;
      const offset = this.offsets.get(id) ?? 0;
      // A delete is followed by its tombstone, which takes the next offset but is not written.
      this.offsets.set(id, offset + (event.op === 'd' ? 2 : 1));
      groups.set(id, [...(groups.get(id) ?? []), { event, key, topic, partition, offset }]);
    }
    // Schema documents first, as the bronze writer stores them before committing rows that use them.
    for (const doc of this.allSchemas.values()) await this.lake.put(schemaKey(doc.topic, doc.schemaId), Buffer.from(JSON.stringify(doc)));
    const dir = await mkdtemp(path.join(tmpdir(), 'bronze-fixture-'));
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    const keys: string[] = [];
    try {
      for (const items of groups.values()) {
        const parts = options.filesPer ?? 1;
        const size = Math.ceil(items.length / parts);
        for (let i = 0; i < items.length; i += size) {
          const chunk = items.slice(i, i + size);
          const first = chunk[0]!;
          const last = chunk[chunk.length - 1]!;
          const lastOffset = last.offset + (last.event.op === 'd' ? 1 : 0);
          const kafkaTs = (p: Positioned) => p.event.tsMs + 3;
          const range = { topic: first.topic, partition: first.partition, firstOffset: first.offset, lastOffset };
          const key = bronzeObjectKey(range, kafkaTs(first));
          const s = (v: string | null | undefined) => (v === null || v === undefined ? 'NULL' : literal(v));
          const values = chunk.map(({ event, key: k, topic, partition, offset }) => {
            const after = event.rawAfter !== undefined ? event.rawAfter : event.after && JSON.stringify(event.after);
            return `(${literal(topic)}, ${partition}, ${offset}, ${kafkaTs({ event } as Positioned)}, ${s(k)}, ${literal(event.op)}, ${event.lsn}, ${event.txId},
              ${event.tsMs}, ${event.tsMs + 5}, ${literal(event.op === 'r' ? 'true' : 'false')}, ${literal((event.schema ?? this.schemas.get(event.table))?.source.schema ?? this.options.schema ?? 'public')}, ${literal(event.table)},
              ${s(event.before && JSON.stringify(event.before))}, ${s(after)}, make_timestamptz(${(event.tsMs + 50) * 1000}),
              ${s(event.schema === null ? null : (event.schema ?? this.schemas.get(event.table))?.schemaId)}, ${s(event.unavailable ? JSON.stringify(event.unavailable) : null)})`;
          });
          const file = path.join(dir, `${keys.length}.parquet`);
          await conn.run(`COPY (SELECT ${CONTRACT_CASTS} FROM (VALUES ${values.join(',\n')}) AS t(
              "topic", "partition", "offset", kafka_timestamp_ms, "key", op, lsn, tx_id, source_ts_ms, event_ts_ms, "snapshot",
              source_schema, source_table, "before", "after", ingested_at, schema_id, unavailable)) TO ${literal(file)} (FORMAT parquet, COMPRESSION zstd)`);
          const bytes = await readFile(file);
          await this.lake.put(key, bytes);
          const manifest = encodeManifest({
            ...range,
            key,
            rows: chunk.length,
            bytes: bytes.length,
            minKafkaTimestampMs: Math.min(...chunk.map(kafkaTs)),
            maxKafkaTimestampMs: Math.max(...chunk.map(kafkaTs)),
            writtenAt: new Date().toISOString(),
          });
          await this.lake.put(manifest.key, Buffer.from(manifest.body));
          this.written.push({ key, manifestKey: manifest.key, rows: chunk.length });
          keys.push(key);
        }
      }
    } finally {
      conn.closeSync();
      instance.closeSync();
      await rm(dir, { recursive: true, force: true });
    }
    return keys;
  }
}
