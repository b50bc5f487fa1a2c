/**
 * Bronze -> silver: the current state of every captured table of every source, typed from the
 * table schema documents its events are linked to (table-schema.ts, silver-types.ts), plus the
 * validity history of the tables a data product asks for. Runs inside the silver DuckDB database
 * (BATCH_SILVER_DB). Nothing here knows a source table by name: any table of any source works.
 *
 * Layout of the silver database (names: silver-names.ts, `<source>__<schema>__<table>`):
 * - `state.<name>`: for a table with a primary key, one row per key ever seen, holding the latest
 *   event by source order (LSN, then Kafka offset), typed, with its position (`_lsn`,
 *   `_partition`, `_offset`), commit time, `_op`, the schema version it was decoded with
 *   (`_schema`, see meta.schemas) and `_missing` (the columns whose source value silver does not
 *   hold, see below); deletes stay as tombstones (`_op` d, or t after a truncate) so a late
 *   re-delivery of an older event can never resurrect a row. For a keyless table (REPLICA
 *   IDENTITY FULL), one row per source row, duplicates included (see "Keyless tables").
 * - `silver.<name>`: view of the live rows with the columns of the table's current schema
 *   version, in source order: exactly the source table.
 * - `state.<name>__events` and `silver.<name>_history` for history tables: every version with
 *   `valid_from` / `valid_to` (commit times of the changes).
 * - `meta.*`: consumed bronze files, schema versions, silver tables, truncations, run_log,
 *   quality results.
 *
 * Typing: each bronze row is decoded with ITS schema version (`schema_id`): one SELECT branch per
 * version, cast to the silver column's type, which is the current version's. Schema changes
 * evolve the state table: a new column is added (rows last changed before it hold NULL: the
 * quality suite reports them, since an ADD COLUMN default is not in the log); a dropped column
 * leaves the view (state keeps it for older rows); a type change converts the stored values with
 * DuckDB's cast, rows whose value does not convert are listed in `_missing`.
 *
 * Values the log does not carry: a column listed in a row's `unavailable` (an unchanged TOASTed
 * value under REPLICA IDENTITY DEFAULT, header `lakehouse.unavailable`) takes the value of the
 * key's previous version (an earlier event of the batch, else the state row); with none, it stays
 * NULL and is listed in `_missing`, never stored as the placeholder. A value the silver type
 * cannot hold exactly (malformed, NaN in a DECIMAL) is NULL and listed in `_missing` too.
 *
 * Applying a batch of bronze files to a keyed table (one code path for incremental runs and `--full`):
 * 1. stage every c/r/u/d event of the files, typed, in a temporary table, plus a delete of the old
 *    key for each update that changed the primary key; resolve unavailable values;
 * 2. within the batch, keep per key only the event with the greatest (LSN, offset, partition):
 *    this applies the changes in source order and drops re-delivered duplicates (same source
 *    position), so a replay never doubles a row;
 * 3. replace the state rows those winners supersede, and insert the winners of new keys.
 * Truncate events (`op = t`) mark every row older than their LSN deleted. A full rebuild of a
 * table without unavailable values appends straight into the empty state table and compacts in a
 * second transaction ({@link appendIntoEmpty}).
 *
 * Keyless tables: every event is a change of a multiset of rows. Inserts and snapshot rows add
 * their `after` row, deletes remove one row equal to their `before` (the whole old row under
 * REPLICA IDENTITY FULL), updates do both; so silver holds exactly the source's rows, duplicates
 * included. Re-deliveries are dropped by LSN: stream events of a keyless table have distinct
 * LSNs (meta.keyless_lsns remembers the applied ones), while snapshot rows share the snapshot's
 * LSN, so a snapshot sent twice (a restarted snapshot has a new start time, `source_ts_ms`)
 * keeps only its latest attempt.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { exec, queryOne, queryRows, type ProgressListener } from './duck.ts';
import { silverName, type SourceName } from './silver-names.ts';
import { silverColumnType, type SilverColumnType } from './silver-types.ts';
import { ident, literal } from './sql.ts';
import type { SchemaColumn, TableSchema } from './table-schema.ts';

/** A silver column: its source declaration and its DuckDB type. */
export interface SilverColumn {
  name: string;
  /** PostgreSQL type as format_type prints it, e.g. `numeric(12,2)`. */
  pgType: string;
  duckType: string;
  nullable: boolean;
}

/** A silver table and what it is built from. */
export interface SilverTable {
  /** Silver name, e.g. `sport__public__activities` (silver-names.ts). */
  name: string;
  topic: string;
  source: SourceName & {
    /** Primary-key column names, in key order; empty for a keyless table. */
    primaryKey: string[];
    /** Columns of the current schema version, in source order (what `silver.<name>` shows). */
    columns: SilverColumn[];
    replicaIdentity: string;
    /** Generated columns the log does not carry (PostgreSQL < 18). */
    generatedColumns: string[];
    /** Schema id of the current version. */
    schemaId: string;
  };
  /** Every column the state table has (current ones plus dropped ones older rows still hold). */
  stateColumns: SilverColumn[];
  history: boolean;
}

/**
 * Type of `_op` in state tables: the Debezium ops a state row can hold (c, r, u, d) plus t for a
 * row a truncate removed. An ENUM is stored as one byte per row: writing 10M VARCHAR ops cost
 * about as much CPU as a source text column (string statistics and compression analysis).
 */
export const OP_TYPE = "ENUM('c', 'r', 'u', 'd', 't')";

/** Bookkeeping columns of `state.<table>`, in order. */
export const STATE_META_COLUMNS: readonly [string, string][] = [
  ['_op', OP_TYPE],
  ['_lsn', 'BIGINT'],
  ['_partition', 'INTEGER'],
  ['_offset', 'BIGINT'],
  ['_source_ts_ms', 'BIGINT'],
  ['_schema', 'INTEGER'],
  ['_missing', 'VARCHAR[]'],
];

/** SQL predicate: the state row is live (not deleted nor truncated). */
export const LIVE = `_op NOT IN ('d', 't')`;

