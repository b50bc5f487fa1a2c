import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { computeGroupLag, groupLiveness, partitionLag, retainedMessages, watchedGroups } from './kafka-lag.ts';

describe('consumer lag', () => {
  it('is the high watermark minus the committed offset, or everything retained without a commit', () => {
    expect(partitionLag(40, { high: 100, low: 0 })).toBe(60);
    expect(partitionLag(100, { high: 100, low: 0 })).toBe(0);
    expect(partitionLag(null, { high: 100, low: 30 })).toBe(70);
    expect(partitionLag(-1, { high: 100, low: 30 })).toBe(70);
    // Records below the committed offset deleted by retention: counted from low, never negative.
    expect(partitionLag(10, { high: 100, low: 30 })).toBe(70);
    expect(partitionLag(120, { high: 100, low: 0 })).toBe(0);
  });

  it('sums a group over its topics and partitions, in topic and partition order', () => {
    const marks = new Map([
      ['sport.public.employees', [{ partition: 1, high: 10, low: 0 }, { partition: 0, high: 5, low: 0 }]],
      ['sport.public.activities', [{ partition: 0, high: 1000, low: 0 }]],
    ]);
    const lag = computeGroupLag(
      'bronze-writer',
      ['sport.public.employees', 'sport.public.activities'],
      [
        { topic: 'sport.public.activities', partitions: [{ partition: 0, offset: '990' }] },
        { topic: 'sport.public.employees', partitions: [{ partition: 0, offset: '5' }, { partition: 1, offset: '-1' }] },
      ],
      marks,
    );
    expect(lag).toEqual({
      groupId: 'bronze-writer',
      topics: ['sport.public.activities', 'sport.public.employees'],
      partitions: [
        { topic: 'sport.public.activities', partition: 0, committed: 990, high: 1000, low: 0, lag: 10 },
        { topic: 'sport.public.employees', partition: 0, committed: 5, high: 5, low: 0, lag: 0 },
        { topic: 'sport.public.employees', partition: 1, committed: null, high: 10, low: 0, lag: 10 },
      ],
      totalLag: 20,
    });
  });

  it('watches the three consumer groups of the config, each on its topics, never a dead-letter topic', () => {
    const config = loadConfig({ KAFKA_TOPIC_PREFIX: 'demo', SLACK_CONSUMER_GROUP: 'slack-x' });
    const all = ['demo.public.activities', 'demo.public.employees', 'demo.public.activities.dlq', 'other.public.activities', '__consumer_offsets'];
    const groups = watchedGroups(config);
    expect(groups.map((g) => [g.service, g.groupId, g.topics(all)])).toEqual([
      ['bronze-writer', 'bronze-writer', ['demo.public.activities', 'demo.public.employees']],
      ['slack-notifier', 'slack-x', ['demo.public.activities']],
      ['distance-worker', 'distance-worker', ['demo.public.employees']],
    ]);
    const explicit = watchedGroups(loadConfig({ KAFKA_TOPIC_PREFIX: 'demo', BRONZE_TOPICS: 'demo.public.employees' }));
    expect(explicit[0]!.topics(all)).toEqual(['demo.public.employees']);
  });

  it('calls a group live only with members outside Empty/Dead', () => {
    expect(groupLiveness({ groupId: 'g', state: 'Stable', members: [{}] })).toEqual({ groupId: 'g', state: 'Stable', members: 1, live: true });
    expect(groupLiveness({ groupId: 'g', state: 'PreparingRebalance', members: [{}, {}] }).live).toBe(true);
    expect(groupLiveness({ groupId: 'g', state: 'Empty', members: [] }).live).toBe(false);
    expect(groupLiveness({ groupId: 'g', state: 'Dead', members: [] }).live).toBe(false);
  });

  it('counts the messages a dead-letter topic retains', () => {
    expect(retainedMessages([{ partition: 0, high: 7, low: 2 }, { partition: 1, high: 3, low: 0 }])).toBe(8);
    expect(retainedMessages([])).toBe(0);
  });
});
