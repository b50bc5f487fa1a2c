/**
 * The project's Kafka clients on the real broker (docs/decisions/0010-kafka-client.md): what the
 * services rely on from @platformatic/kafka through the factory — idempotent produce with several
 * sends outstanding keeping per-partition order and producing each message once, tombstones and
 * headers as bytes, a consumer group that hands partitions over on a rebalance and resumes from the
 * committed offsets, and the admin calls (topics, watermarks, group offsets, reset, membership).
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { partitionForKey } from '../../cdc/murmur2.ts';
import { createConsumer, createProducer, KafkaAdmin, type KafkaConsumer } from './index.ts';

const config = loadConfig();
const logLines: Record<string, unknown>[] = [];
const logger = createLogger(
  'kafka-test',
  'debug',
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  }),
);

interface Seen {
  partition: number;
  offset: bigint;
  key: string | undefined;
  value: string | undefined;
  headers: Record<string, string>;
}

/** Reads `count` messages of `topic` with `consumer` (group from the committed offsets, else the beginning). */
async function readMessages(consumer: KafkaConsumer, topic: string, count: number): Promise<Seen[]> {
  const stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest' });
  const out: Seen[] = [];
  for await (const m of stream) {
    out.push({
      partition: m.partition,
      offset: m.offset,
      key: m.key?.toString(),
      value: m.value?.toString(),
      headers: Object.fromEntries([...m.headers].map(([k, v]) => [k, v.toString()])),
    });
    if (out.length >= count) break;
  }
  await stream.close();
  return out;
}