/** Creates the schemas and bookkeeping tables of the silver database (idempotent). */
export async function ensureSilverCatalog(conn: DuckDBConnection): Promise<void> {
  // A silver database written before schema documents existed (meta.tables) is rebuilt.
  const old = await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'meta' AND table_name = 'tables'`);
  if ((old?.n ?? 0) > 0) {
    await resetSilver(conn);
    await conn.run(`DROP TABLE meta.tables; DROP TABLE IF EXISTS meta.bronze_files; DROP TABLE IF EXISTS meta.truncations`);
  }
  await conn.run(`
    CREATE SCHEMA IF NOT EXISTS meta;
    CREATE SCHEMA IF NOT EXISTS state;
    CREATE SCHEMA IF NOT EXISTS silver;
    CREATE TABLE IF NOT EXISTS meta.silver_tables (
      name VARCHAR, topic VARCHAR, source_name VARCHAR, source_schema VARCHAR, source_table VARCHAR, schema_id VARCHAR,
      primary_key VARCHAR[], columns JSON, state_columns JSON, replica_identity VARCHAR, generated_columns VARCHAR[], history BOOLEAN,
      current_lsn BIGINT);
    -- Every schema version seen, numbered per topic in order of first use (state rows' _schema).
    CREATE TABLE IF NOT EXISTS meta.schemas (topic VARCHAR, schema_id VARCHAR, version INTEGER, document JSON, first_seen_run VARCHAR);
    CREATE TABLE IF NOT EXISTS meta.bronze_files (
      key VARCHAR, manifest_key VARCHAR, topic VARCHAR, "partition" INTEGER, first_offset BIGINT,
      last_offset BIGINT, rows BIGINT, bytes BIGINT, min_kafka_ts_ms BIGINT, max_kafka_ts_ms BIGINT,
      run_id VARCHAR, batch INTEGER);
    CREATE TABLE IF NOT EXISTS meta.truncations (name VARCHAR, lsn BIGINT, run_id VARCHAR);
    CREATE TABLE IF NOT EXISTS meta.keyless_lsns (name VARCHAR, lsn BIGINT);
    -- Set by a run between its two silver transactions; found set at start = that run died there.
    CREATE TABLE IF NOT EXISTS meta.merge_in_progress (run_id VARCHAR, started_at TIMESTAMPTZ);
  `);
}

/** Drops every silver table and forgets every consumed file, for a `--full` rebuild (schema versions are kept). */
export async function resetSilver(conn: DuckDBConnection): Promise<void> {
  const tables = await queryRows<{ schema_name: string; table_name: string }>(
    conn,
    `SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name IN ('state', 'silver')`,
  );
  const views = await queryRows<{ schema_name: string; view_name: string }>(
    conn,
    `SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = current_database() AND schema_name = 'silver' AND NOT internal`,
  );
  for (const v of views) await conn.run(`DROP VIEW IF EXISTS ${ident(v.schema_name)}.${ident(v.view_name)}`);
  for (const t of tables) await conn.run(`DROP TABLE IF EXISTS ${ident(t.schema_name)}.${ident(t.table_name)}`);
  for (const t of ['silver_tables', 'bronze_files', 'truncations', 'keyless_lsns']) {
    const exists = await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'meta' AND table_name = ${literal(t)}`);
    if ((exists?.n ?? 0) > 0) await conn.run(`DELETE FROM meta.${ident(t)}`);
  }
}

/** Last consumed offset per (topic, partition), from meta.bronze_files. */
export async function consumedOffsets(conn: DuckDBConnection): Promise<Map<string, number>> {
  const rows = await queryRows<{ topic: string; partition: number; last: number }>(
    conn,
    `SELECT topic, "partition", max(last_offset) AS last FROM meta.bronze_files GROUP BY ALL`,
  );
  return new Map(rows.map((r) => [`${r.topic}\u0000${r.partition}`, r.last]));
}

/** Key of {@link consumedOffsets}. */
export const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** DuckDB list literal of file paths. */
export function fileList(paths: readonly string[]): string {
  return `[${paths.map(literal).join(', ')}]`;
}

/** Columns of a state table: bookkeeping first, then the source columns typed. */
export function stateTableDdl(table: SilverTable, suffix = ''): string {
  const cols = [...STATE_META_COLUMNS.map(([n, t]) => `${ident(n)} ${t}`), ...table.stateColumns.map((c) => `${ident(c.name)} ${c.duckType}`)];
  return `CREATE TABLE IF NOT EXISTS state.${ident(table.name + suffix)} (${cols.join(', ')})`;
}

/** One schema version of a table and the bronze files holding rows of it. */
export interface VersionInput {
  schema: TableSchema;
  /** meta.schemas version number (the rows' `_schema`). */
  version: number;
  files: readonly string[];
  /** True when the files also hold rows of other versions: the branch filters on `schema_id`. */
  filter: boolean;
  /** Decode the rows whose `schema_id` is NULL (written before schemas travelled) with this version. */
  legacy?: boolean;
}

/** How the bronze files of one topic are read. */
export interface BronzeRead {
  versions: readonly VersionInput[];
  /** Every file of the batch (for counts and truncates). */
  files: readonly string[];
  /** The files have the `schema_id` / `unavailable` columns (bronze written under the schema contract). */
  linked: boolean;
  /** Some files lack `schema_id` (written before schemas travelled): columns are matched by name. */
  unionByName?: boolean;
  /** Some rows carry `unavailable` columns. */
  unavailable: boolean;
}

/** `read_parquet(...)` of `files` as `read` needs it. */
export function readParquet(files: readonly string[], read: Pick<BronzeRead, 'unionByName'>): string {
  return `read_parquet(${fileList(files)}${read.unionByName ? ', union_by_name = true' : ''})`;
}

/** The decoding of `column` of `schema` into silver column `target`. */
function decodeColumn(column: SchemaColumn, schema: TableSchema, target: SilverColumn): { type: SilverColumnType; cast: (typed: string) => string } {
  const type = silverColumnType(column, schema.rendering);
  if (type.duckType === target.duckType) return { type, cast: (t) => t };
  return { type, cast: (t) => `TRY_CAST(${t} AS ${target.duckType})` };
}

/**
 * SELECT of the typed events of one schema version for `table`: bookkeeping columns, the state
 * columns (NULL for columns this version lacks), and `_unavailable` (the columns the log did not
 * carry). The row image is `after` for c/r/u and `before` for d (the key when a delete carries
 * no before image); other ops (t, or an unknown or missing op) have none, so their columns are
 * NULL; `rowsOnly` leaves those events out.
 *
 * One branch per kind of image, each filtering on `op`: DuckDB's Parquet reader decodes a column
 * for every row of a row group it reads, so a single CASE over the three images read `key` and
 * `before` for all 10M activity events to serve their 50k deletes (about 0.5 CPU-seconds); with
 * the filter, the reader skips the pages of those columns where no delete is.
 */
