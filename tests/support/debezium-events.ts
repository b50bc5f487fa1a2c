/**
 * Test helpers that play the CDC service: build change events exactly as
 * docs/contracts/change-events.md describes them (Debezium envelope, key = primary-key columns,
 * tombstone after a delete) and produce them with kafkajs to a real topic; plus helpers to
 * watch a consumer group's committed offsets and read a dead-letter topic.
 */
import { Kafka, logLevel, type Admin, type IHeaders, type Producer } from 'kafkajs';
import { ensureTopic } from '../../services/common/dead-letter.ts';

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
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
  /** Creates `topic` with `partitions` partitions (like the CDC service would). */
  createTopic(topic: string, partitions?: number): Promise<void>;
  /** Produces key/value pairs (objects are JSON-encoded; null value = tombstone). */
  send(topic: string, messages: { key: Row; value: unknown }[]): Promise<void>;
  /** Resolves once the group's committed offsets reach the end of every partition of `topic`. */
  waitForGroupCaughtUp(groupId: string, topic: string, timeoutMs?: number): Promise<void>;
  /** Reads every message of `topic` from the beginning (stops after `expected` or the timeout). */
  readAll(topic: string, expected: number, timeoutMs?: number): Promise<{ key: string | null; value: string | null; headers: Record<string, string> }[]>;
  close(): Promise<void>;
}

export async function connectTestBroker(brokers: string[]): Promise<TestBroker> {
  const kafka = new Kafka({ clientId: 'test-cdc-stand-in', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  return {
    kafka,
    admin,
    producer,
    async createTopic(topic, partitions = 3) {
      await ensureTopic(admin, topic, partitions);
    },
    async send(topic, messages) {
      await producer.send({
        topic,
        acks: -1,
        messages: messages.map((m) => ({ key: JSON.stringify(m.key), value: m.value === null ? null : typeof m.value === 'string' ? m.value : JSON.stringify(m.value) })),
      });
    },
    async waitForGroupCaughtUp(groupId, topic, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const byPartition = new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset]));
        const behind = ends.filter((e) => e.high !== '0' && byPartition.get(e.partition) !== e.high);
        if (behind.length === 0) return;
        if (Date.now() > deadline) throw new Error(`group ${groupId} still behind on ${topic}: ${JSON.stringify(behind.map((b) => ({ p: b.partition, end: b.high, committed: byPartition.get(b.partition) })))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async readAll(topic, expected, timeoutMs = 15_000) {
      const consumer = kafka.consumer({ groupId: `test-reader-${topic}-${Date.now()}-${Math.random()}` });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const out: { key: string | null; value: string | null; headers: Record<string, string> }[] = [];
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        void consumer.run({
          eachMessage: async ({ message }) => {
            out.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers: headersToStrings(message.headers) });
            if (out.length >= expected) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
      await consumer.disconnect();
      return out;
    },
    async close() {
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(String).join(',') : String(v ?? '')]));
}

/** Polls `predicate` every 50 ms until it returns true. @throws after `timeoutMs` with `what`. */
export async function waitUntil(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
