/**
 * Contract: the change events on Kafka (docs/contracts/change-events.md), a Debezium-compatible
 * envelope `{ before, after, source, transaction, op, ts_ms, ts_us, ts_ns }` as JSON (Debezium's JSON
 * converter with `schemas.enable=false`), or `null` for the tombstone that follows a delete. The
 * reader keeps the fields consumers use (`transaction`, `ts_us`, `ts_ns` are dropped).
 *
 * - Schema: {@link changeEventSchema} (the types below are derived from it).
 * - Reader: {@link decodeChangeEvent} (and {@link decodeOrDeadLetter}, which never throws).
 * - Writer: {@link encodeChangeEvent}. The CDC service renders its envelopes with a faster
 *   template (services/cdc/change-mapper.ts); its unit tests decode that output with this reader,
 *   so the two cannot drift apart.
 *
 * Pure: no I/O. Consumers turn an {@link UndecodableEventError} into a dead-letter message
 * (`<topic>.dlq`) carrying its `reason`, never into a crash or a silent drop.
 */
import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { formatIssues } from './contract-error.ts';

/**
 * Debezium's context headers on every record (`__debezium.context.*`, written when
 * extended.headers.enabled=true, Debezium's default; the CDC service's CDC_EXTENDED_HEADERS): the
 * connector's logical name (the topic prefix), its task, its type and the id of this run. One frozen
 * object, shared by every record of a run (the producer converts a shared object once).
 */
export function debeziumContextHeaders(topicPrefix: string, runId: string): Readonly<Record<string, string>> {
  return Object.freeze({
    '__debezium.context.connectorLogicalName': topicPrefix,
    '__debezium.context.taskId': '0',
    '__debezium.context.connectorName': 'postgresql',
    '__debezium.context.runId': runId,
  });
}

/** Debezium op codes: c = insert, u = update, d = delete, r = snapshot read, t = truncate. */
export const CHANGE_OPS = ['c', 'u', 'd', 'r', 't'] as const;

/**
 * `source.snapshot` values Debezium's PostgreSQL connector writes (strings, as Debezium); this
 * service writes the same; "incremental" marks the rows of an incremental snapshot
 * (docs/contracts/incremental-snapshots.md), whose `source.txId` is null.
 */
export const SNAPSHOT_MARKERS = ['true', 'first', 'first_in_data_collection', 'last_in_data_collection', 'last', 'false', 'incremental'] as const;

const rowImageSchema = z.record(z.string(), z.unknown(), { error: 'expected a JSON object (a row image)' });

/**
 * The `source` block. `ts_ms` is required; Debezium's other fields are typed when present, and
 * fields this contract does not list (e.g. `sequence`, `xmin`) pass through unchanged.
 */
export const changeSourceSchema = z.looseObject({
  version: z.string().optional(),
  connector: z.string().optional(),
  name: z.string().optional(),
  /** Commit time of the transaction, ms since epoch. */
  ts_ms: z.number({ error: 'source.ts_ms missing' }),
  /**
   * One of {@link SNAPSHOT_MARKERS} from Debezium and this service; any string is accepted, so
   * this reader and the bronze writer's envelope scanner (which copies the text) agree, and so is
   * the boolean of Debezium before 1.x's string markers (bronze stores it as NULL).
   */
  snapshot: z.union([z.string(), z.boolean()]).optional(),
  db: z.string().optional(),
  schema: z.string().optional(),
  table: z.string().optional(),
  /** PostgreSQL xid; the same for every event of a transaction. */
  txId: z.number({ error: 'source.txId is not an integer' }).nullable().optional(),
  /** LSN of the change as a 64-bit integer (JSON number; exact below 2^53). */
  lsn: z.number({ error: 'source.lsn is not an integer' }).nullable().optional(),
});

/** The envelope. `before`/`after` absent read as null; `ts_ms` absent or null reads as `source.ts_ms`. */
export const changeEventSchema = z
  .object(
    {
      before: rowImageSchema.nullish().transform((v) => v ?? null),
      after: rowImageSchema.nullish().transform((v) => v ?? null),
      source: changeSourceSchema,
      op: z.enum(CHANGE_OPS, { error: (i) => `unknown op ${JSON.stringify(i.input)}` }),
      /** When the CDC service processed the event, ms since epoch. */
      ts_ms: z.number().nullish(),
    },
    { error: 'value is not a JSON object' },
  )
  .superRefine((e, ctx) => {
    if ((e.op === 'c' || e.op === 'r' || e.op === 'u') && e.after === null) ctx.addIssue({ code: 'custom', path: ['after'], message: `op "${e.op}" without an after image` });
    if (e.op === 'd' && e.before === null) ctx.addIssue({ code: 'custom', path: ['before'], message: 'op "d" without a before image' });
  })
  .transform((e) => ({ ...e, ts_ms: e.ts_ms ?? e.source.ts_ms }));