export function typedEventsSql(
  table: SilverTable,
  read: BronzeRead,
  options: { rowsOnly?: boolean; withUnavailable?: boolean; updateBefore?: boolean } = {},
): string {
  const un = read.unavailable && options.withUnavailable === true;
  const branches: string[] = [];
  for (const v of read.versions) {
    const byName = new Map(v.schema.columns.map((c) => [c.name, c]));
    const members: Record<string, unknown> = {};
    const typed: string[] = [];
    const failures: { name: string; sql: string }[] = [];
    for (const target of table.stateColumns) {
      const col = byName.get(target.name);
      if (!col) {
        typed.push(`CAST(NULL AS ${target.duckType}) AS ${ident(target.name)}`);
        continue;
      }
      const { type, cast } = decodeColumn(col, v.schema, target);
      members[col.name] = type.jsonType;
      const ref = `r.${ident(col.name)}`;
      let value = cast(type.expr(ref));
      if (un) value = `CASE WHEN list_contains(_unavailable, ${literal(col.name)}) THEN NULL ELSE ${value} END`;
      typed.push(`${value} AS ${ident(target.name)}`);
      const castFails = type.duckType !== target.duckType;
      if (type.failed || castFails) {
        // Evaluated on the decoded value (outer level): the member was there, the value is not.
        let sql = castFails || !type.failed ? `(${ref} IS NOT NULL AND ${ident(target.name)} IS NULL)` : type.failed(ref, ident(target.name));
        if (un) sql = `(${sql} AND NOT coalesce(list_contains(_unavailable, ${literal(col.name)}), false))`;
        failures.push({ name: col.name, sql });
      }
    }
    const missing = failures.length
      ? `CASE WHEN ${failures.map((f) => f.sql).join(' OR ')} THEN list_filter([${failures.map((f) => `CASE WHEN ${f.sql} THEN ${literal(f.name)} END`).join(', ')}], x -> x IS NOT NULL) END`
      : 'CAST(NULL AS VARCHAR[])';
    const structure = literal(JSON.stringify(members));
    const schemaFilter = !read.linked
      ? ''
      : v.legacy
        ? ` AND (schema_id IS NULL OR schema_id = ${literal(v.schema.schemaId)})`
        : v.filter
          ? ` AND schema_id = ${literal(v.schema.schemaId)}`
          : '';
    const unavailableCol = un ? ', CAST(unavailable AS VARCHAR[]) AS _unavailable' : '';
    const names = table.stateColumns.map((c) => ident(c.name));
    const branch = (image: string, where: string) => `SELECT _op, _lsn, _partition, _offset, _source_ts_ms, ${v.version} AS _schema, ${missing} AS _missing${un ? ', _unavailable' : ''}${names.length ? `, ${names.join(', ')}` : ''}
    FROM (
      SELECT op AS _op, coalesce(lsn, 0) AS _lsn, "partition" AS _partition, "offset" AS _offset, source_ts_ms AS _source_ts_ms${un ? ', _unavailable' : ''}, r${typed.length ? `,\n        ${typed.join(',\n        ')}` : ''}
      FROM (
        SELECT op, lsn, "partition", "offset", source_ts_ms${unavailableCol}, from_json(${image}, ${structure}) AS r
        FROM ${readParquet(v.files, read)}
        WHERE ${where}${schemaFilter}
      )
    )`;
    if (options.updateBefore) {
      branches.push(branch(`CAST("before" AS VARCHAR)`, `op = 'u'`));
      continue;
    }
    branches.push(branch(`CAST("after" AS VARCHAR)`, `op IN ('c', 'r', 'u')`));
    branches.push(branch(`coalesce(CAST("before" AS VARCHAR), CAST("key" AS VARCHAR))`, `op = 'd'`));
  }
  if (!options.rowsOnly && !options.updateBefore) {
    const nulls = table.stateColumns.map((c) => `CAST(NULL AS ${c.duckType}) AS ${ident(c.name)}`);
    branches.push(`SELECT op AS _op, coalesce(lsn, 0) AS _lsn, "partition" AS _partition, "offset" AS _offset, source_ts_ms AS _source_ts_ms,
      CAST(NULL AS INTEGER) AS _schema, CAST(NULL AS VARCHAR[]) AS _missing${un ? ', CAST(NULL AS VARCHAR[]) AS _unavailable' : ''}${nulls.length ? `, ${nulls.join(', ')}` : ''}
    FROM ${readParquet(read.files, read)}
    WHERE op IS NULL OR op NOT IN ('c', 'r', 'u', 'd')`);
  }
  return branches.join('\n    UNION ALL\n    ');
}

/**
 * SELECT of the deletes implied by updates that changed the primary key: the old key, from the
 * `before` image, at the update's position.
 */
export function keyChangeDeletesSql(table: SilverTable, read: BronzeRead): string {
  const pk = table.source.primaryKey;
  const branches = read.versions.map((v) => {
    const pkCols = pk.map((k) => v.schema.columns.find((c) => c.name === k)).filter((c): c is SchemaColumn => c !== undefined);
    const targets = pkCols.map((c) => table.stateColumns.find((s) => s.name === c.name)!);
    const structure = literal(JSON.stringify(Object.fromEntries(pkCols.map((c) => [c.name, silverColumnType(c, v.schema.rendering).jsonType]))));
    const typed = (img: string) => pkCols.map((c, i) => decodeColumn(c, v.schema, targets[i]!).cast(silverColumnType(c, v.schema.rendering).expr(`${img}.${ident(c.name)}`)));
    const changed = pkCols.map((_, i) => `${typed('b')[i]} IS DISTINCT FROM ${typed('a')[i]}`).join(' OR ') || 'false';
    const schemaFilter = !read.linked ? '' : v.filter || v.legacy ? ` AND ${v.legacy ? `(schema_id IS NULL OR schema_id = ${literal(v.schema.schemaId)})` : `schema_id = ${literal(v.schema.schemaId)}`}` : '';
    return `SELECT 'd' AS _op, coalesce(lsn, 0) AS _lsn, "partition" AS _partition, "offset" AS _offset, source_ts_ms AS _source_ts_ms, ${v.version} AS _schema,
      ${pkCols.map((c, i) => `${typed('b')[i]} AS ${ident(c.name)}`).join(', ')}
    FROM (
      SELECT op, lsn, "partition", "offset", source_ts_ms,
        from_json(CAST("before" AS VARCHAR), ${structure}) AS b, from_json(CAST("after" AS VARCHAR), ${structure}) AS a
      FROM ${readParquet(v.files, read)}
      WHERE op = 'u' AND "before" IS NOT NULL${schemaFilter}
    )
    WHERE ${changed}`;
  });
  return branches.join('\n    UNION ALL\n    ');
}

/** ORDER BY of source order, newest first. */
const NEWEST_FIRST = '_lsn DESC, _offset DESC, _partition DESC';

/**
 * SELECT of the rowids of staged events that lose to a newer event of the same key in the
 * batch. `candidates` is a SELECT of the keys that may have several events (see the module comment).
 */
export function losersSql(table: SilverTable, stage: string, candidates: string): string {
  const pk = table.source.primaryKey.map(ident).join(', ');
  return `SELECT rid FROM (
      SELECT s.rowid AS rid, row_number() OVER (PARTITION BY ${pk} ORDER BY ${NEWEST_FIRST}) AS rn
      FROM ${stage} s SEMI JOIN (${candidates}) USING (${pk})
    ) WHERE rn > 1`;
}

/** Keys that may have several events: every key seen more than once (one full group-by). */
export function allDuplicateKeysSql(table: SilverTable, stage: string): string {
  const pk = table.source.primaryKey.map(ident).join(', ');
  return `SELECT ${pk} FROM ${stage} GROUP BY ALL HAVING count(*) > 1`;
}

