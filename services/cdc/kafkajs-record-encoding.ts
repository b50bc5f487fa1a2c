/**
 * Load-time replacements of two parts of kafkajs' produce encoding that write the same bytes for
 * less CPU: the record encoder (`src/protocol/recordBatch/record/v0/index.js`, Kafka's Record
 * inside a RecordBatch v2: https://kafka.apache.org/documentation/#record), the RecordBatch
 * encoder (`src/protocol/recordBatch/v0/index.js`) and its CRC-32C (`.../crc32C/index.js`).
 *
 * Why: for every message kafkajs' version zero-fills a 512-byte buffer, re-allocates and copies it
 * when the record is larger (CDC events are ~600 bytes), and builds an array plus a Buffer for each
 * of the five varints and 64-bit `Long` objects for the timestamp delta. In the CDC service's CPU
 * profile, garbage collection was ~28 % of the CPU and kafkajs' buffer allocations another ~13 %
 * (docs/benchmarks.md). This version computes the record's exact size first and writes it into one
 * `Buffer.allocUnsafe` (pooled below 4 KiB; every byte is written, so nothing uninitialised leaves).
 *
 * kafkajs' RecordBatch appends every record to an encoder that starts at 512 bytes and doubles
 * (zero-filled) as it grows, then copies the whole batch twice more; {@link createRecordBatchEncoder}
 * sizes the batch from its records and writes it once. Compressed batches keep kafkajs' code.
 *
 * kafkajs computes CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) one byte per step; it
 * was ~6 % of the service's CPU. {@link crc32c} is the standard slicing-by-8 variant (eight
 * 256-entry tables, eight bytes per step), same result for every input.
 *
 * Scope: the fast path covers what the CDC service sends without headers (key and value a string,
 * a Buffer or null; a numeric timestamp delta within ±2^30 ms, where the 64-bit zig-zag varint
 * equals the 32-bit one). Anything else (headers, Long timestamps) goes to kafkajs' own encoder, so
 * the bytes are kafkajs' in every case (unit-tested against the original).
 *
 * How: as kafkajs-linear-grouping.ts does, the module is put in Node's module cache before kafkajs'
 * produce request (its only user) is loaded; this module must be imported before `kafkajs`.
 * If kafkajs was already loaded, or the file is absent in another kafkajs version, nothing is
 * changed: {@link recordEncodingStatus} says so.
 */
import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);

/** The part of kafkajs' Encoder this module relies on (kafkajs/src/protocol/encoder.js). */
export interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
  readonly buffer: Buffer;
}

/** Arguments of kafkajs' Record v0 encoder. */
export interface RecordArgs {
  offsetDelta?: number;
  timestampDelta?: unknown;
  key?: unknown;
  value?: unknown;
  headers?: Record<string, unknown>;
}

export type RecordEncoder = (args: RecordArgs) => KafkajsEncoder;

const MORE_BITS = 0xffffff80;
const ZIGZAG64_EQUALS_32_LIMIT = 2 ** 30;

function zigZag(value: number): number {
  return (value << 1) ^ (value >> 31);
}

/** Bytes of kafkajs' `writeUVarInt(value)` (same loop, same 32-bit semantics). */
function uVarIntSize(value: number): number {
  let bytes = 1;
  while ((value & MORE_BITS) !== 0) {
    bytes += 1;
    value >>>= 7;
  }
  return bytes;
}

function writeUVarInt(buf: Buffer, offset: number, value: number): number {
  while ((value & MORE_BITS) !== 0) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[offset++] = value & 0x7f;
  return offset;
}

/** Byte length of a key or value as kafkajs writes it, or -1 for null. */
function bytesLength(value: string | Buffer | null | undefined): number {
  if (value == null) return -1;
  return typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length;
}

function writeBytes(buf: Buffer, offset: number, value: string | Buffer | null | undefined, length: number): number {
  offset = writeUVarInt(buf, offset, zigZag(length));
  if (value == null) return offset;
  if (typeof value === 'string') buf.write(value, offset, length, 'utf8');
  else value.copy(buf, offset);
  return offset + length;
}

function hasHeaders(headers: Record<string, unknown> | undefined): boolean {
  if (headers === undefined) return false;
  for (const _ in headers) return true;
  return false;
}

function isBytes(value: unknown): value is string | Buffer | null | undefined {
  return value == null || typeof value === 'string' || Buffer.isBuffer(value);
}

/**
 * Builds the replacement around kafkajs' own encoder.
 * @param original kafkajs' Record v0 encoder, used for everything outside the fast path.
 * @param encoderPrototype `Encoder.prototype` of the same kafkajs, so the result is a real Encoder.
 * @returns a function with the original's contract: Record v0 bytes (length varint first) in an Encoder.
 */
