/**
 * PostgreSQL side of the CDC service: the publication, grants, replication slots.
 *
 * Who does what (services/cdc/README.md, "Slot and publication"):
 * - The CDC role (CDC_DB_USER: LOGIN REPLICATION, SELECT on captured tables) creates and drops the
 *   replication slots; REPLICATION is enough for that.
 * - A publication `FOR TABLE` can only be created or altered by the owner of its tables (or a
 *   superuser), which the CDC role is not. With CDC_ADMIN_SETUP=true the service connects once as
 *   POSTGRES_USER to create/alter the publication, grant SELECT and set REPLICA IDENTITY FULL on
 *   tables without a primary key; with false it checks and stops with the SQL to run.
 *
 * Snapshot bookkeeping: before the initial snapshot the service creates a marker slot
 * `<slot>_snapshot_pending` (physical, reserves no WAL) and drops it only once every snapshot
 * event is acknowledged by the broker. Finding the marker at start-up means the last snapshot did
 * not finish, so the logical slot is dropped and the snapshot taken again.
 */
import pg from 'pg';
import type { Logger } from '../common/logger.ts';
import { pgConnection, type CdcConfig } from '../common/config.ts';
import { describeTable, type TableDescription } from './postgres-catalog.ts';
import { parseLsn } from './lsn.ts';
import { PG_SESSION_OPTIONS } from './value-render.ts';

/** Setup cannot proceed; the message says what to change or run. */
export class CdcSetupError extends Error {
  /** @param options.cause the underlying error (an outage makes the setup error retriable, error-handler.ts). */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CdcSetupError';
  }
}

/** Name of the marker slot that exists while an initial snapshot is incomplete. */
export function snapshotMarkerSlot(slotName: string): string {
  return `${slotName}_snapshot_pending`;
}

