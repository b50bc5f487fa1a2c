/**
 * The initial snapshot (Debezium's PostgresSnapshotChangeEventSource): creates the logical slot
 * with an exported snapshot, reads every captured table in a REPEATABLE READ transaction that
 * imported it, and dispatches each row as an op "r" event. Those are exactly the rows as of the
 * slot's consistent point, so streaming from that point neither misses nor repeats a change.
 *
 * Each table is read through a cursor in chunks of CDC_SNAPSHOT_CHUNK_ROWS, with a progress log
 * every 5 s; reading waits while the producer has no capacity, and the snapshot ends once the
 * broker acknowledged every row. Rows carry Debezium's `source.snapshot` markers ("first" ... "last")
 * ({@link SnapshotRowMarker}). The SQL text built here ({@link snapshotQuery}) holds identifiers only,
 * quoted; no value is ever part of it.
 */
import pg from 'pg';
import type { CdcConfig } from '../common/config.ts';
import type { Logger } from '../common/logger.ts';
import { snapshotMarker, type ChangeMapper, type RelationPlan, type SnapshotContext, type SnapshotRowPosition } from './change-mapper.ts';
import type { EventDispatcher, EventSink } from './event-dispatcher.ts';
import { formatLsn } from './lsn.ts';
import type { CdcMetrics } from './metrics.ts';
import type { Position } from './offset-context.ts';
import type { TableDescription, TypeCatalog } from './postgres-catalog.ts';
import { cdcConnection, createSlotWithSnapshot } from './postgres-setup.ts';

