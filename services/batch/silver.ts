/**
 * Bronze -> silver: the current state of every captured table, typed, plus the validity history
 * of employees. Runs inside the silver DuckDB database (BATCH_SILVER_DB).
 *
 * Layout of the silver database:
 * - `state.<table>`: one row per primary key ever seen, holding the latest event by source order
 *   (LSN, then Kafka offset), typed, with its position (`_lsn`, `_partition`, `_offset`), its
 *   commit time and `_op`; deletes stay as tombstones (`_op` d, or t after a truncate) so that a
 *   late re-delivery of an older event can never resurrect a deleted row.
 * - `silver.<table>`: view of the live rows of `state.<table>`: exactly the source table's rows.
 * - `state.<table>__events` and `silver.<table>_history` for history tables (employees): every
 *   version with `valid_from` / `valid_to` (commit times of the changes).
 * - `meta.*`: consumed bronze files, effective table schemas, truncations, run_log, quality results.
 *
 * Applying a batch of bronze files to a table (one code path for incremental runs and `--full`):
 * 1. stage every c/r/u/d event of the files, typed (see source-schemas.ts), in a temporary table,
 *    plus a delete of the old key for each update that changed the primary key;
 * 2. within the batch, keep per key only the event with the greatest (LSN, offset, partition):
 *    this applies the changes in source order and drops re-delivered duplicates (same source
 *    position), so a replay never doubles a row;
 * 3. replace the state rows those winners supersede, and insert the winners of new keys.
 * Truncate events (`op = t`) mark every row older than their LSN deleted.
 *
 * Keys with several events in a batch are those with an update or delete, or a repeated
 * insert/snapshot; the latter is ruled out in one linear pass with a bitmap of the key range
 * (DuckDB's bitstring_agg) when the key is one integer column, so the full group-by over every key
 * only runs when needed.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { exec, queryOne, queryRows, type ProgressListener } from './duck.ts';
import {
  decodingFor,
  ident,
  inferColumns,
  jsonStructure,
  knownTable,
  literal,
  parseTopic,
  silverName,
  type SourceColumn,
  type SourceTable,
} from './source-schemas.ts';

/** Source tables whose full version history silver keeps (validity intervals). */
export const HISTORY_TABLES: ReadonlySet<string> = new Set(['employees']);

/** A silver table and what it is built from. */
export interface SilverTable {
  /** Silver name, e.g. `activities`. */
  name: string;
  topic: string;
  source: SourceTable;
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
];

/** SQL predicate: the state row is live (not deleted nor truncated). */
export const LIVE = `_op NOT IN ('d', 't')`;

/** Creates the schemas and bookkeeping tables of the silver database (idempotent). */
export async function ensureSilverCatalog(conn: DuckDBConnection): Promise<void> {
  await conn.run(`
    CREATE SCHEMA IF NOT EXISTS meta;
    CREATE SCHEMA IF NOT EXISTS state;
    CREATE SCHEMA IF NOT EXISTS silver;
    CREATE TABLE IF NOT EXISTS meta.tables (
      name VARCHAR, topic VARCHAR, source_schema VARCHAR, source_table VARCHAR,
      primary_key VARCHAR[], columns JSON, registered BOOLEAN, history BOOLEAN);
    CREATE TABLE IF NOT EXISTS meta.bronze_files (
      key VARCHAR, manifest_key VARCHAR, topic VARCHAR, "partition" INTEGER, first_offset BIGINT,
      last_offset BIGINT, rows BIGINT, bytes BIGINT, min_kafka_ts_ms BIGINT, max_kafka_ts_ms BIGINT,
      run_id VARCHAR, batch INTEGER);
    CREATE TABLE IF NOT EXISTS meta.truncations (name VARCHAR, lsn BIGINT, run_id VARCHAR);
    -- Set by a run between its two silver transactions; found set at start = that run died there.
    CREATE TABLE IF NOT EXISTS meta.merge_in_progress (run_id VARCHAR, started_at TIMESTAMPTZ);
  `);
}