/** Keys that may have several events when inserts/snapshots are known to be unique: keys updated or deleted. */
export function changedKeysSql(table: SilverTable, stage: string): string {
  const pk = table.source.primaryKey.map(ident).join(', ');
  return `SELECT DISTINCT ${pk} FROM ${stage} WHERE _op NOT IN ('c', 'r')`;
}

/** A source position `a` newer than `b` (both table aliases with _lsn, _offset, _partition). */
export function newerSql(a: string, b: string): string {
  return `(${a}._lsn > ${b}._lsn OR (${a}._lsn = ${b}._lsn AND (${a}._offset > ${b}._offset OR (${a}._offset = ${b}._offset AND ${a}._partition > ${b}._partition))))`;
}

/** DELETE of duplicate events (same key, LSN and op: a re-delivery) in a history events table. */
export function eventDedupSql(table: SilverTable): string {
  const name = `state.${ident(`${table.name}__events`)}`;
  const pk = table.source.primaryKey.map(ident).join(', ');
  return `DELETE FROM ${name} WHERE rowid IN (
    SELECT rid FROM (
      SELECT rowid AS rid, row_number() OVER (PARTITION BY ${pk}, _lsn, _op ORDER BY _offset DESC, _partition DESC) AS rn FROM ${name}
    ) WHERE rn > 1)`;
}

/** The `silver.<table>` view: live rows, the current version's columns, plus when and where they last changed. */
export function currentViewSql(table: SilverTable): string {
  const cols = table.source.columns.map((c) => ident(c.name)).join(', ');
  return `CREATE OR REPLACE VIEW silver.${ident(table.name)} AS
    SELECT ${cols}${cols ? ', ' : ''}make_timestamptz(_source_ts_ms * 1000) AS _changed_at, _lsn
    FROM state.${ident(table.name)} WHERE ${LIVE}`;
}

/**
 * `silver.<table>_history`: one row per version, valid from the commit time of the change that
 * produced it until the commit time of the next change (update or delete) of the same key;
 * `valid_to` NULL and `is_current` true for the live version. Snapshot rows (op r) start at the
 * snapshot's time, the earliest the lake knows of.
 */
export function historySql(table: SilverTable): string {
  const cols = table.source.columns.map((c) => ident(c.name)).join(', ');
  const pk = table.source.primaryKey.map(ident).join(', ');
  return `CREATE OR REPLACE TABLE silver.${ident(`${table.name}_history`)} AS
    SELECT ${cols}, valid_from, valid_to, valid_to IS NULL AS is_current, CAST(_op AS VARCHAR) AS change_op, _lsn
    FROM (
      SELECT *, make_timestamptz(_source_ts_ms * 1000) AS valid_from,
        lead(make_timestamptz(_source_ts_ms * 1000)) OVER (PARTITION BY ${pk} ORDER BY _lsn, _offset, _partition) AS valid_to
      FROM state.${ident(`${table.name}__events`)}
    )
    WHERE _op <> 'd'
    ORDER BY ${pk}, valid_from`;
}

/** What one table's merge did. */
export interface TableMergeResult {
  name: string;
  topic: string;
  files: number;
  eventsRead: number;
  keyChangeDeletes: number;
  superseded: number;
  /** State rows written (new keys and replacements). */
  inserted: number;
  truncatedRows: number;
  /** Events whose row image had no usable primary key (kept out of state, counted here). */
  unkeyed: number;
  /** Kafka positions of up to 20 of those events, to find them in bronze. */
  unkeyedPositions: { partition: number; offset: number }[];
  /** Unavailable (unchanged TOAST) values taken from the key's previous version. */
  resolvedUnavailable: number;
  /** Keyless tables: removals (delete, update) of a row silver does not hold, with up to 5 samples. */
  unmatchedRemovals: number;
  unmatchedSamples: unknown[];
  liveRows: number;
  opCounts: Record<string, number>;
}

export interface FileStat {
  file: string;
  rows: number;
}

/** Rows per file, from the Parquet footers (no data is read). */
export async function rowsPerFile(conn: DuckDBConnection, files: readonly string[]): Promise<FileStat[]> {
  const rows = await queryRows<{ file_name: string; num_rows: number }>(conn, `SELECT file_name, num_rows FROM parquet_file_metadata(${fileList(files)})`);
  const byFile = new Map(rows.map((r) => [r.file_name, r.num_rows]));
  return files.map((file) => ({ file, rows: byFile.get(file) ?? 0 }));
}

/** A schema change the state table went through in this run (reported by the refresh). */
export interface SchemaChange {
  table: string;
  kind: 'added' | 'dropped' | 'type_changed';
  column: string;
  from?: string;
  to?: string;
  /** type_changed: stored values that did not convert (listed in their rows' `_missing`). */
  unconverted?: number;
}

/** The silver column of `column` in `schema`. */
export function silverColumn(column: SchemaColumn, schema: TableSchema): SilverColumn {
  return { name: column.name, pgType: column.pgType, duckType: silverColumnType(column, schema.rendering).duckType, nullable: column.nullable };
}

/**
 * Works out the silver table of a topic from its current schema version and persists it in
 * meta.silver_tables; creates the state table or evolves it (columns added, types changed; see
 * the module comment).
 * @param history keep `state.<name>__events` and `silver.<name>_history` (a data product asks for it)
 * @returns the table and the schema changes applied
 */
