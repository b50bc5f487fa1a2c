/**
 * Test support: reads the gold published in PostgreSQL through a real ODBC client
 * (tests/support/odbc_gold.py: unixODBC + the PostgreSQL ODBC driver via pyodbc, Debian packages
 * unixodbc, odbc-postgresql, python3-pyodbc installed by scripts/install-services), as the BI role.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../services/common/config.ts';

const run = promisify(execFile);

/** Debian's Python, for which python3-pyodbc is installed. */
export const ODBC_PYTHON = '/usr/bin/python3';

export interface OdbcColumn {
  name: string;
  /** The driver's TYPE_NAME (PostgreSQL's type name: int8, numeric, float8, text, timestamptz, ...). */
  type: string;
  size: number | null;
  digits: number | null;
  nullable: number;
  /** SQLColumns' REMARKS (psqlODBC leaves it empty: see `comments`). */
  remarks: string | null;
}

export interface OdbcRead {
  driver: string;
  dbms: string;
  tables: { name: string; type: string }[];
  columns: Record<string, OdbcColumn[]>;
  rows: Record<string, Record<string, unknown>[]>;
  /** Column comments (meaning and unit) per relation, read from the catalog (col_description). */
  comments: Record<string, Record<string, string | null>>;
  /** Write attempt -> "allowed" or the driver's error text. */
  writes: Record<string, string>;
}

/** The format_type-style name of an ODBC column (e.g. `numeric(14,2)`, `double precision`). */
export function formatOdbcType(c: OdbcColumn): string {
  const names: Record<string, string> = {
    int2: 'smallint',
    int4: 'integer',
    int8: 'bigint',
    float4: 'real',
    float8: 'double precision',
    bool: 'boolean',
    timestamptz: 'timestamp with time zone',
    timestamp: 'timestamp without time zone',
  };
  if (c.type === 'numeric') return c.size !== null && c.size > 0 && c.size <= 1000 ? `numeric(${c.size},${c.digits ?? 0})` : 'numeric';
  return names[c.type] ?? c.type;
}

/**
 * Reads schema `schema` of `database` as `user` through ODBC.
 * @throws when the ODBC client is not installed (with the install command) or the read fails.
 */
export async function readGoldOverOdbc(options: { host: string; port: number; database: string; user: string; password: string; schema: string; store?: string }): Promise<OdbcRead> {
  if (!existsSync(ODBC_PYTHON)) throw new Error(`${ODBC_PYTHON} not found: run bash scripts/install-services (apt: unixodbc odbc-postgresql python3-pyodbc)`);
  // BoolsAsChar=0: booleans as SQL_BIT (the driver's default maps them to '1'/'0' text), as docs/powerbi.md says.
  const conn = `DRIVER={PostgreSQL Unicode};SERVER=${options.host};PORT=${options.port};DATABASE=${options.database};UID=${options.user};PWD=${options.password};BoolsAsChar=0`;
  const args = [path.join(REPO_ROOT, 'tests/support/odbc_gold.py'), conn, options.schema, ...(options.store ? [options.store] : [])];
  try {
    const { stdout } = await run(ODBC_PYTHON, args, { maxBuffer: 64 * 1024 * 1024 });
    return JSON.parse(stdout) as OdbcRead;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    if (/No module named 'pyodbc'|Can't open lib|Data source name not found/.test(e.stderr ?? '')) {
      throw new Error(`the ODBC client is not installed: run bash scripts/install-services (apt: unixodbc odbc-postgresql python3-pyodbc)\n${e.stderr}`);
    }
    throw new Error(`ODBC read failed: ${e.stderr ?? e.message}`);
  }
}
