/**
 * Dead-letter publishing: a message a consumer cannot process goes, unchanged (same key, value
 * and headers), to `<topic>.dlq` with reason headers, so nothing is dropped silently and ops can
 * inspect and re-drive it (docs/architecture.md, "Bad input never stops a service").
 *
 * Headers added (all UTF-8 strings):
 * - `dlq.reason`: stable machine code, e.g. `unknown_employee`, `slack_http_400`, `invalid_json`
 * - `dlq.detail`: human explanation (never a secret)
 * - `dlq.service`: the component that gave up
 * - `dlq.source.topic`, `dlq.source.partition`, `dlq.source.offset`: where the message came from
 * - `dlq.failed_at`: ISO-8601 time of the decision
 */
import { Kafka, logLevel as kafkaLogLevel, Partitioners, type Admin, type IHeaders, type Producer } from 'kafkajs';
import type { KafkaSettings } from './config.ts';

/** Name of the dead-letter topic of `topic` (docs/contracts/change-events.md). */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** The message as it was read, plus its coordinates. */
export interface SourceMessage {
  topic: string;
  partition: number;
  /** Kafka offset as a decimal string (kafkajs' representation). */
  offset: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: IHeaders;
}

/** Builds the dead-letter message for `source` (pure). */
export function deadLetterMessage(source: SourceMessage, service: string, reason: string, detail: string, now = new Date()) {
  return {
    key: source.key,
    value: source.value,
    headers: {
      ...(source.headers ?? {}),
      'dlq.reason': reason,
      'dlq.detail': detail.slice(0, 2000),
      'dlq.service': service,
      'dlq.source.topic': source.topic,
      'dlq.source.partition': String(source.partition),
      'dlq.source.offset': source.offset,
      'dlq.failed_at': now.toISOString(),
    },
  };
}

/**
 * Creates `topic` with `partitions` partitions if it does not exist yet (the local broker has
 * auto-creation disabled), then waits until every partition has a leader. Idempotent.
 *
 * kafkajs' own `waitForLeaders` gives up when a freshly started KRaft broker briefly answers
 * UNKNOWN_TOPIC_OR_PARTITION for a topic it has just created; this polls the metadata instead.
 * @throws the broker's error, or a timeout error after `timeoutMs`.
 */
export async function ensureTopic(admin: Admin, topic: string, partitions: number, timeoutMs = 30_000): Promise<void> {
  if (!(await admin.listTopics()).includes(topic)) {
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: false });
    } catch (err) {
      // Another instance may have created it in between.
      if (!(await admin.listTopics()).includes(topic)) throw err;
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let problem: unknown;
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const found = topics[0]?.partitions ?? [];
      if (found.length > 0 && found.every((p) => p.leader >= 0)) return;
      problem = new Error(`topic ${topic}: partitions without a leader`);
    } catch (err) {
      problem = err;
    }
    if (Date.now() > deadline) throw problem;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Creates `<topic>.dlq` (same partition count as the source topics) if needed. Idempotent. */
export async function ensureDeadLetterTopic(admin: Admin, topic: string, partitions: number): Promise<void> {
  await ensureTopic(admin, deadLetterTopic(topic), partitions);
}

/**
 * Publishes dead letters with acks=all, so the caller may commit the source offset as soon as
 * {@link DeadLetterPublisher.publish} resolves.
 */
export class DeadLetterPublisher {
  constructor(
    private readonly producer: Producer,
    private readonly service: string,
  ) {}

  /**
   * @throws the producer's error when the broker did not acknowledge (the caller must not commit).
   */
  async publish(source: SourceMessage, reason: string, detail: string): Promise<void> {
    await this.producer.send({
      topic: deadLetterTopic(source.topic),
      acks: -1,
      messages: [deadLetterMessage(source, this.service, reason, detail)],
    });
  }
}

/**
 * The Kafka side of a consumer service that dead-letters: a client named after the service,
 * `<topic>.dlq` created if missing (same partition count as its source), and a connected
 * idempotent producer (acks=all, one request in flight, so dead letters keep their order) with
 * the publisher that writes through it.
 * @returns the client (for the consumer), the producer (to disconnect at stop) and the publisher.
 */
export async function connectDeadLetterProducer(config: KafkaSettings, service: string, topic: string): Promise<{ kafka: Kafka; producer: Producer; deadLetters: DeadLetterPublisher }> {
  const kafka = new Kafka({ clientId: `${config.kafka.clientId}-${service}`, brokers: config.kafka.brokers, logLevel: kafkaLogLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureDeadLetterTopic(admin, topic, config.kafka.topicPartitions);
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return { kafka, producer, deadLetters: new DeadLetterPublisher(producer, service) };
}
