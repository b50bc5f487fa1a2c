import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createRecordDecoder, kafkajsRecordDecoderFiles, type KafkajsDecoder, type RecordBatchContext, type RecordDecoder } from './kafkajs-record-decoding.ts';

const require = createRequire(import.meta.url);
const files = kafkajsRecordDecoderFiles();
// kafkajs' own modules, loaded directly (the patched module replaces only the cached record decoder).
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => KafkajsDecoder;
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (args: Record<string, unknown>) => { buffer: Buffer };
const headerDecoder = require(files.header) as (decoder: KafkajsDecoder) => { key: string; value: unknown };
const loaded = require(files.record) as RecordDecoder & { fastRecordDecoding?: boolean };

describe('createRecordDecoder (kafkajs record decoder replacement)', () => {
  it('is what kafkajs uses in the bronze writer process', async () => {
    const { recordDecodingStatus } = await import('./kafkajs-record-decoding.ts');
    expect(recordDecodingStatus).toBe('installed');
    expect(loaded.fastRecordDecoding).toBe(true);
  });

  it('returns the same record, and stops at the same byte, as kafkajs for every shape of record and batch', () => {
    // The original function, loaded fresh from its file (the cached module is the replacement).
    const originalPath = require.resolve(files.record);
    const cached = require.cache[originalPath]!;
    delete require.cache[originalPath];
    const original = require(originalPath) as RecordDecoder;
    require.cache[originalPath] = cached;
    expect((original as { fastRecordDecoding?: boolean }).fastRecordDecoding).toBeUndefined();
    const fast = createRecordDecoder(original, headerDecoder);

    const contexts: RecordBatchContext[] = [
      { firstOffset: '0', firstTimestamp: '1767258000000', magicByte: 2, timestampType: 0, maxTimestamp: '1767258009999' },
      { firstOffset: '123456789', firstTimestamp: '-5', magicByte: 2, isControlBatch: true, timestampType: 0 },
      { firstOffset: '9007199254740000', firstTimestamp: '1767258000000', magicByte: 2 }, // offset + delta past 2^53 for big deltas
      { firstOffset: '9223372036854775000', firstTimestamp: '1767258000000', magicByte: 2 }, // beyond 2^53: kafkajs' path
      { firstOffset: '42', firstTimestamp: '1767258000000', magicByte: 2, timestampType: 1, maxTimestamp: '1767258000999' }, // log append time
    ];
    const records: Record<string, unknown>[] = [
      { offsetDelta: 0, timestampDelta: 0, key: Buffer.from('{"id":1}'), value: Buffer.from('{"op":"c"}') },
      { offsetDelta: 7, timestampDelta: 1234, key: null, value: null },
      { offsetDelta: 65_000, timestampDelta: -3, key: Buffer.alloc(0), value: Buffer.from('x'.repeat(300)) },
      { offsetDelta: 1, timestampDelta: 2 ** 27 - 1, key: Buffer.from('k'), value: Buffer.from('v') }, // 4-byte varint
      { offsetDelta: 2, timestampDelta: 2 ** 27, key: Buffer.from('k'), value: Buffer.from('v') }, // 5 bytes: kafkajs' path
      { offsetDelta: 3, timestampDelta: -(2 ** 40), key: Buffer.from('k'), value: Buffer.from('v') }, // Long delta
      { offsetDelta: 4, timestampDelta: 5, key: Buffer.from('k'), value: Buffer.from('v'), headers: { a: Buffer.from('1'), b: [Buffer.from('2'), Buffer.from('3')] } },
    ];
    let compared = 0;
    for (const context of contexts) {
      for (const record of records) {
        // A record followed by another one: the decoder must stop exactly at the boundary.
        const bytes = Buffer.concat([encodeRecord(record).buffer, encodeRecord(records[0]!).buffer]);
        const a = new Decoder(bytes);
        const b = new Decoder(bytes);
        a.readVarInt(); // the record length, read by the RecordBatch decoder before the record decoder
        b.readVarInt();
        const expected = original(a, context);
        const actual = fast(b, context);
        expect(actual, JSON.stringify({ context, record })).toEqual(expected);
        expect(b.offset).toBe(a.offset);
        expect(fast(b, context)).toEqual(original(a, context));
        compared++;
      }
    }
    expect(compared).toBe(contexts.length * records.length);
  });
});