export function createRecordEncoder(original: RecordEncoder, encoderPrototype: object): RecordEncoder {
  return (args: RecordArgs): KafkajsEncoder => {
    const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = args;
    if (
      hasHeaders(headers) ||
      typeof timestampDelta !== 'number' ||
      !Number.isInteger(timestampDelta) ||
      timestampDelta < -ZIGZAG64_EQUALS_32_LIMIT ||
      timestampDelta >= ZIGZAG64_EQUALS_32_LIMIT ||
      !isBytes(key) ||
      !isBytes(value)
    ) {
      return original(args);
    }
    const keyLength = bytesLength(key);
    const valueLength = bytesLength(value);
    const sizeOfBody =
      1 + // attributes
      uVarIntSize(zigZag(timestampDelta)) +
      uVarIntSize(zigZag(offsetDelta)) +
      uVarIntSize(zigZag(keyLength)) + Math.max(keyLength, 0) +
      uVarIntSize(zigZag(valueLength)) + Math.max(valueLength, 0) +
      1; // zero headers
    const total = uVarIntSize(zigZag(sizeOfBody)) + sizeOfBody;
    const buf = Buffer.allocUnsafe(total);
    let offset = writeUVarInt(buf, 0, zigZag(sizeOfBody));
    buf[offset++] = 0;
    offset = writeUVarInt(buf, offset, zigZag(timestampDelta));
    offset = writeUVarInt(buf, offset, zigZag(offsetDelta));
    offset = writeBytes(buf, offset, key, keyLength);
    offset = writeBytes(buf, offset, value, valueLength);
    buf[offset++] = 0;
    // Every byte must have been written (allocUnsafe): if the sizes ever disagree, use kafkajs'.
    if (offset !== total) return original(args);
    const encoder = Object.create(encoderPrototype) as KafkajsEncoder;
    encoder.buf = buf;
    encoder.offset = total;
    return encoder;
  };
}

interface RecordBatchArgs {
  compression?: number;
  firstOffset?: unknown;
  firstTimestamp?: unknown;
  maxTimestamp?: unknown;
  partitionLeaderEpoch?: number;
  lastOffsetDelta?: number;
  transactional?: boolean;
  producerId?: unknown;
  producerEpoch?: number;
  firstSequence?: number;
  records?: unknown[];
}

export type RecordBatchEncoder = (args: RecordBatchArgs) => Promise<KafkajsEncoder>;

interface EncoderClass {
  new (initialSize?: number): KafkajsEncoder & {
    writeInt8(v: number): EncoderInstance;
    writeInt16(v: number): EncoderInstance;
    writeInt32(v: number): EncoderInstance;
    writeInt64(v: unknown): EncoderInstance;
  };
  prototype: object;
}
type EncoderInstance = InstanceType<EncoderClass>;

const COMPRESSION_CODEC_MASK = 0x07;
const TRANSACTIONAL_MASK = 16;
const MAGIC_BYTE = 2;

function isEncoder(value: unknown): value is KafkajsEncoder {
  return typeof value === 'object' && value !== null && Buffer.isBuffer((value as KafkajsEncoder).buf) && typeof (value as KafkajsEncoder).offset === 'number';
}

/**
 * Builds the replacement of kafkajs' `RecordBatch` (RecordBatch v2 framing: first offset, length,
 * partition leader epoch, magic 2, CRC-32C of the rest, attributes ... records).
 * @param original kafkajs' RecordBatch, used for compressed batches and unexpected record shapes.
 * @param Encoder kafkajs' Encoder class: the fixed-size fields are written by it, so they keep its
 *   byte layout (Long conversion of offsets, timestamps and producer id included).
 * @param long kafkajs' Long, for the same defaults as the original.
 * @returns a function with the original's contract: resolves to an Encoder holding the batch bytes.
 */