/** Drops every silver table and forgets every consumed file, for a `--full` rebuild. */
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
  await conn.run(`DELETE FROM meta.bronze_files; DELETE FROM meta.tables; DELETE FROM meta.truncations;`);
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
  const cols = [
    ...STATE_META_COLUMNS.map(([n, t]) => `${ident(n)} ${t}`),
    ...table.source.columns.map((c) => `${ident(c.name)} ${decodingFor(c.pgType).duckType}`),
  ];
  return `CREATE TABLE IF NOT EXISTS state.${ident(table.name + suffix)} (${cols.join(', ')})`;
}

/**
 * SELECT of the typed events of `files` for `table`. The row image is `after` for c/r/u and
 * `before` for d (the key when a delete carries no before image); other ops (t, or an unknown or
 * missing op) have none, so their columns are NULL; `rowsOnly` leaves those events out.
 *
 * One branch per kind of image, each filtering on `op`: DuckDB's Parquet reader decodes a column
 * for every row of a row group it reads, so a single CASE over the three images read `key` and
 * `before` for all 10M activity events to serve their 50k deletes (about 0.5 CPU-seconds); with
 * the filter, the reader skips the pages of those columns where no delete is.
 */
export function typedEventsSql(table: SilverTable, files: readonly string[], options: { rowsOnly?: boolean } = {}): string {
  const structure = jsonStructure(table.source.columns);
  const typed = table.source.columns.map((c) => `${decodingFor(c.pgType).expr(`r.${ident(c.name)}`)} AS ${ident(c.name)}`);
  const branch = (image: string, where: string) => `SELECT op AS _op, coalesce(lsn, 0) AS _lsn, "partition" AS _partition, "offset" AS _offset, source_ts_ms AS _source_ts_ms,
      ${typed.join(',\n      ')}
    FROM (
      SELECT op, lsn, "partition", "offset", source_ts_ms, from_json(${image}, ${structure}) AS r
      FROM read_parquet(${fileList(files)})
      WHERE ${where}
    )`;
  return [
    branch(`CAST("after" AS VARCHAR)`, `op IN ('c', 'r', 'u')`),
    branch(`coalesce(CAST("before" AS VARCHAR), CAST("key" AS VARCHAR))`, `op = 'd'`),
    ...(options.rowsOnly ? [] : [branch(`CAST(NULL AS VARCHAR)`, `op IS NULL OR op NOT IN ('c', 'r', 'u', 'd')`)]),
  ].join('\n    UNION ALL\n    ');
}

/**
 * SELECT of the deletes implied by updates that changed the primary key: the old key, from the
 * `before` image, at the update's position.
 */
