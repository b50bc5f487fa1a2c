/**
 * Parquet encoding of bronze segments with DuckDB (@duckdb/node-api), zstd-compressed
 * (docs/decisions/0003-parquet-writer.md: DuckDB was the fastest of the three writers measured and
 * the only one with zstd).
 *
 * Rows go into a temporary DuckDB table through the appender, in data chunks of up to 2048 rows,
 * and `COPY ... TO '<tmp>.parquet' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)` writes
 * the file, which is read back and deleted with the table. Level 1 cost 5 % less CPU per row than
 * DuckDB's default level; files were 20 % smaller on 10,000 activity events, about the same size
 * on the benchmark's backlog. DuckDB runs in memory with a small memory limit; each encoder
 * encodes up to `lanes` files at once, one per connection (the writer runs one encoder on the
 * main thread, or one per worker thread, encoder-pool.ts).
 *
 * Columns (docs/contracts/change-events.md, "Bronze objects"):
 * topic VARCHAR, partition INTEGER, offset BIGINT, kafka_timestamp_ms BIGINT, key VARCHAR (JSON),
 * op VARCHAR, lsn BIGINT, tx_id BIGINT, source_ts_ms BIGINT, event_ts_ms BIGINT, snapshot VARCHAR,
 * source_schema VARCHAR, source_table VARCHAR, before VARCHAR (JSON), after VARCHAR (JSON),
 * schema_id VARCHAR (header lakehouse.schema.id), unavailable VARCHAR (header
 * lakehouse.unavailable, a JSON array), ingested_at TIMESTAMP WITH TIME ZONE (UTC, microseconds).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isUtf8 } from 'node:buffer';
import duckdb from '@duckdb/node-bindings';
import { BLOB, DOUBLE, DuckDBDataChunk, DuckDBInstance, INTEGER, LIST, listValue, VARCHAR, type DuckDBAppender, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import { decodeBronzeMessage, linkHeaderProblem, type BronzeRow, type Undecodable } from './bronze-row.ts';
import { isJsonValue, newScannedEnvelope, scanEnvelope, type ScannedEnvelope } from './envelope-scanner.ts';
import { KeyChecks } from './key-check.ts';
import type { ChangeOp } from '../common/contracts/change-event.ts';
import { SPANS_PER_MESSAGE, type PackedMessages } from './segment.ts';

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
  ['schema_id', 'VARCHAR'],
  ['unavailable', 'VARCHAR'],
  ['ingested_at', 'TIMESTAMPTZ'],
] as const;

/*
 * Staging table. Every value crosses into DuckDB with at most one native call, and strings only
 * as bytes: the message key and the row images are BLOBs holding the exact UTF-8 bytes of the
 * message (decoded to VARCHAR by DuckDB when the file is written), and the few distinct op /
 * snapshot / schema / table values (and the schema ids of the rows) are sent as dictionary codes.
 * Integers travel as DOUBLE (exact below 2^53) and are cast back to BIGINT; the rare lsn or tx_id
 * beyond 2^53 travels as text.
 *
 * No SQL text is ever built from message data (issue 14: a NUL byte in `source.table` spliced
 * into the statement made DuckDB fail with "unterminated quoted string", forever): the per-file
 * constants (topic, partition, ingested_at) and the dictionaries are bound parameters of the
 * prepared COPY ({@link COPY_SQL}); the only text in it that is not constant is the temporary
 * file's own name and the configured codec.
 */
const STAGING: readonly (readonly [string, string, DuckDBType])[] = [
  ['offset', 'DOUBLE', DOUBLE],
  ['kafka_timestamp_ms', 'DOUBLE', DOUBLE],
  ['key', 'BLOB', BLOB],
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
  ['before', 'BLOB', BLOB],
  ['after', 'BLOB', BLOB],
  ['schema_id', 'INTEGER', INTEGER],
  ['unavailable', 'BLOB', BLOB],
];
const STAGING_TYPES = STAGING.map(([, , type]) => type);
const STAGING_SQL = STAGING.map(([name, type]) => `"${name}" ${type}`).join(', ');
/** DuckDB's vector size: the most rows one data chunk holds. */
export const CHUNK_ROWS = 2048;
const TABLE = 'bronze_segment';