export async function resolveTable(
  conn: DuckDBConnection,
  topic: string,
  current: TableSchema,
  all: readonly TableSchema[],
  currentLsn: number,
  history: boolean,
): Promise<{ table: SilverTable; changes: SchemaChange[] }> {
  const source: SourceName = { source: current.source.name, schema: current.source.schema, table: current.source.table };
  const name = silverName(source);
  const stored = await queryOne<{ state_columns: string; columns: string }>(
    conn,
    `SELECT state_columns::VARCHAR AS state_columns, columns::VARCHAR AS columns FROM meta.silver_tables WHERE name = ${literal(name)}`,
  );
  const storedColumns: SilverColumn[] = stored ? JSON.parse(stored.state_columns) : [];
  const previousView: SilverColumn[] = stored ? JSON.parse(stored.columns) : [];
  const columns = current.columns.map((c) => silverColumn(c, current));
  // State columns: the stored ones (types updated to the current version's), then new ones from any version.
  const stateColumns: SilverColumn[] = storedColumns.map((s) => columns.find((c) => c.name === s.name) ?? s);
  for (const schema of [current, ...all]) {
    for (const c of schema.columns) if (!stateColumns.some((s) => s.name === c.name)) stateColumns.push(silverColumn(c, schema));
  }
  const table: SilverTable = {
    name,
    topic,
    source: {
      ...source,
      primaryKey: [...current.primaryKey],
      columns,
      replicaIdentity: current.replicaIdentity,
      generatedColumns: [...current.generatedColumns],
      schemaId: current.schemaId,
    },
    stateColumns,
    history: history && current.primaryKey.length > 0,
  };
  const changes: SchemaChange[] = [];
  for (const suffix of table.history ? ['', '__events'] : ['']) {
    const rel = `state.${ident(name + suffix)}`;
    const existing = new Map(
      (
        await queryRows<{ column_name: string; data_type: string }>(
          conn,
          `SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'state' AND table_name = ${literal(name + suffix)}`,
        )
      ).map((r) => [r.column_name, r.data_type]),
    );
    if (existing.size === 0) {
      await conn.run(stateTableDdl(table, suffix));
      continue;
    }
    for (const c of stateColumns) {
      const had = existing.get(c.name);
      if (had === undefined) {
        await conn.run(`ALTER TABLE ${rel} ADD COLUMN ${ident(c.name)} ${c.duckType}`);
        if (suffix === '') changes.push({ table: name, kind: 'added', column: c.name, to: c.pgType });
      } else if (normalizeType(had) !== normalizeType(c.duckType)) {
        // Values stored with the old type are converted; those that do not convert are listed in _missing.
        const col = ident(c.name);
        const unconverted = await exec(conn, `UPDATE ${rel} SET _missing = list_distinct(list_append(coalesce(_missing, []), ${literal(c.name)})) WHERE ${col} IS NOT NULL AND TRY_CAST(${col} AS ${c.duckType}) IS NULL`);
        await conn.run(`ALTER TABLE ${rel} ALTER COLUMN ${col} SET DATA TYPE ${c.duckType} USING TRY_CAST(${col} AS ${c.duckType})`);
        const from = storedColumns.find((s) => s.name === c.name)?.pgType ?? had;
        if (suffix === '') changes.push({ table: name, kind: 'type_changed', column: c.name, from, to: c.pgType, unconverted });
      }
    }
  }
  for (const p of previousView) if (!columns.some((c) => c.name === p.name)) changes.push({ table: name, kind: 'dropped', column: p.name, from: p.pgType });
  await conn.run(`DELETE FROM meta.silver_tables WHERE name = ${literal(name)}`);
  await conn.run(
    `INSERT INTO meta.silver_tables VALUES (${literal(name)}, ${literal(topic)}, ${literal(source.source)}, ${literal(source.schema)}, ${literal(source.table)}, ${literal(current.schemaId)},
      [${table.source.primaryKey.map(literal).join(', ')}]::VARCHAR[], ${literal(JSON.stringify(columns))}, ${literal(JSON.stringify(stateColumns))},
      ${literal(current.replicaIdentity)}, [${current.generatedColumns.map(literal).join(', ')}]::VARCHAR[], ${table.history}, ${currentLsn})`,
  );
  return { table, changes };
}

function normalizeType(t: string): string {
  return t.toUpperCase().replace(/\s+/g, '').replace('TIMESTAMPWITHTIMEZONE', 'TIMESTAMPTZ').replace('TIMEWITHTIMEZONE', 'TIMETZ');
}

/**
 * Resolves unavailable values in a stage: each column listed in a staged row's `_unavailable`
 * takes the value of the key's previous version (the newest earlier staged event of the key with
 * the column available, else the live state row); with none, it stays NULL and joins `_missing`.
 * @returns how many values were resolved
 */
