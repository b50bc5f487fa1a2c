/**
 * A load-time replacement of kafkajs' record decoder (`src/protocol/recordBatch/record/v0/decoder.js`,
 * Kafka's Record inside a RecordBatch v2: https://kafka.apache.org/documentation/#record) that
 * returns the same record objects for less CPU, for the bronze writer's consumer.
 *
 * Why: for every record kafkajs parses the batch's first offset and first timestamp from their
 * decimal strings into BigInt-backed `Long`s, adds the deltas, and prints the results back to
 * strings, and it reads the timestamp delta as a 64-bit zig-zag varint through more `Long`s: about
 * ten BigInt allocations per message, on the thread that must turn fetch responses around
 * quickly (docs/benchmarks.md, bronze writer). This version parses the batch's bases once per
 * batch and does the arithmetic on numbers while they stay exact.
 *
 * Scope: the fast path covers a batch whose first offset and timestamp are safe integers and a
 * record whose timestamp delta fits a 4-byte varint (|delta| < 2^27 ms, 37 hours); anything else
 * is decoded by kafkajs' own function, from the same position. Records without headers skip
 * kafkajs' header array; with headers, kafkajs' code builds them. Same output in every case
 * (unit-tested against the original, field by field and position by position).
 *
 * How: as services/cdc/kafkajs-record-encoding.ts does, the module is replaced in Node's module
 * cache before kafkajs' RecordBatch decoder (its only user, loaded with the first fetch) is
 * loaded. If that decoder was already loaded, or the file is absent in another kafkajs version,
 * nothing is changed: {@link recordDecodingStatus} says so.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The part of kafkajs' Decoder (src/protocol/decoder.js) this module relies on. */
export interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarIntBytes(): Buffer | null;
  readVarIntArray<T>(reader: (decoder: KafkajsDecoder) => T): T[];
}

/** kafkajs' RecordBatch context passed to each record (strings are decimal 64-bit integers). */
export interface RecordBatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

/** A decoded record, as kafkajs returns it. */
export interface DecodedRecord {
  magicByte: number | undefined;
  attributes: number;
  timestamp: string;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, unknown>;
  isControlRecord: boolean;
  batchContext: RecordBatchContext;
}

export type RecordDecoder = (decoder: KafkajsDecoder, batchContext?: RecordBatchContext) => DecodedRecord;

/** kafkajs' TimestampTypes.LOG_APPEND_TIME (src/protocol/timestampTypes.js). */
const LOG_APPEND_TIME = 1;

/** A batch's first offset and timestamp as exact numbers, or null when either is not a safe integer. */
function batchBases(context: RecordBatchContext): { offset: number; timestamp: number } | null {
  const offset = Number(context.firstOffset);
  const timestamp = Number(context.firstTimestamp);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(timestamp)) return null;
  if (String(offset) !== context.firstOffset || String(timestamp) !== context.firstTimestamp) return null;
  return { offset, timestamp };
}

/**
 * Reads a zig-zag varint of at most 4 bytes at `decoder.offset` and advances past it.
 * @returns the value, or NaN (offset unchanged) when it is longer.
 */
function readShortZigZag(decoder: KafkajsDecoder): number {
  const buffer = decoder.buffer;
  let i = decoder.offset;
  let raw = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    const byte = buffer[i++];
    if (byte === undefined) return Number.NaN;
    raw |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) {
      decoder.offset = i;
      return (raw >>> 1) ^ -(raw & 1);
    }
  }
  return Number.NaN;
}

/**
 * The fast decoder, falling back to `original` (kafkajs' decoder) outside its scope.
 * @param headerDecoder kafkajs' header decoder (src/protocol/recordBatch/header/v0/decoder.js).
 */
export function createRecordDecoder(original: RecordDecoder, headerDecoder: (decoder: KafkajsDecoder) => { key: string; value: unknown }): RecordDecoder {
  const bases = new WeakMap<RecordBatchContext, { offset: number; timestamp: number } | null>();
  return (decoder, batchContext = {}) => {
    let base = bases.get(batchContext);
    if (base === undefined) {
      base = batchBases(batchContext);
      bases.set(batchContext, base);
    }
    if (base === null) return original(decoder, batchContext);
    const start = decoder.offset;
    const attributes = decoder.readInt8();
    const timestampDelta = readShortZigZag(decoder);
    if (Number.isNaN(timestampDelta)) {
      decoder.offset = start;
      return original(decoder, batchContext);
    }
    const { magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
    const timestamp = timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : String(base.timestamp + timestampDelta);
    const offset = String(base.offset + decoder.readVarInt());
    const key = decoder.readVarIntBytes();
    const value = decoder.readVarIntBytes();
    let headers: Record<string, unknown>;
    if (decoder.buffer[decoder.offset] === 0) {
      decoder.offset++; // a header count of zero
      headers = {};
    } else {
      // kafkajs' own reduction: a repeated header name collects its values in an array.
      headers = decoder.readVarIntArray(headerDecoder).reduce<Record<string, unknown>>((obj, { key: name, value: v }) => {
        const known = obj[name];
        return { ...obj, [name]: known === undefined ? v : Array.isArray(known) ? known.concat([v]) : [known, v] };
      }, {});
    }
    return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord: isControlBatch, batchContext };
  };
}

/** Absolute paths of the kafkajs files involved. @throws when kafkajs cannot be resolved. */
export function kafkajsRecordDecoderFiles(): { record: string; header: string; recordBatch: string } {
  const root = path.dirname(require.resolve('kafkajs/package.json'));
  const protocol = path.join(root, 'src', 'protocol', 'recordBatch');
  return {
    record: path.join(protocol, 'record', 'v0', 'decoder.js'),
    header: path.join(protocol, 'header', 'v0', 'decoder.js'),
    recordBatch: path.join(protocol, 'v0', 'decoder.js'),
  };
}

function install(): 'installed' | 'kafkajs-already-loaded' | 'unavailable' {
  let files: ReturnType<typeof kafkajsRecordDecoderFiles>;
  try {
    files = kafkajsRecordDecoderFiles();
  } catch {
    return 'unavailable';
  }
  const cached = require.cache[files.record];
  if (cached && (cached.exports as { fastRecordDecoding?: boolean }).fastRecordDecoding) return 'installed';
  if (require.cache[files.recordBatch]) return 'kafkajs-already-loaded';
  let original: RecordDecoder;
  let header: (decoder: KafkajsDecoder) => { key: string; value: unknown };
  try {
    original = require(files.record) as RecordDecoder;
    header = require(files.header) as typeof header;
  } catch {
    return 'unavailable';
  }
  const module = require.cache[files.record];
  if (typeof original !== 'function' || typeof header !== 'function' || !module) return 'unavailable';
  module.exports = Object.assign(createRecordDecoder(original, header), { fastRecordDecoding: true });
  return 'installed';
}

/** Whether kafkajs in this process decodes records with {@link createRecordDecoder}. */
export const recordDecodingStatus = install();