/**
 * The COPY writing one file from the staging table. Parameters: $1 topic, $2 partition,
 * $3 ingested_at (ISO-8601), $4..$8 the dictionaries (VARCHAR[]) of op, snapshot, source_schema,
 * source_table and schema_id, indexed by the staged codes (a NULL code reads NULL).
 * @param file the temporary file (a name this module made, never message data).
 * @param compression the configured codec (one of a fixed list).
 */
function copySql(file: string, compression: string): string {
  const select = [
    `$1::VARCHAR AS topic`,
    `$2::INTEGER AS "partition"`,
    `"offset"::BIGINT AS "offset"`,
    `kafka_timestamp_ms::BIGINT AS kafka_timestamp_ms`,
    `decode("key") AS "key"`,
    `($4::VARCHAR[])[op] AS op`,
    `COALESCE(lsn_exact::BIGINT, lsn::BIGINT) AS lsn`,
    `COALESCE(tx_id_exact::BIGINT, tx_id::BIGINT) AS tx_id`,
    `source_ts_ms::BIGINT AS source_ts_ms`,
    `event_ts_ms::BIGINT AS event_ts_ms`,
    `($5::VARCHAR[])[snapshot] AS snapshot`,
    `($6::VARCHAR[])[source_schema] AS source_schema`,
    `($7::VARCHAR[])[source_table] AS source_table`,
    `decode("before") AS "before"`,
    `decode("after") AS "after"`,
    `($8::VARCHAR[])[schema_id] AS schema_id`,
    `decode("unavailable") AS unavailable`,
    `$3::TIMESTAMPTZ AS ingested_at`,
  ].join(', ');
  return `COPY (SELECT ${select} FROM ${TABLE}) TO '${file}' (FORMAT parquet, COMPRESSION ${compression}${compression === 'zstd' ? ', COMPRESSION_LEVEL 1' : ''})`;
}

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
  /** The values in code order (code 1 first): the list the COPY indexes with the codes, as a bound parameter. */
  values(): string[] {
    return [...this.codes.keys()];
  }
}

/**
 * {@link Dictionary} codes looked up by the value's UTF-8 bytes, so that the scanned fast path
 * never makes a string for them. Past a few distinct values it falls back to decoding.
 */
class BytesDictionary {
  private readonly entries: { bytes: Uint8Array; code: number }[] = [];
  constructor(readonly dictionary: Dictionary) {}
  /** The code of the (escape-free) string in bytes[start, end); null when start is -1. */
  code(bytes: Uint8Array, start: number, end: number): number | null {
    if (start < 0) return null;
    const length = end - start;
    next: for (const entry of this.entries) {
      const known = entry.bytes;
      if (known.length !== length) continue;
      for (let k = 0; k < length; k++) if (known[k] !== bytes[start + k]) continue next;
      return entry.code;
    }
    const code = this.dictionary.code(Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString('utf8'))!;
    if (this.entries.length < 16) this.entries.push({ bytes: bytes.slice(start, end), code });
    return code;
  }
}

const approximate = (v: number | bigint | null): number | null => (v === null ? null : Number(v));
const exactText = (v: number | bigint | null): string | null => (typeof v === 'bigint' ? v.toString() : null);
const utf8Bytes = (text: string | null): Uint8Array | null => (text === null ? null : Buffer.from(text, 'utf8'));

/** Staging column indexes (see STAGING). */
const C = { offset: 0, kafkaTs: 1, key: 2, op: 3, lsn: 4, lsnExact: 5, txId: 6, txIdExact: 7, sourceTs: 8, eventTs: 9, snapshot: 10, schema: 11, table: 12, before: 13, after: 14, schemaId: 15, unavailable: 16 } as const;
const VALIDITY_WORDS = CHUNK_ROWS / 32;