async function resolveUnavailable(conn: DuckDBConnection, table: SilverTable, stage: string): Promise<number> {
  const cols = (await queryRows<{ c: string }>(conn, `SELECT DISTINCT unnest(_unavailable) AS c FROM ${stage} WHERE _unavailable IS NOT NULL`)).map((r) => r.c);
  const pk = table.source.primaryKey;
  const known = cols.filter((c) => table.stateColumns.some((s) => s.name === c));
  if (known.length === 0 || pk.length === 0) {
    if (cols.length > 0) {
      await exec(conn, `UPDATE ${stage} SET _missing = list_distinct(list_concat(coalesce(_missing, []), _unavailable)) WHERE _unavailable IS NOT NULL`);
    }
    return 0;
  }
  const pkList = pk.map(ident).join(', ');
  let resolved = 0;
  for (const c of known) {
    const col = ident(c);
    // Candidates in source order: the state row (oldest), then the staged events. A candidate
    // offers its value when the column is available in it; a delete offers "no value".
    const offer = (unavailable: string, op: string) =>
      `CASE WHEN ${op} IN ('d', 't') THEN struct_pack(has := false, v := CAST(NULL AS ${table.stateColumns.find((s) => s.name === c)!.duckType}), miss := true)
            WHEN NOT coalesce(list_contains(${unavailable}, ${literal(c)}), false) THEN struct_pack(has := true, v := ${col}, miss := coalesce(list_contains(_missing, ${literal(c)}), false)) END`;
    const updated = await exec(
      conn,
      `UPDATE ${stage} SET ${col} = CASE WHEN p.prev.has THEN p.prev.v END,
         _missing = CASE WHEN p.prev.has AND NOT p.prev.miss THEN nullif(list_filter(coalesce(_missing, []), x -> x <> ${literal(c)}), [])
                         ELSE list_distinct(list_append(coalesce(_missing, []), ${literal(c)})) END
       FROM (
         SELECT rid, prev FROM (
           SELECT rid, unav, last_value(o IGNORE NULLS) OVER (PARTITION BY ${pkList} ORDER BY _lsn, _offset, _partition, seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev
           FROM (
             SELECT NULL AS rid, false AS unav, 0 AS seq, _lsn, _offset, _partition, ${pkList}, ${offer('CAST(NULL AS VARCHAR[])', '_op')} AS o
             FROM state.${ident(table.name)} s SEMI JOIN (SELECT ${pkList} FROM ${stage} WHERE list_contains(_unavailable, ${literal(c)})) USING (${pkList})
             UNION ALL
             SELECT rowid, coalesce(list_contains(_unavailable, ${literal(c)}), false), 1, _lsn, _offset, _partition, ${pkList}, ${offer('_unavailable', '_op')}
             FROM ${stage} SEMI JOIN (SELECT ${pkList} FROM ${stage} WHERE list_contains(_unavailable, ${literal(c)})) USING (${pkList})
           )
         ) WHERE unav
       ) p
       WHERE ${stage}.rowid = p.rid`,
    );
    const r = await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${stage} WHERE list_contains(_unavailable, ${literal(c)}) AND NOT coalesce(list_contains(_missing, ${literal(c)}), false)`);
    resolved += Math.min(updated, r?.n ?? 0);
  }
  return resolved;
}

/**
 * Applies the bronze files of one topic to the table's state, as described in the module comment.
 * @param fullRebuild the state table is empty (first run or `--full`): winners are inserted
 *   without looking for state rows to replace.
 * @returns what was done, and the rows read per file (for the manifest reconciliation).
 */
export async function mergeFiles(
  conn: DuckDBConnection,
  table: SilverTable,
  read: BronzeRead,
  runId: string,
  options: { fullRebuild: boolean; onProgress?: ProgressListener },
): Promise<TableMergeResult & { perFile: FileStat[]; pending?: PendingCompaction }> {
  if (table.source.primaryKey.length === 0) return mergeKeyless(conn, table, read, runId, options);
  if (options.fullRebuild && !table.history && !read.unavailable) return appendIntoEmpty(conn, table, read, options);
  const name = `state.${ident(table.name)}`;
  const stage = `stage_${table.name}`;
  const pk = table.source.primaryKey;
  const pkList = pk.map(ident).join(', ');
  const pkNull = pk.map((k) => `${ident(k)} IS NULL`).join(' OR ') || 'false';
  const columns = [...STATE_META_COLUMNS.map(([n]) => n), ...table.stateColumns.map((c) => c.name)].map(ident).join(', ');

  const eventsRead = await exec(conn, `CREATE OR REPLACE TEMP TABLE ${stage} AS ${typedEventsSql(table, read, { withUnavailable: true })}`, `silver ${table.name}: typing events`, options.onProgress);
  const perFile = await rowsPerFile(conn, read.files);
  const opRows = await queryRows<{ op: string | null; n: number; max_lsn: number | null }>(conn, `SELECT _op AS op, count(*) AS n, max(_lsn) AS max_lsn FROM ${stage} GROUP BY ALL`);
  const ops = Object.fromEntries(opRows.map((r) => [r.op ?? '(null)', r.n]));
  const truncateLsn = opRows.find((r) => r.op === 't')?.max_lsn ?? null;
  // Truncates were noted above; they and any unknown op carry no row.
  await exec(conn, `DELETE FROM ${stage} WHERE _op IS NULL OR _op NOT IN ('c', 'r', 'u', 'd')`);
  let keyChangeDeletes = 0;
  if ((ops.u ?? 0) > 0) {
    const pkCols = table.stateColumns.filter((c) => pk.includes(c.name)).map((c) => ident(c.name));
    keyChangeDeletes = await exec(conn, `INSERT INTO ${stage} (${[...STATE_META_COLUMNS.filter(([n]) => n !== '_missing').map(([n]) => ident(n)), ...pkCols].join(', ')}) ${keyChangeDeletesSql(table, read)}`);
  }
  let unkeyed = 0;
  let unkeyedPositions: { partition: number; offset: number }[] = [];
  unkeyedPositions = await queryRows(conn, `SELECT _partition AS "partition", _offset AS "offset" FROM ${stage} WHERE ${pkNull} ORDER BY ALL LIMIT 20`);
  if (unkeyedPositions.length > 0) unkeyed = await exec(conn, `DELETE FROM ${stage} WHERE ${pkNull}`);
  const resolvedUnavailable = read.unavailable ? await resolveUnavailable(conn, table, stage) : 0;
  if (table.history) {
    await exec(conn, `INSERT INTO state.${ident(`${table.name}__events`)} (${columns}) SELECT ${columns} FROM ${stage}`);
    await exec(conn, eventDedupSql(table));
  }

  let superseded = 0;
  const candidates = (await insertsAreUnique(conn, table, stage)) ? changedKeysSql(table, stage) : allDuplicateKeysSql(table, stage);
  superseded += await exec(conn, `DELETE FROM ${stage} WHERE rowid IN (${losersSql(table, stage, candidates)})`, `silver ${table.name}: applying changes in source order`, options.onProgress);
  if (!options.fullRebuild) {
    superseded += await exec(
      conn,
      `DELETE FROM ${name} s USING ${stage} w WHERE ${pk.map((k) => `s.${ident(k)} = w.${ident(k)}`).join(' AND ')} AND ${newerSql('w', 's')}`,
      `silver ${table.name}: replacing superseded rows`,
      options.onProgress,
    );
  }
  const inserted = await exec(
    conn,
    options.fullRebuild
      ? `INSERT INTO ${name} (${columns}) SELECT ${columns} FROM ${stage}`
      : `INSERT INTO ${name} (${columns}) SELECT ${columns} FROM ${stage} ANTI JOIN ${name} USING (${pkList})`,
    `silver ${table.name}: writing`,
    options.onProgress,
  );
  await conn.run(`DROP TABLE IF EXISTS ${stage}`);

  const truncatedRows = await applyTruncations(conn, table, truncateLsn, runId);
  await conn.run(currentViewSql(table));
  if (table.history) await exec(conn, historySql(table));
  const live = await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${name} WHERE ${LIVE}`);
  return {
    name: table.name,
    topic: table.topic,
    files: read.files.length,
    eventsRead,
    keyChangeDeletes,
    superseded,
    inserted,
    truncatedRows,
    unkeyed,
    unkeyedPositions,
    resolvedUnavailable,
    unmatchedRemovals: 0,
    unmatchedSamples: [],
    liveRows: live?.n ?? 0,
    opCounts: ops,
    perFile,
  };
}

/** Records a truncate of this batch and marks every row older than the newest truncate deleted. */
async function applyTruncations(conn: DuckDBConnection, table: SilverTable, truncateLsn: number | null, runId: string): Promise<number> {
  if (truncateLsn !== null) await conn.run(`INSERT INTO meta.truncations VALUES (${literal(table.name)}, ${truncateLsn}, ${literal(runId)})`);
  const watermark = await queryOne<{ lsn: number | null }>(conn, `SELECT max(lsn) AS lsn FROM meta.truncations WHERE name = ${literal(table.name)}`);
  if (watermark?.lsn == null) return 0;
  return exec(conn, `UPDATE state.${ident(table.name)} SET _op = 't' WHERE ${LIVE} AND _lsn < ${watermark.lsn}`);
}

/**
 * Applies a batch to a keyless table (see "Keyless tables" in the module comment): the batch's
 * changes as a multiset difference (rows added minus rows removed, per distinct row), applied to
 * the state's live rows. Removals of rows the state does not hold are counted and sampled.
 */
