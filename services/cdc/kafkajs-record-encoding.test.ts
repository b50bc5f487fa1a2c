import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32c, createRecordBatchEncoder, createRecordEncoder, kafkajsRecordFiles, type RecordArgs, type RecordBatchEncoder, type RecordEncoder } from './kafkajs-record-encoding.ts';

const require = createRequire(import.meta.url);
const files = kafkajsRecordFiles();
const Encoder = require(files.encoder) as { prototype: object };

/** A kafkajs module evaluated from its source (the module cache may hold the replacement). */
function originalModule(file: string): unknown {
  const source = readFileSync(file, 'utf8');
  const mod = { exports: {} as unknown };
  const localRequire = (id: string) => require(id.startsWith('.') ? path.resolve(path.dirname(file), id) : id);
  new Function('module', 'exports', 'require', source)(mod, mod.exports, localRequire);
  return mod.exports;
}

function originalRecord(): RecordEncoder {
  return originalModule(files.record) as RecordEncoder;
}

describe('kafkajs record encoding', () => {
  const original = originalRecord();
  let fallbacks = 0;
  const fast = createRecordEncoder((args) => {
    fallbacks++;
    return original(args);
  }, Encoder.prototype);

  const envelope = `{"before":null,"after":{"id":42,"name":"Zoë Ørsted 🚴"},"source":{"lsn":123},"op":"c","ts_ms":1}`;
  const cases: RecordArgs[] = [
    { key: '{"id":1}', value: envelope, offsetDelta: 0, timestampDelta: 0 },
    { key: '{"id":1}', value: 'x'.repeat(600), offsetDelta: 1999, timestampDelta: 0 },
    { key: null, value: envelope, offsetDelta: 63, timestampDelta: 64 },
    { key: '{"id":2}', value: null, offsetDelta: 64, timestampDelta: -64 },
    { key: undefined, value: undefined },
    { key: Buffer.from('bin\u0000key'), value: Buffer.from(envelope), offsetDelta: 8191, timestampDelta: 8192 },
    { key: '', value: '', offsetDelta: 2 ** 20, timestampDelta: 2 ** 30 - 1 },
    { key: 'k', value: 'y'.repeat(70_000), offsetDelta: 5, timestampDelta: -(2 ** 30) },
    { key: 'k', value: 'é'.repeat(3000), offsetDelta: 5, timestampDelta: 1234567, headers: {} },
  ];

  it('writes exactly the bytes kafkajs writes, without falling back, for keys and values as the CDC sink sends them', () => {
    fallbacks = 0;
    for (const args of cases) {
      const got = fast(args);
      expect(got.buffer.equals(original(args).buffer)).toBe(true);
      expect(got).toBeInstanceOf(Encoder as unknown as new () => unknown);
    }
    expect(fallbacks).toBe(0);
  });

  it('leaves headers, large and Long timestamp deltas to kafkajs (same bytes)', () => {
    fallbacks = 0;
    const others: RecordArgs[] = [
      { key: '{"id":1}', value: envelope, headers: { '__debezium.newkey': '{"id":2}' } },
      { key: 'k', value: 'v', timestampDelta: 2 ** 30 },
      { key: 'k', value: 'v', timestampDelta: 1_700_000_000_000 },
      { key: 'k', value: 'v', timestampDelta: -(2 ** 30) - 1 },
    ];
    for (const args of others) expect(fast(args).buffer.equals(original(args).buffer)).toBe(true);
    expect(fallbacks).toBe(others.length);
  });

  it('computes the CRC-32C kafkajs computes, for every length and offset', () => {
    const byteWise = require(path.join(path.dirname(files.crc32c), 'crc32C.js')) as (b: Buffer) => number;
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283); // the CRC-32C check value (RFC 3720)
    let seed = 7;
    const data = Buffer.alloc(5000);
    for (let i = 0; i < data.length; i++) data[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 16;
    for (const length of [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4093]) {
      for (const start of [0, 1, 3]) {
        const slice = data.subarray(start, start + length);
        expect(crc32c(slice)).toBe(byteWise(slice) >>> 0);
      }
    }
  });

  it('is what kafkajs loads in this process (installed before kafkajs)', async () => {
    const { recordEncodingStatus } = await import('./kafkajs-record-encoding.ts');
    await import('./kafka-sink.ts');
    expect(recordEncodingStatus).toBe('installed');
    expect((require(files.record) as { fastRecordEncoding?: boolean }).fastRecordEncoding).toBe(true);
    expect(require(files.crc32c)).toBe(crc32c);
    expect((require(files.recordBatch) as { RecordBatch: { name: string } }).RecordBatch.name).not.toBe('RecordBatch');
  });

  it('frames record batches exactly as kafkajs does; compressed batches stay with kafkajs', async () => {
    const { RecordBatch: originalBatch } = originalModule(files.recordBatch) as { RecordBatch: RecordBatchEncoder };
    const Long = require(files.long) as { fromInt(v: number): unknown; fromValue(v: number): unknown; fromString(v: string): unknown };
    let batchFallbacks = 0;
    const fastBatch = createRecordBatchEncoder(async (args) => {
      batchFallbacks++;
      return originalBatch(args);
    }, Encoder as never, Long);
    const records = cases.map((args, i) => original({ ...args, offsetDelta: i }));
    const variants = [
      { records, firstTimestamp: 1_700_000_000_123, maxTimestamp: 1_700_000_000_456, lastOffsetDelta: records.length - 1 },
      { records, firstTimestamp: 1, maxTimestamp: 2, producerId: Long.fromString('123456789012'), producerEpoch: 3, firstSequence: 2_000_000, transactional: true, partitionLeaderEpoch: 9 },
      { records: [], firstTimestamp: 5, maxTimestamp: 5 },
      { records: records.slice(0, 1), firstTimestamp: 5, maxTimestamp: 5, compression: 0 },
    ];
    for (const args of variants) expect((await fastBatch(args)).buffer.equals((await originalBatch(args)).buffer)).toBe(true);
    expect(batchFallbacks).toBe(0);
    const gzip = { records, firstTimestamp: 5, maxTimestamp: 5, compression: 1 };
    expect((await fastBatch(gzip)).buffer.length).toBeGreaterThan(0);
    expect(batchFallbacks).toBe(1);
  });
});
