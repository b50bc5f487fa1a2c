import { describe, expect, it } from 'vitest';
import type { BronzeFile } from '../common/contracts/bronze-object.ts';
import { dropOverlappingFiles, mapLimit } from './bronze-inputs.ts';

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

describe('dropOverlappingFiles', () => {
  const file = (partition: number, firstOffset: number, lastOffset: number, topic = 't'): BronzeFile => ({
    key: `bronze/${topic}/p${partition}-${firstOffset}-${lastOffset}.parquet`,
    manifestKey: `m/${topic}/p${partition}/${firstOffset}-${lastOffset}`,
    topic,
    partition,
    firstOffset,
    lastOffset,
    rows: lastOffset - firstOffset + 1,
    bytes: 1,
    minKafkaTimestampMs: 0,
    maxKafkaTimestampMs: 0,
    writtenAt: '2026-12-05T00:00:00.000Z',
  });

  it('reads one copy of every offset: a replay that cut a recorded range in two is dropped and reported (issue 14)', () => {
    // Recorded [0-99] [100-199] [200-299]; the replay wrote [100-149] [150-199] over the middle one.
    const files = [file(0, 0, 99), file(0, 100, 149), file(0, 100, 199), file(0, 150, 199), file(0, 200, 299), file(1, 0, 10), file(0, 0, 5, 'u')];
    const { files: kept, overlaps } = dropOverlappingFiles(files);
    expect(kept.map((f) => f.manifestKey)).toEqual(['m/t/p0/0-99', 'm/t/p0/100-199', 'm/t/p0/200-299', 'm/t/p1/0-10', 'm/u/p0/0-5']);
    expect(overlaps).toEqual([
      { topic: 't', partition: 0, kept: 'm/t/p0/100-199', other: 'm/t/p0/100-149', outcome: 'dropped' },
      { topic: 't', partition: 0, kept: 'm/t/p0/100-199', other: 'm/t/p0/150-199', outcome: 'dropped' },
    ]);
  });

  it('keeps a file that also covers new offsets, and reports the partial overlap', () => {
    const { files: kept, overlaps } = dropOverlappingFiles([file(0, 0, 99), file(0, 50, 120), file(0, 121, 130)]);
    expect(kept.map((f) => f.manifestKey)).toEqual(['m/t/p0/0-99', 'm/t/p0/50-120', 'm/t/p0/121-130']);
    expect(overlaps).toEqual([{ topic: 't', partition: 0, kept: 'm/t/p0/0-99', other: 'm/t/p0/50-120', outcome: 'partial' }]);
  });

  it('changes nothing for tiling ranges', () => {
    const files = [file(0, 0, 9), file(0, 10, 19), file(2, 0, 0)];
    expect(dropOverlappingFiles(files)).toEqual({ files, overlaps: [] });
  });
});
