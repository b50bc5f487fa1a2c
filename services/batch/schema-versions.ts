/**
 * Which schema version each bronze row of a topic is decoded with (the schema contract: bronze
 * rows carry `schema_id`, the lake holds `_schemas/<topic>/<schemaId>.json`), worked out from the
 * Parquet footers where they suffice: a row group whose `schema_id` statistics have min = max and
 * no NULL holds one version, so a file is scanned for its versions only when its row groups mix
 * them. Versions are numbered per topic in meta.schemas in order of first use (a state row's
 * `_schema`), and the topic's current version is the one of its newest event (LSN).
 *
 * Rows written before schemas travelled (`schema_id` NULL, or bronze files without the column)
 * are decoded with the topic's earliest known version (or, with none known yet, the lake's
 * document whose columns match the rows) and reported; a topic without any schema document
 * cannot be typed and is not consumed (error finding), so nothing is guessed from values.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { queryOne, queryRows } from './duck.ts';
import type { BronzeRead, VersionInput } from './silver.ts';
import { fileList } from './silver.ts';
import { literal } from './sql.ts';
import type { TableSchema } from './table-schema.ts';

/** The decoding plan of one topic's batch of files. */
export interface TopicPlan {
  read: BronzeRead;
  /** The version of the newest event. */
  current: TableSchema;
  currentLsn: number;
  /** Every version the batch uses. */
  versions: TableSchema[];
  /** Rows without a schema link (decoded with `legacySchemaId`). */
  legacyRows: number;
  legacySchemaId?: string;
}

interface FileFacts {
  file: string;
  ids: Set<string | null>;
  maxLsn: number;
  /** Newest LSN per version, for files holding several (scanned); others use maxLsn. */
  maxLsnById: Map<string | null, number>;
  unavailable: boolean;
}

/**
 * Plans the decoding of `files` (one topic) with the documents of `docs` (the lake's, by id).
 * @returns the plan, or a problem that keeps the topic out of this run (not consumed)
 */
