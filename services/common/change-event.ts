/**
 * Decoding of the change events every consumer reads (docs/contracts/change-events.md): a
 * Debezium-compatible envelope `{ before, after, source, op, ts_ms }` as JSON, or `null` for the
 * tombstone that follows a delete.
 *
 * Pure: no I/O. Consumers turn an {@link UndecodableEventError} into a dead-letter message
 * (`<topic>.dlq`) carrying its `reason`, never into a crash or a silent drop.
 */

/** Debezium op codes: c = insert, u = update, d = delete, r = snapshot read, t = truncate. */
export type ChangeOp = 'c' | 'u' | 'd' | 'r' | 't';

/** A table row as rendered by the CDC service (column name -> Debezium JSON value). */
export type RowImage = Record<string, unknown>;

/** The `source` block; only the fields consumers rely on are typed strictly. */
export interface ChangeSource {
  /** Commit time of the transaction, ms since epoch. */
  ts_ms: number;
  /** "true" | "last" | "false" (strings, as Debezium). */
  snapshot: string;
  schema: string;
  table: string;
  txId?: number;
  /** LSN of the change as a 64-bit integer. */
  lsn?: number;
  [field: string]: unknown;
}

/** One decoded change event. */
export interface ChangeEvent<Row extends RowImage = RowImage> {
  before: Row | null;
  after: Row | null;
  source: ChangeSource;
  op: ChangeOp;
  /** When the CDC service processed the event, ms since epoch. */
  ts_ms: number;
}

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

const OPS = new Set<string>(['c', 'u', 'd', 'r', 't']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Decodes a Kafka message value.
 * @param value the raw message value; `null` (or empty) is a tombstone.
 * @returns the event, or `null` for a tombstone.
 * @throws UndecodableEventError `invalid_json` when the bytes are not JSON, `invalid_envelope`
 *   when the JSON lacks the envelope fields (op, source.ts_ms, the before/after the op needs).
 */
export function decodeChangeEvent(value: Buffer | string | null | undefined): ChangeEvent | null {
  if (value === null || value === undefined || value.length === 0) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (err) {
    throw new UndecodableEventError('invalid_json', `value is not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(parsed)) throw new UndecodableEventError('invalid_envelope', 'value is not a JSON object');
  const { op, source, before, after } = parsed;
  if (typeof op !== 'string' || !OPS.has(op)) throw new UndecodableEventError('invalid_envelope', `unknown op ${JSON.stringify(op)}`);
  if (!isRecord(source) || typeof source.ts_ms !== 'number') throw new UndecodableEventError('invalid_envelope', 'source.ts_ms missing');
  if (before !== null && before !== undefined && !isRecord(before)) throw new UndecodableEventError('invalid_envelope', 'before is not an object');
  if (after !== null && after !== undefined && !isRecord(after)) throw new UndecodableEventError('invalid_envelope', 'after is not an object');
  if ((op === 'c' || op === 'r' || op === 'u') && !isRecord(after)) throw new UndecodableEventError('invalid_envelope', `op "${op}" without an after image`);
  if (op === 'd' && !isRecord(before)) throw new UndecodableEventError('invalid_envelope', 'op "d" without a before image');
  return {
    before: (before as RowImage | undefined) ?? null,
    after: (after as RowImage | undefined) ?? null,
    source: source as ChangeSource,
    op: op as ChangeOp,
    ts_ms: typeof parsed.ts_ms === 'number' ? parsed.ts_ms : source.ts_ms,
  };
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
