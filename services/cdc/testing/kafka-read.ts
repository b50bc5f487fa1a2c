/**
 * Test support: reads whole topics from the real broker. Waits until the topic holds at least
 * the expected number of records, then returns every record up to the high watermarks, in
 * partition/offset order.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';

export interface ReadRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

export function testKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'cdc-test', brokers, logLevel: logLevel.NOTHING });
}

/** Total records (sum of high watermarks) per partition of a topic. */
export async function highWatermarks(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Polls until the topic holds at least `min` records. @throws after `timeoutMs`. */
export async function waitForRecords(kafka: Kafka, topic: string, min: number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let total = 0;
    try {
      for (const n of (await highWatermarks(kafka, topic)).values()) total += n;
    } catch {
      total = 0;
    }
    if (total >= min) return total;
    if (Date.now() > deadline) throw new Error(`topic ${topic}: ${total} records after ${timeoutMs} ms, expected at least ${min}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every record of `topic` up to the current high watermarks, sorted by partition then offset. */
export async function readTopic(kafka: Kafka, topic: string): Promise<ReadRecord[]> {
  const marks = await highWatermarks(kafka, topic);
  const total = [...marks.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  const consumer = kafka.consumer({ groupId: `cdc-test-${randomUUID()}`, maxBytes: 50 * 1024 * 1024 });
  const out: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const remaining = new Map([...marks].filter(([, high]) => high > 0));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic} timed out`)), 120_000);
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            const high = marks.get(batch.partition) ?? 0;
            for (const m of batch.messages) {
              const offset = Number(m.offset);
              if (offset >= high) continue;
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(v);
              out.push({ topic, partition: batch.partition, offset, key: m.key?.toString() ?? null, value: m.value ? m.value.toString() : null, headers });
              if (offset === high - 1) remaining.delete(batch.partition);
            }
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}
