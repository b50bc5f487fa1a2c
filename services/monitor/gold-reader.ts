/**
 * Read-only access to gold.duckdb for the dashboard and /api/quality.
 *
 * The batch job rebuilds gold aside and renames the new file over gold.duckdb
 * (services/batch/README.md, "Gold"), so a reader must never hold the path, only a file: the
 * database is opened READ_ONLY (a shared lock on that inode, which never blocks the batch, as its
 * concurrent-reader test shows) and re-opened as soon as the path points to another inode or the
 * file changed (mtime, size). The previous instance is closed once its in-flight queries finished;
 * the renamed-away file stays readable until then (POSIX unlink semantics).
 */
import { existsSync, statSync } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';

/** Thrown when gold.duckdb does not exist yet (no successful refresh). */
export class GoldMissingError extends Error {
  constructor(readonly file: string) {
    super(`gold not built yet: ${file} does not exist (run \`npm run refresh\`)`);
    this.name = 'GoldMissingError';
  }
}

interface Opened {
  identity: string;
  instance: DuckDBInstance;
  conn: DuckDBConnection;
  inFlight: number;
  retired: boolean;
}

export class GoldReader {
  private current: Opened | null = null;
  private opening: Promise<Opened> | null = null;
  private closed = false;
  /** Times the file was (re)opened, for tests and logs. */
  opens = 0;

  /** @param file path of gold.duckdb (BATCH_GOLD_DB). */
  constructor(readonly file: string) {}

  /** Identity of the file the path points to now: device, inode, mtime and size; null when absent. */
  private identity(): string | null {
    if (!existsSync(this.file)) return null;
    try {
      const s = statSync(this.file, { bigint: true });
      return `${s.dev}:${s.ino}:${s.mtimeNs}:${s.size}`;
    } catch {
      return null; // renamed away between the two calls
    }
  }

  private async acquire(): Promise<Opened> {
    if (this.closed) throw new Error('gold reader closed');
    const id = this.identity();
    if (id === null) throw new GoldMissingError(this.file);
    if (this.current && this.current.identity === id) return this.current;
    if (!this.opening) {
      this.opening = (async () => {
        const instance = await DuckDBInstance.create(this.file, { access_mode: 'READ_ONLY', threads: '1' });
        const conn = await instance.connect();
        this.opens++;
        const opened: Opened = { identity: id, instance, conn, inFlight: 0, retired: false };
        const previous = this.current;
        this.current = opened;
        if (previous) this.retire(previous);
        return opened;
      })().finally(() => (this.opening = null));
    }
    return this.opening;
  }

  private retire(o: Opened): void {
    o.retired = true;
    if (o.inFlight === 0) {
      o.conn.closeSync();
      o.instance.closeSync();
    }
  }

  /**
   * Rows of `sql` (DuckDB dialect; `$name` parameters from `params`) as JSON-safe objects
   * (DuckDB's JSON rendering: cast BIGINT/DECIMAL to INTEGER/DOUBLE in the SQL to get numbers).
   * @throws GoldMissingError when gold.duckdb does not exist; DuckDB's error on bad SQL.
   */
  async query<T = Record<string, unknown>>(sql: string, params?: Record<string, DuckDBValue>): Promise<T[]> {
    let o = await this.acquire();
    // Another request may have swapped in a newer file while this one waited: take that one.
    while (o.retired) o = await this.acquire();
    o.inFlight++;
    try {
      const reader = await o.conn.runAndReadAll(sql, params);
      return reader.getRowObjectsJson() as T[];
    } finally {
      o.inFlight--;
      if (o.retired && o.inFlight === 0) {
        o.conn.closeSync();
        o.instance.closeSync();
      }
    }
  }

  /** Closes the open instance (idempotent). */
  close(): void {
    this.closed = true;
    if (this.current) this.retire(this.current);
    this.current = null;
  }
}
