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
import { GOLD_VIEWS } from '../../products/sport-rewards/gold/views.ts';
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
 * Creates the Power BI views inside the aside database. They are bound with the aside database
 * as the default catalog so that their SQL names tables without a catalog.
 */
export async function createViews(conn: DuckDBConnection, homeCatalog: string, withProduct = true): Promise<void> {
  await conn.run(`USE ${GOLD_NEXT}`);
  try {
    for (const v of GOLD_VIEWS) if (withProduct || PLATFORM_VIEWS.has(v.name)) await conn.run(`CREATE OR REPLACE VIEW ${ident(v.name)} AS ${v.sql}`);
  } finally {
    await conn.run(`USE ${homeCatalog}`);
  }
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
