/**
 * Gold served from PostgreSQL for BI tools (issue 17, docs/powerbi.md "PostgreSQL route"): each
 * successful refresh copies the gold it built into a PostgreSQL database dedicated to analytics,
 * atomically.
 *
 * Layout in the analytics database (GOLD_PG_DATABASE, schema GOLD_PG_SCHEMA, default `gold`):
 * - `<schema>`: what BI readers see: one VIEW per gold view (`v_prime_sportive`, ...), columns
 *   typed (see {@link pgTypeOf}) and commented with their meaning and unit. The read-only role
 *   (BI_READER_DB_USER) gets USAGE on this schema and SELECT on its views, nothing else.
 * - `<schema>_store`: the rows: every gold table (salaries included, for the rule checks, as in
 *   gold.duckdb) and the result of every gold view, as tables. Not granted to the BI role: a view
 *   runs with its owner's (the publisher's) privileges, so BI readers read the views' columns only.
 *
 * Atomic swap: everything is built in ONE transaction under new names (`<schema>__next`,
 * `<schema>_store__next`), the rows bulk-loaded with COPY ... FROM STDIN (CSV written by DuckDB,
 * streamed through pg-copy-streams: no SQL text is ever built from data); then, still in that
 * transaction, the live schemas are renamed to `__old` and the new ones to the live names, and the
 * transaction commits. A statement sees the old set or the new one, never a mix: PostgreSQL
 * resolves each relation of a statement on its own, so before renaming, the publisher takes ACCESS
 * EXCLUSIVE locks on every live view at once (NOWAIT, retried); a reader's statement then either
 * ran entirely before, or waits (milliseconds: the renames) and resolves every name to the new set
 * (a renamed relation is looked up again after its lock wait). A crash before COMMIT leaves nothing: PostgreSQL rolls
 * the transaction back. The `__old` schemas are dropped afterwards in their own transaction (that
 * waits for statements still reading them); one left by a crash is dropped by the next publish.
 * Two publishers of the same schema are serialised by a transaction-scoped advisory lock.
 *
 * Caveat (PostgreSQL, not this module): a REPEATABLE READ / SERIALIZABLE transaction that
 * started before a swap and first reads gold after it sees the new tables empty (their rows were
 * committed after its snapshot). BI tools run each query in its own transaction, where this does
 * not happen.
 */
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { queryRows } from './duck.ts';
import { ident, literal as duckLiteral } from './sql.ts';

/** Where and as whom gold is published (configuration block `gold-pg`). */
export interface GoldPgSettings {
  host: string;
  port: number;
  /** The analytics database. */
  database: string;
  /** The BI-facing schema; `<schema>_store` holds the rows. */
  schema: string;
  /** The publishing role: CREATE on the analytics database, owns the schemas it creates. */
  user: string;
  password: string;
  /** The read-only role BI tools log in as; granted USAGE + SELECT on the views only. */
  readerRole: string;
  /** Seconds the drop of the previous set may wait for statements still reading it. */
  dropWaitS?: number;
}

/** One relation of gold to publish, as the DuckDB catalog alias `catalog` names it. */
export interface PublishedRelation {
  name: string;
  /** A gold view becomes a view of `<schema>` (and a table of `<schema>_store`); a table only a table of the store. */
  kind: 'view' | 'table';
  description?: string;
  /** Comments of the columns, by name (meaning and unit). */
  columnComments?: Readonly<Record<string, string>>;
}

/** One column as published: its DuckDB type, the PostgreSQL type and how it is exported. */
export interface PublishedColumn {
  name: string;
  duckType: string;
  pgType: string;
  /** DuckDB expression producing the CSV text PostgreSQL's input function reads for `pgType`. */
  exportSql: string;
}

export interface PublishOutcome {
  schema: string;
  relations: { name: string; kind: 'view' | 'table'; rows: number }[];
  rows: number;
  /** Wall time of the export (DuckDB -> CSV) and of the load + swap (PostgreSQL), ms. */
  exportMs: number;
  loadMs: number;
}

/**
 * PostgreSQL type of a DuckDB column type (pure). Integers keep their width (unsigned ones the
 * next wider signed type, HUGEINT numeric(38,0)), DECIMAL(p,s) is numeric(p,s), DOUBLE double precision, VARCHAR text,
 * TIMESTAMP WITH TIME ZONE timestamptz, JSON jsonb; nested types (LIST, STRUCT, MAP) are
 * published as jsonb, as their JSON text.
 */
