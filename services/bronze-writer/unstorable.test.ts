import { describe, expect, it } from 'vitest';
import type { EncodedSegment } from './encoder-pool.ts';
import { packedMessage, SegmentBuilder, subSegment, type Segment } from './segment.ts';
import { encodeIsolatingUnstorable, EncoderUnavailableError, UNSTORABLE } from './unstorable.ts';

/** A segment of `n` messages at offsets 100.., the ones in `poison` holding "POISON", offset 103 a tombstone. */
function segmentOf(n: number, poison: number[]): Segment {
  const builder = new SegmentBuilder('sport.public.activities', 1, { maxRows: 1000, maxBytes: 1 << 20, maxAgeMs: 60_000 });
  for (let i = 0; i < n; i++) {
    const offset = 100 + i;
    const value = offset === 103 ? null : Buffer.from(`{"id":${offset}${poison.includes(offset) ? ',"x":"POISON"' : ''}}`);
    builder.add(offset, 1_000 + i, Buffer.from(`{"id":${offset}}`), value, 0, { 'lakehouse.schema.id': Buffer.from('0123456789abcdef0123'), other: Buffer.from(`h${offset}`) });
  }
  return builder.seal('forced');
}

const text = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString());

/** An encoder that refuses any segment holding a poison message (like DuckDB refusing a value), and counts its calls. */
function picky(options: { brokenEncoder?: boolean } = {}) {
  const calls: number[][] = [];
  const encode = async (segment: Segment): Promise<EncodedSegment> => {
    const offsets = [...segment.packed.offsets];
    calls.push(offsets);
    if (options.brokenEncoder) throw new Error('IO Error: No space left on device');
    for (let i = 0; i < segment.packed.count; i++) {
      if (text(packedMessage(segment.packed, i).value)?.includes('POISON')) throw new Error('Conversion Error: cannot store');
    }
    const valued = [...Array(segment.packed.count).keys()].filter((i) => packedMessage(segment.packed, i).value !== null);
    return { parquet: Buffer.from(offsets.join(',')), rows: valued.length, tombstones: segment.packed.count - valued.length, undecodable: [] };
  };
  return { encode, calls };
}

describe('encodeIsolatingUnstorable', () => {
  it('dead-letters exactly the messages the encoder refuses and stores every other one (tombstones and headers kept)', async () => {
    const segment = segmentOf(40, [105, 131]);
    const { encode } = picky();
    const encoded = await encodeIsolatingUnstorable(segment, encode);
    expect(encoded.undecodable).toEqual([
      { offset: 105, reason: UNSTORABLE, detail: 'the Parquet encoder refuses this message: Conversion Error: cannot store' },
      { offset: 131, reason: UNSTORABLE, detail: 'the Parquet encoder refuses this message: Conversion Error: cannot store' },
    ]);
    const stored = encoded.parquet!.toString().split(',').map(Number);
    expect(stored).toEqual([...Array(40).keys()].map((i) => 100 + i).filter((o) => o !== 105 && o !== 131));
    expect(encoded.rows).toBe(37);
    expect(encoded.tombstones).toBe(1);
  });

  it('a segment that encodes now costs one call', async () => {
    const { encode, calls } = picky();
    const encoded = await encodeIsolatingUnstorable(segmentOf(10, []), encode);
    expect(encoded.undecodable).toEqual([]);
    expect(calls.length).toBe(1);
  });

  it('dead-letters nothing when the encoder itself fails (a valid canary fails too): the caller retries', async () => {
    const { encode } = picky({ brokenEncoder: true });
    await expect(encodeIsolatingUnstorable(segmentOf(6, []), encode)).rejects.toBeInstanceOf(EncoderUnavailableError);
  });

  it('dead-letters every message when each is refused but a valid canary is stored', async () => {
    const { encode } = picky();
    const encoded = await encodeIsolatingUnstorable(segmentOf(4, [100, 101, 102]), encode);
    expect(encoded.undecodable.map((u) => u.offset)).toEqual([100, 101, 102]);
    expect(encoded.parquet!.toString()).toBe('103'); // the tombstone's offset stays covered
    expect(encoded.rows).toBe(0);
  });
});

describe('subSegment', () => {
  it('keeps the chosen messages byte for byte, with their headers and the range of the segment', () => {
    const segment = segmentOf(6, []);
    const part = subSegment(segment, [1, 3, 5]);
    expect([part.firstOffset, part.lastOffset, part.messages, part.valued]).toEqual([100, 105, 3, 2]);
    const messages = [0, 1, 2].map((i) => packedMessage(part.packed, i));
    expect(messages.map((m) => [m.offset, m.timestampMs, text(m.key), text(m.value), text(m.schemaId), text(m.unavailable)])).toEqual([
      [101, 1001, '{"id":101}', '{"id":101}', '0123456789abcdef0123', null],
      [103, 1003, '{"id":103}', null, '0123456789abcdef0123', null],
      [105, 1005, '{"id":105}', '{"id":105}', '0123456789abcdef0123', null],
    ]);
    expect(part.bytes).toBe(10 * 5);
  });
});