export function createRecordBatchEncoder(original: RecordBatchEncoder, Encoder: EncoderClass, long: { fromInt(v: number): unknown; fromValue(v: number): unknown }): RecordBatchEncoder {
  return async (args: RecordBatchArgs): Promise<KafkajsEncoder> => {
    const {
      compression = 0,
      firstOffset = long.fromInt(0),
      firstTimestamp = Date.now(),
      maxTimestamp = Date.now(),
      partitionLeaderEpoch = 0,
      lastOffsetDelta = 0,
      transactional = false,
      producerId = long.fromValue(-1),
      producerEpoch = 0,
      firstSequence = 0,
      records = [],
    } = args;
    if ((compression & COMPRESSION_CODEC_MASK) !== 0 || !records.every(isEncoder)) return original(args);
    const attributes = (compression & COMPRESSION_CODEC_MASK) | (transactional ? TRANSACTIONAL_MASK : 0);
    const bodyHead = new Encoder(64)
      .writeInt16(attributes)
      .writeInt32(lastOffsetDelta)
      .writeInt64(firstTimestamp)
      .writeInt64(maxTimestamp)
      .writeInt64(producerId)
      .writeInt16(producerEpoch)
      .writeInt32(firstSequence)
      .writeInt32(records.length);
    let bodyLength = bodyHead.offset;
    for (const r of records) bodyLength += r.offset;
    const batchLength = 4 + 1 + 4 + bodyLength; // partition leader epoch, magic, CRC, body
    const head = new Encoder(32).writeInt64(firstOffset).writeInt32(batchLength).writeInt32(partitionLeaderEpoch).writeInt8(MAGIC_BYTE);
    const crcAt = head.offset;
    const bodyAt = crcAt + 4;
    const total = bodyAt + bodyLength;
    // Every byte below is written (allocUnsafe).
    const buf = Buffer.allocUnsafe(total);
    head.buf.copy(buf, 0, 0, crcAt);
    bodyHead.buf.copy(buf, bodyAt, 0, bodyHead.offset);
    let offset = bodyAt + bodyHead.offset;
    for (const r of records) offset += r.buf.copy(buf, offset, 0, r.offset);
    buf.writeUInt32BE(crc32c(buf.subarray(bodyAt, total)), crcAt);
    const encoder = Object.create(Encoder.prototype) as KafkajsEncoder;
    encoder.buf = buf;
    encoder.offset = total;
    return encoder;
  };
}

/** kafkajs' files involved, resolved in this installation. */
export function kafkajsRecordFiles(): { record: string; encoder: string; produceRequest: string; crc32c: string; recordBatch: string; long: string } {
  return {
    record: require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js'),
    encoder: require.resolve('kafkajs/src/protocol/encoder.js'),
    produceRequest: require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js'),
    crc32c: require.resolve('kafkajs/src/protocol/recordBatch/crc32C/index.js'),
    recordBatch: require.resolve('kafkajs/src/protocol/recordBatch/v0/index.js'),
    long: require.resolve('kafkajs/src/utils/long.js'),
  };
}

/** CRC-32C slicing-by-8 tables: TABLES[0] is the byte-wise table, TABLES[k] advances k more zero bytes. */
const CRC_TABLES: Int32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    tables[0]![n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0]![n]!;
    for (let t = 1; t < 8; t++) {
      c = tables[0]![c & 0xff]! ^ (c >>> 8);
      tables[t]![n] = c;
    }
  }
  return tables;
})();

/**
 * CRC-32C (Castagnoli) of `data`, as Kafka's RecordBatch checksum uses it.
 * @returns the unsigned 32-bit checksum (kafkajs' crc32C returns the same number).
 */
export function crc32c(data: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  const n = data.length;
  const end8 = n - (n & 7);
  let crc = -1;
  let i = 0;
  for (; i < end8; i += 8) {
    const a = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc =
      t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < n; i++) crc = t0[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

function install(): 'installed' | 'kafkajs-already-loaded' | 'unavailable' {
  let files: ReturnType<typeof kafkajsRecordFiles>;
  try {
    files = kafkajsRecordFiles();
  } catch {
    return 'unavailable';
  }
  const cached = require.cache[files.record];
  if (cached && (cached.exports as { fastRecordEncoding?: boolean }).fastRecordEncoding) return 'installed';
  if (require.cache[files.produceRequest] || require.cache[files.recordBatch]) return 'kafkajs-already-loaded';
  const crcReplacement = new Module(files.crc32c);
  crcReplacement.filename = files.crc32c;
  crcReplacement.loaded = true;
  crcReplacement.exports = crc32c;
  require.cache[files.crc32c] = crcReplacement;
  const original = require(files.record) as RecordEncoder;
  const encoder = require(files.encoder) as { prototype: object };
  const module = require.cache[files.record];
  if (typeof original !== 'function' || typeof encoder?.prototype !== 'object' || !module) return 'unavailable';
  module.exports = Object.assign(createRecordEncoder(original, encoder.prototype), { fastRecordEncoding: true });
  const batchModule = require(files.recordBatch) as { RecordBatch: RecordBatchEncoder; MAGIC_BYTE: number };
  const long = require(files.long) as { fromInt(v: number): unknown; fromValue(v: number): unknown };
  if (typeof batchModule.RecordBatch !== 'function' || batchModule.MAGIC_BYTE !== MAGIC_BYTE) return 'unavailable';
  batchModule.RecordBatch = createRecordBatchEncoder(batchModule.RecordBatch, encoder as EncoderClass, long);
  return 'installed';
}

/** Whether kafkajs in this process uses the fast record encoder and CRC-32C. */
export const recordEncodingStatus = install();