export function pgTypeOf(duckType: string): string {
  const t = duckType.trim().toUpperCase();
  const decimal = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(t);
  if (decimal) return `numeric(${decimal[1]},${decimal[2]})`;
  switch (t) {
    case 'TINYINT':
    case 'UTINYINT':
    case 'SMALLINT':
      return 'smallint';
    case 'USMALLINT':
    case 'INTEGER':
      return 'integer';
    case 'UINTEGER':
    case 'BIGINT':
      return 'bigint';
    // Constrained, so BI tools see an integer-valued decimal (psqlODBC reports an unconstrained
    // numeric as numeric(28,6)); a sum of BIGINTs (HUGEINT in DuckDB) fits in 38 digits.
    case 'UBIGINT':
      return 'numeric(20,0)';
    case 'HUGEINT':
    case 'UHUGEINT':
      return 'numeric(38,0)';
    case 'FLOAT':
      return 'real';
    case 'DOUBLE':
      return 'double precision';
    case 'VARCHAR':
      return 'text';
    case 'BOOLEAN':
      return 'boolean';
    case 'DATE':
      return 'date';
    case 'TIME':
      return 'time';
    case 'TIMESTAMP':
    case 'TIMESTAMP_S':
    case 'TIMESTAMP_MS':
    case 'TIMESTAMP_NS':
      return 'timestamp';
    case 'TIMESTAMP WITH TIME ZONE':
      return 'timestamp with time zone';
    case 'INTERVAL':
      return 'interval';
    case 'UUID':
      return 'uuid';
    case 'BLOB':
      return 'bytea';
    case 'JSON':
      return 'jsonb';
    default:
      if (t.startsWith('ENUM(')) return 'text';
      return 'jsonb';
  }
}

/**
 * The DuckDB expression exporting column `name` of type `duckType` as text PostgreSQL reads back
 * exactly (pure): most types as DuckDB's CSV writer renders them (TIMESTAMPTZ with its offset),
 * BLOB as `\x<hex>`, nested types as JSON.
 */
export function exportExpression(name: string, duckType: string): string {
  const t = duckType.trim().toUpperCase();
  const col = ident(name);
  if (t === 'BLOB') return `CASE WHEN ${col} IS NULL THEN NULL ELSE '\\x' || hex(${col}) END`;
  if (pgTypeOf(t) === 'jsonb' && t !== 'JSON') return `to_json(${col})::VARCHAR`;
  return col;
}

/** The columns of `relation` in DuckDB, with their PostgreSQL types. */
export async function describeRelation(conn: DuckDBConnection, catalog: string, relation: string): Promise<PublishedColumn[]> {
  const rows = await queryRows<{ column_name: string; column_type: string }>(conn, `DESCRIBE ${catalog}.main.${ident(relation)}`);
  return rows.map((r) => ({ name: r.column_name, duckType: r.column_type, pgType: pgTypeOf(r.column_type), exportSql: exportExpression(r.column_name, r.column_type) }));
}

/** Schema names used by one publish of `schema`. */
export function schemaNames(schema: string) {
  return {
    live: schema,
    store: `${schema}_store`,
    next: `${schema}__next`,
    storeNext: `${schema}_store__next`,
    old: `${schema}__old`,
    storeOld: `${schema}_store__old`,
  };
}

/**
 * Publishes `relations` of the DuckDB catalog `catalog` (the gold being built) into PostgreSQL,
 * atomically (see the module documentation).
 * @param workDir a directory for the CSV exports (the run's temporary directory).
 * @throws the PostgreSQL or DuckDB error; the transaction is then rolled back and the previous
 *   set stays as it was.
 */
