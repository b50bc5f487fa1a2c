import { describe, expect, it } from 'vitest';
import { ChangeMapper, snapshotMarker, type MapperOptions, type MapperWarning, type OutgoingEvent } from './change-mapper.ts';
import { decodePgoutput, UNCHANGED_TOAST } from './pgoutput.ts';
import { encode } from './testing/pgoutput-encoder.ts';
import { BUILTIN_TYPES } from './value-render.ts';

const lookup = (oid: number) => BUILTIN_TYPES.get(oid);
const COMMIT_MS = Date.UTC(2024, 0, 1, 8, 30, 0, 123);
const NOW = 1_700_000_000_999;

const ACTIVITY_COLUMNS: { name: string; typeOid: number; key?: boolean }[] = [
  { name: 'activity_id', typeOid: 20, key: true },
  { name: 'employee_id', typeOid: 23, key: true },
  { name: 'started_at', typeOid: 1184, key: true },
  { name: 'distance_m', typeOid: 23, key: true },
  { name: 'comment', typeOid: 25, key: true },
];

function setup(primaryKey: string[] | null = ['activity_id'], columns = ACTIVITY_COLUMNS, options: Partial<MapperOptions> = {}) {
  const warnings: MapperWarning[] = [];
  const mapper = new ChangeMapper({ topicPrefix: 'sport', database: 'sport', version: '0.1.0', now: () => NOW, onWarning: (w) => warnings.push(w), ...options });
  const relation = decodePgoutput(encode.relation(16400, 'public', 'activities', 'f', columns));
  if (relation.tag !== 'relation') throw new Error('unreachable');
  mapper.registerRelation(relation, primaryKey, lookup);
  const feed = (buf: Buffer, lsn: bigint): OutgoingEvent[] => mapper.handle(decodePgoutput(buf), lsn);
  feed(encode.begin(0x500n, COMMIT_MS, 731), 0x100n);
  return { mapper, feed, warnings };
}

/** Debezium 3.6.1's source block; `sequence` names no earlier commit in the first transaction. */
const source = (lsn: number, extra: Record<string, unknown> = {}) => ({
  version: '0.1.0', connector: 'postgresql', name: 'sport', ts_ms: COMMIT_MS, snapshot: 'false', db: 'sport',
  sequence: `[null,"${lsn}"]`, ts_us: COMMIT_MS * 1000, ts_ns: COMMIT_MS * 1_000_000,
  schema: 'public', table: 'activities', txId: 731, lsn, xmin: null, origin: null, origin_lsn: null, ...extra,
});
/** The envelope's fields after `source`: Debezium's, with the processing time. */
const envelopeTail = { transaction: null, ts_ms: NOW, ts_us: NOW * 1000, ts_ns: NOW * 1_000_000 };
const CONTEXT_HEADERS = {
  '__debezium.context.connectorLogicalName': 'sport',
  '__debezium.context.taskId': '0',
  '__debezium.context.connectorName': 'postgresql',
  '__debezium.context.runId': expect.stringMatching(/^[0-9a-f-]{36}$/),
};
const row = ['42', '7', '2024-01-01 08:30:00+00', '10800', 'Sortie du dimanche'];
const rendered = { activity_id: 42, employee_id: 7, started_at: '2024-01-01T08:30:00.000000Z', distance_m: 10800, comment: 'Sortie du dimanche' };