/** Every column value as PostgreSQL's text output (the snapshot renders like the stream). */
const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * The cursor declaration reading one table: its published columns, in attribute order; `ONLY` for
 * a plain table (a partitioned table's root reads every partition).
 */
export function snapshotQuery(table: Pick<TableDescription, 'schema' | 'table' | 'relkind' | 'columns'>, cursor: string): string {
  const columnList = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const from = `${table.relkind === 'p' ? '' : 'ONLY '}${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
  return `DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT ${columnList} FROM ${from}`;
}

/**
 * Gives each snapshot row Debezium's `source.snapshot` marker ({@link snapshotMarker}: "first",
 * "first_in_data_collection", "true", "last_in_data_collection", "last"). It holds back one row, so
 * that the last row of a table, and the very last row of the snapshot across all tables, are known
 * without the row counts ahead.
 */
export class SnapshotRowMarker<R> {
  private held: { row: R; position: SnapshotRowPosition } | null = null;
  private table = { first: false, rows: 0 };

  constructor(private readonly emit: (row: R, flag: SnapshotContext['snapshot']) => void) {}

  /** A table starts; `first` for the first table of the snapshot (even when it is empty, as Debezium). */
  beginTable(first: boolean): void {
    this.table = { first, rows: 0 };
  }

  /** Emits the row held so far and holds `row`. */
  push(row: R): void {
    this.release(false);
    this.held = { row, position: { firstTable: this.table.first, firstInTable: this.table.rows === 0, lastInTable: false } };
    this.table.rows++;
  }

  /** The table is done: the row held (if it is the table's) is its last. */
  endTable(): void {
    if (this.held && this.table.rows > 0) this.held.position.lastInTable = true;
  }

  /** Emits the held row as "last" (the snapshot is complete). */
  finish(): void {
    this.release(true);
  }

  private release(lastInSnapshot: boolean): void {
    if (this.held === null) return;
    this.emit(this.held.row, snapshotMarker({ ...this.held.position, lastInSnapshot }));
    this.held = null;
  }
}

/** Percentage of an estimated row count, null without an estimate. */
export function progressPercent(rows: number, estimate: number): number | null {
  return estimate > 0 ? Math.min(100, Math.round((rows / estimate) * 100)) : null;
}

/** The parts of the service the change event sources share (built once by service.ts). */
export interface SourceParts {
  config: CdcConfig;
  logger: Logger;
  metrics: CdcMetrics;
  mapper: ChangeMapper;
  types: TypeCatalog;
  dispatcher: EventDispatcher<Position | null>;
}

export interface SnapshotDeps extends SourceParts {
  sink: EventSink<Position | null>;
  /** True once the service should stop (stop requested or a fatal error). */
  interrupted: () => boolean;
  /**
   * Builds the table's schema document (its published columns, the catalog as `db`, the snapshot
   * transaction, sees it), produces it to the schema topic and resolves with its id once
   * acknowledged (docs/contracts/table-schemas.md): the id every snapshot row of the table carries.
   */
  publishSchema: (db: pg.Client, table: TableDescription) => Promise<string>;
}

export class SnapshotChangeEventSource {
  constructor(private readonly deps: SnapshotDeps) {}

  /**
   * Creates the slot with an exported snapshot and dispatches every row of `tables` as op "r".
   * Waits until the broker acknowledged all of them.
   * @returns the slot's consistent point, or null when interrupted midway (the caller keeps the
   *   marker slot, so the next start snapshots again).
   */
  async execute(tables: TableDescription[]): Promise<bigint | null> {
    const { config, logger, metrics, mapper, types, dispatcher, sink } = this.deps;
    const repl = new pg.Client(cdcConnection(config, true));
    // An idle client whose server goes away emits 'error'; the pending or next query fails with the cause.
    repl.on('error', (err) => logger.debug({ err }, 'snapshot replication connection error'));
    await repl.connect();
    const snap = new pg.Client(cdcConnection(config));
    snap.on('error', (err) => logger.debug({ err }, 'snapshot connection error'));
    let replOpen = true;
    try {
      const { consistentPoint, snapshotName } = await createSlotWithSnapshot(repl, config.cdc.slotName, true);
      await snap.connect();
      await snap.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // SET TRANSACTION takes no bind parameter; the name comes from the server and is quoted.
      await snap.query(`SET TRANSACTION SNAPSHOT '${snapshotName!.replace(/'/g, "''")}'`);
      // The importing transaction now holds the snapshot; the exporting session may go.
      await repl.end();
      replOpen = false;
      const txId = Number((await snap.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]!.x);
      const tsMs = Date.now();
      logger.info({ slot: config.cdc.slotName, consistentPoint: formatLsn(consistentPoint), tables: tables.length }, 'initial snapshot started');
      const rows = new SnapshotRowMarker<{ plan: RelationPlan; values: (string | null)[] }>((row, flag) =>
        dispatcher.dispatchSnapshotRecord(row.plan, row.values, { lsn: consistentPoint, txId, tsMs, snapshot: flag }, null),
      );
      let total = 0;
      const started = Date.now();
      for (const [tableIndex, t] of tables.entries()) {
        // Before the table's first row: its schema document, as of the snapshot.
        const schemaId = await this.deps.publishSchema(snap, t);
        const plan = mapper.plan(t.schema, t.table, t.columns, t.primaryKey, types.lookup, schemaId);
        rows.beginTable(tableIndex === 0);
        const name = `${t.schema}.${t.table}`;
        const estimate = Number((await snap.query<{ n: string }>('SELECT GREATEST(reltuples, 0)::int8::text AS n FROM pg_class WHERE oid = $1', [t.oid])).rows[0]?.n ?? 0);
        await snap.query(snapshotQuery(t, 'cdc_snapshot'));
        let read = 0;
        let lastLog = Date.now();
        for (;;) {
          if (this.deps.interrupted()) {
            logger.warn({ table: name, rows: read }, 'snapshot interrupted; it will start over on the next run');
            await snap.query('ROLLBACK').catch(() => undefined);
            return null;
          }
          const res = await snap.query<(string | null)[]>({ text: `FETCH FORWARD ${config.cdc.snapshotChunkRows} FROM cdc_snapshot`, rowMode: 'array', types: RAW_TEXT_TYPES });
          for (const values of res.rows) rows.push({ plan, values });
          read += res.rows.length;
          total += res.rows.length;
          metrics.snapshotRows.inc({ table: name }, res.rows.length);
          if (Date.now() - lastLog >= 5000) {
            lastLog = Date.now();
            logger.info({ table: name, rows: read, estimatedRows: estimate, percent: progressPercent(read, estimate) }, 'snapshot progress');
          }
          await sink.waitForCapacity();
          if (res.rows.length < config.cdc.snapshotChunkRows) break;
        }
        rows.endTable();
        await snap.query('CLOSE cdc_snapshot');
        logger.info({ table: name, rows: read }, 'snapshot of table done');
      }
      rows.finish();
      await snap.query('COMMIT');
      await sink.flush();
      const seconds = (Date.now() - started) / 1000;
      logger.info({ rows: total, seconds, rowsPerSecond: Math.round(total / Math.max(seconds, 0.001)) }, 'initial snapshot done and acknowledged');
      return consistentPoint;
    } finally {
      if (replOpen) await repl.end().catch(() => undefined);
      await snap.end().catch(() => undefined);
    }
  }
}
