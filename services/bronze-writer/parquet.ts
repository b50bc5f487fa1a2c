/**
 * Parquet encoding of bronze segments with DuckDB (@duckdb/node-api), zstd-compressed
 * (docs/decisions/0003-parquet-writer.md: DuckDB was the fastest of the three writers measured and
 * the only one with zstd).
 *
 * Rows go into a temporary DuckDB table through the appender, in data chunks of up to 2048 rows,
 * and `COPY ... TO '<tmp>.parquet' (FORMAT parquet, COMPRESSION zstd)` writes the file, which is
 * read back and deleted with the table. DuckDB runs in memory with a small memory limit, one
 * encoding at a time per encoder (the writer runs one encoder per worker thread, encoder-pool.ts).
 *
 * Columns (docs/contracts/change-events.md, "Bronze objects"):
 * topic VARCHAR, partition INTEGER, offset BIGINT, kafka_timestamp_ms BIGINT, key VARCHAR (JSON),
 * op VARCHAR, lsn BIGINT, tx_id BIGINT, source_ts_ms BIGINT, event_ts_ms BIGINT, snapshot VARCHAR,
 * source_schema VARCHAR, source_table VARCHAR, before VARCHAR (JSON), after VARCHAR (JSON),
 * ingested_at TIMESTAMP WITH TIME ZONE (UTC, microseconds).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DOUBLE, DuckDBDataChunk, DuckDBInstance, INTEGER, VARCHAR, type DuckDBConnection, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import type { BronzeRow } from './bronze-row.ts';

/** The bronze columns in file order, with their Parquet (DuckDB) types. */
export const BRONZE_COLUMNS = [
  ['topic', 'VARCHAR'],
  ['partition', 'INTEGER'],
  ['offset', 'BIGINT'],
  ['kafka_timestamp_ms', 'BIGINT'],
  ['key', 'VARCHAR'],
  ['op', 'VARCHAR'],
  ['lsn', 'BIGINT'],
  ['tx_id', 'BIGINT'],
  ['source_ts_ms', 'BIGINT'],
  ['event_ts_ms', 'BIGINT'],
  ['snapshot', 'VARCHAR'],
  ['source_schema', 'VARCHAR'],
  ['source_table', 'VARCHAR'],
  ['before', 'VARCHAR'],
  ['after', 'VARCHAR'],
  ['ingested_at', 'TIMESTAMPTZ'],
] as const;

/*
 * Staging table. Every string crosses into DuckDB with one native call, so only the per-row
 * JSON texts do: per-file constants (topic, partition, ingested_at) are SQL literals, and the
 * few distinct op / snapshot / schema / table values are sent as dictionary codes. Integers
 * travel as DOUBLE (exact below 2^53) and are cast back to BIGINT; the rare lsn or tx_id beyond
 * 2^53 travels as text.
 */
const STAGING: readonly (readonly [string, string, DuckDBType])[] = [
  ['offset', 'DOUBLE', DOUBLE],
  ['kafka_timestamp_ms', 'DOUBLE', DOUBLE],
  ['key', 'VARCHAR', VARCHAR],
  ['op', 'INTEGER', INTEGER],
  ['lsn', 'DOUBLE', DOUBLE],
  ['lsn_exact', 'VARCHAR', VARCHAR],
  ['tx_id', 'DOUBLE', DOUBLE],
  ['tx_id_exact', 'VARCHAR', VARCHAR],
  ['source_ts_ms', 'DOUBLE', DOUBLE],
  ['event_ts_ms', 'DOUBLE', DOUBLE],
  ['snapshot', 'INTEGER', INTEGER],
  ['source_schema', 'INTEGER', INTEGER],
  ['source_table', 'INTEGER', INTEGER],
  ['before', 'VARCHAR', VARCHAR],
  ['after', 'VARCHAR', VARCHAR],
];
const STAGING_TYPES = STAGING.map(([, , type]) => type);
const STAGING_SQL = STAGING.map(([name, type]) => `"${name}" ${type}`).join(', ');
/** DuckDB's vector size: the most rows one data chunk holds. */
export const CHUNK_ROWS = 2048;
const TABLE = 'bronze_segment';

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Codes (1-based, as DuckDB list indexes) for the distinct values of a low-cardinality column. */
class Dictionary {
  private readonly codes = new Map<string, number>();
  code(value: string | null): number | null {
    if (value === null) return null;
    let code = this.codes.get(value);
    if (code === undefined) {
      code = this.codes.size + 1;
      this.codes.set(value, code);
    }
    return code;
  }
  /** `['a', 'b'][column]` */
  sql(column: string): string {
    return this.codes.size === 0 ? 'NULL::VARCHAR' : `[${[...this.codes.keys()].map(sqlString).join(', ')}][${column}]`;
  }
}

const approximate = (v: number | bigint | null): number | null => (v === null ? null : Number(v));
const exactText = (v: number | bigint | null): string | null => (typeof v === 'bigint' ? v.toString() : null);

/** What one Parquet file holds. */
export interface ParquetInput {
  topic: string;
  partition: number;
  /**
   * The rows in offset order, in batches. A generator lets the caller decode one batch at a
   * time, so decoded rows die young instead of piling up in the old generation.
   */
  batches: Iterable<readonly BronzeRow[]>;
  ingestedAt: Date;
}

/** Encodes bronze rows as one zstd Parquet file. */
export interface ParquetEncoder {
  /**
   * @returns the bytes of the Parquet file, or null when the batches held no row.
   * @throws when DuckDB fails (disk full, ...).
   */
  encode(input: ParquetInput): Promise<Buffer | null>;
  close(): Promise<void>;
}