export async function publishGold(
  conn: DuckDBConnection,
  catalog: string,
  relations: readonly PublishedRelation[],
  settings: GoldPgSettings,
  workDir: string,
): Promise<PublishOutcome> {
  const names = schemaNames(settings.schema);
  const t0 = performance.now();
  await mkdir(workDir, { recursive: true });
  const exported: { rel: PublishedRelation; columns: PublishedColumn[]; file: string }[] = [];
  for (const rel of relations) {
    const columns = await describeRelation(conn, catalog, rel.name);
    const file = path.join(workDir, `${rel.name}.csv`);
    await conn.run(
      `COPY (SELECT ${columns.map((c) => `${c.exportSql} AS ${ident(c.name)}`).join(', ')} FROM ${catalog}.main.${ident(rel.name)}) TO ${duckLiteral(file)} (FORMAT csv, HEADER false)`,
    );
    exported.push({ rel, columns, file });
  }
  const exportMs = performance.now() - t0;

  const t1 = performance.now();
  const client = new pg.Client({
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    password: settings.password,
    application_name: 'sport-lakehouse-gold-publisher',
  });
  await client.connect();
  const id = (s: string) => client.escapeIdentifier(s);
  const text = (s: string) => client.escapeLiteral(s);
  const counts: PublishOutcome['relations'] = [];
  try {
    await dropOld(client, names, settings.dropWaitS ?? 30);
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gold-publish:${settings.schema}`]);
      await client.query(`DROP SCHEMA IF EXISTS ${id(names.next)}, ${id(names.storeNext)} CASCADE`);
      await client.query(`CREATE SCHEMA ${id(names.next)}`);
      await client.query(`CREATE SCHEMA ${id(names.storeNext)}`);
      for (const { rel, columns, file } of exported) {
        const table = `${id(names.storeNext)}.${id(rel.name)}`;
        await client.query(`CREATE TABLE ${table} (${columns.map((c) => `${id(c.name)} ${c.pgType}`).join(', ')})`);
        const copy = copyFrom(`COPY ${table} (${columns.map((c) => id(c.name)).join(', ')}) FROM STDIN (FORMAT csv)`);
        await pipeline(createReadStream(file), client.query(copy));
        counts.push({ name: rel.name, kind: rel.kind, rows: copy.rowCount });
        await client.query(`ANALYZE ${table}`);
        const relComments = async (kind: 'TABLE' | 'VIEW', relation: string) => {
          if (rel.description) await client.query(`COMMENT ON ${kind} ${relation} IS ${text(rel.description)}`);
          for (const c of columns) {
            const note = rel.columnComments?.[c.name];
            if (note) await client.query(`COMMENT ON COLUMN ${relation}.${id(c.name)} IS ${text(note)}`);
          }
        };
        await relComments('TABLE', table);
        if (rel.kind === 'view') {
          const view = `${id(names.next)}.${id(rel.name)}`;
          await client.query(`CREATE VIEW ${view} AS SELECT ${columns.map((c) => id(c.name)).join(', ')} FROM ${table}`);
          await relComments('VIEW', view);
        }
      }
      await client.query(`GRANT USAGE ON SCHEMA ${id(names.next)} TO ${id(settings.readerRole)}`);
      await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${id(names.next)} TO ${id(settings.readerRole)}`);
      await client.query(`COMMENT ON SCHEMA ${id(names.next)} IS ${text('Gold of the sport-rewards lakehouse, for BI tools (read-only): docs/powerbi.md')}`);
      // Lock the live views first: PostgreSQL resolves each relation of a statement separately, so
      // without it a reader's statement could resolve one view before the rename commits and the
      // next after (a mix). Holding ACCESS EXCLUSIVE on every live view, a reader either finished
      // with the old set or waits and then resolves every name anew (to the new set). NOWAIT in a
      // savepoint, retried, so the publisher never holds some views while waiting for others
      // (which could deadlock with a reader holding one and wanting another).
      await lockLiveViews(client, names.live);
      // The swap: old set out, new set in, in the same transaction.
      for (const [live, old] of [
        [names.live, names.old],
        [names.store, names.storeOld],
      ] as const) {
        const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [live]);
        if (exists.rowCount) await client.query(`ALTER SCHEMA ${id(live)} RENAME TO ${id(old)}`);
      }
      await client.query(`ALTER SCHEMA ${id(names.next)} RENAME TO ${id(names.live)}`);
      await client.query(`ALTER SCHEMA ${id(names.storeNext)} RENAME TO ${id(names.store)}`);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    await dropOld(client, names, settings.dropWaitS ?? 30);
  } finally {
    await client.end().catch(() => undefined);
  }
  return { schema: settings.schema, relations: counts, rows: counts.reduce((a, r) => a + r.rows, 0), exportMs, loadMs: performance.now() - t1 };
}

/**
 * Takes ACCESS EXCLUSIVE locks on every view of `schema` at once (LOCK ... NOWAIT in a savepoint,
 * retried every 20 ms for up to 30 s, then waiting for them in one statement).
 */
async function lockLiveViews(client: pg.Client, schema: string): Promise<void> {
  const views = await client.query<{ rel: string }>(
    `SELECT c.oid::regclass::text AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'v' ORDER BY c.oid`,
    [schema],
  );
  if (views.rowCount === 0) return;
  // Relation names as PostgreSQL itself quotes them (regclass output), not data.
  const list = views.rows.map((r) => r.rel).join(', ');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    await client.query('SAVEPOINT gold_lock');
    try {
      await client.query(`LOCK TABLE ${list} IN ACCESS EXCLUSIVE MODE NOWAIT`);
      await client.query('RELEASE SAVEPOINT gold_lock');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '55P03') throw err; // lock_not_available
      await client.query('ROLLBACK TO SAVEPOINT gold_lock');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await client.query(`LOCK TABLE ${list} IN ACCESS EXCLUSIVE MODE`);
}

/**
 * Drops the `__old` schemas of an earlier publish. Waits at most `waitS` for statements still
 * reading them; past that it leaves them for the next publish (never fails the publish).
 */
async function dropOld(client: pg.Client, names: ReturnType<typeof schemaNames>, waitS: number): Promise<void> {
  const present = await client.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])', [[names.old, names.storeOld]]);
  if (present.rowCount === 0) return;
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(waitS * 1000))}`);
    await client.query(`DROP SCHEMA IF EXISTS ${present.rows.map((r) => client.escapeIdentifier(r.nspname)).join(', ')} CASCADE`);
    await client.query('COMMIT');
  } catch {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}