/** Debezium op code. */
export type ChangeOp = (typeof CHANGE_OPS)[number];

/** A table row as rendered by the CDC service (column name -> Debezium JSON value). */
export type RowImage = Record<string, unknown>;

/** The `source` block, as decoded. */
export type ChangeSource = z.output<typeof changeSourceSchema>;

/** One decoded change event. */
export type ChangeEvent<Row extends RowImage = RowImage> = Omit<z.output<typeof changeEventSchema>, 'before' | 'after'> & {
  before: Row | null;
  after: Row | null;
};

/** Why a message could not be decoded; `reason` is a stable code for DLQ headers. */
export class UndecodableEventError extends Error {
  constructor(
    readonly reason: 'invalid_json' | 'invalid_envelope',
    detail: string,
  ) {
    super(detail);
    this.name = 'UndecodableEventError';
  }
}

/**
 * Reader: decodes a Kafka message value.
 * @param value the raw message value; `null` (or empty) is a tombstone.
 * @returns the event, or `null` for a tombstone.
 * @throws UndecodableEventError `invalid_json` when the bytes are not JSON, `invalid_envelope`
 *   when the JSON is not the envelope (unknown op, no source.ts_ms, a missing row image the op
 *   needs, a field of the wrong type); the message lists every problem.
 */
export function decodeChangeEvent(value: Buffer | string | null | undefined): ChangeEvent | null {
  if (value === null || value === undefined || value.length === 0) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (err) {
    throw new UndecodableEventError('invalid_json', `value is not JSON: ${(err as Error).message}`);
  }
  const result = changeEventSchema.safeParse(parsed);
  if (!result.success) throw new UndecodableEventError('invalid_envelope', formatIssues(result.error.issues).join('; '));
  return result.data;
}

/**
 * Writer: the JSON text of `event` (validated first), or `null` for a tombstone.
 * @throws UndecodableEventError `invalid_envelope` for a value the reader would reject.
 */
export function encodeChangeEvent(event: ChangeEvent | null): string | null {
  if (event === null) return null;
  const result = changeEventSchema.safeParse(event);
  if (!result.success) throw new UndecodableEventError('invalid_envelope', formatIssues(result.error.issues).join('; '));
  const { before, after, source, op, ts_ms } = event;
  return JSON.stringify({ before, after, source, op, ts_ms });
}

/** A decoded value, or why it goes to the dead-letter topic (reason codes of {@link UndecodableEventError}). */
export type DecodeOutcome =
  | { kind: 'event'; event: ChangeEvent | null }
  | { kind: 'dead-letter'; reason: UndecodableEventError['reason']; detail: string };

/**
 * {@link decodeChangeEvent} for consumers that dead-letter what they cannot read: never throws.
 * @returns the event (`null` for a tombstone), or a dead-letter decision with reason and detail.
 */
export function decodeOrDeadLetter(value: Buffer | string | null | undefined): DecodeOutcome {
  try {
    return { kind: 'event', event: decodeChangeEvent(value) };
  } catch (err) {
    if (err instanceof UndecodableEventError) return { kind: 'dead-letter', reason: err.reason, detail: err.message };
    throw err;
  }
}

/**
 * Stable reason codes of {@link checkChangeMessage} (the `dlq.reason` header):
 * - `invalid_json`, `invalid_envelope`: as {@link decodeChangeEvent} (an unknown op is an
 *   `invalid_envelope` whose detail names it);
 * - `empty_value`: a value of zero bytes (a tombstone is a null value, never an empty one);
 * - `invalid_key`: a key that is not UTF-8 JSON, or (keyed table) not a JSON object;
 * - `missing_key`: no key (null or empty) on a table that has a key;
 * - `key_mismatch`: the key's fields are not the table's key columns, a keyless table's event has
 *   a key, or the row image (`after`; `before` for a delete) disagrees with the key's values.
 */
export type ChangeMessageProblem = 'invalid_json' | 'invalid_envelope' | 'empty_value' | 'invalid_key' | 'missing_key' | 'key_mismatch';

/** A verdict of {@link checkChangeMessage}. */
export type ChangeMessageOutcome = { kind: 'event'; event: ChangeEvent | null } | { kind: 'dead-letter'; reason: ChangeMessageProblem; detail: string };