describe('ChangeMapper: streamed changes to Debezium envelopes', () => {
  it('insert -> op c with key, after image, commit time, txId and the change LSN', () => {
    const { feed } = setup();
    const [event, ...rest] = feed(encode.insert(16400, row), 0x1a0n);
    expect(rest).toEqual([]);
    expect(event!.topic).toBe('sport.public.activities');
    expect(event!.key).toBe('{"activity_id":42}');
    expect(event!.partition).toBeUndefined();
    expect(JSON.parse(event!.value!)).toEqual({ before: null, after: rendered, source: source(0x1a0), op: 'c', ...envelopeTail });
    // field order follows the contract (Debezium's)
    expect(Object.keys(JSON.parse(event!.value!))).toEqual(['before', 'after', 'source', 'transaction', 'op', 'ts_ms', 'ts_us', 'ts_ns']);
    expect(Object.keys(JSON.parse(event!.value!).source)).toEqual(Object.keys(source(0)));
    expect(event!.headers).toEqual(CONTEXT_HEADERS);
  });

  it('source: commit time in ms, µs and ns (exact beyond 2^53), sequence naming the previous commit, origin', () => {
    const { feed } = setup();
    feed(encode.commit(0x500n, 0x530n, COMMIT_MS), 0x500n);
    feed(encode.begin(0x600n, COMMIT_MS + 5, 732), 0x540n);
    feed(encode.origin(0x77n, 'upstream'), 0x540n);
    const [event] = feed(encode.insert(16400, row), 0x560n);
    const value = event!.value!;
    expect(value).toContain(`"ts_ms":${COMMIT_MS + 5},"snapshot":"false","db":"sport","sequence":"[\\"${0x530}\\",\\"${0x560}\\"]","ts_us":${(COMMIT_MS + 5) * 1000},"ts_ns":${BigInt(COMMIT_MS + 5) * 1_000_000n},"schema"`);
    expect(JSON.parse(value).source).toMatchObject({ origin: 'upstream', origin_lsn: 0x77 });
    feed(encode.commit(0x600n, 0x630n, COMMIT_MS + 5), 0x600n);
    feed(encode.begin(0x700n, COMMIT_MS + 6, 733), 0x640n);
    const [next] = feed(encode.insert(16400, row), 0x660n);
    expect(JSON.parse(next!.value!).source).toMatchObject({ sequence: `["${0x630}","${0x660}"]`, origin: null, origin_lsn: null });
  });

  it('resumeAfter: the first transaction after a restart names the confirmed position in sequence', () => {
    const { mapper, feed } = setup();
    feed(encode.commit(0x500n, 0x530n, COMMIT_MS), 0x500n);
    mapper.resumeAfter(0x4f0n);
    feed(encode.begin(0x600n, COMMIT_MS, 732), 0x540n);
    const [event] = feed(encode.insert(16400, row), 0x560n);
    expect(JSON.parse(event!.value!).source.sequence).toBe(`["${0x4f0}","${0x560}"]`);
  });

  it('update -> op u with the full before-image (REPLICA IDENTITY FULL)', () => {
    const { feed } = setup();
    const [event] = feed(encode.update(16400, ['42', '7', '2024-01-01 08:30:00+00', '11000', 'Sortie du dimanche'], { kind: 'O', values: row }), 0x1b0n);
    expect(JSON.parse(event!.value!)).toEqual({ before: rendered, after: { ...rendered, distance_m: 11000 }, source: source(0x1b0), op: 'u', ...envelopeTail });
  });

  it('update without an old tuple (REPLICA IDENTITY DEFAULT) -> before null', () => {
    const { feed } = setup();
    const [event] = feed(encode.update(16400, row), 0x1b0n);
    expect(JSON.parse(event!.value!).before).toBeNull();
  });

  it('delete -> op d with the before-image, then a tombstone with the same key', () => {
    const { feed } = setup();
    const [del, tomb, ...rest] = feed(encode.delete(16400, 'O', row), 0x1c0n);
    expect(rest).toEqual([]);
    expect(del!.key).toBe('{"activity_id":42}');
    expect(JSON.parse(del!.value!)).toEqual({ before: rendered, after: null, source: source(0x1c0), op: 'd', ...envelopeTail });
    expect(tomb).toEqual({ topic: 'sport.public.activities', key: '{"activity_id":42}', value: null, lsn: 0x1c0n, op: 'tombstone', headers: CONTEXT_HEADERS });
  });

  it('delete with a key-only old tuple -> before holds the key columns, the rest null', () => {
    const { feed } = setup();
    const [del] = feed(encode.delete(16400, 'K', ['42', null, null, null, null]), 0x1c0n);
    expect(JSON.parse(del!.value!).before).toEqual({ activity_id: 42, employee_id: null, started_at: null, distance_m: null, comment: null });
  });

  it('unchanged TOAST values take the before-image value, never null', () => {
    const { feed, warnings } = setup();
    const [event] = feed(encode.update(16400, ['42', '7', '2024-01-01 08:30:00+00', '11000', UNCHANGED_TOAST], { kind: 'O', values: row }), 0x1d0n);
    expect(JSON.parse(event!.value!).after.comment).toBe('Sortie du dimanche');
    expect(warnings).toEqual([]);
  });

  it('unchanged TOAST without a before-image -> Debezium placeholder and a warning', () => {
    const { feed, warnings } = setup();
    const [event] = feed(encode.update(16400, ['42', '7', '2024-01-01 08:30:00+00', '11000', UNCHANGED_TOAST]), 0x1d0n);
    expect(JSON.parse(event!.value!).after.comment).toBe('__debezium_unavailable_value');
    expect(warnings).toMatchObject([{ kind: 'unavailable_toast', table: 'activities', column: 'comment' }]);
  });

  it('primary-key change -> delete + tombstone for the old key, create for the new key', () => {
    const { feed } = setup();
    const events = feed(encode.update(16400, ['43', ...row.slice(1)], { kind: 'O', values: row }), 0x1e0n);
    expect(events.map((e) => [e.op, e.key])).toEqual([['d', '{"activity_id":42}'], ['tombstone', '{"activity_id":42}'], ['c', '{"activity_id":43}']]);
    // As Debezium: the new key on the delete and on its tombstone, the old key on the create.
    expect(events[0]!.headers).toEqual({ '__debezium.newkey': '{"activity_id":43}', ...CONTEXT_HEADERS });
    expect(events[1]!.headers).toEqual({ '__debezium.newkey': '{"activity_id":43}', ...CONTEXT_HEADERS });
    expect(events[2]!.headers).toEqual({ '__debezium.oldkey': '{"activity_id":42}', ...CONTEXT_HEADERS });
    expect(JSON.parse(events[2]!.value!).after.activity_id).toBe(43);
  });

  it('every event of a transaction carries its xid; the next transaction its own', () => {
    const { feed } = setup();
    const a = feed(encode.insert(16400, row), 0x1a0n);
    const b = feed(encode.insert(16400, ['43', ...row.slice(1)]), 0x1a8n);
    feed(encode.commit(0x500n, 0x530n, COMMIT_MS), 0x500n);
    feed(encode.begin(0x600n, COMMIT_MS + 5, 732), 0x540n);
    const c = feed(encode.insert(16400, ['44', ...row.slice(1)]), 0x560n);
    expect([...a, ...b, ...c].map((e) => JSON.parse(e.value!).source.txId)).toEqual([731, 731, 732]);
    expect(JSON.parse(c[0]!.value!).source.ts_ms).toBe(COMMIT_MS + 5);
  });

  it('a new Relation message (ADD COLUMN) changes the next events without losing state', () => {
    const { mapper, feed } = setup();
    const relation = decodePgoutput(encode.relation(16400, 'public', 'activities', 'f', [...ACTIVITY_COLUMNS, { name: 'tags', typeOid: 1009 }]));
    if (relation.tag !== 'relation') throw new Error('unreachable');
    mapper.registerRelation(relation, ['activity_id'], lookup);
    const [event] = feed(encode.insert(16400, [...row, '{run,"long run"}']), 0x1f0n);
    expect(JSON.parse(event!.value!).after).toEqual({ ...rendered, tags: ['run', 'long run'] });
  });

  it('tables without a primary key: null key, partition 0, no tombstone', () => {
    const { feed } = setup([]);
    const [insert] = feed(encode.insert(16400, row), 0x1a0n);
    expect(insert).toMatchObject({ key: null, partition: 0 });
    const events = feed(encode.delete(16400, 'O', row), 0x1c0n);
    expect(events.map((e) => e.op)).toEqual(['d']);
    expect(events[0]).toMatchObject({ key: null, partition: 0 });
  });

  it('truncate -> one op t event for every partition, no row images', () => {
    const { feed } = setup();
    const [event, ...rest] = feed(encode.truncate([16400]), 0x2a0n);
    expect(rest).toEqual([]);
    expect(event).toMatchObject({ topic: 'sport.public.activities', key: null, allPartitions: true, op: 't' });
    expect(JSON.parse(event!.value!)).toEqual({ before: null, after: null, source: source(0x2a0), op: 't', ...envelopeTail });
    expect(event!.headers).toEqual(CONTEXT_HEADERS);
  });

  it('skippedOperations drops changes by op, as Debezium\'s skipped.operations (a skipped u drops a key change)', () => {
    const { feed } = setup(['activity_id'], ACTIVITY_COLUMNS, { skippedOperations: new Set(['t', 'u']) });
    expect(feed(encode.truncate([16400]), 0x2a0n)).toEqual([]);
    expect(feed(encode.update(16400, ['43', ...row.slice(1)], { kind: 'O', values: row }), 0x2b0n)).toEqual([]);
    expect(feed(encode.update(16400, row, { kind: 'O', values: row }), 0x2c0n)).toEqual([]);
    expect(feed(encode.insert(16400, row), 0x2d0n).map((e) => e.op)).toEqual(['c']);
    expect(feed(encode.delete(16400, 'O', row), 0x2e0n).map((e) => e.op)).toEqual(['d', 'tombstone']);
  });

  it('extendedHeaders false: no headers but the key-change ones', () => {
    const { feed } = setup(['activity_id'], ACTIVITY_COLUMNS, { extendedHeaders: false });
    expect(feed(encode.insert(16400, row), 0x1a0n)[0]!.headers).toBeUndefined();
    const events = feed(encode.update(16400, ['43', ...row.slice(1)], { kind: 'O', values: row }), 0x1e0n);
    expect(events.map((e) => e.headers)).toEqual([{ '__debezium.newkey': '{"activity_id":43}' }, { '__debezium.newkey': '{"activity_id":43}' }, { '__debezium.oldkey': '{"activity_id":42}' }]);
  });

  it('relations that are published but not configured produce no events', () => {
    const { feed } = setup(null);
    expect(feed(encode.insert(16400, row), 0x1a0n)).toEqual([]);
    expect(feed(encode.truncate([16400]), 0x1a0n)).toEqual([]);
  });

  it('a value it cannot render is sent as text with a warning, and the stream goes on', () => {
    const { feed, warnings } = setup(['activity_id'], [{ name: 'activity_id', typeOid: 20 }, { name: 'day', typeOid: 1082 }]);
    const [event] = feed(encode.insert(16400, ['1', '2024-01-01 AD?']), 0x1a0n);
    expect(JSON.parse(event!.value!).after).toEqual({ activity_id: 1, day: '2024-01-01 AD?' });
    expect(warnings).toMatchObject([{ kind: 'unrenderable_value', column: 'day', type: 'date' }]);
    const [next] = feed(encode.insert(16400, ['2', '2024-01-01']), 0x1a8n);
    expect(JSON.parse(next!.value!).after.day).toBe(19723);
  });

  it('an unknown column type is announced once and its values sent as text', () => {
    const { warnings, feed } = setup(['activity_id'], [{ name: 'activity_id', typeOid: 20 }, { name: 'box', typeOid: 603 }]);
    expect(warnings).toMatchObject([{ kind: 'unknown_type', column: 'box', type: 'oid 603' }]);
    const [event] = feed(encode.insert(16400, ['1', '(1,2),(0,0)']), 0x1a0n);
    expect(JSON.parse(event!.value!).after.box).toBe('(1,2),(0,0)');
  });

  it('protocol violations throw: a change before its Relation message or outside a transaction', () => {
    const { mapper, feed } = setup();
    expect(() => feed(encode.insert(99, ['1']), 0x1a0n)).toThrow(/before its Relation/);
    feed(encode.commit(0x500n, 0x530n, COMMIT_MS), 0x500n);
    expect(mapper.currentXid()).toBeNull();
    expect(() => feed(encode.insert(16400, row), 0x1a0n)).toThrow(/outside a transaction/);
  });
});

