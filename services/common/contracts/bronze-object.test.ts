import { describe, expect, it } from 'vitest';
import { bronzeObjectKey, encodeManifest, manifestKey, manifestPrefix, manifestStartAfter, padOffset, parseManifest, parseManifestKey, topicPartitionOf } from './bronze-object.ts';

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

const key = '_manifest/bronze/sport.public.activities/p2/00000000000000000100-00000000000000000199.json';
const manifest = {
  key: 'bronze/sport.public.activities/dt=2026-01-05/p2-00000000000000000100-00000000000000000199.parquet',
  topic: 'sport.public.activities',
  partition: 2,
  firstOffset: 100,
  lastOffset: 199,
  rows: 97,
  bytes: 5120,
  minKafkaTimestampMs: 1767600000000,
  maxKafkaTimestampMs: 1767600099000,
  writtenAt: '2026-01-05T08:00:00.000Z',
};

describe('bronze manifests (docs/contracts/change-events.md)', () => {
  it('reads a manifest that matches its key', () => {
    expect(parseManifest(key, JSON.stringify(manifest))).toEqual({ ...manifest, manifestKey: key });
  });

  it('rejects a manifest that does not match its key, or is not one', () => {
    expect(parseManifest(key, JSON.stringify({ ...manifest, lastOffset: 250 }))).toEqual({ problem: 'offsets 100-250 do not match the manifest key' });
    expect(parseManifest(key, JSON.stringify({ ...manifest, partition: 1 }))).toEqual({ problem: 'topic/partition sport.public.activities/1 do not match the manifest key' });
    expect(parseManifest(key, JSON.stringify({ ...manifest, key: 'gold/x.parquet' }))).toEqual({ problem: 'data key gold/x.parquet is outside bronze/sport.public.activities/' });
    expect(parseManifest(key, '{')).toEqual({ problem: 'not valid JSON' });
    expect(parseManifest(key, JSON.stringify({ ...manifest, rows: -1 }))).toEqual({ problem: 'rows: Too small: expected number to be >=0' });
  });

  it('rejects an unknown value instead of casting it', () => {
    expect(parseManifest(key, JSON.stringify({ ...manifest, writtenAt: 'yesterday' }))).toEqual({ problem: 'writtenAt: Invalid ISO datetime' });
    expect(parseManifest(key, JSON.stringify({ ...manifest, bytes: '5120' }))).toEqual({ problem: 'bytes: Invalid input: expected number, received string' });
  });

  it('writes what it reads: encodeManifest names the key and its body parses back', () => {
    const { key: written, body } = encodeManifest(manifest);
    expect(written).toBe(key);
    expect(parseManifest(written, body)).toEqual({ ...manifest, manifestKey: key });
    expect(() => encodeManifest({ ...manifest, key: 'gold/x.parquet' })).toThrow('data key gold/x.parquet is outside bronze/sport.public.activities/');
  });

  it('finds topic and partition in a manifest key', () => {
    expect(topicPartitionOf(key)).toEqual({ topic: 'sport.public.activities', partition: 2 });
    expect(topicPartitionOf('_manifest/bronze/x/readme.txt')).toBeUndefined();
    expect(topicPartitionOf('bronze/sport.public.activities/p2/x.json')).toBeUndefined();
  });
});