/**
 * Rows for the staging table, written straight into DuckDB data chunks of {@link CHUNK_ROWS} rows
 * through @duckdb/node-bindings (the C API under @duckdb/node-api): numbers into typed arrays
 * copied once per column and chunk, validity as bit masks, byte strings assigned one native call
 * each. node-api's value-by-value vector writers allocate several objects per value (BigInts for
 * validity, value wrappers, item caches), which at 100,000 rows per second was the writer's
 * largest source of garbage. Rows come either from the envelope scanner (byte ranges into the
 * message) or from the reference decoder ({@link BronzeRow}).
 */
export class StagingRows {
  readonly op = new Dictionary();
  readonly snapshot = new BytesDictionary(new Dictionary());
  readonly schema = new BytesDictionary(new Dictionary());
  readonly table = new BytesDictionary(new Dictionary());
  readonly schemaId = new Dictionary();
  total = 0;
  private n = 0;
  private chunk!: DuckDBDataChunk;
  private vectors!: duckdb.Vector[];
  private readonly doubles = new Map<number, Float64Array<ArrayBuffer>>();
  private readonly integers = new Map<number, Int32Array<ArrayBuffer>>();
  /** Per column, bit i set = row i not null (DuckDB's little-endian uint64 mask, as 32-bit words). */
  private readonly validity = STAGING.map(() => new Uint32Array(VALIDITY_WORDS));

  constructor(private readonly appender: DuckDBAppender) {
    STAGING.forEach(([, type], column) => {
      if (type === 'DOUBLE') this.doubles.set(column, new Float64Array(CHUNK_ROWS));
      else if (type === 'INTEGER') this.integers.set(column, new Int32Array(CHUNK_ROWS));
    });
    this.newChunk();
  }

  private newChunk(): void {
    this.chunk = DuckDBDataChunk.create(STAGING_TYPES);
    this.vectors = STAGING.map((_, column) => duckdb.data_chunk_get_vector(this.chunk.chunk, column));
    for (const mask of this.validity) mask.fill(0xffffffff);
  }

  private setNull(column: number, row: number): void {
    this.validity[column]![row >>> 5]! &= ~(1 << (row & 31));
  }

  private double(column: number, row: number, value: number | null): void {
    if (value === null || Number.isNaN(value)) this.setNull(column, row);
    else this.doubles.get(column)![row] = value;
  }

  private integer(column: number, row: number, value: number | null): void {
    if (value === null) this.setNull(column, row);
    else this.integers.get(column)![row] = value;
  }

  private bytes(column: number, row: number, value: Uint8Array | null): void {
    if (value === null) this.setNull(column, row);
    else duckdb.vector_assign_string_element_len(this.vectors[column]!, row, value);
  }

  private text(column: number, row: number, value: string | null): void {
    if (value === null) this.setNull(column, row);
    else duckdb.vector_assign_string_element(this.vectors[column]!, row, value);
  }

  /**
   * A row the scanner accepted; `value` is the whole message value the ranges of `scanned` index.
   * @param schemaIdCode the code of its `lakehouse.schema.id` in {@link StagingRows.schemaId} (a well-formed id), or null.
   * @param unavailable the `lakehouse.unavailable` header's bytes (validated), or null.
   */
  addScanned(offset: number, kafkaTimestampMs: number, key: Uint8Array | null, value: Uint8Array, scanned: ScannedEnvelope, schemaIdCode: number | null = null, unavailable: Uint8Array | null = null): void {
    const i = this.n;
    this.double(C.offset, i, offset);
    this.double(C.kafkaTs, i, kafkaTimestampMs);
    this.bytes(C.key, i, key);
    this.integer(C.op, i, this.op.code(String.fromCharCode(scanned.op)));
    this.double(C.lsn, i, scanned.lsn);
    this.setNull(C.lsnExact, i);
    this.double(C.txId, i, scanned.txId);
    this.setNull(C.txIdExact, i);
    this.double(C.sourceTs, i, scanned.sourceTsMs);
    this.double(C.eventTs, i, scanned.eventTsMs);
    this.integer(C.snapshot, i, this.snapshot.code(value, scanned.snapshotStart, scanned.snapshotEnd));
    this.integer(C.schema, i, this.schema.code(value, scanned.schemaStart, scanned.schemaEnd));
    this.integer(C.table, i, this.table.code(value, scanned.tableStart, scanned.tableEnd));
    this.bytes(C.before, i, scanned.beforeStart < 0 ? null : value.subarray(scanned.beforeStart, scanned.beforeEnd));
    this.bytes(C.after, i, scanned.afterStart < 0 ? null : value.subarray(scanned.afterStart, scanned.afterEnd));
    this.integer(C.schemaId, i, schemaIdCode);
    this.bytes(C.unavailable, i, unavailable);
    this.rowAdded();
  }

