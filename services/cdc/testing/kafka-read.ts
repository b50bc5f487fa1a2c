/**
 * Test support: reads whole topics from the real broker (through tests/support/kafka.ts, the
 * project's Kafka factory). Waits until the topic holds at least the expected number of records,
 * then returns every record up to the high watermarks, in partition/offset order.
 */
import { highWatermarks as marks, kafkaTarget, readRecords, waitForRecords as waitFor, type KafkaTarget } from '../../../tests/support/kafka.ts';

export type { KafkaTarget };

export interface ReadRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/** The brokers the reads go to. */
export function testKafka(brokers: string[]): KafkaTarget {
  return kafkaTarget(brokers);
}

/** Total records (high watermark) per partition of a topic. */
export function highWatermarks(kafka: KafkaTarget, topic: string): Promise<Map<number, number>> {
  return marks(kafka, topic);
}

/** Polls until the topic holds at least `min` records. @throws after `timeoutMs`. */
export function waitForRecords(kafka: KafkaTarget, topic: string, min: number, timeoutMs = 60_000): Promise<number> {
  return waitFor(kafka, topic, min, timeoutMs);
}

/** Every record of `topic` up to the current high watermarks, sorted by partition then offset; keys, values and headers as UTF-8 text. */
export async function readTopic(kafka: KafkaTarget, topic: string): Promise<ReadRecord[]> {
  return (await readRecords(kafka, topic)).map((r) => ({
    topic,
    partition: r.partition,
    offset: r.offset,
    key: r.key?.toString() ?? null,
    value: r.value ? r.value.toString() : null,
    headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()])),
  }));
}
