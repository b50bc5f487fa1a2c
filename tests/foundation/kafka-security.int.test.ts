/**
 * Kafka authentication and ACLs on the real broker of the test stack (docs/security.md, "Kafka";
 * services/common/kafka/access.ts): a client without credentials or with a wrong password is
 * refused, and each principal can do its job and nothing else: only the CDC principal writes a
 * source topic, a consumer reads only its own topics through its own group and writes only its
 * dead-letter topic, the monitor reads offsets but no message. Every attempt that must fail is
 * checked on the broker too: nothing was written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config, type KafkaPrincipal } from '../../services/common/config.ts';
import { createLogger } from '../../services/common/logger.ts';
import { createConsumer, createProducer, KafkaAdmin, kafkaErrorMessage } from '../../services/common/kafka/index.ts';
import { applyKafkaAccess, kafkaAccessPlan } from '../../services/common/kafka/access.ts';
import { runId } from '../../services/cdc/testing/harness.ts';

const RUN = runId();
const PREFIX = `sec${RUN}`;
const ACTIVITIES = `${PREFIX}.public.activities`;
const EMPLOYEES = `${PREFIX}.public.employees`;
const quiet = createLogger('kafka-security-test', 'silent');

let config: Config;
let admin: KafkaAdmin;

/** The test stack's configuration for this run's namespace and groups, authenticating as `as`. */
function as(principal: KafkaPrincipal, overrides: Partial<Config['kafka']> = {}): Config {
  return { ...config, kafka: { ...config.kafka, ...overrides, as: principal } };
}

async function messagesIn(topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
}

/**
 * Produces one message with `cfg`'s identity; resolves to the error text, or null when it was
 * accepted. `idempotent: false` for a client the broker disconnects before it authenticates: the
 * idempotent producer's InitProducerId retries without end (client.ts), a plain produce fails.
 */
async function tryProduce(cfg: Config, topic: string, idempotent = true): Promise<string | null> {
  const producer = createProducer(cfg, 'security-test', quiet, { retries: 0, connectTimeout: 5_000, timeout: 10_000, idempotent });
  try {
    await producer.send({ messages: [{ topic, key: '{"id":1}', value: '{"op":"c"}', partition: 0 }] });
    return null;
  } catch (err) {
    return kafkaErrorMessage(err);
  } finally {
    await producer.close().catch(() => undefined);
  }
}

/** Reads `topic` from the start as `principal` in `groupId`; resolves to the error text, or null when a message came. */
async function tryConsume(cfg: Config, topic: string, groupId: string): Promise<string | null> {
  const consumer = createConsumer(cfg, 'security-test', quiet, { groupId, retries: 0, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
    try {
      const first = await Promise.race([
        (async () => {
          for await (const _ of stream) return 'message';
          return 'end';
        })(),
        new Promise<string>((_, reject) => stream.once('error', reject)),
        new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 20_000)),
      ]);
      return first === 'message' ? null : `no message (${first})`;
    } finally {
      await stream.close().catch(() => undefined);
    }
  } catch (err) {
    return kafkaErrorMessage(err);
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
}

beforeAll(async () => {
  const base = loadConfig();
  config = loadConfig({
    ...process.env,
    KAFKA_TOPIC_PREFIX: PREFIX,
    BRONZE_CONSUMER_GROUP: `${PREFIX}-bronze`,
    SLACK_CONSUMER_GROUP: `${PREFIX}-slack`,
    DISTANCE_CONSUMER_GROUP: `${PREFIX}-distance`,
    CDC_SLOT_NAME: `sec_${RUN}`,
  });
  expect(base.kafka.security.mechanism).toBe('SCRAM-SHA-256');
  admin = KafkaAdmin.create(as('admin'), 'security-test', quiet);
  await applyKafkaAccess(config, admin);
  for (const topic of [ACTIVITIES, EMPLOYEES, `${ACTIVITIES}.dlq`, `${EMPLOYEES}.dlq`]) await admin.ensureTopic(topic, 1);
  // One message per source topic, written as the CDC service would.
  expect(await tryProduce(as('cdc'), ACTIVITIES)).toBeNull();
  expect(await tryProduce(as('cdc'), EMPLOYEES)).toBeNull();
});

afterAll(async () => {
  await admin?.deleteTopics([ACTIVITIES, EMPLOYEES, `${ACTIVITIES}.dlq`, `${EMPLOYEES}.dlq`]).catch(() => undefined);
  await admin?.close();
});

describe('Kafka authentication', () => {
  it('refuses a client without credentials, and one with a wrong password: nothing is written', async () => {
    const anonymous = await tryProduce(as('admin', { security: { ...config.kafka.security, mechanism: 'none' } }), ACTIVITIES, false);
    expect(anonymous).not.toBeNull();
    const wrongPassword = await tryProduce(as('cdc', { principals: { ...config.kafka.principals, cdc: { ...config.kafka.principals.cdc, password: 'not-the-password' } } }), ACTIVITIES, false);
    expect(wrongPassword).toMatch(/authentication|SASL/i);
    expect(await messagesIn(ACTIVITIES)).toBe(1);
  });
});

