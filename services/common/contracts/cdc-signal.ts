/**
 * Contract: the messages the ops CLI and the CDC service write into PostgreSQL's WAL with
 * `pg_logical_emit_message` (docs/contracts/incremental-snapshots.md): signals (start or stop an
 * incremental snapshot) and the chunk watermarks of the DBLog algorithm. The CDC service reads
 * them back from its replication slot, in WAL order with the changes (pgoutput with
 * `messages 'true'`), so a signal is durable (it stays in the WAL until the slot confirmed past
 * it), ordered with the stream, and needs no signal table the CDC role would have to write to.
 *
 * Both kinds are non-transactional messages (decoded at their own WAL position, not at a commit)
 * in the database the slot decodes, with a prefix per kind:
 * - {@link SIGNAL_PREFIX}: `{"format":1,"signal":"<signal JSON text>","mac":"<hex>"}`. Any role that
 *   can connect may call pg_logical_emit_message, so a signal is authenticated: `mac` is the
 *   HMAC-SHA256 of the signal text keyed by the CDC role's password ({@link signalMac}); whoever
 *   holds the CDC role's credentials (the ops CLI reads them from the same configuration) may
 *   request a snapshot, as whoever may write Debezium's signal table may.
 * - {@link WATERMARK_PREFIX}: `{"format":1,"kind":"open"|"close","slot":...,"table":...,"chunk":...}`;
 *   the chunk id carries a random nonce of the reading process, so a watermark of an earlier run
 *   replayed after a restart (or written by anyone else) opens no window.
 *
 * - Schemas: {@link cdcSignalSchema}, {@link watermarkSchema}. Readers: {@link parseSignalMessage},
 *   {@link parseWatermark}. Writers: {@link encodeSignalMessage}, {@link encodeWatermark}.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ContractError, readJsonContract, toJsonContract } from './contract-error.ts';

/** Prefix of signal messages (pg_logical_emit_message's `prefix`). */
export const SIGNAL_PREFIX = 'lakehouse.cdc.signal';
/** Prefix of the chunk watermarks the CDC service writes around each chunk read. */
export const WATERMARK_PREFIX = 'lakehouse.cdc.watermark';

const SIGNAL_CONTRACT = 'cdc signal';
const WATERMARK_CONTRACT = 'cdc watermark';

/** `schema.table`, lower-case SQL identifiers as CDC_TABLES takes them. */
const tableName = z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, 'expected schema.table (lower-case SQL identifiers)');
const slotName = z.string().regex(/^[a-z0-9_]{1,46}$/, 'expected a replication slot name');
const isoTime = z.iso.datetime({ offset: true });

/** Largest `--where` predicate accepted (characters). */
export const MAX_WHERE_LENGTH = 4000;
/** Bounds of `--chunk-rows`. */
export const CHUNK_ROWS_MIN = 1;
export const CHUNK_ROWS_MAX = 1_000_000;

/** Start an incremental snapshot of one table (Debezium's `execute-snapshot`, type incremental). */
export const executeSnapshotSchema = z.object({
  type: z.literal('execute-snapshot'),
  /** Request id (a UUID): a replayed signal is recognised by it and not run twice. */
  id: z.uuid(),
  /** The CDC service's slot (CDC_SLOT_NAME): other services decoding the same database ignore it. */
  slot: slotName,
  table: tableName,
  /** SQL predicate on the table's columns (operator input, validated; docs/runbooks/incremental-snapshots.md), or null for every row. */
  where: z.string().min(1).max(MAX_WHERE_LENGTH).nullable(),
  /** Rows per chunk, or null for CDC_INCREMENTAL_CHUNK_ROWS. */
  chunkRows: z.number().int().min(CHUNK_ROWS_MIN).max(CHUNK_ROWS_MAX).nullable(),
  requestedAt: isoTime,
  /** Who asked, for the logs (`lakehouse-cli@<host>`). */
  requestedBy: z.string().max(200),
});

/** Stop the running (and queued) incremental snapshots of one table, or of every table (`table` null). */
export const stopSnapshotSchema = z.object({
  type: z.literal('stop-snapshot'),
  id: z.uuid(),
  slot: slotName,
  table: tableName.nullable(),
  requestedAt: isoTime,
  requestedBy: z.string().max(200),
});

export const cdcSignalSchema = z.discriminatedUnion('type', [executeSnapshotSchema, stopSnapshotSchema]);
export type CdcSignal = z.output<typeof cdcSignalSchema>;
export type ExecuteSnapshotSignal = z.output<typeof executeSnapshotSchema>;
export type StopSnapshotSignal = z.output<typeof stopSnapshotSchema>;

const envelopeSchema = z.object({
  format: z.literal(1),
  /** The signal's JSON text, exactly as authenticated. */
  signal: z.string(),
  /** HMAC-SHA256 of `signal`, hex. */
  mac: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex digits'),
});

/**
 * The MAC of a signal text: HMAC-SHA256 keyed by the CDC role's password (CDC_DB_PASSWORD), hex.
 * A fixed label is part of the key, so the MAC is good for nothing but a signal.
 */
export function signalMac(signalText: string, cdcPassword: string): string {
  return createHmac('sha256', `${SIGNAL_PREFIX}:${cdcPassword}`).update(signalText, 'utf8').digest('hex');
}

/** Writer: the message content of a signal (validated), authenticated with the CDC role's password. */
export function encodeSignalMessage(signal: CdcSignal, cdcPassword: string): string {
  const text = JSON.stringify(toJsonContract(SIGNAL_CONTRACT, cdcSignalSchema, signal));
  return JSON.stringify({ format: 1, signal: text, mac: signalMac(text, cdcPassword) });
}

/**
 * Reader: a signal message's content.
 * @throws ContractError for a malformed message, a wrong MAC (not written with this CDC role's
 *   password), or a signal that does not satisfy the schema.
 */
export function parseSignalMessage(content: string, cdcPassword: string): CdcSignal {
  const envelope = readJsonContract(SIGNAL_CONTRACT, envelopeSchema, content);
  const expected = Buffer.from(signalMac(envelope.signal, cdcPassword), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(envelope.mac, 'hex'))) {
    throw new ContractError(SIGNAL_CONTRACT, ['mac: not signed with the CDC role\'s password (CDC_DB_PASSWORD); ignored']);
  }
  return readJsonContract(SIGNAL_CONTRACT, cdcSignalSchema, envelope.signal);
}

/** A chunk watermark: `open` before the chunk is read (low), `close` after (high). */
export const watermarkSchema = z.object({
  format: z.literal(1),
  kind: z.enum(['open', 'close']),
  slot: slotName,
  table: tableName,
  /** `<nonce of the reading process>-<chunk number>`. */
  chunk: z.string().regex(/^[0-9a-f]{16,64}-\d+$/, 'expected <nonce>-<number>'),
});
export type Watermark = z.output<typeof watermarkSchema>;

/** Writer: a watermark's message content. */
export function encodeWatermark(w: Watermark): string {
  return JSON.stringify(toJsonContract(WATERMARK_CONTRACT, watermarkSchema, w));
}

/** Reader: a watermark's message content. @throws ContractError. */
export function parseWatermark(content: string): Watermark {
  return readJsonContract(WATERMARK_CONTRACT, watermarkSchema, content);
}
