import { describe, expect, it } from 'vitest';
import { mapLimit, parseManifest, topicPartitionOf } from './bronze-inputs.ts';

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
    const { writtenAt: _writtenAt, ...used } = manifest;
    expect(parseManifest(key, JSON.stringify(manifest))).toEqual({ ...used, manifestKey: key });
  });

  it('rejects a manifest that does not match its key, or is not one', () => {
    expect(parseManifest(key, JSON.stringify({ ...manifest, lastOffset: 250 }))).toEqual({ problem: 'offsets 100-250 do not match the manifest key' });
    expect(parseManifest(key, JSON.stringify({ ...manifest, partition: 1 }))).toEqual({ problem: 'topic/partition sport.public.activities/1 do not match the manifest key' });
    expect(parseManifest(key, JSON.stringify({ ...manifest, key: 'gold/x.parquet' }))).toEqual({ problem: 'data key gold/x.parquet is outside bronze/sport.public.activities/' });
    expect(parseManifest(key, '{')).toEqual({ problem: 'not valid JSON' });
    expect(parseManifest(key, JSON.stringify({ ...manifest, rows: -1 }))).toEqual({ problem: 'rows: Too small: expected number to be >=0' });
  });

  it('finds topic and partition in a manifest key', () => {
    expect(topicPartitionOf(key)).toEqual({ topic: 'sport.public.activities', partition: 2 });
    expect(topicPartitionOf('_manifest/bronze/x/readme.txt')).toBeUndefined();
    expect(topicPartitionOf('bronze/sport.public.activities/p2/x.json')).toBeUndefined();
  });
});

describe('mapLimit', () => {
  it('keeps input order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
  });
});