  /** A row of the reference decoder. */
  addRow(r: BronzeRow): void {
    const i = this.n;
    this.double(C.offset, i, r.offset);
    this.double(C.kafkaTs, i, r.kafkaTimestampMs);
    this.bytes(C.key, i, utf8Bytes(r.key));
    this.integer(C.op, i, this.op.code(r.op));
    this.double(C.lsn, i, approximate(r.lsn));
    this.text(C.lsnExact, i, exactText(r.lsn));
    this.double(C.txId, i, approximate(r.txId));
    this.text(C.txIdExact, i, exactText(r.txId));
    this.double(C.sourceTs, i, r.sourceTsMs);
    this.double(C.eventTs, i, r.eventTsMs);
    this.integer(C.snapshot, i, this.snapshot.dictionary.code(r.snapshot));
    this.integer(C.schema, i, this.schema.dictionary.code(r.sourceSchema));
    this.integer(C.table, i, this.table.dictionary.code(r.sourceTable));
    this.bytes(C.before, i, utf8Bytes(r.before));
    this.bytes(C.after, i, utf8Bytes(r.after));
    this.integer(C.schemaId, i, this.schemaId.code(r.schemaId ?? null));
    this.bytes(C.unavailable, i, utf8Bytes(r.unavailable ?? null));
    this.rowAdded();
  }

  private rowAdded(): void {
    this.n++;
    this.total++;
    if (this.n === CHUNK_ROWS) this.appendChunk();
  }

  /** Appends the buffered rows (a full or, at the end, partial chunk) and starts a new chunk. */
  appendChunk(): void {
    const n = this.n;
    if (n === 0) return;
    this.chunk.rowCount = n;
    for (const [column, values] of this.doubles) duckdb.copy_data_to_vector(this.vectors[column]!, 0, values.buffer, 0, n * 8);
    for (const [column, values] of this.integers) duckdb.copy_data_to_vector(this.vectors[column]!, 0, values.buffer, 0, n * 4);
    const maskBytes = Math.ceil(n / 64) * 8;
    this.validity.forEach((mask, column) => {
      duckdb.vector_ensure_validity_writable(this.vectors[column]!);
      duckdb.copy_data_to_vector_validity(this.vectors[column]!, 0, mask.buffer, 0, maskBytes);
    });
    this.appender.appendDataChunk(this.chunk);
    this.n = 0;
    this.newChunk();
  }
}

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

/** The outcome of {@link DuckDbParquetEncoder.encodePacked}. */
export interface EncodedPacked {
  /** The Parquet file; null when the segment holds no row (only tombstones / dead letters). */
  parquet: Buffer | null;
  rows: number;
  tombstones: number;
  /** Rows decoded by the envelope scanner (the rest by the reference decoder). */
  scanned: number;
  /** Messages to dead-letter, in offset order. */
  undecodable: Undecodable[];
}

/**
 * Decodes every message of `packed` into `rows`: tombstones (null value) are counted, an empty
 * value is dead-lettered (`empty_value`), the envelope scanner decodes what it accepts, the
 * reference decoder everything else (and its verdict, a row or a dead letter, stands); then the
 * shared key checks (key-check.ts, for the schema ids of `packed.keyColumns`) may still
 * dead-letter a message (`missing_key`, `invalid_key`, `key_mismatch`). Counts go to `into`.
 */