/** Connection settings for the CDC role; `replication` opens a walsender (logical replication) session. */
export function cdcConnection(config: CdcConfig, replication = false): pg.ClientConfig {
  return {
    ...pgConnection(config, 'cdc'),
    application_name: 'sport-lakehouse-cdc',
    options: PG_SESSION_OPTIONS,
    ...(replication ? { replication: 'database' } : {}),
  } as pg.ClientConfig;
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const qualified = (t: { schema: string; table: string }) => `${ident(t.schema)}.${ident(t.table)}`;

interface PublicationState {
  exists: boolean;
  allTables: boolean;
  viaRoot: boolean;
  publishes: { insert: boolean; update: boolean; delete: boolean; truncate: boolean };
  /** "schema.table" of explicitly listed tables, plus tables of listed schemas. */
  tables: Set<string>;
}

async function readPublication(db: pg.Client, name: string): Promise<PublicationState> {
  const pub = await db.query<{ puballtables: boolean; pubviaroot: boolean; pubinsert: boolean; pubupdate: boolean; pubdelete: boolean; pubtruncate: boolean }>(
    'SELECT puballtables, pubviaroot, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1',
    [name],
  );
  const row = pub.rows[0];
  if (!row) return { exists: false, allTables: false, viaRoot: false, publishes: { insert: false, update: false, delete: false, truncate: false }, tables: new Set() };
  const rels = await db.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name
       FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
       JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE p.pubname = $1
     UNION
     SELECT n.nspname || '.' || c.relname
       FROM pg_publication p JOIN pg_publication_namespace pn ON pn.pnpubid = p.oid
       JOIN pg_class c ON c.relnamespace = pn.pnnspid AND c.relkind IN ('r', 'p')
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE p.pubname = $1`,
    [name],
  );
  return {
    exists: true,
    allTables: row.puballtables,
    viaRoot: row.pubviaroot,
    publishes: { insert: row.pubinsert, update: row.pubupdate, delete: row.pubdelete, truncate: row.pubtruncate },
    tables: new Set(rels.rows.map((r) => r.name)),
  };
}

/**
 * Checks that every configured table exists and is readable, and that the publication covers them
 * (insert, update, delete, truncate; via the partition root). Fixes what is missing as the admin
 * role when CDC_ADMIN_SETUP=true.
 * @returns the catalog description of each configured table, in CDC_TABLES order.
 * @throws CdcSetupError naming the missing table / privilege / publication and the SQL to run.
 */
export async function preparePostgres(config: CdcConfig, logger: Logger): Promise<TableDescription[]> {
  const pubName = config.postgres.publication;
  const cdc = new pg.Client(cdcConnection(config));
  // An idle client whose server goes away emits 'error'; the next query fails with the cause.
  cdc.on('error', (err) => logger.debug({ err }, 'setup connection error'));
  try {
    await cdc.connect();
  } catch (err) {
    await cdc.end().catch(() => undefined);
    // The cause decides whether it is an outage (retried, error-handler.ts) or a setup problem.
    throw new CdcSetupError(
      `connecting to database ${config.postgres.database} as CDC_DB_USER (${config.postgres.cdc.user}) failed: ${(err as Error).message}. ` +
      `A missing role, password or CONNECT grant is fixed by: ${PREPARE_SOURCE_HINT}`,
      { cause: err },
    );
  }
  try {
    const tables: TableDescription[] = [];
    for (const t of config.cdc.tables) {
      const d = await describeTable(cdc, t.schema, t.table);
      if (!d) throw new CdcSetupError(`CDC_TABLES: table ${t.schema}.${t.table} does not exist in database ${config.postgres.database}`);
      tables.push(d);
    }
    const fixes: string[] = [];
    // A publication column list (PostgreSQL 15) keeps columns out of the lake: the snapshot reads
    // the published columns only, which is all the CDC role may be granted (prepare-source).
    await restrictToPublishedColumns(cdc, pubName, tables);
    for (const t of tables) {
      const listed = t.columns.length < (await describeTable(cdc, t.schema, t.table))!.columns.length;
      const priv = await cdc.query<{ ok: boolean }>(
        `SELECT has_schema_privilege(current_user, $2, 'USAGE') AND bool_and(has_column_privilege(current_user, $1::regclass, c, 'SELECT')) AS ok FROM unnest($3::text[]) c`,
        [qualified(t), t.schema, t.columns.map((c) => c.name)],
      ).catch(() => ({ rows: [{ ok: false }] }));
      if (!priv.rows[0]?.ok) {
        const what = listed ? `SELECT (${t.columns.map((c) => ident(c.name)).join(', ')})` : 'SELECT';
        fixes.push(`GRANT USAGE ON SCHEMA ${ident(t.schema)} TO ${ident(config.postgres.cdc.user)}; GRANT ${what} ON ${qualified(t)} TO ${ident(config.postgres.cdc.user)}`);
      }
      if (t.primaryKey.length === 0 && (t.replicaIdentity === 'd' || t.replicaIdentity === 'n')) {
        // Without a key or FULL identity PostgreSQL refuses UPDATE/DELETE on a published table.
        fixes.push(`ALTER TABLE ${qualified(t)} REPLICA IDENTITY FULL`);
      }
    }
    const pub = await readPublication(cdc, pubName);
    const needsRoot = tables.some((t) => t.relkind === 'p');
    if (!pub.exists) {
      fixes.push(`CREATE PUBLICATION ${ident(pubName)} FOR TABLE ${tables.map(qualified).join(', ')} WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`);
    } else {
      const missing = pub.allTables ? [] : tables.filter((t) => !pub.tables.has(`${t.schema}.${t.table}`));
      if (missing.length > 0) fixes.push(`ALTER PUBLICATION ${ident(pubName)} ADD TABLE ${missing.map(qualified).join(', ')}`);
      const p = pub.publishes;
      if (!(p.insert && p.update && p.delete && p.truncate)) fixes.push(`ALTER PUBLICATION ${ident(pubName)} SET (publish = 'insert, update, delete, truncate')`);
      if (needsRoot && !pub.viaRoot) fixes.push(`ALTER PUBLICATION ${ident(pubName)} SET (publish_via_partition_root = true)`);
    }
    if (fixes.length === 0) return tables;
    if (!config.cdc.adminSetup) {
      throw new CdcSetupError(
        `publication/privileges incomplete for CDC_TABLES and CDC_ADMIN_SETUP=false. Fix it with: ${PREPARE_SOURCE_HINT}; ` +
        `or run as the tables' owner:\n  ${fixes.map((f) => `${f};`).join('\n  ')}`,
      );
    }
    await runAsAdmin(config, fixes, logger);
    return await preparePostgresVerified(config, cdc);
  } finally {
    await cdc.end().catch(() => undefined);
  }
}

async function preparePostgresVerified(config: CdcConfig, cdc: pg.Client): Promise<TableDescription[]> {
  const out: TableDescription[] = [];
  for (const t of config.cdc.tables) out.push((await describeTable(cdc, t.schema, t.table))!);
  await restrictToPublishedColumns(cdc, config.postgres.publication, out);
  return out;
}

/** The command that prepares a database for capture (services/cdc/source-prep), as error messages name it. */
export const PREPARE_SOURCE_HINT = 'npm run lakehouse -- prepare-source (run as a superuser or the tables\' owner; docs/guides/capture-another-database.md)';

/**
 * Narrows each table's columns to the publication's column list, when it has one (PostgreSQL 15
 * pg_publication_tables.attnames); unchanged before 15 or without a list. The initial and the
 * incremental snapshots read these columns only.
 */