export async function planTopic(
  conn: DuckDBConnection,
  topic: string,
  files: readonly string[],
  docs: ReadonlyMap<string, TableSchema> | undefined,
  runId: string,
): Promise<TopicPlan | { problem: string }> {
  const cols = await queryRows<{ file_name: string; name: string }>(
    conn,
    `SELECT file_name, name FROM parquet_schema(${fileList(files)}) WHERE name IN ('schema_id', 'unavailable')`,
  );
  const linkedFiles = new Set(cols.filter((c) => c.name === 'schema_id').map((c) => c.file_name));
  const unavailableFiles = new Set(cols.filter((c) => c.name === 'unavailable').map((c) => c.file_name));
  const stats = await queryRows<{ file_name: string; col: string; min: string | null; max: string | null; nulls: number | null; rows: number }>(
    conn,
    `SELECT file_name, path_in_schema AS col, stats_min_value AS min, stats_max_value AS max, stats_null_count AS nulls, row_group_num_rows AS rows
     FROM parquet_metadata(${fileList(files)}) WHERE path_in_schema IN ('schema_id', 'unavailable', 'lsn')`,
  );
  const facts = new Map<string, FileFacts>(files.map((f) => [f, { file: f, ids: new Set(), maxLsn: 0, maxLsnById: new Map(), unavailable: false }]));
  const needScan = new Set<string>();
  for (const s of stats) {
    const f = facts.get(s.file_name);
    if (!f) continue;
    if (s.col === 'lsn' && s.max !== null) f.maxLsn = Math.max(f.maxLsn, Number(s.max));
    if (s.col === 'unavailable' && (s.nulls === null || s.nulls < s.rows)) f.unavailable = true;
    if (s.col === 'schema_id') {
      if (s.nulls !== null && s.nulls === s.rows) f.ids.add(null);
      else if (s.min !== null && s.min === s.max && s.nulls === 0) f.ids.add(s.min);
      else needScan.add(f.file);
    }
  }
  for (const f of facts.values()) if (!linkedFiles.has(f.file)) f.ids.add(null);
  if (needScan.size > 0) {
    const rows = await queryRows<{ file: string; id: string | null; lsn: number | null }>(
      conn,
      `SELECT filename AS file, schema_id AS id, max(lsn) AS lsn FROM read_parquet(${fileList([...needScan])}, filename = true) GROUP BY ALL`,
    );
    for (const r of rows) {
      facts.get(r.file)!.ids.add(r.id);
      facts.get(r.file)!.maxLsnById.set(r.id, r.lsn ?? 0);
    }
  }

  // Versions: known ones keep their number; new ones are numbered in order of their newest file.
  const known = new Map(
    (await queryRows<{ schema_id: string; version: number; document: string }>(conn, `SELECT schema_id, version, document::VARCHAR AS document FROM meta.schemas WHERE topic = ${literal(topic)}`)).map((r) => [
      r.schema_id,
      { version: r.version, doc: JSON.parse(r.document) as TableSchema },
    ]),
  );
  const used = new Map<string, { maxLsn: number; files: Set<string> }>();
  let legacyFiles = new Set<string>();
  for (const f of facts.values()) {
    for (const id of f.ids) {
      if (id === null) {
        legacyFiles.add(f.file);
        continue;
      }
      const u = used.get(id) ?? { maxLsn: 0, files: new Set<string>() };
      u.maxLsn = Math.max(u.maxLsn, f.maxLsnById.get(id) ?? f.maxLsn);
      u.files.add(f.file);
      used.set(id, u);
    }
  }
  const missing = [...used.keys()].filter((id) => !docs?.has(id) && !known.has(id));
  if (missing.length > 0) return { problem: `bronze rows reference schema ${missing.join(', ')} but the lake has no _schemas/${topic}/<id>.json for ${missing.length === 1 ? 'it' : 'them'}` };
  const docOf = (id: string) => known.get(id)?.doc ?? docs!.get(id)!;

  let legacyRows = 0;
  let legacyId: string | undefined;
  if (legacyFiles.size > 0) {
    const r = await queryOne<{ n: number; img: string | null }>(
      conn,
      `SELECT count(*) AS n, any_value(coalesce("after", "before")) AS img FROM read_parquet(${fileList([...legacyFiles])}, union_by_name = true)
       WHERE ${linkedFiles.size > 0 ? 'schema_id IS NULL' : 'true'}`,
    );
    legacyRows = r?.n ?? 0;
    if (legacyRows === 0) legacyFiles = new Set();
    else {
      const earliest = [...known.entries()].sort((a, b) => a[1].version - b[1].version)[0];
      if (earliest) legacyId = earliest[0];
      else if (docs && docs.size > 0) {
        let keys: string[] = [];
        try {
          keys = r?.img ? Object.keys(JSON.parse(r.img) as object).sort() : [];
        } catch {
          keys = [];
        }
        const candidates = [...docs.values()];
        const match = candidates.find((d) => JSON.stringify(d.columns.map((c) => c.name).sort()) === JSON.stringify(keys));
        legacyId = (match ?? candidates.sort((a, b) => (a.schemaId < b.schemaId ? -1 : 1))[0]!).schemaId;
      } else {
        return { problem: `${legacyRows} bronze rows have no schema link and the lake has no schema document for ${topic}: silver cannot type them (run the CDC service of this version, which publishes schemas, then replay)` };
      }
      const u = used.get(legacyId) ?? { maxLsn: 0, files: new Set<string>() };
      for (const f of legacyFiles) {
        u.files.add(f);
        u.maxLsn = Math.max(u.maxLsn, facts.get(f)!.maxLsnById.get(null) ?? facts.get(f)!.maxLsn);
      }
      used.set(legacyId, u);
    }
  }

  let nextVersion = Math.max(0, ...[...known.values()].map((k) => k.version)) + 1;
  const inOrder = [...used.entries()].sort((a, b) => a[1].maxLsn - b[1].maxLsn);
  const versions: VersionInput[] = [];
  for (const [id, u] of inOrder) {
    let version = known.get(id)?.version;
    if (version === undefined) {
      version = nextVersion++;
      await conn.run(`INSERT INTO meta.schemas VALUES (${literal(topic)}, ${literal(id)}, ${version}, ${literal(JSON.stringify(docOf(id)))}, ${literal(runId)})`);
    }
    const fileSet = [...u.files];
    const mixed = fileSet.some((f) => [...facts.get(f)!.ids].some((x) => x !== id && !(x === null && id === legacyId)));
    versions.push({ schema: docOf(id), version, files: fileSet, filter: mixed, legacy: id === legacyId && legacyFiles.size > 0 && linkedFiles.size > 0 });
  }
  // Current version: the newest event's, unless silver already holds a newer one.
  const stored = await queryOne<{ schema_id: string; current_lsn: number }>(conn, `SELECT schema_id, current_lsn FROM meta.silver_tables WHERE topic = ${literal(topic)}`);
  const newest = inOrder[inOrder.length - 1];
  let current: TableSchema;
  let currentLsn: number;
  if (stored && (!newest || stored.current_lsn > newest[1].maxLsn)) {
    current = docOf(stored.schema_id);
    currentLsn = stored.current_lsn;
  } else if (newest) {
    current = docOf(newest[0]);
    currentLsn = newest[1].maxLsn;
  } else {
    return { problem: 'no rows' };
  }
  return {
    read: {
      versions,
      files,
      linked: linkedFiles.size > 0,
      unionByName: linkedFiles.size > 0 && linkedFiles.size < files.length,
      unavailable: [...facts.values()].some((f) => f.unavailable) && unavailableFiles.size > 0,
    },
    current,
    currentLsn,
    versions: versions.map((v) => v.schema),
    legacyRows,
    legacySchemaId: legacyId,
  };
}
