import { describe, expect, it } from 'vitest';
import type { BronzeRow } from './bronze-row.ts';
import { boundaryFor, SegmentBuilder } from './segment.ts';

const policy = { maxRows: 3, maxBytes: 1000, maxAgeMs: 60_000 };
const row = (offset: number) => ({ offset }) as BronzeRow;

describe('SegmentBuilder', () => {
  it('covers every offset, counts only rows, and seals at maxRows', () => {
    const s = new SegmentBuilder('t', 0, policy);
    s.add(10, 5_000, row(10), 10, 0);
    s.add(11, 4_000, null, 0, 0); // tombstone
    s.add(12, 6_000, row(12), 10, 0);
    expect(s.sealReason(0)).toBeUndefined();
    s.add(14, 7_000, row(14), 10, 0); // 13 compacted away
    expect(s.sealReason(0)).toBe('rows');
    expect(s.seal('rows')).toEqual({
      topic: 't',
      partition: 0,
      firstOffset: 10,
      lastOffset: 14,
      firstTimestampMs: 5_000,
      minTimestampMs: 4_000,
      maxTimestampMs: 7_000,
      rows: [row(10), row(12), row(14)],
      messages: 4,
      bytes: 30,
      sealedBy: 'rows',
    });
  });

  it('seals by bytes and by age since the first message', () => {
    const big = new SegmentBuilder('t', 0, policy);
    big.add(0, 0, row(0), 1000, 0);
    expect(big.sealReason(0)).toBe('bytes');
    const old = new SegmentBuilder('t', 0, policy);
    old.add(0, 0, row(0), 1, 1_000);
    old.add(1, 0, row(1), 1, 50_000);
    expect(old.sealReason(60_999)).toBeUndefined();
    expect(old.sealReason(61_000)).toBe('age');
  });

  it('follows a recorded range exactly, ignoring rows and age while messages flow', () => {
    const s = new SegmentBuilder('t', 0, policy, { exactLastOffset: 5 });
    for (let o = 0; o <= 4; o++) s.add(o, 0, row(o), 1, o * 30_000);
    expect(s.sealReason(4 * 30_000)).toBeUndefined();
    s.add(5, 0, row(5), 1, 150_000);
    expect(s.sealReason(150_000)).toBe('boundary');
  });

  it('does not wait forever for a recorded end that never comes (idle partition)', () => {
    const s = new SegmentBuilder('t', 0, policy, { exactLastOffset: 5 });
    s.add(0, 0, row(0), 1, 0);
    expect(s.sealReason(59_999)).toBeUndefined();
    expect(s.sealReason(60_000)).toBe('age');
  });

  it('ends before the next recorded range and reports an offset that skips the end', () => {
    const s = new SegmentBuilder('t', 0, { ...policy, maxRows: 100 }, { maxLastOffset: 3 });
    s.add(2, 0, row(2), 1, 0);
    expect(s.sealReason(0)).toBeUndefined();
    expect(s.endsBefore(3)).toBe(false);
    expect(s.endsBefore(4)).toBe(true);
    s.add(3, 0, row(3), 1, 0);
    expect(s.sealReason(0)).toBe('boundary');
  });

  it('refuses offsets that do not increase', () => {
    const s = new SegmentBuilder('t', 0, policy);
    s.add(5, 0, row(5), 1, 0);
    expect(() => s.add(5, 0, row(5), 1, 0)).toThrow(RangeError);
  });
});

describe('boundaryFor', () => {
  const recorded = [
    { firstOffset: 0, lastOffset: 99 },
    { firstOffset: 100, lastOffset: 150 },
    { firstOffset: 200, lastOffset: 299 },
  ];
  it('ends exactly where a recorded range starting at the same offset ended', () => {
    expect(boundaryFor(100, recorded)).toEqual({ exactLastOffset: 150 });
  });
  it('ends before the next recorded range otherwise', () => {
    expect(boundaryFor(151, recorded)).toEqual({ maxLastOffset: 199 });
    expect(boundaryFor(120, recorded)).toEqual({ maxLastOffset: 199 });
  });
  it('is free past the last recorded range', () => {
    expect(boundaryFor(300, recorded)).toEqual({});
  });
});
