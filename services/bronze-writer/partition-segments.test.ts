import { describe, expect, it } from 'vitest';
import { PartitionSegments, type BoundarySource, type IncomingMessage } from './partition-segments.ts';
import type { Boundary, Segment } from './segment.ts';

const policy = { maxRows: 3, maxBytes: 1024 * 1024, maxAgeMs: 60_000 };
const noBoundary: BoundarySource = { boundaryFor: async () => ({}) };
const msg = (offset: number, value: string | null = `{"n":${offset}}`): IncomingMessage => ({ offset, timestampMs: 1_000 + offset, key: Buffer.from(`{"id":${offset}}`), value: value === null ? null : Buffer.from(value) });
const clock = () => 5_000;

function collect() {
  const sealed: Segment[] = [];
  return { sealed, onSealed: (_: unknown, s: Segment) => void sealed.push(s) };
}

describe('PartitionSegments', () => {
  it('seals a segment every maxRows valued messages, tombstones riding along, and skips offsets already packed', async () => {
    const parts = new PartitionSegments(policy, () => noBoundary);
    const st = parts.stateFor('t', 0)!;
    const { sealed, onSealed } = collect();
    await parts.pack(st, [msg(0), msg(1), msg(2, null), msg(3)], clock, onSealed);
    // A redelivery (after a rebalance) of offsets already in a segment changes nothing.
    await parts.pack(st, [msg(2, null), msg(3), msg(4), msg(5)], clock, onSealed);
    expect(sealed.map((s) => [s.firstOffset, s.lastOffset, s.valued, s.sealedBy])).toEqual([[0, 3, 3, 'rows']]);
    expect(st.open?.firstOffset).toBe(4);
    expect(parts.openBytes).toBe(st.open!.bytes);
  });

  it('ends segments where the manifest of an earlier run says, so a replay writes the same keys', async () => {
    const recorded: Record<number, Boundary> = { 0: { exactLastOffset: 1 }, 2: { maxLastOffset: 2 } };
    const parts = new PartitionSegments(policy, () => ({ boundaryFor: async (first) => recorded[first] ?? {} }));
    const st = parts.stateFor('t', 0)!;
    const { sealed, onSealed } = collect();
    await parts.pack(st, [0, 1, 2, 3, 4].map((o) => msg(o)), clock, onSealed);
    expect(sealed.map((s) => [s.firstOffset, s.lastOffset, s.sealedBy])).toEqual([
      [0, 1, 'boundary'],
      [2, 2, 'boundary'],
    ]);
  });

  it('at shutdown, drops a replayed segment short of its recorded end instead of storing it under a new key; seals the others (issue 14)', async () => {
    const parts = new PartitionSegments({ ...policy, maxRows: 100 }, (_, partition) => ({ boundaryFor: async (first) => (partition === 0 && first === 0 ? { exactLastOffset: 9 } : {}) }));
    const replayed = parts.stateFor('t', 0)!;
    const live = parts.stateFor('t', 1)!;
    const { sealed, onSealed } = collect();
    await parts.pack(replayed, [0, 1, 2].map((o) => msg(o)), clock, onSealed);
    await parts.pack(live, [0, 1].map((o) => msg(o)), clock, onSealed);
    // Back-pressure may only force out the live one.
    expect(parts.largestOpen()).toBe(live);
    expect(parts.idleAwaitingRecordedEnd(clock() + 60_000, 60_000)).toEqual([replayed]);
    expect(parts.sealAll(onSealed)).toBe(1);
    expect(sealed.map((x) => [x.partition, x.firstOffset, x.lastOffset, x.sealedBy])).toEqual([[1, 0, 1, 'forced']]);
    expect([replayed.open, replayed.nextOffset, replayed.durableNext]).toEqual([null, 0, null]);
    expect(parts.openBytes).toBe(0);
  });

  it('commits only what is durable, once, and nothing for a partition taken away by a rebalance', async () => {
    const parts = new PartitionSegments(policy, () => noBoundary);
    parts.assign({ t: [0, 1] });
    const p0 = parts.stateFor('t', 0)!;
    const p1 = parts.stateFor('t', 1)!;
    expect(parts.stateFor('t', 2)).toBeUndefined();
    const { sealed, onSealed } = collect();
    await parts.pack(p0, [0, 1, 2].map((o) => msg(o)), clock, onSealed);
    await parts.pack(p1, [0, 1, 2, 3].map((o) => msg(o)), clock, onSealed);
    expect(parts.dueCommits()).toEqual([]);
    expect(parts.markDurable(p0, sealed[0]!)).toBe(true);
    expect(parts.markDurable(p1, sealed[1]!)).toBe(true);
    expect(parts.dueCommits()).toEqual([
      { topic: 't', partition: 0, offset: 3 },
      { topic: 't', partition: 1, offset: 3 },
    ]);
    parts.markCommitted(parts.dueCommits());
    expect(parts.dueCommits()).toEqual([]);

    const openBefore = parts.openBytes;
    const revoked = parts.assign({ t: [0] });
    expect(revoked.map((s) => s.key)).toEqual(['t/1']);
    expect(p1.revoked).toBe(true);
    expect(p1.open).toBeNull();
    expect(parts.openBytes).toBeLessThan(openBefore);
    expect(parts.markDurable(p1, sealed[1]!)).toBe(false);
    expect(parts.stateFor('t', 1)).toBeUndefined();
  });

  it('stops packing a batch when its partition is revoked while a boundary is looked up', async () => {
    const holder: { parts?: PartitionSegments } = {};
    const parts = new PartitionSegments(policy, () => ({
      boundaryFor: async () => {
        holder.parts!.assign({});
        return {};
      },
    }));
    holder.parts = parts;
    const st = parts.stateFor('t', 0)!;
    expect(await parts.pack(st, [msg(0), msg(1)], clock, () => undefined)).toBe(0);
    expect(st.open).toBeNull();
  });

  it('names the largest open segment, seals what is due by age, and seals everything on demand', async () => {
    const parts = new PartitionSegments({ ...policy, maxAgeMs: 100 }, () => noBoundary);
    const a = parts.stateFor('t', 0)!;
    const b = parts.stateFor('t', 1)!;
    let now = 0;
    await parts.pack(a, [msg(0)], () => now, () => undefined);
    now = 50;
    await parts.pack(b, [msg(0, `{"long":"${'x'.repeat(100)}"}`)], () => now, () => undefined);
    expect(parts.largestOpen()).toBe(b);
    const { sealed, onSealed } = collect();
    parts.sealDue(120, onSealed);
    expect(sealed.map((s) => [s.partition, s.sealedBy])).toEqual([[0, 'age']]);
    parts.sealAll(onSealed);
    expect(sealed.map((s) => [s.partition, s.sealedBy])).toEqual([
      [0, 'age'],
      [1, 'forced'],
    ]);
    expect(parts.openBytes).toBe(0);
    expect(parts.largestOpen()).toBeUndefined();
  });
});