async function mergeKeyless(
  conn: DuckDBConnection,
  table: SilverTable,
  read: BronzeRead,
  runId: string,
  options: { onProgress?: ProgressListener },
): Promise<TableMergeResult & { perFile: FileStat[] }> {
  const name = `state.${ident(table.name)}`;
  const stage = `stage_${table.name}`;
  const meta = STATE_META_COLUMNS.filter(([n]) => n !== '_missing').map(([n]) => ident(n));
  const cols = table.stateColumns.map((c) => ident(c.name));
  const colList = [...cols, '_missing'].join(', ');
  // Row images: `after` of c/r/u as additions (+1), `before` of d and u as removals (-1).
  const eventsRead = await exec(
    conn,
    `CREATE OR REPLACE TEMP TABLE ${stage} AS
      SELECT *, CASE WHEN _op = 'd' THEN -1 ELSE 1 END AS _sign FROM (${typedEventsSql(table, read, { withUnavailable: true })})`,
    `silver ${table.name}: typing events`,
    options.onProgress,
  );
  await exec(conn, `INSERT INTO ${stage} SELECT *, -1 AS _sign FROM (${typedEventsSql(table, read, { withUnavailable: true, updateBefore: true })})`);
  const perFile = await rowsPerFile(conn, read.files);
  const opRows = await queryRows<{ op: string | null; n: number; max_lsn: number | null }>(conn, `SELECT _op AS op, count(*) FILTER (WHERE _sign = 1 OR _op = 'd') AS n, max(_lsn) AS max_lsn FROM ${stage} GROUP BY ALL`);
  const ops = Object.fromEntries(opRows.filter((r) => r.n > 0).map((r) => [r.op ?? '(null)', r.n]));
  const truncateLsn = opRows.find((r) => r.op === 't')?.max_lsn ?? null;
  await exec(conn, `DELETE FROM ${stage} WHERE _op IS NULL OR _op NOT IN ('c', 'r', 'u', 'd')`);
  // Re-deliveries: a stream event whose LSN was applied before (or is repeated in the batch).
  await exec(conn, `DELETE FROM ${stage} s USING meta.keyless_lsns k WHERE k.name = ${literal(table.name)} AND s._op IN ('c', 'u', 'd') AND s._lsn = k.lsn`);
  await exec(
    conn,
    `DELETE FROM ${stage} WHERE rowid IN (SELECT rid FROM (
      SELECT rowid AS rid, row_number() OVER (PARTITION BY _lsn, _sign ORDER BY _offset DESC, _partition DESC) AS rn FROM ${stage} WHERE _op IN ('c', 'u', 'd')) WHERE rn > 1)`,
  );
  // A snapshot sent twice: only the newest attempt (snapshot start time) of each snapshot LSN counts,
  // in this batch and against the state.
  await exec(
    conn,
    `DELETE FROM ${stage} s WHERE _op = 'r' AND _source_ts_ms < (SELECT max(_source_ts_ms) FROM ${stage} x WHERE x._op = 'r' AND x._lsn = s._lsn)`,
  );
  await exec(
    conn,
    `DELETE FROM ${name} s WHERE _op = 'r' AND EXISTS (SELECT 1 FROM ${stage} x WHERE x._op = 'r' AND x._lsn = s._lsn AND x._source_ts_ms > s._source_ts_ms)`,
  );
  await exec(conn, `INSERT INTO meta.keyless_lsns SELECT DISTINCT ${literal(table.name)}, _lsn FROM ${stage} WHERE _op IN ('c', 'u', 'd')`);

  // A truncate in the batch empties the table as of its LSN: earlier changes of the batch no longer count.
  const truncatedRows = await applyTruncations(conn, table, truncateLsn, runId);
  const watermark = await queryOne<{ lsn: number | null }>(conn, `SELECT max(lsn) AS lsn FROM meta.truncations WHERE name = ${literal(table.name)}`);
  if (watermark?.lsn != null) await exec(conn, `DELETE FROM ${stage} WHERE _lsn < ${watermark.lsn}`);

  // Net change per distinct row; rows are compared whole (NULLs equal, as GROUP BY does).
  const groupCols = cols.length ? cols.join(', ') : 'NULL';
  await exec(
    conn,
    `CREATE OR REPLACE TEMP TABLE ${stage}_net AS
      SELECT ${cols.length ? `${cols.join(', ')}, ` : ''}CAST(sum(_sign) AS BIGINT) AS net, max(_lsn) AS _lsn, arg_max(_offset, _lsn) AS _offset, arg_max(_partition, _lsn) AS _partition,
        arg_max(_source_ts_ms, _lsn) AS _source_ts_ms, arg_max(_schema, _lsn) AS _schema, arg_max(_op, _lsn) AS _op, arg_max(_missing, _lsn) AS _missing
      FROM ${stage} GROUP BY ${groupCols} HAVING sum(_sign) <> 0`,
  );
  // Removals: as many live state rows equal to the row as the net is below zero.
  const eq = cols.length ? cols.map((c) => `s.${c} IS NOT DISTINCT FROM n.${c}`).join(' AND ') : 'true';
  const removed = await exec(
    conn,
    `UPDATE ${name} SET _op = 'd' WHERE rowid IN (
      SELECT rid FROM (
        SELECT s.rowid AS rid, n.net, row_number() OVER (PARTITION BY ${cols.length ? cols.map((c) => `s.${c}`).join(', ') : 'NULL'} ORDER BY s._lsn, s.rowid) AS rn
        FROM ${name} s JOIN ${stage}_net n ON ${eq}
        WHERE s._op NOT IN ('d', 't') AND n.net < 0
      ) WHERE rn <= -net)`,
  );
  const wanted = await queryOne<{ n: number }>(conn, `SELECT coalesce(-sum(net), 0) AS n FROM ${stage}_net WHERE net < 0`);
  const unmatchedRemovals = (wanted?.n ?? 0) - removed;
  const unmatchedSamples =
    unmatchedRemovals > 0 ? (await queryRows<{ row: string }>(conn, `SELECT to_json(n)::VARCHAR AS row FROM ${stage}_net n WHERE net < 0 LIMIT 5`)).map((r) => JSON.parse(r.row)) : [];
  // Additions: one state row per unit of positive net.
  const inserted = await exec(
    conn,
    `INSERT INTO ${name} (${[...meta, colList].join(', ')})
      SELECT CASE WHEN _op = 'r' THEN 'r' ELSE 'c' END, _lsn, _partition, _offset, _source_ts_ms, _schema, ${colList}
      FROM ${stage}_net, range(net) WHERE net > 0`,
  );
  // Tombstones of keyless rows carry nothing a later run needs.
  await exec(conn, `DELETE FROM ${name} WHERE _op IN ('d', 't')`);
  await conn.run(`DROP TABLE IF EXISTS ${stage}; DROP TABLE IF EXISTS ${stage}_net`);
  await conn.run(currentViewSql(table));
  const live = await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${name} WHERE ${LIVE}`);
  return {
    name: table.name,
    topic: table.topic,
    files: read.files.length,
    eventsRead,
    keyChangeDeletes: 0,
    superseded: removed,
    inserted,
    truncatedRows,
    unkeyed: 0,
    unkeyedPositions: [],
    resolvedUnavailable: 0,
    unmatchedRemovals,
    unmatchedSamples,
    liveRows: live?.n ?? 0,
    opCounts: ops,
    perFile,
  };
}

/** What {@link compactAppended} needs to finish a table written by the append path. */
export interface PendingCompaction {
  table: SilverTable;
  truncateLsn: number | null;
}

/**
 * First half of a full rebuild of an empty state table, without staging the wide rows: every
 * event with a row is parsed, typed and written straight from Parquet (plus the old-key deletes of
 * key-changing updates). Superseded rows are removed by {@link compactAppended} in a following
 * transaction: deleting rows written in the same transaction would make DuckDB rewrite them all
 * at commit, while deleting committed rows only marks them.
 */
async function appendIntoEmpty(
  conn: DuckDBConnection,
  table: SilverTable,
  read: BronzeRead,
  options: { onProgress?: ProgressListener },
): Promise<TableMergeResult & { perFile: FileStat[]; pending: PendingCompaction }> {
  const name = `state.${ident(table.name)}`;
  const pk = table.source.primaryKey;
  const columns = [...STATE_META_COLUMNS.map(([n]) => n), ...table.stateColumns.map((c) => c.name)].map(ident).join(', ');
  const written = await exec(
    conn,
    `INSERT INTO ${name} (${columns}) ${typedEventsSql(table, read, { rowsOnly: true })}`,
    `silver ${table.name}: typing and writing`,
    options.onProgress,
  );
  // Events without a row (truncates, unknown ops) are looked for in bronze only when the files
  // (Parquet footers) hold more rows than were written.
  const perFile = await rowsPerFile(conn, read.files);
  const withoutRow = perFile.reduce((a, f) => a + f.rows, 0) > written;
  const opRows = await queryRows<{ op: string | null; n: number; max_lsn: number | null }>(
    conn,
    `${withoutRow ? `SELECT op, count(*) AS n, max(lsn) AS max_lsn FROM ${readParquet(read.files, read)} WHERE op IS NULL OR op NOT IN ('c', 'r', 'u', 'd') GROUP BY ALL UNION ALL ` : ''}
     SELECT CAST(_op AS VARCHAR) AS op, count(*) AS n, NULL AS max_lsn FROM ${name} GROUP BY ALL`,
  );
  const ops = Object.fromEntries(opRows.map((r) => [r.op ?? '(null)', r.n]));
  let keyChangeDeletes = 0;
  if ((ops.u ?? 0) > 0) {
    const pkCols = table.stateColumns.filter((c) => pk.includes(c.name)).map((c) => ident(c.name));
    keyChangeDeletes = await exec(conn, `INSERT INTO ${name} (${[...STATE_META_COLUMNS.filter(([n]) => n !== '_missing').map(([n]) => ident(n)), ...pkCols].join(', ')}) ${keyChangeDeletesSql(table, read)}`);
  }
  return {
    name: table.name,
    topic: table.topic,
    files: read.files.length,
    eventsRead: opRows.reduce((a, r) => a + r.n, 0),
    keyChangeDeletes,
    superseded: 0,
    inserted: written + keyChangeDeletes,
    truncatedRows: 0,
    unkeyed: 0,
    unkeyedPositions: [],
    resolvedUnavailable: 0,
    unmatchedRemovals: 0,
    unmatchedSamples: [],
    liveRows: 0,
    opCounts: ops,
    perFile,
    pending: { table, truncateLsn: opRows.find((r) => r.op === 't')?.max_lsn ?? null },
  };
}

/**
 * Second half of the append path, in its own transaction: drops rows without a key and every row
 * superseded by a newer event of its key (same rules as the staged path), applies truncates,
 * and (re)creates the view. Updates `result` in place.
 */
export async function compactAppended(conn: DuckDBConnection, pending: PendingCompaction, runId: string, result: TableMergeResult, onProgress?: ProgressListener): Promise<void> {
  const { table } = pending;
  const name = `state.${ident(table.name)}`;
  const pkNull = table.source.primaryKey.map((k) => `${ident(k)} IS NULL`).join(' OR ');
  result.unkeyedPositions = await queryRows(conn, `SELECT _partition AS "partition", _offset AS "offset" FROM ${name} WHERE ${pkNull} ORDER BY ALL LIMIT 20`);
  if (result.unkeyedPositions.length > 0) result.unkeyed = await exec(conn, `DELETE FROM ${name} WHERE ${pkNull}`);
  const candidates = (await insertsAreUnique(conn, table, name)) ? changedKeysSql(table, name) : allDuplicateKeysSql(table, name);
  result.superseded = await exec(conn, `DELETE FROM ${name} WHERE rowid IN (${losersSql(table, name, candidates)})`, `silver ${table.name}: applying changes in source order`, onProgress);
  result.inserted -= result.superseded + result.unkeyed;
  result.truncatedRows = await applyTruncations(conn, table, pending.truncateLsn, runId);
  await conn.run(currentViewSql(table));
  result.liveRows = (await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${name} WHERE ${LIVE}`))?.n ?? 0;
}

