/**
 * Test helpers that play the CDC service: build change events exactly as
 * docs/contracts/change-events.md describes them (Debezium envelope, key = primary-key columns,
 * tombstone after a delete) and produce them through the project's Kafka factory to a real topic; plus helpers to
 * watch a consumer group's committed offsets and read a dead-letter topic.
 */
import type { KafkaAdmin, KafkaProducer } from '../../services/common/kafka/index.ts';
import { kafkaTarget, readRecords, testAdmin, testProducer, waitForCommitted } from './kafka.ts';

export type Row = Record<string, unknown>;

let lsn = 1_000_000;

/** A Debezium-style envelope for `table` (commit time = `tsMs`). */
export function envelope(table: string, op: 'c' | 'u' | 'd' | 'r', before: Row | null, after: Row | null, tsMs = Date.now()) {
  lsn += 8;
  return {
    before,
    after,
    source: { version: 'test', connector: 'postgresql', name: 'test', ts_ms: tsMs, snapshot: op === 'r' ? 'true' : 'false', db: 'sport_test', schema: 'public', table, txId: 500 + (lsn % 1000), lsn, xmin: null },
    op,
    ts_ms: tsMs + 5,
  };
}

export interface TestBroker {
  admin: KafkaAdmin;
  producer: KafkaProducer;
  /** Creates `topic` with `partitions` partitions (like the CDC service would). */
  createTopic(topic: string, partitions?: number): Promise<void>;
  /**
   * Produces key/value pairs (objects are JSON-encoded; null value = tombstone). `rawKey`, when
   * present, is sent as the key instead of `key`'s JSON (null = no key); `partition` forces one.
   */
  send(topic: string, messages: { key: Row; value: unknown; rawKey?: string | Buffer | null; partition?: number }[]): Promise<void>;
  /** Sets `groupId`'s offsets on `topic` to the first retained message of each partition (the group must be inactive). */
  resetToEarliest(groupId: string, topic: string): Promise<void>;
  /** Resolves once the group's committed offsets reach the end of every partition of `topic`. */
  waitForGroupCaughtUp(groupId: string, topic: string, timeoutMs?: number): Promise<void>;
  /** Reads every message of `topic` from the beginning (stops after `expected` or the timeout). */
  readAll(topic: string, expected: number, timeoutMs?: number): Promise<{ key: string | null; value: string | null; headers: Record<string, string> }[]>;
  close(): Promise<void>;
}

export async function connectTestBroker(brokers: string[]): Promise<TestBroker> {
  const target = kafkaTarget(brokers);
  const admin = testAdmin(target);
  const producer = testProducer(target);
  return {
    admin,
    producer,
    async createTopic(topic, partitions = 3) {
      await admin.ensureTopic(topic, partitions);
    },
    async send(topic, messages) {
      await producer.send({
        messages: messages.map((m) => ({
          topic,
          key: m.rawKey !== undefined ? m.rawKey : JSON.stringify(m.key),
          value: m.value === null ? null : typeof m.value === 'string' ? m.value : JSON.stringify(m.value),
          partition: m.partition,
        })),
      });
    },
    async resetToEarliest(groupId, topic) {
      await admin.setOffsets(groupId, topic, (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.low })));
    },
    waitForGroupCaughtUp(groupId, topic, timeoutMs = 30_000) {
      return waitForCommitted(admin, groupId, topic, timeoutMs);
    },
    async readAll(topic, expected, timeoutMs = 15_000) {
      // Waits (up to the timeout) for `expected` messages, then reads them all.
      const deadline = Date.now() + timeoutMs;
      const count = async () => (await admin.fetchTopicOffsets(topic).catch(() => [])).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
      while ((await count()) < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const records = await readRecords(target, topic, timeoutMs);
      return records.map((r) => ({ key: r.key?.toString() ?? null, value: r.value?.toString() ?? null, headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()])) }));
    },
    async close() {
      await producer.close();
      await admin.close();
    },
  };
}

/** Polls `predicate` every 50 ms until it returns true. @throws after `timeoutMs` with `what`. */
export async function waitUntil(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
