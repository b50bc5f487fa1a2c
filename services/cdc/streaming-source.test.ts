import { describe, expect, it } from 'vitest';
import { createLogger } from '../common/logger.ts';
import { ChangeMapper, type OutgoingEvent } from './change-mapper.ts';
import { EventDispatcher, type EventSink } from './event-dispatcher.ts';
import { CdcMetrics } from './metrics.ts';
import { OffsetContext, type Position } from './offset-context.ts';
import { decodePgoutput, type RelationMessage } from './pgoutput.ts';
import { ChangeInbox, ChangeStreamProcessor, type InboxItem } from './streaming-source.ts';
import { encode } from './testing/pgoutput-encoder.ts';
import { BUILTIN_TYPES } from './value-render.ts';

/** The producer as an in-memory queue: the test decides when, and in which order, events are acknowledged. */
class MemorySink implements EventSink<Position | null> {
  readonly queued: { event: OutgoingEvent; token: Position | null }[] = [];
  constructor(private readonly onAck: (tokens: (Position | null)[]) => void) {}
  push(event: OutgoingEvent, token: Position | null): void {
    this.queued.push({ event, token });
  }
  hasCapacity(): boolean {
    return true;
  }
  waitForCapacity(): Promise<void> {
    return Promise.resolve();
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  pending(): number {
    return this.queued.length;
  }
  /** Acknowledges the queued events at these indexes. */
  ack(indexes: number[]): void {
    this.onAck(indexes.map((i) => this.queued[i]!.token));
  }
}

const data = (lsn: bigint, buf: Buffer): InboxItem => ({ kind: 'data', lsn, payload: { ok: true, message: decodePgoutput(buf) } });

function setup() {
  const offsets = new OffsetContext(0x100n, 10_000);
  const mapper = new ChangeMapper({ topicPrefix: 'sport', database: 'sport', version: '0.1.0', now: () => 0 });
  const dispatcher = new EventDispatcher<Position | null>(mapper, new CdcMetrics(), createLogger('test', 'silent'));
  const sink = new MemorySink((tokens) => offsets.acknowledged(tokens));
  dispatcher.attach(sink);
  const relations: RelationMessage[] = [];
  const processor = new ChangeStreamProcessor(offsets, dispatcher, async (m) => {
    relations.push(m);
    mapper.registerRelation(m, ['id'], (oid) => BUILTIN_TYPES.get(oid));
  });
  const apply = async (item: InboxItem) => {
    await processor.apply(item);
  };
  return { offsets, sink, apply, relations };
}

describe('ChangeStreamProcessor: messages to events and confirmable LSNs', () => {
  it('confirms a transaction only once all its events are acknowledged, in whatever order', async () => {
    const { offsets, sink, apply, relations } = setup();
    await apply(data(0x110n, encode.relation(16400, 'public', 't', 'f', [{ name: 'id', typeOid: 23, key: true }, { name: 'v', typeOid: 25, key: true }])));
    expect(relations.map((r) => r.name)).toEqual(['t']);
    // Transaction A: two inserts and a delete (delete + tombstone), commit ends at 0x200.
    await apply(data(0x120n, encode.begin(0x1f0n, 0, 700)));
    await apply(data(0x130n, encode.insert(16400, ['1', 'a'])));
    await apply(data(0x140n, encode.insert(16400, ['2', 'b'])));
    await apply(data(0x150n, encode.delete(16400, 'O', ['1', 'a'])));
    await apply(data(0x1f0n, encode.commit(0x1f0n, 0x200n, 0)));
    // Transaction B: one insert, commit ends at 0x300.
    await apply(data(0x210n, encode.begin(0x2f0n, 0, 701)));
    await apply(data(0x220n, encode.insert(16400, ['3', 'c'])));
    await apply(data(0x2f0n, encode.commit(0x2f0n, 0x300n, 0)));
    expect(sink.queued.map((q) => q.event.op)).toEqual(['c', 'c', 'd', 'tombstone', 'c']);
    expect(offsets.confirmable()).toBe(0x100n);

    sink.ack([4]); // B first: A still open
    expect(offsets.confirmable()).toBe(0x100n);
    sink.ack([3, 0]);
    expect(offsets.confirmable()).toBe(0x100n);
    sink.ack([2, 1]); // the last of A: A and B confirmable
    expect(offsets.confirmable()).toBe(0x300n);
  });

  it('lets keepalives advance the LSN only behind unacknowledged transactions', async () => {
    const { offsets, sink, apply } = setup();
    await apply(data(0x110n, encode.relation(16400, 'public', 't', 'f', [{ name: 'id', typeOid: 23, key: true }])));
    await apply({ kind: 'keepalive', lsn: 0x180n });
    expect(offsets.confirmable()).toBe(0x180n);
    await apply(data(0x190n, encode.begin(0x1f0n, 0, 700)));
    await apply(data(0x1a0n, encode.insert(16400, ['1'])));
    await apply(data(0x1f0n, encode.commit(0x1f0n, 0x200n, 0)));
    await apply({ kind: 'keepalive', lsn: 0x400n });
    expect(offsets.confirmable()).toBe(0x180n);
    sink.ack([0]);
    expect(offsets.confirmable()).toBe(0x400n);
    expect(offsets.lastReceivedLsn()).toBe(0x1f0n);
  });

  it('an empty transaction (changes of tables not captured) is confirmed at its commit', async () => {
    const { offsets, apply } = setup();
    await apply(data(0x190n, encode.begin(0x1f0n, 0, 700)));
    await apply(data(0x1f0n, encode.commit(0x1f0n, 0x200n, 0)));
    expect(offsets.confirmable()).toBe(0x200n);
  });

  it('throws the decoding error of an undecodable message', () => {
    const { apply } = setup();
    const err = new Error('unknown pgoutput message type');
    return expect(apply({ kind: 'data', lsn: 0x110n, payload: { ok: false, error: err } })).rejects.toBe(err);
  });
});

describe('ChangeInbox: socket backpressure', () => {
  it('asks to pause once above the high-water mark, and to resume below half of it', () => {
    const inbox = new ChangeInbox(4);
    const keepalive = (lsn: number): InboxItem => ({ kind: 'keepalive', lsn: BigInt(lsn) });
    expect([1, 2, 3, 4].map((i) => inbox.push(keepalive(i)))).toEqual([false, false, false, false]);
    expect(inbox.push(keepalive(5))).toBe(true);
    expect(inbox.push(keepalive(6))).toBe(false); // paused already
    expect(inbox.shift()).toEqual(keepalive(1));
    inbox.shift();
    inbox.shift();
    expect(inbox.drained()).toBe(false); // 3 left, not below 2
    inbox.shift();
    expect(inbox.drained()).toBe(false); // 2 left, not below 2
    expect(inbox.shift()).toEqual(keepalive(5));
    expect(inbox.drained()).toBe(true);
    expect(inbox.size()).toBe(1);
    expect(inbox.drained()).toBe(false); // resumed already
    expect([inbox.shift(), inbox.shift()]).toEqual([keepalive(6), undefined]);
  });
});
