/**
 * Turns one Kafka message of a CDC topic into one bronze row (docs/contracts/change-events.md).
 * Pure: no I/O.
 *
 * This is the reference decoder. The writer's hot path is the envelope scanner
 * (envelope-scanner.ts), which hands every message it does not fully understand back to this one.
 *
 * Validation is the shared {@link decodeChangeEvent}, so a message the bronze writer dead-letters
 * is one every other consumer would reject too. The row images (`before`, `after`) and the key are
 * kept as the exact JSON text the producer wrote (see json-members.ts for why).
 */
import { isUtf8 } from 'node:buffer';
import { decodeChangeEvent, UndecodableEventError, type ChangeOp } from '../common/contracts/change-event.ts';
import { parseUnavailableHeader, SCHEMA_ID_HEADER, UNAVAILABLE_HEADER } from '../common/contracts/table-schema.ts';
import { topLevelMembers } from './json-members.ts';
import { isSchemaIdBytes } from './segment.ts';

/** One bronze row: the Parquet columns except topic, partition and ingested_at (per file). */
export interface BronzeRow {
  offset: number;
  /** Broker timestamp of the message, ms since epoch. */
  kafkaTimestampMs: number;
  /** Key as JSON text, e.g. `{"activity_id":42}`; null for a message without key. */
  key: string | null;
  op: ChangeOp;
  /** source.lsn (a bigint only when it exceeds 2^53). */
  lsn: number | bigint | null;
  /** source.txId, the PostgreSQL xid. */
  txId: number | bigint | null;
  /** source.ts_ms: commit time, ms since epoch. */
  sourceTsMs: number | null;
  /** Envelope ts_ms: when the CDC service processed the event, ms since epoch. */
  eventTsMs: number | null;
  /** source.snapshot: "false", or Debezium's snapshot markers ("first", "true", "last", ...). */
  snapshot: string | null;
  sourceSchema: string | null;
  sourceTable: string | null;
  /** Row image before the change, JSON text; null for c, r and t. */
  before: string | null;
  /** Row image after the change, JSON text; null for d and t. */
  after: string | null;
  /** Header `lakehouse.schema.id`: the table schema document of the row (docs/contracts/table-schemas.md); null without one. */
  schemaId?: string | null;
  /** Header `lakehouse.unavailable`: JSON array of the columns whose `after` value is the placeholder; null without one. */
  unavailable?: string | null;
}

/** A consumed message, as the decoder needs it. */
export interface RawMessage {
  offset: number;
  timestampMs: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  /** Value of the `lakehouse.schema.id` header, if any. */
  schemaId?: Uint8Array | null;
  /** Value of the `lakehouse.unavailable` header, if any. */
  unavailable?: Uint8Array | null;
}

/**
 * Why the schema-link headers of a message break the contract (docs/contracts/table-schemas.md),
 * or null when they are well-formed or absent: the schema id must be 20 lower-case hex digits, the
 * unavailable list UTF-8 JSON array of strings.
 */
export function linkHeaderProblem(schemaId: Uint8Array | null | undefined, unavailable: Uint8Array | null | undefined): string | null {
  if (schemaId != null && !isSchemaIdBytes(schemaId)) return `header ${SCHEMA_ID_HEADER} is not 20 lower-case hex digits`;
  if (unavailable != null && (!isUtf8(unavailable) || parseUnavailableHeader(utf8(unavailable)) === null)) return `header ${UNAVAILABLE_HEADER} is not a JSON array of column names`;
  return null;
}

export type DecodedMessage =
  | { kind: 'row'; row: BronzeRow }
  /** The null value that follows a delete: no row, but its offset is covered. */
  | { kind: 'tombstone' }
  /** Goes to the dead-letter topic with `reason` (stable code) and `detail` (human text). */
  | { kind: 'undecodable'; reason: string; detail: string };

/** Decodes UTF-8 bytes without copying them first. */
function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
}

function invalid(reason: string, detail: string): DecodedMessage {
  return { kind: 'undecodable', reason, detail };
}