describe('Kafka clients from the factory', () => {
  const admin = KafkaAdmin.create(config, 'kafka-test', logger);
  const run = `kafkatest${randomUUID().slice(0, 8)}`;
  const topic = `${run}.public.items`;

  beforeAll(async () => {
    expect(await admin.ensureTopic(topic, 3)).toBe(true);
    // A second call finds it: not an error, not created again.
    expect(await admin.ensureTopic(topic, 3)).toBe(false);
  });
  afterAll(async () => {
    await admin.deleteTopics([topic]);
    await admin.close();
  });

  it('produces idempotently with five sends outstanding: every message once, in order within its partition', async () => {
    const producer = createProducer(config, 'kafka-test', logger);
    const sends: Promise<unknown>[] = [];
    // 50 sends of 40 messages each, issued without waiting; each key's sequence must stay in order.
    for (let s = 0; s < 50; s++) {
      const messages = Array.from({ length: 40 }, (_, i) => {
        const n = s * 40 + i;
        return { topic, partition: n % 3, key: `{"id":${n % 30}}`, value: JSON.stringify({ n }) };
      });
      sends.push(producer.send({ messages }));
      if (sends.length >= 5) await sends.shift();
    }
    await Promise.all(sends);
    await producer.close();

    const marks = await admin.fetchTopicOffsets(topic);
    expect(marks).toEqual([
      { partition: 0, low: '0', high: '667' },
      { partition: 1, low: '0', high: '667' },
      { partition: 2, low: '0', high: '666' },
    ]);
    const consumer = createConsumer(config, 'kafka-test', logger, { groupId: `${run}-order` });
    const seen = await readMessages(consumer, topic, 2000);
    await consumer.close(true);
    for (const p of [0, 1, 2]) {
      const ns = seen.filter((m) => m.partition === p).sort((a, b) => Number(a.offset - b.offset)).map((m) => (JSON.parse(m.value!) as { n: number }).n);
      expect(ns).toEqual(Array.from({ length: 2000 }, (_, n) => n).filter((n) => n % 3 === p));
    }
  });

  it('writes tombstones and headers as bytes, and reads them back as Buffers', async () => {
    const t = `${run}.public.tombstones`;
    await admin.ensureTopic(t, 1);
    const producer = createProducer(config, 'kafka-test', logger);
    await producer.send({
      messages: [
        { topic: t, key: '{"id":1}', value: '{"op":"d"}', headers: { 'lakehouse.schema.id': 'abc', binary: Buffer.from([0, 255]) } },
        { topic: t, key: '{"id":1}', value: null },
      ],
    });
    await producer.close();
    const consumer = createConsumer(config, 'kafka-test', logger, { groupId: `${run}-tomb` });
    const seen = await readMessages(consumer, t, 2);
    await consumer.close(true);
    expect(seen.map((m) => [m.key, m.value, m.headers['lakehouse.schema.id']])).toEqual([
      ['{"id":1}', '{"op":"d"}', 'abc'],
      ['{"id":1}', undefined, undefined],
    ]);
    expect(seen[0]!.headers.binary).toBe(Buffer.from([0, 255]).toString());
    await admin.deleteTopics([t]);
  });

  it('commits, reports and resets a group\'s offsets; describes its members', async () => {
    const groupId = `${run}-offsets`;
    const consumer = createConsumer(config, 'kafka-test', logger, { groupId });
    const stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest' });
    const firstOf = new Map<number, bigint>();
    for await (const m of stream) {
      if (!firstOf.has(m.partition)) firstOf.set(m.partition, m.offset);
      if (firstOf.size === 3) break;
    }
    await consumer.commit({ offsets: [0, 1, 2].map((partition) => ({ topic, partition, offset: 10n + BigInt(partition), leaderEpoch: -1 })) });
    const [described] = await admin.describeGroups([groupId]);
    expect(described!.state).toBe('Stable');
    expect(described!.members).toHaveLength(1);
    expect(described!.members[0]!.assignment).toEqual({ [topic]: [0, 1, 2] });
    await stream.close();
    await consumer.close(true);

    expect(await admin.fetchOffsets(groupId)).toEqual([{ topic, partitions: [0, 1, 2].map((partition) => ({ partition, offset: String(10 + partition) })) }]);
    await admin.setOffsets(groupId, topic, [0, 1, 2].map((partition) => ({ partition, offset: '0' })));
    expect(await admin.fetchOffsets(groupId, [topic])).toEqual([{ topic, partitions: [0, 1, 2].map((partition) => ({ partition, offset: '0' })) }]);
    expect((await admin.describeGroups([groupId, `${run}-never`])).map((g) => [g.groupId, g.state, g.members.length])).toEqual([
      [groupId, 'Empty', 0],
      [`${run}-never`, 'Dead', 0],
    ]);
  });

  it('hands partitions over on a rebalance: a second member gets some, the first keeps the rest, together all three', async () => {
    const groupId = `${run}-rebalance`;
    const joined = (c: KafkaConsumer) => new Promise<number[]>((resolve) => c.once('consumer:group:join', (p: { assignments: { partitions: number[] }[] }) => resolve(p.assignments.flatMap((a) => a.partitions))));
    const first = createConsumer(config, 'kafka-test', logger, { groupId, sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 10_000 });
    const firstJoin = joined(first);
    const s1 = await first.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest' });
    expect((await firstJoin).sort()).toEqual([0, 1, 2]);
    s1.resume();
    const second = createConsumer(config, 'kafka-test', logger, { groupId, sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 10_000 });
    const rejoin = joined(first);
    const secondJoin = joined(second);
    const s2 = await second.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest' });
    s2.resume();
    const [a, b] = await Promise.all([rejoin, secondJoin]);
    expect([...a, ...b].sort()).toEqual([0, 1, 2]);
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    await s1.close();
    await s2.close();
    await first.close(true);
    await second.close(true);
    // The factory's log mapping reported both joins with their assignments, in pino's format.
    const joins = logLines.filter((l) => l.msg === 'kafka consumer joined the group' && l.groupId === groupId);
    expect(joins.length).toBeGreaterThanOrEqual(3);
    expect(joins.every((l) => l.component === 'kafka' && l.service === 'kafka-test' && typeof l.assignment === 'object')).toBe(true);
  });

  it('puts a keyed message without a partition where the Java client would (murmur2 & 0x7fffffff)', async () => {
    const t = `${run}.public.keyed`;
    await admin.ensureTopic(t, 3);
    const producer = createProducer(config, 'kafka-test', logger);
    const keys = Array.from({ length: 60 }, (_, i) => `{"activity_id":${i * 7919}}`);
    await producer.send({ messages: keys.map((key) => ({ topic: t, key, value: '{}' })) });
    await producer.close();
    const consumer = createConsumer(config, 'kafka-test', logger, { groupId: `${run}-keyed` });
    const seen = await readMessages(consumer, t, keys.length);
    await consumer.close(true);
    expect(new Set(seen.map((m) => m.partition)).size).toBe(3);
    for (const m of seen) expect([m.key, m.partition]).toEqual([m.key, partitionForKey(m.key!, 3)]);
    await admin.deleteTopics([t]);
  });

  it('lists topics without internal ones and describes the cluster', async () => {
    const topics = await admin.listTopics();
    expect(topics).toContain(topic);
    // Kafka's internal topics; a user topic may start with "__" too (the CDC's __cdc_snapshots.*).
    expect(topics.filter((t) => t === '__consumer_offsets' || t === '__transaction_state')).toEqual([]);
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((b) => `${b.host}:${b.port}`)).toEqual(config.kafka.brokers);
  });
});