/** The parts of a Kafka message the envelope checks read; `null`/`undefined` = absent. */
export interface ChangeMessage {
  key: Buffer | Uint8Array | string | null | undefined;
  value: Buffer | Uint8Array | string | null | undefined;
}

function text(bytes: Buffer | Uint8Array | string): string | null {
  if (typeof bytes === 'string') return bytes;
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return isUtf8(buffer) ? buffer.toString('utf8') : null;
}

/** JSON text of a value with object members sorted, so equal JSON values compare equal. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/**
 * The key checks of {@link checkChangeMessage} on an already decoded event (the bronze writer's
 * fast path decodes envelopes itself and calls this with the key's JSON value and the row image).
 * @param key the key's JSON value (parsed), or `undefined` when the message has no key.
 * @param op the event's op, or `null` for a tombstone.
 * @param row the row image the key must agree with (`after`; `before` for a delete); ignored for
 *   tombstones and truncates.
 * @param keyColumns the table's key columns in order (`[]` = keyless table).
 * @returns a dead-letter reason and detail, or `null` when the key is consistent.
 */
export function keyProblem(key: unknown, op: ChangeOp | null, row: RowImage | null, keyColumns: readonly string[]): { reason: ChangeMessageProblem; detail: string } | null {
  if (op === 't') return null; // a truncate concerns the table: no key, one message per partition
  if (keyColumns.length === 0) {
    return key === undefined || key === null ? null : { reason: 'key_mismatch', detail: 'the table has no key, but the message has one' };
  }
  if (key === undefined) return { reason: 'missing_key', detail: `no key; the table's key is (${keyColumns.join(', ')})` };
  if (key === null || typeof key !== 'object' || Array.isArray(key)) return { reason: 'invalid_key', detail: `key ${canonical(key)} is not a JSON object` };
  const fields = Object.keys(key);
  if (fields.length !== keyColumns.length || keyColumns.some((c) => !Object.hasOwn(key, c))) {
    return { reason: 'key_mismatch', detail: `key fields (${fields.join(', ')}) are not the table's key (${keyColumns.join(', ')})` };
  }
  if (op === null || row === null) return null;
  for (const column of keyColumns) {
    const expected = canonical((key as Record<string, unknown>)[column]);
    const actual = Object.hasOwn(row, column) ? canonical(row[column]) : 'absent';
    if (expected !== actual) return { reason: 'key_mismatch', detail: `key ${column}=${expected} but the ${op === 'd' ? 'before' : 'after'} image has ${actual}` };
  }
  return null;
}

/**
 * The envelope checks every consumer applies to a message of a table topic (issue 14): one
 * definition, so a message one consumer dead-letters is one every consumer dead-letters.
 * A null value is a tombstone (its key is still checked); an empty value, an undecodable value
 * ({@link decodeChangeEvent}), a key that is not JSON, and, when the table's key is known, a
 * missing key or one that does not match the table's key columns or the row image, are
 * dead-letter verdicts with a {@link ChangeMessageProblem} reason. Never throws.
 * @param keyColumns the table's key columns in order (the `primaryKey` of its schema document,
 *   docs/contracts/table-schemas.md; `[]` = keyless); `undefined` = not known: only the key's
 *   JSON validity is checked.
 */
export function checkChangeMessage(message: ChangeMessage, keyColumns?: readonly string[]): ChangeMessageOutcome {
  const { value } = message;
  let key: unknown;
  if (message.key !== null && message.key !== undefined && message.key.length > 0) {
    const keyText = text(message.key);
    if (keyText === null) return { kind: 'dead-letter', reason: 'invalid_key', detail: 'key is not valid UTF-8' };
    try {
      key = JSON.parse(keyText);
    } catch (err) {
      return { kind: 'dead-letter', reason: 'invalid_key', detail: `key is not JSON: ${(err as Error).message}` };
    }
  }
  let event: ChangeEvent | null = null;
  if (value !== null && value !== undefined) {
    if (value.length === 0) return { kind: 'dead-letter', reason: 'empty_value', detail: 'empty value (a tombstone has a null value)' };
    const valueText = text(value);
    if (valueText === null) return { kind: 'dead-letter', reason: 'invalid_json', detail: 'value is not valid UTF-8' };
    const decoded = decodeOrDeadLetter(valueText);
    if (decoded.kind === 'dead-letter') return decoded;
    event = decoded.event;
  }
  if (keyColumns !== undefined) {
    const problem = keyProblem(key, event?.op ?? null, event === null ? null : event.op === 'd' ? event.before : event.after, keyColumns);
    if (problem !== null) return { kind: 'dead-letter', ...problem };
  }
  return { kind: 'event', event };
}
