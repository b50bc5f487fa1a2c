import { describe, expect, it } from 'vitest';
import { eventsPerSecond, serviceHealth, type GroupStatus } from './snapshot.ts';

const groupIds = { 'bronze-writer': 'bw', 'slack-notifier': 'sn', 'distance-worker': 'dw' };
const group = (groupId: string, state: string, members: number): GroupStatus => ({ groupId, topics: [], partitions: [], totalLag: 0, liveness: { groupId, state, members, live: members > 0 && state !== 'Empty' } });
const slot = { slotName: 'sport_cdc_slot', exists: true, active: true, activePid: 42, confirmedFlushLsn: '0/1', lagBytes: 0, walStatus: 'reserved' };

describe('service liveness', () => {
  it('calls the CDC service up while it holds its slot', () => {
    const cdc = { url: 'u', up: false, error: 'ECONNREFUSED', eventsTotal: null, eventsByOp: {}, errorsTotal: null, errorsByKind: {}, eventsPerSecond: null };
    const parts = { slot, groups: [], groupIds, kafkaUp: true, cdc: null };
    expect(serviceHealth('cdc', parts)).toEqual({ up: true, how: 'replication slot active (pg_replication_slots)', detail: 'slot sport_cdc_slot held by pid 42; no metrics URL configured' });
    expect(serviceHealth('cdc', { ...parts, slot: { ...slot, active: false, activePid: null }, cdc })).toEqual({
      up: false,
      how: 'replication slot active (pg_replication_slots)',
      detail: 'slot sport_cdc_slot is not held by any process; metrics endpoint does not answer (ECONNREFUSED)',
    });
    expect(serviceHealth('cdc', { ...parts, slot: { ...slot, exists: false } }).up).toBe(false);
    expect(serviceHealth('cdc', { ...parts, slot: null }).up).toBeNull();
  });

  it('calls a consumer up while its group has live members', () => {
    const parts = { slot, groups: [group('bw', 'Stable', 1), group('sn', 'Empty', 0)], groupIds, kafkaUp: true, cdc: null };
    expect(serviceHealth('bronze-writer', parts)).toEqual({ up: true, how: 'consumer group has live members (DescribeGroups)', detail: 'group bw: 1 member(s), Stable' });
    expect(serviceHealth('slack-notifier', parts)).toEqual({ up: false, how: 'consumer group has live members (DescribeGroups)', detail: 'group sn has no live member (Empty)' });
    expect(serviceHealth('distance-worker', parts).up).toBeNull();
    expect(serviceHealth('bronze-writer', { ...parts, kafkaUp: false })).toMatchObject({ up: null, detail: 'Kafka unreachable' });
    const unreadable = { ...group('bw', 'Stable', 1), liveness: null, error: 'The coordinator is loading' };
    expect(serviceHealth('bronze-writer', { ...parts, groups: [unreadable] })).toMatchObject({ up: null, detail: 'group bw not described: The coordinator is loading' });
  });
});

describe('throughput', () => {
  it('is the growth of the source topics per second since the previous snapshot', () => {
    const a = { at: 0, topicMessages: [{ topic: 'x', messages: 100 }, { topic: 'y', messages: 10 }] };
    const b = { at: 10_000, topicMessages: [{ topic: 'x', messages: 150 }, { topic: 'y', messages: 10 }, { topic: 'z', messages: 20 }] };
    expect(eventsPerSecond(a, b)).toBe(7);
    // A recreated topic (high watermark went down) counts from 0.
    expect(eventsPerSecond(b, { at: 20_000, topicMessages: [{ topic: 'x', messages: 5 }, { topic: 'y', messages: 10 }, { topic: 'z', messages: 20 }] })).toBe(0.5);
    expect(eventsPerSecond(undefined, b)).toBeNull();
    expect(eventsPerSecond(a, { at: 5, topicMessages: null })).toBeNull();
  });
});
