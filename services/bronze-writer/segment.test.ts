import { describe, expect, it } from 'vitest';
import { boundaryFor, packedHeaders, packedMessage, SegmentBuilder } from './segment.ts';

const policy = { maxRows: 3, maxBytes: 1000, maxAgeMs: 60_000 };
const b = (text: string) => Buffer.from(text);
const text = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes).toString());

describe('SegmentBuilder', () => {
  it('packs every covered message (tombstones included), counts valued messages, seals at maxRows', () => {
    const s = new SegmentBuilder('t', 0, policy);
    s.add(10, 5_000, b('{"id":1}'), b('{"op":"c"}'), 0);
    s.add(11, 4_000, b('{"id":1}'), null, 0, { trace: Buffer.from('abc') }); // tombstone with a header
    s.add(12, 6_000, null, b('{"op":"u"}'), 0);
    expect(s.sealReason(0)).toBeUndefined();
    s.add(14, 7_000, b('k'), b(''), 0); // 13 compacted away; an empty value is no tombstone: counted, dead-lettered at decoding
    expect(s.sealReason(0)).toBe('rows');
    s.add(15, 8_000, b('k'), b('v'), 0);
    expect(s.sealReason(0)).toBe('rows');
    const sealed = s.seal('rows');
    expect({ ...sealed, packed: undefined, headers: undefined }).toEqual({
      topic: 't',
      partition: 0,
      firstOffset: 10,
      lastOffset: 15,
      firstTimestampMs: 5_000,
      minTimestampMs: 4_000,
      maxTimestampMs: 8_000,
      messages: 5,
      valued: 4,
      bytes: 8 + 10 + 8 + 10 + 1 + 1 + 1,
      packed: undefined,
      headers: undefined,
      schemaIds: [],
      sealedBy: 'rows',
    });
    const unpacked = Array.from({ length: sealed.packed.count }, (_, i) => packedMessage(sealed.packed, i)).map((m) => [m.offset, m.timestampMs, text(m.key), text(m.value)]);
    expect(unpacked).toEqual([
      [10, 5_000, '{"id":1}', '{"op":"c"}'],
      [11, 4_000, '{"id":1}', null],
      [12, 6_000, null, '{"op":"u"}'],
      [14, 7_000, 'k', ''],
      [15, 8_000, 'k', 'v'],
    ]);
    expect(sealed.headers.get(11)?.trace?.toString()).toBe('abc');
  });

  it('packs the schema-link headers, keeps other headers by offset, and lists the distinct schema ids of its rows', () => {
    const s = new SegmentBuilder('t', 0, { ...policy, maxRows: 100 });
    const idA = b('0123456789abcdef0123');
    const idB = b('fedcba9876543210fedc');
    s.add(1, 1, b('k'), b('v1'), 0, { 'lakehouse.schema.id': idA });
    s.add(2, 2, b('k'), b('v2'), 0, { 'lakehouse.schema.id': b('0123456789abcdef0123'), 'lakehouse.unavailable': b('["big"]') });
    s.add(3, 3, b('k'), null, 0, { 'lakehouse.schema.id': b('ffffffffffffffffffff') }); // tombstone: no row, not listed
    s.add(4, 4, b('k'), b('v4'), 0, { 'lakehouse.schema.id': idB, '__debezium.oldkey': b('{"id":1}') });
    s.add(5, 5, b('k'), b('v5'), 0, { 'lakehouse.schema.id': b('not-an-id') }); // malformed: dead-lettered later, not listed
    s.add(6, 6, b('k'), b('v6'), 0, { 'lakehouse.schema.id': idA });
    s.add(7, 7, b('k'), b('v7'), 0);
    idA.fill(0); // the bytes were copied
    const sealed = s.seal('forced');
    expect(sealed.schemaIds).toEqual(['0123456789abcdef0123', 'fedcba9876543210fedc']);
    const unpacked = Array.from({ length: sealed.packed.count }, (_, i) => packedMessage(sealed.packed, i)).map((m) => [m.offset, text(m.schemaId), text(m.unavailable)]);
    expect(unpacked).toEqual([
      [1, '0123456789abcdef0123', null],
      [2, '0123456789abcdef0123', '["big"]'],
      [3, 'ffffffffffffffffffff', null],
      [4, 'fedcba9876543210fedc', null],
      [5, 'not-an-id', null],
      [6, '0123456789abcdef0123', null],
      [7, null, null],
    ]);
    // Only the other headers are kept by offset; a dead letter gets every header back.
    expect([...sealed.headers.keys()]).toEqual([4]);
    const all = (i: number) => Object.fromEntries(Object.entries(packedHeaders(sealed, i) ?? {}).map(([k, v]) => [k, v.toString()]));
    expect(all(3)).toEqual({ '__debezium.oldkey': '{"id":1}', 'lakehouse.schema.id': 'fedcba9876543210fedc' });
    expect(all(1)).toEqual({ 'lakehouse.schema.id': '0123456789abcdef0123', 'lakehouse.unavailable': '["big"]' });
    expect(packedHeaders(sealed, 6)).toBeUndefined();
  });

  it('takes the consumer\'s header map as it is, and keeps one copy of each distinct schema id', () => {
    const s = new SegmentBuilder('t', 0, { ...policy, maxRows: 100 });
    s.add(1, 1, b('k'), b('v1'), 0, new Map([['lakehouse.schema.id', b('0123456789abcdef0123')], ['lakehouse.unavailable', b('["x"]')]]));
    s.add(2, 2, b('k'), b('v2'), 0, new Map([['lakehouse.schema.id', b('0123456789abcdef0123')], ['__debezium.oldkey', b('{"id":1}')]]));
    const good = s.seal('forced');
    expect(good.schemaIds).toEqual(['0123456789abcdef0123']);
    expect(good.packed.schemaIdValues.map((v) => text(v))).toEqual(['0123456789abcdef0123']);
    expect(text(packedMessage(good.packed, 0).unavailable)).toBe('["x"]');
    expect([...good.headers.keys()]).toEqual([2]);
    const bad = new SegmentBuilder('t', 0, { ...policy, maxRows: 100 });
    bad.add(1, 1, b('k'), null, 0, new Map([['lakehouse.schema.id', b('NOT-AN-ID')]])); // even on a tombstone
    // Kept (for the encoder's dead letter and its headers), not listed as a schema to store.
    const sealedBad = bad.seal('forced');
    expect([sealedBad.schemaIds, sealedBad.packed.schemaIdValues.map((v) => text(v))]).toEqual([[], ['NOT-AN-ID']]);
  });

  it('shares one copy of the other headers among consecutive messages that repeat them, and copies again when they change', () => {
    const s = new SegmentBuilder('t', 0, { ...policy, maxRows: 100 });
    const context = () => new Map([['__debezium.context.taskId', b('0')], ['lakehouse.schema.id', b('0123456789abcdef0123')], ['__debezium.context.runId', b('run-1')]]);
    const first = context();
    s.add(1, 1, b('k'), b('v1'), 0, first);
    s.add(2, 2, b('k'), b('v2'), 0, context());
    s.add(3, 3, b('k'), b('v3'), 0, new Map([['__debezium.context.taskId', b('0')], ['__debezium.context.runId', b('run-2')]]));
    s.add(4, 4, b('k'), b('v4'), 0, new Map([['__debezium.context.taskId', b('0')], ['__debezium.context.runId', b('run-2')], ['__debezium.oldkey', b('{"id":1}')]]));
    first.get('__debezium.context.runId')!.fill(0); // the bytes were copied
    const sealed = s.seal('forced');
    expect(sealed.headers.get(1)).toBe(sealed.headers.get(2));
    const all = (i: number) => Object.fromEntries(Object.entries(packedHeaders(sealed, i) ?? {}).map(([k, v]) => [k, v.toString()]));
    expect([all(0), all(1), all(2), all(3)]).toEqual([
      { '__debezium.context.taskId': '0', '__debezium.context.runId': 'run-1', 'lakehouse.schema.id': '0123456789abcdef0123' },
      { '__debezium.context.taskId': '0', '__debezium.context.runId': 'run-1', 'lakehouse.schema.id': '0123456789abcdef0123' },
      { '__debezium.context.taskId': '0', '__debezium.context.runId': 'run-2' },
      { '__debezium.context.taskId': '0', '__debezium.context.runId': 'run-2', '__debezium.oldkey': '{"id":1}' },
    ]);
  });

  it('copies the bytes it is given, and grows past its initial capacity', () => {
    const s = new SegmentBuilder('t', 0, { ...policy, maxRows: 10_000, maxBytes: 10_000_000 });
    const scratch = Buffer.from('x'.repeat(1000));
    for (let o = 0; o < 500; o++) {
      scratch.write(String(o).padStart(4, '0'));
      s.add(o, o, null, scratch, 0);
    }
    scratch.fill('y');
    const sealed = s.seal('forced');
    expect(text(packedMessage(sealed.packed, 499).value)!.slice(0, 5)).toBe('0499x');
    expect(sealed.packed.bytes.length).toBe(500_000);
  });

  it('seals by bytes and by age since the first message', () => {
    const big = new SegmentBuilder('t', 0, policy);
    big.add(0, 0, null, Buffer.alloc(1000), 0);
    expect(big.sealReason(0)).toBe('bytes');
    const old = new SegmentBuilder('t', 0, policy);
    old.add(0, 0, null, b('a'), 1_000);
    old.add(1, 0, null, b('b'), 50_000);
    expect(old.sealReason(60_999)).toBeUndefined();
    expect(old.sealReason(61_000)).toBe('age');
  });

  it('follows a recorded range exactly, ignoring rows and age while messages flow', () => {
    const s = new SegmentBuilder('t', 0, policy, { exactLastOffset: 5 });
    for (let o = 0; o <= 4; o++) s.add(o, 0, null, b('v'), o * 30_000);
    expect(s.sealReason(4 * 30_000)).toBeUndefined();
    s.add(5, 0, null, b('v'), 150_000);
    expect(s.sealReason(150_000)).toBe('boundary');
  });

  it('is sealed at its recorded end whatever the timing: an idle or slow partition never cuts it early (issue 14)', () => {
    // Under load (consumption paused by back-pressure, a 1 s BRONZE_MAX_AGE_S), it used to be
    // sealed on age and came back as two objects, overlapping the recorded one.
    const s = new SegmentBuilder('t', 0, policy, { exactLastOffset: 5 });
    s.add(0, 0, null, b('v'), 0);
    expect(s.awaitsRecordedEnd).toBe(true);
    expect(s.sealReason(60_000)).toBeUndefined();
    expect(s.sealReason(3_600_000)).toBeUndefined();
    expect(s.idleMs(3_600_000)).toBe(3_600_000);
    // The byte limit only as a memory guard, at 4 x maxBytes.
    s.add(1, 0, null, Buffer.alloc(3 * policy.maxBytes), 0);
    expect(s.sealReason(0)).toBeUndefined();
    s.add(2, 0, null, Buffer.alloc(policy.maxBytes), 0);
    expect(s.sealReason(0)).toBe('bytes');
  });

  it('ends before the next recorded range and reports an offset that skips the end', () => {
    const s = new SegmentBuilder('t', 0, { ...policy, maxRows: 100 }, { maxLastOffset: 3 });
    s.add(2, 0, null, b('v'), 0);
    expect(s.sealReason(0)).toBeUndefined();
    expect(s.endsBefore(3)).toBe(false);
    expect(s.endsBefore(4)).toBe(true);
    s.add(3, 0, null, b('v'), 0);
    expect(s.sealReason(0)).toBe('boundary');
  });

  it('refuses offsets that do not increase, and sealing when empty', () => {
    const s = new SegmentBuilder('t', 0, policy);
    expect(() => s.seal('forced')).toThrow(/empty/);
    s.add(5, 0, null, b('v'), 0);
    expect(() => s.add(5, 0, null, b('v'), 0)).toThrow(RangeError);
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
