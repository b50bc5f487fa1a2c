/**
 * Parquet encoding of bronze segments with DuckDB (@duckdb/node-api), zstd-compressed
 * (docs/decisions/0003-parquet-writer.md: DuckDB was the fastest of the three writers measured and
 * the only one with zstd).
 *
 * Rows go into a temporary DuckDB table through the appender, in data chunks of up to 2048 rows,
 * and `COPY ... TO '<tmp>.parquet' (FORMAT parquet, COMPRESSION zstd)` writes the file, which is
 * read back and deleted. DuckDB runs in memory with a small memory limit, one encoding at a time.
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
import {
  BIGINT,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBTimestampTZValue,
  INTEGER,
  TIMESTAMPTZ,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { BronzeRow } from './bronze-row.ts';

/** The bronze columns in file order, with their DuckDB types. */
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

const CHUNK_TYPES = [VARCHAR, INTEGER, BIGINT, BIGINT, VARCHAR, VARCHAR, BIGINT, BIGINT, BIGINT, BIGINT, VARCHAR, VARCHAR, VARCHAR, VARCHAR, VARCHAR, TIMESTAMPTZ];
/** DuckDB's vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2048;
const TABLE = 'bronze_segment';

const big = (v: number | bigint | null): bigint | null => (v === null ? null : BigInt(v));

/** What one Parquet file holds. */
export interface ParquetInput {
  topic: string;
  partition: number;
  rows: readonly BronzeRow[];
  ingestedAt: Date;
}

/** Encodes bronze rows as one zstd Parquet file. */
export interface ParquetEncoder {
  /** @returns the bytes of the Parquet file. @throws when DuckDB fails (disk full, ...). */
  encode(input: ParquetInput): Promise<Buffer>;
  close(): Promise<void>;
}

export interface DuckDbEncoderOptions {
  /** Directory for the temporary files (a private subdirectory is created). Default: os.tmpdir(). */
  tempDir?: string;
  /** DuckDB worker threads. Default 1: the writer's own work keeps the other core busy. */
  threads?: number;
  /** DuckDB memory_limit, e.g. "128MB". */
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
      memory_limit: options.memoryLimit ?? '128MB',
      temp_directory: path.join(dir, 'spill'),
      preserve_insertion_order: 'true',
    });
    const connection = await instance.connect();
    const columns = BRONZE_COLUMNS.map(([name, type]) => `"${name}" ${type}`).join(', ');
    await connection.run(`CREATE TEMP TABLE ${TABLE} (${columns})`);
    return new DuckDbParquetEncoder(instance, connection, dir, options.compression ?? 'zstd');
  }

  encode(input: ParquetInput): Promise<Buffer> {
    // One connection, one temp table: encodings run one after the other.
    const run = this.queue.then(() => this.encodeNow(input));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async encodeNow({ topic, partition, rows, ingestedAt }: ParquetInput): Promise<Buffer> {
    const file = path.join(this.dir, `${randomBytes(8).toString('hex')}.parquet`);
    await this.connection.run(`DELETE FROM ${TABLE}`);
    const appender = await this.connection.createAppender(TABLE, 'main', 'temp');
    try {
      const ingested = new DuckDBTimestampTZValue(BigInt(ingestedAt.getTime()) * 1000n);
      for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
        const part = rows.slice(start, start + CHUNK_ROWS);
        const chunk = DuckDBDataChunk.create(CHUNK_TYPES, part.length);
        const n = part.length;
        const columns: DuckDBValue[][] = CHUNK_TYPES.map(() => new Array<DuckDBValue>(n));
        for (let i = 0; i < n; i++) {
          const r = part[i]!;
          columns[0]![i] = topic;
          columns[1]![i] = partition;
          columns[2]![i] = BigInt(r.offset);
          columns[3]![i] = BigInt(r.kafkaTimestampMs);
          columns[4]![i] = r.key;
          columns[5]![i] = r.op;
          columns[6]![i] = big(r.lsn);
          columns[7]![i] = big(r.txId);
          columns[8]![i] = big(r.sourceTsMs);
          columns[9]![i] = big(r.eventTsMs);
          columns[10]![i] = r.snapshot;
          columns[11]![i] = r.sourceSchema;
          columns[12]![i] = r.sourceTable;
          columns[13]![i] = r.before;
          columns[14]![i] = r.after;
          columns[15]![i] = ingested;
        }
        chunk.setColumns(columns);
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    try {
      await this.connection.run(`COPY ${TABLE} TO '${file}' (FORMAT parquet, COMPRESSION ${this.compression})`);
      return await readFile(file);
    } finally {
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
