/**
 * The second test source database: a small shop that is not about sport (issue 13, "Tests").
 *
 * SQL fixtures in tests/fixtures/shop-source/ (schema.sql, seed.sql, workload.sql), loaded here
 * into a database of their own on the test stack's PostgreSQL, as the admin role (POSTGRES_USER):
 *
 * ```ts
 * const shop = await createShopSource(config);               // database "shop_source", schema + seed
 * // ... prepare-source, start CDC with shop.env(...) ...
 * await shop.runWorkload();                                   // every workload step, in order
 * await shop.close();                                         // drops the database (and its slots)
 * ```
 *
 * {@link SHOP_TABLES} lists the tables to capture (the partitioned table by its root);
 * {@link SHOP_TOAST_DEFAULT_TABLES} the table whose large columns stay at REPLICA IDENTITY DEFAULT
 * (the "unchanged TOAST value" case). The workload's steps are the `-- step: <name>` blocks of
 * workload.sql ({@link WORKLOAD_STEPS}), each sent as one query.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { pgConnection, REPO_ROOT, type Config } from '../../services/common/config.ts';

/** Directory of the SQL fixtures. */
export const SHOP_SOURCE_DIR = path.join(REPO_ROOT, 'tests/fixtures/shop-source');

/** Default database name of the shop source. */
export const SHOP_DATABASE = 'shop_source';

/** A captured table of the shop source. */
export interface ShopTable {
  schema: string;
  table: string;
  /** Primary-key columns in key order; [] for the keyless table. */
  primaryKey: string[];
}

/** Every table to capture, in the order CDC_TABLES lists them (sales.orders is the partitioned root). */
export const SHOP_TABLES: readonly ShopTable[] = [
  { schema: 'catalog', table: 'all_types', primaryKey: ['id'] },
  { schema: 'catalog', table: 'documents', primaryKey: ['doc_id'] },
  { schema: 'sales', table: 'customers', primaryKey: ['customer_id'] },
  { schema: 'sales', table: 'orders', primaryKey: ['order_id', 'ordered_at'] },
  { schema: 'sales', table: 'order_lines', primaryKey: ['order_id', 'line_no'] },
  { schema: 'ops', table: 'event_log', primaryKey: [] },
  { schema: 'ops', table: 'import_batches', primaryKey: ['batch_id'] },
  { schema: 'hr', table: 'employees', primaryKey: ['employee_no'] },
];

/** Tables whose TOASTed columns the tests leave at REPLICA IDENTITY DEFAULT (prepare-source's opt-out). */
export const SHOP_TOAST_DEFAULT_TABLES: readonly string[] = ['catalog.documents'];

/** `CDC_TABLES` value for the shop source. */
export const SHOP_CDC_TABLES = SHOP_TABLES.map((t) => `${t.schema}.${t.table}`).join(',');

/** One block of workload.sql. */
export interface WorkloadStep {
  name: string;
  sql: string;
}

/**
 * Splits a workload file into its `-- step: <name>` blocks (text before the first marker is a
 * header and is dropped).
 * @throws Error on a duplicate or empty step name, or a file without steps.
 */
export function parseWorkload(text: string): WorkloadStep[] {
  const steps: WorkloadStep[] = [];
  let current: WorkloadStep | null = null;
  for (const line of text.split('\n')) {
    const marker = /^--\s*step:\s*(\S*)\s*$/.exec(line);
    if (marker) {
      const name = marker[1]!;
      if (!name) throw new Error('workload: a step marker without a name');
      if (steps.some((s) => s.name === name)) throw new Error(`workload: duplicate step "${name}"`);
      current = { name, sql: '' };
      steps.push(current);
    } else if (current) {
      current.sql += `${line}\n`;
    }
  }
  if (steps.length === 0) throw new Error('workload: no "-- step: <name>" marker');
  for (const s of steps) s.sql = s.sql.trim();
  return steps;
}

/** The steps of tests/fixtures/shop-source/workload.sql, in order. */
export const WORKLOAD_STEPS: readonly WorkloadStep[] = parseWorkload(readFileSync(path.join(SHOP_SOURCE_DIR, 'workload.sql'), 'utf8'));

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** A loaded shop source. */
export interface ShopSource {
  database: string;
  /** `config` pointed at the shop database (same server, roles and everything else). */
  config: Config;
  /** A new admin connection to the shop database (the caller ends it). */
  admin(): Promise<pg.Client>;
  /**
   * Runs workload steps in file order, each as one query, as the admin role.
   * @param only names of the steps to run (default: all); an unknown name throws before anything runs.
   */
  runWorkload(only?: readonly string[]): Promise<void>;
  /** Drops the database (and the replication slots left on it). */
  close(): Promise<void>;
}

/**
 * Drops the database if it exists, after dropping the inactive replication slots created on it
 * (PostgreSQL refuses to drop a database that has slots).
 * @throws Error when a slot on it is still in use by a running CDC service.
 */
export async function dropShopSource(config: Config, database = SHOP_DATABASE): Promise<void> {
  const db = new pg.Client(pgConnection(config, 'admin', 'postgres'));
  await db.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      const slots = await db.query<{ slot_name: string; active: boolean }>('SELECT slot_name, active FROM pg_replication_slots WHERE database = $1', [database]);
      const active = slots.rows.filter((s) => s.active);
      for (const s of slots.rows.filter((r) => !r.active)) await db.query('SELECT pg_drop_replication_slot($1)', [s.slot_name]).catch(() => undefined);
      if (active.length === 0) break;
      if (attempt >= 40) throw new Error(`database ${database}: slots still in use: ${active.map((s) => s.slot_name).join(', ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await db.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
  } finally {
    await db.end();
  }
}

/**
 * Creates the shop database from scratch (dropping a previous one) and loads schema.sql and
 * seed.sql as the admin role.
 * @param config the test stack's configuration (its server and admin role are used).
 * @param database name of the database to create (default {@link SHOP_DATABASE}).
 */
export async function createShopSource(config: Config, database = SHOP_DATABASE): Promise<ShopSource> {
  await dropShopSource(config, database);
  const root = new pg.Client(pgConnection(config, 'admin', 'postgres'));
  await root.connect();
  try {
    await root.query(`CREATE DATABASE ${quoteIdent(database)}`);
  } finally {
    await root.end();
  }
  const shopConfig: Config = { ...config, postgres: { ...config.postgres, database } };
  const admin = async () => {
    const c = new pg.Client(pgConnection(shopConfig, 'admin'));
    await c.connect();
    return c;
  };
  const db = await admin();
  try {
    for (const file of ['schema.sql', 'seed.sql']) {
      try {
        await db.query(readFileSync(path.join(SHOP_SOURCE_DIR, file), 'utf8'));
      } catch (err) {
        throw new Error(`shop source ${file}: ${(err as Error).message}`);
      }
    }
  } finally {
    await db.end();
  }
  return {
    database,
    config: shopConfig,
    admin,
    runWorkload: async (only) => {
      const unknown = (only ?? []).filter((n) => !WORKLOAD_STEPS.some((s) => s.name === n));
      if (unknown.length > 0) throw new Error(`workload: unknown step(s) ${unknown.join(', ')}`);
      const c = await admin();
      try {
        for (const step of WORKLOAD_STEPS) {
          if (only && !only.includes(step.name)) continue;
          try {
            await c.query(step.sql);
          } catch (err) {
            await c.query('ROLLBACK').catch(() => undefined);
            throw new Error(`workload step ${step.name}: ${(err as Error).message}`);
          }
        }
      } finally {
        await c.end();
      }
    },
    close: () => dropShopSource(config, database),
  };
}