export function stagePacked(packed: PackedMessages, rows: StagingRows, into: { rows: number; tombstones: number; scanned: number; undecodable: Undecodable[] }): void {
  const scanned = newScannedEnvelope();
  const keys = new KeyChecks(packed.keyColumns);
  const checkKeys = !keys.isEmpty;
  const { offsets, timestamps, spans, bytes } = packed;
  // Schema ids: checked and coded once per distinct value of the segment, not per row.
  const idCodes = packed.schemaIdValues.map((id) => (linkHeaderProblem(id, null) === null ? rows.schemaId.code(Buffer.from(id.buffer, id.byteOffset, id.length).toString('latin1')) : null));
  for (let i = 0; i < packed.count; i++) {
    const o = SPANS_PER_MESSAGE * i;
    const valueLength = spans[o + 3]!;
    const keyStart = spans[o]!;
    const keyLength = spans[o + 1]!;
    const key = keyLength < 0 ? null : bytes.subarray(keyStart, keyStart + keyLength);
    const hasSchemaId = spans[o + 5]! >= 0;
    const schemaId = hasSchemaId ? packed.schemaIdValues[spans[o + 4]!]! : null;
    if (valueLength < 0) {
      const problem = checkKeys ? keys.problem(schemaId, key, null, null, -1, -1) : null;
      if (problem === null) into.tombstones++;
      else into.undecodable.push({ offset: offsets[i]!, ...problem });
      continue;
    }
    if (valueLength === 0) {
      into.undecodable.push({ offset: offsets[i]!, reason: 'empty_value', detail: 'empty value (a tombstone has a null value)' });
      continue;
    }
    const valueStart = spans[o + 2]!;
    const value = bytes.subarray(valueStart, valueStart + valueLength);
    const idCode = hasSchemaId ? idCodes[spans[o + 4]!]! : null;
    const unavailableLength = spans[o + 7]!;
    const unavailable = unavailableLength < 0 ? null : bytes.subarray(spans[o + 6]!, spans[o + 6]! + unavailableLength);
    const keyOk = key === null || key.length === 0 || (isUtf8(key) && isJsonValue(key));
    // Headers are checked here too (schema ids only when packing found a bad one): a bad header
    // goes to the reference decoder, whose verdict stands.
    const headersOk = (!hasSchemaId || idCode !== null) && (unavailable === null || linkHeaderProblem(null, unavailable) === null);
    if (keyOk && headersOk && isUtf8(value) && scanEnvelope(value, scanned)) {
      if (checkKeys) {
        const op = String.fromCharCode(scanned.op) as ChangeOp;
        const deleted = op === 'd';
        const problem = keys.problem(schemaId, key, op, value, deleted ? scanned.beforeStart : scanned.afterStart, deleted ? scanned.beforeEnd : scanned.afterEnd);
        if (problem !== null) {
          into.undecodable.push({ offset: offsets[i]!, ...problem });
          continue;
        }
      }
      rows.addScanned(offsets[i]!, timestamps[i]!, key === null || key.length === 0 ? null : key, value, scanned, idCode, unavailable);
      into.scanned++;
      into.rows++;
      continue;
    }
    const decoded = decodeBronzeMessage({ offset: offsets[i]!, timestampMs: timestamps[i]!, key, value, schemaId, unavailable });
    if (decoded.kind === 'row') {
      if (checkKeys) {
        const row = decoded.row.op === 'd' ? decoded.row.before : decoded.row.after;
        const rowBytes = row === null ? null : Buffer.from(row);
        const problem = keys.problem(schemaId, key, decoded.row.op, rowBytes, rowBytes === null ? -1 : 0, rowBytes?.length ?? -1);
        if (problem !== null) {
          into.undecodable.push({ offset: offsets[i]!, ...problem });
          continue;
        }
      }
      rows.addRow(decoded.row);
      into.rows++;
    } else if (decoded.kind === 'tombstone') into.tombstones++;
    else into.undecodable.push({ offset: offsets[i]!, reason: decoded.reason, detail: decoded.detail });
  }
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
  /**
   * Files encoded at once, one DuckDB connection (and temp table) each. Default 3: while files'
   * COPYs run on DuckDB threads, the next file's rows are appended on the calling thread (1M-message
   * benchmark: 2 lanes ~100,000 rows/s with back-pressure pauses, 3 lanes 108,000-123,000, none).
   */
  lanes?: number;
}