/** An integer member as number, or as bigint beyond 2^53 (read from the raw text). */
function integerMember(parsed: unknown, raw: string | undefined, name: string): number | bigint | null {
  if (parsed === null || parsed === undefined) return null;
  if (typeof parsed !== 'number' || !Number.isInteger(parsed)) throw new UndecodableEventError('invalid_envelope', `${name} is not an integer`);
  if (Number.isSafeInteger(parsed)) return parsed;
  if (raw !== undefined && /^-?\d+$/.test(raw)) {
    const exact = BigInt(raw);
    // The Parquet column is a signed 64-bit integer.
    if (exact >= -(2n ** 63n) && exact < 2n ** 63n) return exact;
    throw new UndecodableEventError('invalid_envelope', `${name} is outside the 64-bit integer range`);
  }
  throw new UndecodableEventError('invalid_envelope', `${name} is not an integer`);
}

function stringMember(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value); // Debezium before 1.x rendered snapshot as a boolean
  return null;
}

function jsonText(raw: string | undefined): string | null {
  return raw === undefined || raw === 'null' ? null : raw;
}

/**
 * Decodes `message` into a bronze row, a tombstone, or a reason to dead-letter it.
 *
 * Dead-letter reasons: `empty_value` (zero bytes: a tombstone is a null value), `invalid_json` (value not UTF-8 JSON), `invalid_envelope` (not the
 * Debezium envelope of the contract: unknown op, no source.ts_ms, missing row image, non-integer
 * lsn/txId/ts_ms), `invalid_key` (key present but not UTF-8 JSON), `invalid_header` (a schema-link
 * header that breaks docs/contracts/table-schemas.md, {@link linkHeaderProblem}). Never throws.
 */
export function decodeBronzeMessage(message: RawMessage): DecodedMessage {
  const { value, key } = message;
  if (value === null) return { kind: 'tombstone' };
  if (value.length === 0) return invalid('empty_value', 'empty value (a tombstone has a null value)');
  if (!isUtf8(value)) return invalid('invalid_json', 'value is not valid UTF-8');
  const headerProblem = linkHeaderProblem(message.schemaId, message.unavailable);
  if (headerProblem !== null) return invalid('invalid_header', headerProblem);
  let keyText: string | null = null;
  if (key !== null && key.length > 0) {
    if (!isUtf8(key)) return invalid('invalid_key', 'key is not valid UTF-8');
    keyText = utf8(key);
    try {
      JSON.parse(keyText);
    } catch (err) {
      return invalid('invalid_key', `key is not JSON: ${(err as Error).message}`);
    }
  }
  const text = utf8(value);
  try {
    const event = decodeChangeEvent(text);
    if (event === null) return { kind: 'tombstone' };
    const members = topLevelMembers(text);
    const source = event.source;
    const needsRawSource =
      (typeof source.lsn === 'number' && !Number.isSafeInteger(source.lsn)) || (typeof source.txId === 'number' && !Number.isSafeInteger(source.txId));
    const rawSource = needsRawSource ? topLevelMembers(members.get('source') ?? '{}') : undefined;
    const sourceTs = integerMember(source.ts_ms, undefined, 'source.ts_ms');
    const eventTsRaw = members.get('ts_ms');
    const eventTs = eventTsRaw === undefined ? null : integerMember(JSON.parse(eventTsRaw), eventTsRaw, 'ts_ms');
    return {
      kind: 'row',
      row: {
        offset: message.offset,
        kafkaTimestampMs: message.timestampMs,
        key: keyText,
        op: event.op,
        lsn: integerMember(source.lsn, rawSource?.get('lsn'), 'source.lsn'),
        txId: integerMember(source.txId, rawSource?.get('txId'), 'source.txId'),
        sourceTsMs: sourceTs === null ? null : Number(sourceTs),
        eventTsMs: eventTs === null ? null : Number(eventTs),
        snapshot: stringMember(source.snapshot),
        sourceSchema: stringMember(source.schema),
        sourceTable: stringMember(source.table),
        before: jsonText(members.get('before')),
        after: jsonText(members.get('after')),
        schemaId: message.schemaId == null ? null : utf8(message.schemaId),
        unavailable: message.unavailable == null ? null : utf8(message.unavailable),
      },
    };
  } catch (err) {
    if (err instanceof UndecodableEventError) return invalid(err.reason, err.message);
    return invalid('invalid_json', (err as Error).message);
  }
}

/** A message of a segment that goes to the dead-letter topic. */
export interface Undecodable {
  offset: number;
  reason: string;
  detail: string;
}