export function keyChangeDeletesSql(table: SilverTable, files: readonly string[]): string {
  const pkCols = table.source.columns.filter((c) => table.source.primaryKey.includes(c.name));
  const structure = jsonStructure(pkCols);
  const typed = (img: string) => pkCols.map((c) => decodingFor(c.pgType).expr(`${img}.${ident(c.name)}`));
  const changed = pkCols.map((_, i) => `${typed('b')[i]} IS DISTINCT FROM ${typed('a')[i]}`).join(' OR ');
  return `SELECT 'd' AS _op, coalesce(lsn, 0) AS _lsn, "partition" AS _partition, "offset" AS _offset, source_ts_ms AS _source_ts_ms,
      ${pkCols.map((c, i) => `${typed('b')[i]} AS ${ident(c.name)}`).join(', ')}
    FROM (
      SELECT op, lsn, "partition", "offset", source_ts_ms,
        from_json(CAST("before" AS VARCHAR), ${structure}) AS b, from_json(CAST("after" AS VARCHAR), ${structure}) AS a
      FROM read_parquet(${fileList(files)})
      WHERE op = 'u' AND "before" IS NOT NULL
    )
    WHERE ${changed}`;
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

/** The `silver.<table>` view: live rows, source columns, plus when and where they last changed. */
export function currentViewSql(table: SilverTable): string {
  const cols = table.source.columns.map((c) => ident(c.name)).join(', ');
  return `CREATE OR REPLACE VIEW silver.${ident(table.name)} AS
    SELECT ${cols}, make_timestamptz(_source_ts_ms * 1000) AS _changed_at, _lsn
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
  liveRows: number;
  /** Columns found in the events that the registry does not know (registered tables only). */
  unexpectedColumns: string[];
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

/**
 * Works out the silver table of `topic`: registered schema, or columns inferred from a sample of
 * the new events merged with what earlier runs inferred (types never change once chosen; new
 * columns are added). Persists the result in meta.tables and creates or widens the state tables.
 * @returns undefined when the topic name is not `<prefix>.<schema>.<table>`.
 */
export async function resolveTable(conn: DuckDBConnection, topic: string, files: readonly string[]): Promise<{ table: SilverTable; unexpectedColumns: string[] } | undefined> {
  const parsed = parseTopic(topic);
  if (!parsed) return undefined;
  const name = silverName(parsed.schema, parsed.table);
  const stored = await queryOne<{ primary_key: string[]; columns: string; registered: boolean }>(
    conn,
    `SELECT primary_key, columns::VARCHAR AS columns, registered FROM meta.tables WHERE name = ${literal(name)}`,
  );
  const storedColumns: SourceColumn[] = stored ? JSON.parse(stored.columns) : [];
  const sample = await queryRows<{ img: string | null; key: string | null }>(
    conn,
    `SELECT coalesce("after", "before") AS img, "key" FROM read_parquet(${fileList(files)}) WHERE op IN ('c','r','u','d') LIMIT 2000`,
  );
  const images = sample.flatMap((r) => (r.img ? [safeParse(r.img)] : []));
  const known = knownTable(parsed.schema, parsed.table);
  let source: SourceTable;
  let unexpectedColumns: string[] = [];
  if (known) {
    source = known;
    const knownNames = new Set(known.columns.map((c) => c.name));
    const seen = new Set(images.flatMap((img) => (img && typeof img === 'object' ? Object.keys(img) : [])));
    unexpectedColumns = [...seen].filter((c) => !knownNames.has(c)).sort();
  } else {
    const firstKey = sample.map((r) => (r.key ? safeParse(r.key) : null)).find((k) => k && typeof k === 'object');
    const primaryKey = stored?.primary_key ?? (firstKey ? Object.keys(firstKey as object) : []);
    source = { schema: parsed.schema, table: parsed.table, primaryKey, columns: inferColumns(images, storedColumns), registered: false };
    // The key columns must exist even if no sampled image carried them.
    for (const k of primaryKey) if (!source.columns.some((c) => c.name === k)) source.columns.push({ name: k, pgType: 'inferred:bigint', nullable: false });
  }
  const table: SilverTable = { name, topic, source, history: HISTORY_TABLES.has(name) };
  await conn.run(`DELETE FROM meta.tables WHERE name = ${literal(name)}`);
  await conn.run(
    `INSERT INTO meta.tables VALUES (${literal(name)}, ${literal(topic)}, ${literal(source.schema)}, ${literal(source.table)},
      [${source.primaryKey.map(literal).join(', ')}]::VARCHAR[], ${literal(JSON.stringify(source.columns))}, ${source.registered}, ${table.history})`,
  );
  for (const suffix of table.history ? ['', '__events'] : ['']) {
    await conn.run(stateTableDdl(table, suffix));
    const existing = new Set(
      (await queryRows<{ column_name: string }>(conn, `SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'state' AND table_name = ${literal(name + suffix)}`)).map(
        (r) => r.column_name,
      ),
    );
    for (const c of source.columns) {
      if (!existing.has(c.name)) await conn.run(`ALTER TABLE state.${ident(name + suffix)} ADD COLUMN ${ident(c.name)} ${decodingFor(c.pgType).duckType}`);
    }
  }
  return { table, unexpectedColumns };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * Applies `files` (one topic) to the table's state, as described in the module comment.
 * @param fullRebuild the state table is empty (first run or `--full`): winners are inserted
 *   without looking for state rows to replace.
 * @returns what was done, and the rows read per file (for the manifest reconciliation).
 */
export async function mergeFiles(
  conn: DuckDBConnection,
  table: SilverTable,
  files: readonly string[],
  runId: string,
  options: { fullRebuild: boolean; unexpectedColumns: string[]; onProgress?: ProgressListener },
): Promise<TableMergeResult & { perFile: FileStat[]; pending?: PendingCompaction }> {
  if (options.fullRebuild && !table.history && table.source.primaryKey.length > 0) return appendIntoEmpty(conn, table, files, options);
  const name = `state.${ident(table.name)}`;
  const stage = `stage_${table.name}`;
  const pk = table.source.primaryKey;
  const pkList = pk.map(ident).join(', ');
  const pkNull = pk.map((k) => `${ident(k)} IS NULL`).join(' OR ') || 'false';
  const columns = [...STATE_META_COLUMNS.map(([n]) => n), ...table.source.columns.map((c) => c.name)].map(ident).join(', ');

  const eventsRead = await exec(conn, `CREATE OR REPLACE TEMP TABLE ${stage} AS ${typedEventsSql(table, files)}`, `silver ${table.name}: typing events`, options.onProgress);
  const perFile = await rowsPerFile(conn, files);
  const opRows = await queryRows<{ op: string | null; n: number; max_lsn: number | null }>(conn, `SELECT _op AS op, count(*) AS n, max(_lsn) AS max_lsn FROM ${stage} GROUP BY ALL`);
  const ops = Object.fromEntries(opRows.map((r) => [r.op ?? '(null)', r.n]));
  const truncateLsn = opRows.find((r) => r.op === 't')?.max_lsn ?? null;
  // Truncates were noted above; they and any unknown op carry no row.
  await exec(conn, `DELETE FROM ${stage} WHERE _op IS NULL OR _op NOT IN ('c', 'r', 'u', 'd')`);
  let keyChangeDeletes = 0;
  if ((ops.u ?? 0) > 0 && pk.length > 0) {
    const pkCols = table.source.columns.filter((c) => pk.includes(c.name)).map((c) => ident(c.name));
    keyChangeDeletes = await exec(conn, `INSERT INTO ${stage} (${[...STATE_META_COLUMNS.map(([n]) => ident(n)), ...pkCols].join(', ')}) ${keyChangeDeletesSql(table, files)}`);
  }
  let unkeyed = 0;
  let unkeyedPositions: { partition: number; offset: number }[] = [];
  if (pk.length > 0) {
    unkeyedPositions = await queryRows(conn, `SELECT _partition AS "partition", _offset AS "offset" FROM ${stage} WHERE ${pkNull} ORDER BY ALL LIMIT 20`);
    if (unkeyedPositions.length > 0) unkeyed = await exec(conn, `DELETE FROM ${stage} WHERE ${pkNull}`);
  }
  if (table.history) {
    await exec(conn, `INSERT INTO state.${ident(`${table.name}__events`)} (${columns}) SELECT ${columns} FROM ${stage}`);
    await exec(conn, eventDedupSql(table));
  }

  let superseded = 0;
  let inserted: number;
  if (pk.length === 0) {
    inserted = await exec(conn, `INSERT INTO ${name} (${columns}) SELECT ${columns} FROM ${stage}`);
  } else {
    const candidates = (await insertsAreUnique(conn, table, stage)) ? changedKeysSql(table, stage) : allDuplicateKeysSql(table, stage);
    const losers = await exec(conn, `DELETE FROM ${stage} WHERE rowid IN (${losersSql(table, stage, candidates)})`, `silver ${table.name}: applying changes in source order`, options.onProgress);
    superseded += losers;
    if (!options.fullRebuild) {
      superseded += await exec(
        conn,
        `DELETE FROM ${name} s USING ${stage} w WHERE ${pk.map((k) => `s.${ident(k)} = w.${ident(k)}`).join(' AND ')} AND ${newerSql('w', 's')}`,
        `silver ${table.name}: replacing superseded rows`,
        options.onProgress,
      );
    }
    inserted = await exec(
      conn,
      options.fullRebuild
        ? `INSERT INTO ${name} (${columns}) SELECT ${columns} FROM ${stage}`
        : `INSERT INTO ${name} (${columns}) SELECT ${columns} FROM ${stage} ANTI JOIN ${name} USING (${pkList})`,
      `silver ${table.name}: writing`,
      options.onProgress,
    );
  }
  await conn.run(`DROP TABLE IF EXISTS ${stage}`);

  let truncatedRows = 0;
  if (truncateLsn !== null) await conn.run(`INSERT INTO meta.truncations VALUES (${literal(table.name)}, ${truncateLsn}, ${literal(runId)})`);
  const watermark = await queryOne<{ lsn: number | null }>(conn, `SELECT max(lsn) AS lsn FROM meta.truncations WHERE name = ${literal(table.name)}`);
  if (watermark?.lsn != null) truncatedRows = await exec(conn, `UPDATE ${name} SET _op = 't' WHERE ${LIVE} AND _lsn < ${watermark.lsn}`);
  await conn.run(currentViewSql(table));
  if (table.history) await exec(conn, historySql(table));
  const live = await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${name} WHERE ${LIVE}`);
  return {
    name: table.name,
    topic: table.topic,
    files: files.length,
    eventsRead,
    keyChangeDeletes,
    superseded,
    inserted,
    truncatedRows,
    unkeyed,
    unkeyedPositions,
    liveRows: live?.n ?? 0,
    unexpectedColumns: options.unexpectedColumns,
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
  files: readonly string[],
  options: { unexpectedColumns: string[]; onProgress?: ProgressListener },
): Promise<TableMergeResult & { perFile: FileStat[]; pending: PendingCompaction }> {
  const name = `state.${ident(table.name)}`;
  const pk = table.source.primaryKey;
  const columns = [...STATE_META_COLUMNS.map(([n]) => n), ...table.source.columns.map((c) => c.name)].map(ident).join(', ');
  const written = await exec(
    conn,
    `INSERT INTO ${name} (${columns}) ${typedEventsSql(table, files, { rowsOnly: true })}`,
    `silver ${table.name}: typing and writing`,
    options.onProgress,
  );
  // Events without a row (truncates, unknown ops) are looked for in bronze only when the files
  // (Parquet footers) hold more rows than were written.
  const perFile = await rowsPerFile(conn, files);
  const withoutRow = perFile.reduce((a, f) => a + f.rows, 0) > written;
  const opRows = await queryRows<{ op: string | null; n: number; max_lsn: number | null }>(
    conn,
    `${withoutRow ? `SELECT op, count(*) AS n, max(lsn) AS max_lsn FROM read_parquet(${fileList(files)}) WHERE op IS NULL OR op NOT IN ('c', 'r', 'u', 'd') GROUP BY ALL UNION ALL ` : ''}
     SELECT CAST(_op AS VARCHAR) AS op, count(*) AS n, NULL AS max_lsn FROM ${name} GROUP BY ALL`,
  );
  const ops = Object.fromEntries(opRows.map((r) => [r.op ?? '(null)', r.n]));
  let keyChangeDeletes = 0;
  if ((ops.u ?? 0) > 0) {
    const pkCols = table.source.columns.filter((c) => pk.includes(c.name)).map((c) => ident(c.name));
    keyChangeDeletes = await exec(conn, `INSERT INTO ${name} (${[...STATE_META_COLUMNS.map(([n]) => ident(n)), ...pkCols].join(', ')}) ${keyChangeDeletesSql(table, files)}`);
  }
  return {
    name: table.name,
    topic: table.topic,
    files: files.length,
    eventsRead: opRows.reduce((a, r) => a + r.n, 0),
    keyChangeDeletes,
    superseded: 0,
    inserted: written + keyChangeDeletes,
    truncatedRows: 0,
    unkeyed: 0,
    unkeyedPositions: [],
    liveRows: 0,
    unexpectedColumns: options.unexpectedColumns,
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
  if (pending.truncateLsn !== null) {
    await conn.run(`INSERT INTO meta.truncations VALUES (${literal(table.name)}, ${pending.truncateLsn}, ${literal(runId)})`);
    result.truncatedRows = await exec(conn, `UPDATE ${name} SET _op = 't' WHERE ${LIVE} AND _lsn < ${pending.truncateLsn}`);
  }
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

/** The silver tables recorded in meta.tables (after any merge). */
export async function silverTables(conn: DuckDBConnection): Promise<SilverTable[]> {
  const rows = await queryRows<{ name: string; topic: string; source_schema: string; source_table: string; primary_key: string[]; columns: string; registered: boolean; history: boolean }>(
    conn,
    `SELECT name, topic, source_schema, source_table, primary_key, columns::VARCHAR AS columns, registered, history FROM meta.tables ORDER BY name`,
  );
  return rows.map((r) => ({
    name: r.name,
    topic: r.topic,
    history: r.history,
    source: { schema: r.source_schema, table: r.source_table, primaryKey: r.primary_key, columns: JSON.parse(r.columns), registered: r.registered },
  }));
}