describe('ChangeMapper: snapshot rows', () => {
  it('op r with before null, the consistent point as LSN and the snapshot marker', () => {
    const mapper = new ChangeMapper({ topicPrefix: 'sport', database: 'sport', version: '0.1.0', now: () => NOW });
    const plan = mapper.plan('public', 'activities', ACTIVITY_COLUMNS.map((c) => ({ ...c, typeMod: -1 })), ['activity_id'], lookup);
    const event = mapper.snapshotEvent(plan, row, { lsn: 0x900n, txId: 800, tsMs: 1_700_000_000_000, snapshot: 'last' });
    expect(event.key).toBe('{"activity_id":42}');
    expect(JSON.parse(event.value!)).toEqual({
      before: null, after: rendered, op: 'r', ...envelopeTail,
      source: source(0x900, { ts_ms: 1_700_000_000_000, ts_us: 1_700_000_000_000_000, ts_ns: 1_700_000_000_000_000_000, snapshot: 'last', txId: 800 }),
    });
  });
});

describe('snapshotMarker: Debezium\'s source.snapshot of snapshot rows', () => {
  const marker = (firstTable: boolean, firstInTable: boolean, lastInTable: boolean, lastInSnapshot = false) => snapshotMarker({ firstTable, firstInTable, lastInTable, lastInSnapshot });
  it('first, first/last of each table, last of all, true in between (as seen from Debezium 3.6.1)', () => {
    expect(marker(true, true, true)).toBe('first'); // a one-row first table
    expect(marker(true, false, false)).toBe('true');
    expect(marker(false, true, false)).toBe('first_in_data_collection');
    expect(marker(false, false, true)).toBe('last_in_data_collection');
    expect(marker(false, true, true)).toBe('last_in_data_collection'); // a one-row table
    expect(marker(true, true, true, true)).toBe('last');
  });
});