/**
 * True when the insert/snapshot events of the stage have distinct keys, checked with a bitmap
 * over the key range (one integer key column spanning at most 2^28 values); false when that
 * cannot be shown cheaply (then every key is grouped).
 */
export async function insertsAreUnique(conn: DuckDBConnection, table: SilverTable, stage: string): Promise<boolean> {
  if (table.source.primaryKey.length !== 1) return false;
  const k = ident(table.source.primaryKey[0]!);
  const r = await queryOne<{ lo: number | string | null; hi: number | string | null; n: number; t: string | null }>(
    conn,
    `SELECT min(${k}) AS lo, max(${k}) AS hi, count(${k}) AS n, typeof(min(${k})) AS t FROM ${stage} WHERE _op IN ('c', 'r')`,
  );
  if (!r || r.n === 0) return true;
  if (!r.t || !['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT'].includes(r.t) || typeof r.lo !== 'number' || typeof r.hi !== 'number') return false;
  if (r.hi - r.lo >= 2 ** 28) return false;
  const d = await queryOne<{ d: number }>(conn, `SELECT bit_count(bitstring_agg(${k}, ${r.lo}, ${r.hi})) AS d FROM ${stage} WHERE _op IN ('c', 'r')`);
  return d?.d === r.n;
}

/** The silver tables recorded in meta.silver_tables (after any merge). */
export async function silverTables(conn: DuckDBConnection): Promise<SilverTable[]> {
  const rows = await queryRows<{
    name: string;
    topic: string;
    source_name: string;
    source_schema: string;
    source_table: string;
    schema_id: string;
    primary_key: string[];
    columns: string;
    state_columns: string;
    replica_identity: string;
    generated_columns: string[];
    history: boolean;
  }>(
    conn,
    `SELECT name, topic, source_name, source_schema, source_table, schema_id, primary_key, columns::VARCHAR AS columns, state_columns::VARCHAR AS state_columns,
       replica_identity, generated_columns, history FROM meta.silver_tables ORDER BY name`,
  );
  return rows.map((r) => ({
    name: r.name,
    topic: r.topic,
    history: r.history,
    stateColumns: JSON.parse(r.state_columns),
    source: {
      source: r.source_name,
      schema: r.source_schema,
      table: r.source_table,
      primaryKey: r.primary_key,
      columns: JSON.parse(r.columns),
      replicaIdentity: r.replica_identity,
      generatedColumns: r.generated_columns,
      schemaId: r.schema_id,
    },
  }));
}
