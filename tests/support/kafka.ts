/**
 * Test support on the real broker, through the project's Kafka factory (services/common/kafka):
 * read a whole topic back with its coordinates, wait for records or for a group's commits, produce
 * test messages. Used by the integration tests of every service and by the benchmarks.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig, type KafkaSettings } from '../../services/common/config.ts';
import { createLogger } from '../../services/common/logger.ts';
import { createConsumer, createProducer, KafkaAdmin, type Bytes, type KafkaProducer } from '../../services/common/kafka/index.ts';
import { applyKafkaAccess } from '../../services/common/kafka/access.ts';

/** The broker and the identity these helpers use. */
export type KafkaTarget = KafkaSettings;

/**
 * A target for `brokers` (client ids `test-<role>`), authenticated as the environment's admin
 * principal (KAFKA_ADMIN_USER; the test stack's), with its SASL mechanism and TLS settings.
 */
export function kafkaTarget(brokers: string[]): KafkaTarget {
  const { kafka } = loadConfig();
  return { kafka: { ...kafka, brokers, clientId: 'test', topicPrefix: 'test', topicPartitions: 3, as: 'admin' } };
}

const quiet = createLogger('kafka-test-support', 'silent');

/** An admin client (close it when done). */
export function testAdmin(target: KafkaTarget): KafkaAdmin {
  return KafkaAdmin.create(target, 'admin', quiet);
}

/**
 * Gives the source namespace of `env` (KAFKA_TOPIC_PREFIX, consumer groups, CDC_SLOT_NAME,
 * CDC_TABLES over the process's environment) its principals and ACLs, as `npm run stack -- up`
 * does for the stack's own namespace: a test that runs a service as a child process (which
 * authenticates as its own principal, not the admin) calls it first.
 */
export async function grantKafkaAccess(env: Record<string, string | undefined>): Promise<void> {
  const config = loadConfig({ ...process.env, ...env });
  const admin = KafkaAdmin.create({ kafka: { ...config.kafka, as: 'admin' } }, 'access', quiet);
  try {
    await applyKafkaAccess(config, admin);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** An idempotent producer, acks=all (close it when done). */
export function testProducer(target: KafkaTarget): KafkaProducer {
  return createProducer(target, 'producer', quiet);
}

/** A record as read back, with its coordinates. */
export interface RawRecord {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}

/** High watermark (records written) per partition of `topic`. */
export async function highWatermarks(target: KafkaTarget, topic: string): Promise<Map<number, number>> {
  const admin = testAdmin(target);
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.close();
  }
}

/** Polls until `topic` holds at least `min` records. @returns the count. @throws after `timeoutMs`. */
export async function waitForRecords(target: KafkaTarget, topic: string, min: number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let total = 0;
    try {
      for (const n of (await highWatermarks(target, topic)).values()) total += n;
    } catch {
      total = 0;
    }
    if (total >= min) return total;
    if (Date.now() > deadline) throw new Error(`topic ${topic}: ${total} records after ${timeoutMs} ms, expected at least ${min}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every record of `topic` up to the current high watermarks, sorted by partition then offset. */
export async function readRecords(target: KafkaTarget, topic: string, timeoutMs = 120_000): Promise<RawRecord[]> {
  const marks = await highWatermarks(target, topic);
  const remaining = new Map([...marks].filter(([, high]) => high > 0));
  const out: RawRecord[] = [];
  if (remaining.size === 0) return out;
  const consumer = createConsumer(target, 'reader', quiet, { groupId: `test-reader-${randomUUID()}`, maxBytes: 50 * 1024 * 1024 });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
    const timer = setTimeout(() => stream.destroy(new Error(`reading ${topic} timed out after ${timeoutMs} ms`)), timeoutMs);
    try {
      for await (const m of stream) {
        const offset = Number(m.offset);
        const high = marks.get(m.partition) ?? 0;
        if (offset >= high) continue;
        const headers: Record<string, Buffer> = {};
        for (const [k, v] of m.headers) headers[k] = v;
        out.push({ topic, partition: m.partition, offset, timestampMs: Number(m.timestamp), key: m.key ?? null, value: m.value ?? null, headers });
        if (offset === high - 1) remaining.delete(m.partition);
        if (remaining.size === 0) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => undefined);
    }
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Committed offsets of `groupId` on `topic`, by partition (-1 = none). */
export async function committedOffsets(admin: KafkaAdmin, groupId: string, topic: string): Promise<Map<number, number>> {
  const [committed] = await admin.fetchOffsets(groupId, [topic]);
  return new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
}

/** Resolves once `groupId` has committed the end offset of every partition of `topic`. @throws after `timeoutMs`. */
export async function waitForCommitted(admin: KafkaAdmin, groupId: string, topic: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await committedOffsets(admin, groupId, topic);
    const behind = ends.filter((e) => Number(e.high) > 0 && committed.get(e.partition) !== Number(e.high));
    if (behind.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`group ${groupId} behind on ${topic}: ${JSON.stringify(behind.map((b) => ({ partition: b.partition, end: b.high, committed: committed.get(b.partition) })))}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A message to produce: key/value as text or bytes (null value = tombstone), optional partition and headers. */
export interface TestMessage {
  key: Bytes | null;
  value: Bytes | null;
  partition?: number;
  headers?: Record<string, Bytes>;
}

/** Produces `messages` to `topic` in order, `batch` per request (keyed messages without a partition go by the client's murmur2 partitioner). */
export async function produceMessages(producer: KafkaProducer, topic: string, messages: readonly TestMessage[], batch = 5000): Promise<void> {
  for (let i = 0; i < messages.length; i += batch) {
    await producer.send({ messages: messages.slice(i, i + batch).map((m) => ({ topic, key: m.key, value: m.value, partition: m.partition, headers: m.headers })) });
  }
}
