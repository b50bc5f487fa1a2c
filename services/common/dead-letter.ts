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
import type { KafkaSettings } from './config.ts';
import type { Logger } from './logger.ts';
import pRetry from 'p-retry';
import { createProducer, KafkaAdmin, type Bytes, type KafkaProducer } from './kafka/index.ts';

/** Name of the dead-letter topic of `topic` (docs/contracts/change-events.md). */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** The message as it was read, plus its coordinates. */
export interface SourceMessage {
  topic: string;
  partition: number;
  /** Kafka offset as a decimal string. */
  offset: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Bytes>;
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

/** Creates `<topic>.dlq` (same partition count as the source topics) if needed, and waits for its leaders. Idempotent. */
export async function ensureDeadLetterTopic(admin: KafkaAdmin, topic: string, partitions: number): Promise<void> {
  await admin.ensureTopic(deadLetterTopic(topic), partitions);
}

/**
 * Publishes dead letters with acks=all, so the caller may commit the source offset as soon as
 * {@link DeadLetterPublisher.publish} resolves.
 */
export class DeadLetterPublisher {
  constructor(
    private readonly producer: KafkaProducer,
    private readonly service: string,
  ) {}

  /**
   * @throws the producer's error when the broker did not acknowledge (the caller must not commit).
   */
  async publish(source: SourceMessage, reason: string, detail: string): Promise<void> {
    await this.producer.send({ messages: [{ topic: deadLetterTopic(source.topic), ...deadLetterMessage(source, this.service, reason, detail) }] });
  }
}

/**
 * The Kafka side of a consumer service that dead-letters: `<topic>.dlq` created if missing (same
 * partition count as its source), and an idempotent producer (acks=all, services/common/kafka) with
 * the publisher that writes through it. A broker that does not answer is waited for (capped
 * backoff) until it does or `signal` aborts (the service stops during start-up).
 * @returns the producer (to close at stop) and the publisher.
 * @throws the abort reason when `signal` aborts first.
 */
export async function connectDeadLetterProducer(config: KafkaSettings, service: string, topic: string, logger: Logger, signal?: AbortSignal): Promise<{ producer: KafkaProducer; deadLetters: DeadLetterPublisher }> {
  const admin = KafkaAdmin.create(config, service, logger);
  try {
    // A start-up during a broker outage waits for the broker (issue 14): one warning, then retries
    // with capped backoff, as every other broker operation of the consumers.
    await pRetry(() => ensureDeadLetterTopic(admin, topic, config.kafka.topicPartitions), {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: 1_000,
      maxTimeout: 30_000,
      factor: 2,
      signal,
      onFailedAttempt: ({ error, attemptNumber }) => {
        if (attemptNumber === 1) logger.warn({ err: error, topic: deadLetterTopic(topic) }, 'creating the dead-letter topic failed; retrying with backoff until the broker answers');
      },
    });
  } finally {
    await admin.close();
  }
  const producer = createProducer(config, service, logger);
  return { producer, deadLetters: new DeadLetterPublisher(producer, service) };
}
