/**
 * Thin helpers around @duckdb/node-api for the batch job: open a database with the job's
 * settings, run SQL with progress reporting, and read small results as plain objects.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

export type Row = Record<string, unknown>;

export interface DuckOptions {
  /** DuckDB worker threads; undefined = one per core. */
  threads?: number;
  /** e.g. "4GB"; undefined = DuckDB's default. */
  memoryLimit?: string;
  /** Where DuckDB spills intermediate results that do not fit in memory. */
  tempDir?: string;
  readOnly?: boolean;
}

/** An open database: the instance and one connection. */
export interface Duck {
  instance: DuckDBInstance;
  conn: DuckDBConnection;
  close(): void;
}

/**
 * Opens (creating if needed) the DuckDB database at `file` (':memory:' for none).
 * @throws the DuckDB error, e.g. "Could not set lock on file" when another process writes it.
 */
export async function openDuck(file: string, options: DuckOptions = {}): Promise<Duck> {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const settings: Record<string, string> = {};
  if (options.threads) settings.threads = String(options.threads);
  if (options.memoryLimit) settings.memory_limit = options.memoryLimit;
  if (options.tempDir) {
    mkdirSync(options.tempDir, { recursive: true });
    settings.temp_directory = options.tempDir;
  }
  if (options.readOnly) settings.access_mode = 'READ_ONLY';
  // Insertion order only matters where SQL says ORDER BY; dropping it lets DuckDB stream more.
  settings.preserve_insertion_order = 'false';
  const instance = await DuckDBInstance.create(file, settings);
  const conn = await instance.connect();
  // A run reads the footers of the same (immutable) bronze files several times: schema sample,
  // typed events, op counts, key-change deletes, row counts per file. (A setting of the built-in
  // parquet extension, so it is set once that is loaded, not at instance creation.)
  await conn.run(`LOAD parquet; SET parquet_metadata_cache = true`);
  return {
    instance,
    conn,
    close() {
      conn.closeSync();
      instance.closeSync();
    },
  };
}

/** Converts DuckDB's JS values to plain JSON-friendly ones: safe bigints become numbers. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date) return value;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const PROFILE = process.env.BATCH_PROFILE === '1';

/** A started measurement for {@link profileEnd}: wall clock (ms) and process CPU time. */
export interface ProfileStart {
  wallMs: number;
  cpu: NodeJS.CpuUsage;
}

/** Starts measuring one statement for `BATCH_PROFILE=1` (undefined when profiling is off). */
export function profileStart(): ProfileStart | undefined {
  return PROFILE ? { wallMs: performance.now(), cpu: process.cpuUsage() } : undefined;
}

/**
 * `BATCH_PROFILE=1`: writes `[profile] <wall> s wall <cpu> s cpu  <label>` on stderr. CPU time is
 * the whole process's (user + system, every DuckDB thread), which varies far less than the wall
 * time when other work shares the machine, so it is the figure to compare two variants by.
 */
export function profileEnd(start: ProfileStart | undefined, label: string): void {
  if (!start) return;
  const cpu = process.cpuUsage(start.cpu);
  process.stderr.write(`[profile] ${((performance.now() - start.wallMs) / 1000).toFixed(2)} s wall ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s cpu  ${label}\n`);
}

const sqlLabel = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 90);

/** Runs `sql` and returns every row as an object (for small results only). */
export async function queryRows<T extends Row = Row>(conn: DuckDBConnection, sql: string): Promise<T[]> {
  const started = profileStart();
  const reader = await conn.runAndReadAll(sql);
  profileEnd(started, sqlLabel(sql));
  return reader.getRowObjectsJS().map((r) => plain(r) as T);
}

/** The first row of `sql`, or undefined. */
export async function queryOne<T extends Row = Row>(conn: DuckDBConnection, sql: string): Promise<T | undefined> {
  return (await queryRows<T>(conn, sql))[0];
}

/** Receives DuckDB's own progress for the statement running now. */
export type ProgressListener = (step: string, percentage: number) => void;

/**
 * Runs one statement; while it runs longer than 1 s, reports DuckDB's query progress
 * (`connection.progress`, 0-100, or -1 when unknown) to `onProgress` every 500 ms.
 * @returns the number of rows changed or returned, as DuckDB reports it.
 */
export async function exec(conn: DuckDBConnection, sql: string, step?: string, onProgress?: ProgressListener): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  if (step && onProgress) {
    const started = Date.now();
    timer = setInterval(() => {
      if (Date.now() - started < 1000) return;
      onProgress(step, conn.progress.percentage);
    }, 500);
  }
  const started = profileStart();
  try {
    const result = await conn.run(sql);
    return Number(result.rowsChanged);
  } finally {
    if (timer) clearInterval(timer);
    profileEnd(started, step ?? sqlLabel(sql));
  }
}
