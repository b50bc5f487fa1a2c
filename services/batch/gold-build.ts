/**
 * gold.duckdb is built aside and swapped in atomically (docs/architecture.md, "Storage and engines"):
 * the new database is written to `<gold>.next-<runId>` (same directory, so the same file system),
 * checkpointed and closed, fsynced, then renamed over `<gold>` (POSIX rename(2) replaces the
 * directory entry atomically) and the directory fsynced. A reader that has gold.duckdb open keeps
 * reading the old file (its inode stays alive until it closes it) and never takes a lock the
 * batch needs; a reader that opens the path gets either the old or the new file, never a
 * half-written one. A run whose quality suite fails at error level deletes its aside file and
 * leaves gold.duckdb untouched.
 */
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { LakeStorage } from '../common/lake-storage.ts';
import { GOLD_VIEWS, WATERMARK_COLUMN } from '../../products/sport-rewards/gold/views.ts';
import type { GoldModel } from '../../products/sport-rewards/gold/models.ts';
import type { PublishedRelation } from './pg-publish.ts';
import { ident, literal } from './sql.ts';

/** Views gold has whatever data product ran: the quality checks and the run log. */
export const PLATFORM_VIEWS: ReadonlySet<string> = new Set(['v_quality_checks', 'v_run_log']);

/** Catalog alias of the gold database being built. */
export const GOLD_NEXT = 'gold_next';

/** Relation of gold table `name` while it is being built. */
export const goldRel = (name: string) => `${GOLD_NEXT}.main.${ident(name)}`;

/** Path of the aside file of `runId`. */
export function asidePath(goldDb: string, runId: string): string {
  return `${goldDb}.next-${runId}`;
}

/** Deletes aside files left by crashed runs (only one refresh runs at a time: silver is locked). */
export async function removeStaleAsideFiles(goldDb: string): Promise<string[]> {
  const dir = path.dirname(goldDb);
  const prefix = `${path.basename(goldDb)}.next-`;
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith(prefix));
  for (const n of stale) await rm(path.join(dir, n), { force: true });
  return stale;
}

/** Attaches a fresh aside database as {@link GOLD_NEXT}. */
export async function attachAside(conn: DuckDBConnection, file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await rm(file, { force: true });
  await rm(`${file}.wal`, { force: true });
  await conn.run(`ATTACH ${literal(file)} AS ${GOLD_NEXT}`);
}

/** Detaches and deletes the aside database (failed run): gold.duckdb is not touched. */
export async function discardAside(conn: DuckDBConnection, file: string): Promise<void> {
  await conn.run(`DETACH DATABASE IF EXISTS ${GOLD_NEXT}`).catch(() => undefined);
  await rm(file, { force: true });
  await rm(`${file}.wal`, { force: true });
}

/**
 * The SQL of a gold view with the completeness watermark as its last column (pure):
 * `figures_complete_through` = build_info.complete_through, the time every source commit up to
 * which the figures include (NULL when none could be established).
 */
export function viewWithWatermarkSql(sql: string): string {
  return `SELECT v.*, (SELECT complete_through FROM build_info) AS ${ident(WATERMARK_COLUMN.name)} FROM (${sql}) v`;
}

/** Names of the views gold has for this run. */
export function viewsOfRun(withProduct: boolean) {
  return GOLD_VIEWS.filter((v) => withProduct || PLATFORM_VIEWS.has(v.name));
}

/**
 * Creates the Power BI views inside the aside database (each with the watermark column, see
 * {@link viewWithWatermarkSql}). They are bound with the aside database as the default catalog so
 * that their SQL names tables without a catalog.
 */
export async function createViews(conn: DuckDBConnection, homeCatalog: string, withProduct = true): Promise<void> {
  await conn.run(`USE ${GOLD_NEXT}`);
  try {
    for (const v of viewsOfRun(withProduct)) await conn.run(`CREATE OR REPLACE VIEW ${ident(v.name)} AS ${viewWithWatermarkSql(v.sql)}`);
  } finally {
    await conn.run(`USE ${homeCatalog}`);
  }
}

/** Descriptions of the platform tables gold always has (the product's come from its models). */
const PLATFORM_TABLES: readonly PublishedRelation[] = [
  { name: 'quality_results', kind: 'table', description: 'Results of the quality suite of the run that built this gold (view v_quality_checks).' },
  { name: 'run_log', kind: 'table', description: 'Every batch run of this silver: parameters, inputs, counts, quality outcome, watermark (view v_run_log).' },
  {
    name: 'build_info',
    kind: 'table',
    description: 'The run that built this gold: one row.',
    columnComments: {
      run_id: 'run id',
      built_at: 'time gold was built',
      rules_version: 'version label of the rules file',
      params_hash: 'sha256 of the rules (canonical JSON)',
      as_of: 'reference time of the run',
      complete_through: 'completeness watermark: every source commit up to this time is in the figures (NULL: unknown)',
      complete_through_lsn: 'source WAL position (pg_lsn) of the watermark',
    },
  },
];

/** What a run publishes into PostgreSQL: every gold table, then every gold view (pg-publish.ts). */
export function publishedRelations(goldModels: readonly Pick<GoldModel, 'name' | 'description' | 'columns'>[], withProduct: boolean): PublishedRelation[] {
  return [
    ...goldModels.map((m) => ({ name: m.name, kind: 'table' as const, description: m.description, columnComments: Object.fromEntries(m.columns.map((c) => [c.name, c.description])) })),
    ...PLATFORM_TABLES,
    ...viewsOfRun(withProduct).map((v) => ({ name: v.name, kind: 'view' as const, description: v.description, columnComments: Object.fromEntries(v.columns.map((c) => [c.name, c.description])) })),
  ];
}

/** Writes each gold table as Parquet into `dir` (zstd); returns the file paths by table. */
export async function exportParquet(conn: DuckDBConnection, tables: readonly string[], dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const t of tables) {
    const file = path.join(dir, `${t}.parquet`);
    await conn.run(`COPY ${goldRel(t)} TO ${literal(file)} (FORMAT parquet, COMPRESSION zstd)`);
    out.set(t, file);
  }
  return out;
}

async function fsyncPath(p: string, flags: string): Promise<void> {
  const handle = await open(p, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Checkpoints and detaches the aside database, then swaps it in for `goldDb`.
 * @throws when the rename fails (gold.duckdb is then unchanged).
 */
export async function swapIn(conn: DuckDBConnection, aside: string, goldDb: string): Promise<void> {
  await conn.run(`CHECKPOINT ${GOLD_NEXT}`);
  await conn.run(`DETACH ${GOLD_NEXT}`);
  await fsyncPath(aside, 'r');
  // A WAL left beside gold.duckdb by some read-write session would be replayed into the new file.
  await rm(`${goldDb}.wal`, { force: true });
  await rename(aside, goldDb);
  await fsyncPath(path.dirname(goldDb), 'r');
}

/**
 * Uploads the exported Parquet files to `gold/<table>.parquet` in the lake, then
 * `gold/_build.json` naming the run, so a reader of `_build.json` knows which run the files are from.
 */
export async function publishParquet(lake: LakeStorage, files: Map<string, string>, build: Record<string, unknown>, readFile: (p: string) => Promise<Buffer>): Promise<string[]> {
  const keys: string[] = [];
  for (const [table, file] of files) {
    const key = `gold/${table}.parquet`;
    await lake.put(key, await readFile(file));
    keys.push(key);
  }
  await lake.put('gold/_build.json', Buffer.from(`${JSON.stringify({ ...build, tables: keys }, null, 2)}\n`));
  return keys;
}
