/**
 * Contract: the incremental snapshot state of a CDC service (docs/contracts/incremental-snapshots.md),
 * kept in the compacted Kafka topic {@link snapshotStateTopic} (1 partition). The CDC service writes
 * it (after each chunk the broker acknowledged, so a restart resumes at the last finished chunk);
 * the ops CLI reads it (`lakehouse snapshot`, `lakehouse status`). Debezium keeps the same facts in
 * its connector offsets (incremental_snapshot_collections, _maximum_key, _primary_key).
 *
 * Records, by key ({@link stateKey}):
 * - `table:<schema.table>` ({@link tableSnapshotSchema}): the table's latest snapshot request and
 *   its progress: status, where the next chunk starts (`lastKey`), where the scan ends (`maxKey`),
 *   chunks, rows, the keys to read again (rows a transaction still held when their chunk was read);
 * - `refusal:<request id>` ({@link refusalSchema}): a request the service refused, with the reason
 *   (the CLI waiting for its request learns it here);
 * - `captured` ({@link capturedSchema}): the tables the slot captures; a table in CDC_TABLES and not
 *   in this list was added to the capture and gets an incremental snapshot.
 *
 * Key values are PostgreSQL's text output of the primary-key columns (never null: key columns are
 * NOT NULL), in key order.
 *
 * - Schema: {@link snapshotStateSchema}. Reader: {@link parseSnapshotState}. Writer: {@link encodeSnapshotState}.
 */
import { z } from 'zod';
import { readJsonContract, toJsonContract } from './contract-error.ts';

const CONTRACT = 'incremental snapshot state';

/** The state topic of the CDC service with topic prefix `prefix` and slot `slot`: internal (`__`), so no consumer takes it for data. */
export function snapshotStateTopic(prefix: string, slot: string): string {
  return `__cdc_snapshots.${prefix}.${slot}`;
}

/**
 * queued: waits for the snapshot before it; running; done; stopped (`snapshot --stop`);
 * failed (the table cannot be read: `reason`); superseded (the slot was created again, with an
 * initial snapshot of every table).
 */
export const SNAPSHOT_STATUSES = ['queued', 'running', 'done', 'stopped', 'failed', 'superseded'] as const;
export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number];

/** Statuses of a snapshot that still has work to do (it runs, or will, when the service streams). */
export const ACTIVE_STATUSES: readonly SnapshotStatus[] = ['queued', 'running'];

const isoTime = z.iso.datetime({ offset: true });
const keyValues = z.array(z.string());
const count = z.number().int().min(0);

export const tableSnapshotSchema = z.object({
  format: z.literal(1),
  kind: z.literal('table'),
  slot: z.string(),
  /** `schema.table`. */
  table: z.string(),
  /** The request's id (the signal's, or one the service made for a table added to CDC_TABLES). */
  id: z.string(),
  trigger: z.enum(['signal', 'table-added']),
  status: z.enum(SNAPSHOT_STATUSES),
  /** Why it failed or stopped; null otherwise. */
  reason: z.string().nullable(),
  where: z.string().nullable(),
  chunkRows: z.number().int().min(1),
  requestedAt: isoTime,
  requestedBy: z.string(),
  startedAt: isoTime.nullable(),
  updatedAt: isoTime,
  finishedAt: isoTime.nullable(),
  primaryKey: z.array(z.string()),
  /** The greatest key (matching `where`) when the scan started: rows inserted later are streamed, not read. Null before the scan started. */
  maxKey: keyValues.nullable(),
  /** The key of the last row of the last finished chunk; null before the first. */
  lastKey: keyValues.nullable(),
  /** True once every chunk up to `maxKey` is finished (left: `deferredKeys`). */
  scanDone: z.boolean(),
  /** Keys whose row an unfinished transaction held when its chunk was read: read again later. */
  deferredKeys: z.array(keyValues),
  chunks: count,
  /** Rows sent as op "r" (acknowledged by the broker). */
  rows: count,
  /** Rows of chunks left out because a change of the same key was streamed inside the chunk's window (the change is newer). */
  supersededRows: count,
  /** The planner's row estimate for the table (and `where`) when the scan started; null before. */
  estimatedRows: count.nullable(),
});
export type TableSnapshotState = z.output<typeof tableSnapshotSchema>;

export const refusalSchema = z.object({
  format: z.literal(1),
  kind: z.literal('refusal'),
  slot: z.string(),
  id: z.string(),
  table: z.string().nullable(),
  reason: z.string(),
  at: isoTime,
});
export type SnapshotRefusal = z.output<typeof refusalSchema>;

export const capturedSchema = z.object({
  format: z.literal(1),
  kind: z.literal('captured'),
  slot: z.string(),
  /** `schema.table` of every captured table. */
  tables: z.array(z.string()),
  at: isoTime,
});
export type CapturedTables = z.output<typeof capturedSchema>;

export const snapshotStateSchema = z.discriminatedUnion('kind', [tableSnapshotSchema, refusalSchema, capturedSchema]);
export type SnapshotStateRecord = z.output<typeof snapshotStateSchema>;

/** The record's key in the state topic. */
export function stateKey(record: SnapshotStateRecord): string {
  switch (record.kind) {
    case 'table':
      return `table:${record.table}`;
    case 'refusal':
      return `refusal:${record.id}`;
    case 'captured':
      return 'captured';
  }
}

/** Reader: one record's value. @throws ContractError naming every problem. */
export function parseSnapshotState(text: string): SnapshotStateRecord {
  return readJsonContract(CONTRACT, snapshotStateSchema, text);
}

/** Writer: one record's value. @throws ContractError for a record the reader would reject. */
export function encodeSnapshotState(record: SnapshotStateRecord): string {
  return JSON.stringify(toJsonContract(CONTRACT, snapshotStateSchema, record));
}

/** Percent of the estimated rows sent (100 when done), null without an estimate. */
export function snapshotPercent(s: Pick<TableSnapshotState, 'status' | 'rows' | 'estimatedRows'>): number | null {
  if (s.status === 'done') return 100;
  if (s.estimatedRows === null || s.estimatedRows <= 0) return null;
  return Math.min(99, Math.floor((s.rows / s.estimatedRows) * 100));
}
