import { describe, expect, it } from 'vitest';
import { bronzeObjectKey, manifestKey, manifestPrefix, manifestStartAfter, padOffset, parseManifestKey } from './layout.ts';

const range = { topic: 'sport.public.activities', partition: 2, firstOffset: 1200, lastOffset: 1299 };

describe('bronze layout', () => {
  it('names the Parquet object by topic, UTC date of the first message, partition and zero-padded offsets', () => {
    // 2026-01-01T23:30:00Z: still the 1st in UTC, although the 2nd in Paris.
    expect(bronzeObjectKey(range, Date.UTC(2026, 0, 1, 23, 30))).toBe(
      'bronze/sport.public.activities/dt=2026-01-01/p2-00000000000000001200-00000000000000001299.parquet',
    );
  });

  it('names the manifest entry by partition and offsets, so startAfter lists newer ranges only', () => {
    expect(manifestKey(range)).toBe('_manifest/bronze/sport.public.activities/p2/00000000000000001200-00000000000000001299.json');
    expect(manifestKey(range).startsWith(manifestPrefix(range.topic, range.partition))).toBe(true);
    const keys = [0, 1199, 1200, 1300].map((first) => manifestKey({ ...range, firstOffset: first, lastOffset: first + 99 }));
    const from1200 = manifestStartAfter(range.topic, range.partition, 1200);
    expect(keys.filter((k) => k > from1200)).toEqual([keys[2], keys[3]]);
  });

  it('pads to 20 digits so key order is offset order, and refuses invalid offsets', () => {
    expect(padOffset(0)).toBe('00000000000000000000');
    expect(padOffset(9) < padOffset(10)).toBe(true);
    expect(() => padOffset(-1)).toThrow(RangeError);
    expect(() => padOffset(1.5)).toThrow(RangeError);
  });

  it('parses manifest keys back into offsets and ignores foreign names', () => {
    expect(parseManifestKey(manifestKey(range))).toEqual({ firstOffset: 1200, lastOffset: 1299 });
    expect(parseManifestKey('_manifest/bronze/t/p0/notes.txt')).toBeUndefined();
    expect(parseManifestKey('_manifest/bronze/t/p0/00000000000000000009-00000000000000000001.json')).toBeUndefined();
  });
});