describe('ChangeMapper: schema link headers (docs/contracts/table-schemas.md)', () => {
  const SCHEMA_ID = '0123456789abcdef0123';
  const NEXT_ID = 'fedcba9876543210fedc';

  // Without Debezium's context headers, so the schema-link headers are seen alone (both together: below).
  function linked(primaryKey: string[] = ['activity_id']) {
    const mapper = new ChangeMapper({ topicPrefix: 'sport', database: 'sport', version: '0.1.0', now: () => NOW, extendedHeaders: false });
    const relation = decodePgoutput(encode.relation(16400, 'public', 'activities', 'd', ACTIVITY_COLUMNS));
    if (relation.tag !== 'relation') throw new Error('unreachable');
    mapper.registerRelation(relation, primaryKey, lookup, SCHEMA_ID);
    const feed = (buf: Buffer, lsn: bigint): OutgoingEvent[] => mapper.handle(decodePgoutput(buf), lsn);
    feed(encode.begin(0x500n, COMMIT_MS, 731), 0x100n);
    return { mapper, feed, relation };
  }

  it('every message of the table topic carries lakehouse.schema.id: changes, tombstones, truncates, snapshot rows', () => {
    const { mapper, feed } = linked();
    const events = [
      ...feed(encode.insert(16400, row), 0x1a0n),
      ...feed(encode.update(16400, row), 0x1b0n),
      ...feed(encode.delete(16400, 'K', ['42', null, null, null, null]), 0x1c0n),
      ...feed(encode.truncate([16400]), 0x1d0n),
    ];
    expect(events.map((e) => e.op)).toEqual(['c', 'u', 'd', 'tombstone', 't']);
    for (const e of events) expect(e.headers).toEqual({ 'lakehouse.schema.id': SCHEMA_ID });
    const plan = mapper.plan('public', 'activities', ACTIVITY_COLUMNS.map((c) => ({ ...c, typeMod: -1 })), ['activity_id'], lookup, SCHEMA_ID);
    const snapshot = mapper.snapshotEvent(plan, row, { lsn: 0x900n, txId: 800, tsMs: 1, snapshot: 'true' });
    expect(snapshot.headers).toEqual({ 'lakehouse.schema.id': SCHEMA_ID });
  });

  it('a primary-key change keeps Debezium\'s key headers next to the schema id', () => {
    const { feed } = linked();
    const events = feed(encode.update(16400, ['43', ...row.slice(1)], { kind: 'O', values: row }), 0x1e0n);
    expect(events.map((e) => e.headers)).toEqual([
      { 'lakehouse.schema.id': SCHEMA_ID, '__debezium.newkey': '{"activity_id":43}' },
      { 'lakehouse.schema.id': SCHEMA_ID, '__debezium.newkey': '{"activity_id":43}' }, // the tombstone too, as Debezium
      { 'lakehouse.schema.id': SCHEMA_ID, '__debezium.oldkey': '{"activity_id":42}' },
    ]);
  });

  it('with Debezium\'s context headers: one shared object per table holds both, events reference it', () => {
    const mapper = new ChangeMapper({ topicPrefix: 'sport', database: 'sport', version: '0.1.0', now: () => NOW });
    const relation = decodePgoutput(encode.relation(16400, 'public', 'activities', 'f', ACTIVITY_COLUMNS));
    if (relation.tag !== 'relation') throw new Error('unreachable');
    mapper.registerRelation(relation, ['activity_id'], lookup, SCHEMA_ID);
    mapper.handle(decodePgoutput(encode.begin(0x500n, COMMIT_MS, 731)), 0x100n);
    const [a] = mapper.handle(decodePgoutput(encode.insert(16400, row)), 0x1a0n);
    const [b] = mapper.handle(decodePgoutput(encode.insert(16400, ['43', ...row.slice(1)])), 0x1a8n);
    expect(a!.headers).toEqual({ ...CONTEXT_HEADERS, 'lakehouse.schema.id': SCHEMA_ID });
    expect(b!.headers).toBe(a!.headers);
    expect(Object.isFrozen(a!.headers)).toBe(true);
  });

  it('unavailable TOAST values: lakehouse.unavailable names the columns, the payload keeps the placeholder', () => {
    const { feed } = linked();
    const [event] = feed(encode.update(16400, ['42', '7', UNCHANGED_TOAST, '11000', UNCHANGED_TOAST]), 0x1d0n);
    expect(event!.headers).toEqual({ 'lakehouse.schema.id': SCHEMA_ID, 'lakehouse.unavailable': '["started_at","comment"]' });
    const after = JSON.parse(event!.value!).after;
    expect([after.started_at, after.comment]).toEqual(['__debezium_unavailable_value', '__debezium_unavailable_value']);
    // Resolved from the before-image: nothing is unavailable, no header.
    const [full] = feed(encode.update(16400, ['42', '7', '2024-01-01 08:30:00+00', '11000', UNCHANGED_TOAST], { kind: 'O', values: row }), 0x1d8n);
    expect(full!.headers).toEqual({ 'lakehouse.schema.id': SCHEMA_ID });
  });

  it('a new Relation message with a new schema id: later events carry the new id, earlier ones keep theirs', () => {
    const { mapper, feed, relation } = linked();
    const [before] = feed(encode.insert(16400, row), 0x1a0n);
    mapper.registerRelation(relation, ['activity_id'], lookup, NEXT_ID);
    const [after] = feed(encode.insert(16400, row), 0x1b0n);
    expect([before!.headers, after!.headers]).toEqual([{ 'lakehouse.schema.id': SCHEMA_ID }, { 'lakehouse.schema.id': NEXT_ID }]);
  });

  it('interval values follow CDC_INTERVAL_HANDLING: iso8601 by default, numeric on request', () => {
    const columns = [{ name: 'id', typeOid: 23, typeMod: -1 }, { name: 'took', typeOid: 1186, typeMod: -1 }];
    const iso = new ChangeMapper({ topicPrefix: 'p', database: 'd', version: 'v', now: () => NOW });
    const numeric = new ChangeMapper({ topicPrefix: 'p', database: 'd', version: 'v', now: () => NOW, intervalMode: 'numeric' });
    const ctx = { lsn: 1n, txId: 1, tsMs: 1, snapshot: 'true' } as const;
    const took = (m: ChangeMapper) => JSON.parse(m.snapshotEvent(m.plan('public', 't', columns, ['id'], lookup), ['1', 'P1Y2M3DT4H5M6.78S'], ctx).value!).after.took;
    expect(took(iso)).toBe('P1Y2M3DT4H5M6.78S');
    expect(took(numeric)).toBe(37091106780000);
  });
});