/** One connection and the encodings queued on it (a temp table is private to its connection). */
interface Lane {
  connection: DuckDBConnection;
  queue: Promise<unknown>;
  queued: number;
}

/** {@link ParquetEncoder} backed by an in-memory DuckDB database. */
export class DuckDbParquetEncoder implements ParquetEncoder {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly lanes: Lane[],
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
    const lanes: Lane[] = [];
    for (let i = 0; i < Math.max(1, options.lanes ?? 3); i++) lanes.push({ connection: await instance.connect(), queue: Promise.resolve(), queued: 0 });
    return new DuckDbParquetEncoder(instance, lanes, dir, options.compression ?? 'zstd');
  }

  /** Encodes rows already decoded by the reference decoder (the writers' comparison uses it). */
  encode({ topic, partition, batches, ingestedAt }: ParquetInput): Promise<Buffer | null> {
    return this.enqueue(topic, partition, ingestedAt, (rows) => {
      for (const batch of batches) for (const row of batch) rows.addRow(row);
    });
  }

  /**
   * Decodes the messages of a sealed segment and encodes their rows as one Parquet file.
   * Decoding: the envelope scanner where it accepts a message, else the reference decoder
   * (bronze-row.ts); tombstones are counted, undecodable messages listed for the dead-letter
   * topic, in offset order.
   * @throws when DuckDB fails; nothing is half-done, the caller may retry.
   */
  async encodePacked(topic: string, partition: number, packed: PackedMessages, ingestedAt: Date): Promise<EncodedPacked> {
    const decoded = { rows: 0, tombstones: 0, scanned: 0, undecodable: [] as Undecodable[] };
    const parquet = await this.enqueue(topic, partition, ingestedAt, (rows) => {
      Object.assign(decoded, { rows: 0, tombstones: 0, scanned: 0, undecodable: [] });
      stagePacked(packed, rows, decoded);
    });
    return { parquet, ...decoded };
  }

  /** Runs the encoding on the lane with the fewest queued; encodings of one lane run in turn. */
  private enqueue(topic: string, partition: number, ingestedAt: Date, fill: (rows: StagingRows) => void): Promise<Buffer | null> {
    const lane = this.lanes.reduce((best, l) => (l.queued < best.queued ? l : best));
    lane.queued++;
    const run = lane.queue.then(() => this.encodeNow(lane.connection, topic, partition, ingestedAt, fill)).finally(() => lane.queued--);
    lane.queue = run.catch(() => undefined);
    return run;
  }

  private async encodeNow(connection: DuckDBConnection, topic: string, partition: number, ingestedAt: Date, fill: (rows: StagingRows) => void): Promise<Buffer | null> {
    const file = path.join(this.dir, `${randomBytes(8).toString('hex')}.parquet`);
    // A fresh table per file: DuckDB returns a dropped table's memory, not a deleted one's rows'.
    await connection.run(`CREATE OR REPLACE TEMP TABLE ${TABLE} (${STAGING_SQL})`);
    const appender = await connection.createAppender(TABLE, 'main', 'temp');
    const rows = new StagingRows(appender);
    try {
      fill(rows);
      rows.appendChunk();
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    if (rows.total === 0) {
      await connection.run(`DROP TABLE IF EXISTS ${TABLE}`);
      return null;
    }
    const copy = await connection.prepare(copySql(file, this.compression));
    try {
      copy.bindVarchar(1, topic);
      copy.bindInteger(2, partition);
      copy.bindVarchar(3, ingestedAt.toISOString());
      const dictionaries = [rows.op, rows.snapshot.dictionary, rows.schema.dictionary, rows.table.dictionary, rows.schemaId];
      dictionaries.forEach((dictionary, i) => copy.bindList(4 + i, listValue(dictionary.values()), LIST(VARCHAR)));
      await copy.run();
      return await readFile(file);
    } finally {
      copy.destroySync();
      await connection.run(`DROP TABLE IF EXISTS ${TABLE}`);
      await rm(file, { force: true });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.queue));
    for (const lane of this.lanes) lane.connection.closeSync();
    this.instance.closeSync();
    await rm(this.dir, { recursive: true, force: true });
  }
}