describe('Kafka ACLs: each principal does its job and nothing else', () => {
  it('lets only the CDC principal write a source topic', async () => {
    for (const principal of ['bronze-writer', 'slack-notifier', 'distance-worker', 'monitor'] as const) {
      const refused = await tryProduce(as(principal), ACTIVITIES);
      expect({ principal, refused }).toEqual({ principal, refused: expect.stringMatching(/authoriz/i) });
    }
    expect(await messagesIn(ACTIVITIES)).toBe(1);
    expect(await tryProduce(as('cdc'), ACTIVITIES)).toBeNull();
    expect(await messagesIn(ACTIVITIES)).toBe(2);
  });

  it('lets a consumer read its own topic through its own group, and not another service\'s topic or group', async () => {
    expect(await tryConsume(as('slack-notifier'), ACTIVITIES, config.slack.consumerGroup)).toBeNull();
    expect(await tryConsume(as('distance-worker'), EMPLOYEES, config.distance.consumerGroup)).toBeNull();
    // The employees topic (salaries, addresses) is the distance worker's and the bronze writer's only.
    expect(await tryConsume(as('slack-notifier'), EMPLOYEES, config.slack.consumerGroup)).toMatch(/authoriz/i);
    expect(await tryConsume(as('distance-worker'), ACTIVITIES, config.distance.consumerGroup)).toMatch(/authoriz/i);
    // Another service's group, even on one's own topic.
    expect(await tryConsume(as('slack-notifier'), ACTIVITIES, config.bronze.consumerGroup)).toMatch(/authoriz/i);
    expect(await tryConsume(as('slack-notifier'), ACTIVITIES, `${PREFIX}-any-group`)).toMatch(/authoriz/i);
    // The monitor reads no message at all.
    expect(await tryConsume(as('monitor'), ACTIVITIES, config.slack.consumerGroup)).toMatch(/authoriz/i);
    // The bronze writer reads every topic of the namespace with its group.
    expect(await tryConsume(as('bronze-writer'), EMPLOYEES, config.bronze.consumerGroup)).toBeNull();
  });

  it('lets a consumer write its own dead-letter topic only', async () => {
    expect(await tryProduce(as('slack-notifier'), `${ACTIVITIES}.dlq`)).toBeNull();
    expect(await tryProduce(as('slack-notifier'), `${EMPLOYEES}.dlq`)).toMatch(/authoriz/i);
    expect(await tryProduce(as('distance-worker'), `${EMPLOYEES}.dlq`)).toBeNull();
    expect(await tryProduce(as('bronze-writer'), `${EMPLOYEES}.dlq`)).toBeNull();
    expect(await messagesIn(`${ACTIVITIES}.dlq`)).toBe(1);
    expect(await messagesIn(`${EMPLOYEES}.dlq`)).toBe(2);
  });

  it('lets the monitor read watermarks and committed offsets, not create topics', async () => {
    const monitor = KafkaAdmin.create(as('monitor'), 'security-test', quiet, { retries: 0 });
    try {
      expect((await monitor.fetchTopicOffsets(ACTIVITIES)).map((p) => p.high)).toEqual(['2']);
      const committed = await monitor.fetchOffsets(config.slack.consumerGroup, [ACTIVITIES]);
      expect(committed).toEqual([{ topic: ACTIVITIES, partitions: [{ partition: 0, offset: expect.any(String) }] }]);
      expect((await monitor.listTopics()).filter((t) => t.startsWith(`${PREFIX}.`)).sort()).toEqual([EMPLOYEES, `${EMPLOYEES}.dlq`, ACTIVITIES, `${ACTIVITIES}.dlq`].sort());
      await expect(monitor.ensureTopic(`${PREFIX}.public.intruder`, 1)).rejects.toThrow();
    } finally {
      await monitor.close();
    }
    expect(await admin.listTopics()).not.toContain(`${PREFIX}.public.intruder`);
  });

  it('grants nothing outside the namespace: the CDC principal cannot write another prefix', async () => {
    const other = `other${RUN}.public.activities`;
    await admin.ensureTopic(other, 1);
    try {
      expect(await tryProduce(as('cdc'), other)).toMatch(/authoriz/i);
      expect(await messagesIn(other)).toBe(0);
    } finally {
      await admin.deleteTopics([other]);
    }
  });

  it('plans the rules the docs describe', () => {
    const plan = kafkaAccessPlan(config);
    const writers = plan.filter((r) => r.operations.includes('WRITE')).map((r) => `${r.principal} ${r.pattern} ${r.name}`);
    expect(writers).toEqual([
      `cdc prefixed ${PREFIX}.`,
      `cdc literal __cdc_snapshots.${PREFIX}.${config.cdc.slotName}`,
      ...config.cdc.tables.map((t) => `bronze-writer literal ${PREFIX}.${t.schema}.${t.table}.dlq`),
      `slack-notifier literal ${ACTIVITIES}.dlq`,
      `distance-worker literal ${EMPLOYEES}.dlq`,
    ]);
  });
});