/** `rows` as batches of at most {@link CHUNK_ROWS}. */
export function* inBatches<T>(rows: readonly T[], size = CHUNK_ROWS): Iterable<readonly T[]> {
  for (let start = 0; start < rows.length; start += size) yield rows.slice(start, start + size);
}

export interface DuckDbEncoderOptions {
  /** Directory for the temporary files (a private subdirectory is created). Default: os.tmpdir(). */
  tempDir?: string;
  /** DuckDB worker threads. Default 1: the writer's own work keeps the other core busy. */
  threads?: number;
  /** DuckDB memory_limit, e.g. "64MB" (the default; a 10,000-row file needs far less). */
  memoryLimit?: string;
  /** Parquet compression codec. Default zstd. */
  compression?: 'zstd' | 'snappy' | 'gzip' | 'uncompressed';
}

/** {@link ParquetEncoder} backed by an in-memory DuckDB database. */
export class DuckDbParquetEncoder implements ParquetEncoder {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly dir: string,
    private readonly compression: string,
  ) {}

  /** Starts DuckDB and creates the temporary directory. */
  static async open(options: DuckDbEncoderOptions = {}): Promise<DuckDbParquetEncoder> {
    const dir = await mkdtemp(path.join(options.tempDir ?? tmpdir(), 'bronze-writer-'));
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(options.threads ?? 1),
      memory_limit: options.memoryLimit ?? '64MB',
      temp_directory: path.join(dir, 'spill'),
      preserve_insertion_order: 'true',
      // Hand freed memory back to the system early: the process has a resident-memory budget.
      allocator_flush_threshold: '8MB',
    });
    const connection = await instance.connect();
    return new DuckDbParquetEncoder(instance, connection, dir, options.compression ?? 'zstd');
  }

  encode(input: ParquetInput): Promise<Buffer | null> {
    // One connection, one temp table: encodings run one after the other.
    const run = this.queue.then(() => this.encodeNow(input));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async encodeNow({ topic, partition, batches, ingestedAt }: ParquetInput): Promise<Buffer | null> {
    const file = path.join(this.dir, `${randomBytes(8).toString('hex')}.parquet`);
    // A fresh table per file: DuckDB returns a dropped table's memory, not a deleted one's rows'.
    await this.connection.run(`CREATE OR REPLACE TEMP TABLE ${TABLE} (${STAGING_SQL})`);
    const dictionaries = { op: new Dictionary(), snapshot: new Dictionary(), schema: new Dictionary(), table: new Dictionary() };
    const appender = await this.connection.createAppender(TABLE, 'main', 'temp');
    let total = 0;
    try {
      for (const rows of batches) for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, rows.length - start);
        total += n;
        const columns: DuckDBValue[][] = STAGING.map(() => new Array<DuckDBValue>(n));
        for (let i = 0; i < n; i++) {
          const r = rows[start + i]!;
          columns[0]![i] = r.offset;
          columns[1]![i] = r.kafkaTimestampMs;
          columns[2]![i] = r.key;
          columns[3]![i] = dictionaries.op.code(r.op);
          columns[4]![i] = approximate(r.lsn);
          columns[5]![i] = exactText(r.lsn);
          columns[6]![i] = approximate(r.txId);
          columns[7]![i] = exactText(r.txId);
          columns[8]![i] = r.sourceTsMs;
          columns[9]![i] = r.eventTsMs;
          columns[10]![i] = dictionaries.snapshot.code(r.snapshot);
          columns[11]![i] = dictionaries.schema.code(r.sourceSchema);
          columns[12]![i] = dictionaries.table.code(r.sourceTable);
          columns[13]![i] = r.before;
          columns[14]![i] = r.after;
        }
        const chunk = DuckDBDataChunk.create(STAGING_TYPES, n);
        chunk.setColumns(columns);
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    if (total === 0) {
      await this.connection.run(`DROP TABLE IF EXISTS ${TABLE}`);
      return null;
    }
    const select = [
      `${sqlString(topic)} AS topic`,
      `${partition}::INTEGER AS "partition"`,
      `"offset"::BIGINT AS "offset"`,
      `kafka_timestamp_ms::BIGINT AS kafka_timestamp_ms`,
      `"key"`,
      `${dictionaries.op.sql('op')} AS op`,
      `COALESCE(lsn_exact::BIGINT, lsn::BIGINT) AS lsn`,
      `COALESCE(tx_id_exact::BIGINT, tx_id::BIGINT) AS tx_id`,
      `source_ts_ms::BIGINT AS source_ts_ms`,
      `event_ts_ms::BIGINT AS event_ts_ms`,
      `${dictionaries.snapshot.sql('snapshot')} AS snapshot`,
      `${dictionaries.schema.sql('source_schema')} AS source_schema`,
      `${dictionaries.table.sql('source_table')} AS source_table`,
      `"before"`,
      `"after"`,
      `'${ingestedAt.toISOString()}'::TIMESTAMPTZ AS ingested_at`,
    ].join(', ');
    try {
      await this.connection.run(`COPY (SELECT ${select} FROM ${TABLE}) TO '${file}' (FORMAT parquet, COMPRESSION ${this.compression})`);
      return await readFile(file);
    } finally {
      await this.connection.run(`DROP TABLE IF EXISTS ${TABLE}`);
      await rm(file, { force: true });
    }
  }

  async close(): Promise<void> {
    await this.queue;
    this.connection.closeSync();
    this.instance.closeSync();
    await rm(this.dir, { recursive: true, force: true });
  }
}