export async function restrictToPublishedColumns(db: Pick<pg.Client, 'query'>, publication: string, tables: TableDescription[]): Promise<void> {
  const version = Number((await db.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v);
  if (version < 150000) return;
  const res = await db.query<{ schemaname: string; tablename: string; attnames: string[] }>(
    'SELECT schemaname, tablename, attnames::text[] AS attnames FROM pg_publication_tables WHERE pubname = $1',
    [publication],
  );
  for (const t of tables) {
    const row = res.rows.find((r) => r.schemaname === t.schema && r.tablename === t.table);
    if (row) t.columns = t.columns.filter((c) => row.attnames.includes(c.name));
  }
}

async function runAsAdmin(config: CdcConfig, statements: string[], logger: Logger): Promise<void> {
  const admin = new pg.Client(pgConnection(config, 'admin'));
  admin.on('error', (err) => logger.debug({ err }, 'admin setup connection error'));
  try {
    await admin.connect();
  } catch (err) {
    throw new CdcSetupError(
      `the publication or grants are incomplete (${statements.join('; ')}) and connecting as POSTGRES_USER (${config.postgres.admin.user}) to fix them failed: ` +
      `${(err as Error).message}. Fix it with: ${PREPARE_SOURCE_HINT}`,
      { cause: err },
    );
  }
  try {
    await admin.query('BEGIN');
    for (const sql of statements) {
      logger.warn({ sql }, 'setting up PostgreSQL for CDC as the admin role');
      await admin.query(sql);
    }
    await admin.query('COMMIT');
  } catch (err) {
    await admin.query('ROLLBACK').catch(() => undefined);
    throw new CdcSetupError(`CDC setup as POSTGRES_USER failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** A replication slot as pg_replication_slots shows it. */
export interface SlotInfo {
  name: string;
  plugin: string | null;
  slotType: string;
  database: string | null;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: bigint | null;
  restartLsn: bigint | null;
}

/** Reads one slot; null when it does not exist. */
export async function readSlot(db: Pick<pg.Client, 'query'>, name: string): Promise<SlotInfo | null> {
  const res = await db.query<{ plugin: string | null; slot_type: string; database: string | null; active: boolean; active_pid: number | null; confirmed_flush_lsn: string | null; restart_lsn: string | null }>(
    'SELECT plugin, slot_type, database, active, active_pid, confirmed_flush_lsn::text, restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
    [name],
  );
  const r = res.rows[0];
  if (!r) return null;
  return {
    name,
    plugin: r.plugin,
    slotType: r.slot_type,
    database: r.database,
    active: r.active,
    activePid: r.active_pid,
    confirmedFlushLsn: r.confirmed_flush_lsn ? parseLsn(r.confirmed_flush_lsn) : null,
    restartLsn: r.restart_lsn ? parseLsn(r.restart_lsn) : null,
  };
}

/**
 * Drops a slot if it exists. A slot still held by a (dying) walsender is retried for a few seconds.
 * @returns true when a slot was dropped.
 * @throws Error when the slot stays active (another CDC process is running).
 */
export async function dropSlotIfExists(db: Pick<pg.Client, 'query'>, name: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const slot = await readSlot(db, name);
    if (!slot) return false;
    if (!slot.active) {
      await db.query('SELECT pg_drop_replication_slot($1)', [name]);
      return true;
    }
    if (attempt >= 20) throw new CdcSetupError(`replication slot ${name} is in use by PID ${slot.activePid}; stop the other CDC process first`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Creates the snapshot marker slot (physical, no WAL reserved) unless it exists. */
export async function createMarkerSlot(db: Pick<pg.Client, 'query'>, slotName: string): Promise<void> {
  const marker = snapshotMarkerSlot(slotName);
  if (await readSlot(db, marker)) return;
  await db.query('SELECT pg_create_physical_replication_slot($1, false)', [marker]);
}

/**
 * Creates the logical slot on a replication connection and exports its snapshot
 * (CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT). The snapshot stays importable only while
 * `replication` runs no other command: import it, then close that connection.
 * @returns the consistent point (first LSN the slot will stream) and the snapshot name for
 *   `SET TRANSACTION SNAPSHOT`.
 */
export async function createSlotWithSnapshot(replication: pg.Client, slotName: string, exportSnapshot: boolean): Promise<{ consistentPoint: bigint; snapshotName: string | null }> {
  const res = await replication.query<{ consistent_point: string; snapshot_name: string | null }>(
    `CREATE_REPLICATION_SLOT ${ident(slotName)} LOGICAL pgoutput ${exportSnapshot ? 'EXPORT_SNAPSHOT' : 'NOEXPORT_SNAPSHOT'}`,
  );
  const row = res.rows[0];
  if (!row) throw new Error('CREATE_REPLICATION_SLOT returned no row');
  return { consistentPoint: parseLsn(row.consistent_point), snapshotName: row.snapshot_name };
}
