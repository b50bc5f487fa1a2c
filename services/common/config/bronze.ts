/** Configuration of the bronze writer (services/bronze-writer/README.md): Kafka -> Parquet on the lake. */
import { z } from 'zod';
import { defineBlock, variable } from './define.ts';
import { commaList, httpListenerVariables, KAFKA_TOPIC_PREFIX, nonEmpty, secondsToMs, topicName } from './shared.ts';

/** `^<prefix>\.` with the prefix's regular-expression characters escaped. */
export function defaultTopicPattern(topicPrefix: string): RegExp {
  return new RegExp(`^${topicPrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.`);
}

/** The bronze writer's consumer group and the topics it reads (the monitor and the status watch them). */
export const bronzeGroupBlock = defineBlock({
  title: 'Bronze writer: consumer group and topics',
  fields: {
    bronze: {
      consumerGroup: variable('BRONZE_CONSUMER_GROUP', nonEmpty.default('bronze-writer'), 'Consumer group of the bronze writer.'),
      topics: variable('BRONZE_TOPICS', commaList(topicName).optional(), 'Explicit comma-separated topic list; unset = every topic matching BRONZE_TOPIC_PATTERN.'),
      topicPattern: variable(
        'BRONZE_TOPIC_PATTERN',
        z
          .string()
          .refine((s) => {
            try {
              new RegExp(s);
              return true;
            } catch {
              return false;
            }
          }, 'expected a JavaScript regular expression')
          .optional(),
        'JavaScript regular expression of the topics to read; default ^<KAFKA_TOPIC_PREFIX>\\. (<topic>.dlq is never consumed).',
      ),
    },
    kafka: { topicPrefix: KAFKA_TOPIC_PREFIX },
  },
  finish: (c) => ({
    bronze: {
      consumerGroup: c.bronze.consumerGroup,
      /** Explicit topic list; undefined = every topic matching `topicPattern`. */
      topics: c.bronze.topics && c.bronze.topics.length > 0 ? c.bronze.topics : undefined,
      topicPattern: c.bronze.topicPattern === undefined ? defaultTopicPattern(c.kafka.topicPrefix) : new RegExp(c.bronze.topicPattern),
    },
    kafka: { topicPrefix: c.kafka.topicPrefix },
  }),
});

const BRONZE_HEALTH = httpListenerVariables('BRONZE_HEALTH', 9465, "the bronze writer's /healthz and /metrics");

export const bronzeWriterBlock = defineBlock({
  title: 'Bronze writer (`npm run bronze`): Parquet files on LAKE_URL',
  fields: {
    bronze: {
      healthHost: BRONZE_HEALTH.host,
      healthPort: BRONZE_HEALTH.port,
      maxRows: variable('BRONZE_MAX_ROWS', z.coerce.number().int().min(1).max(10_000_000).default(10_000), 'A file is written after this many rows...'),
      maxBytes: variable('BRONZE_MAX_BYTES', z.coerce.number().int().min(1024).default(16 * 1024 * 1024), '...or this many consumed message bytes...'),
      maxAgeMs: variable('BRONZE_MAX_AGE_S', z.coerce.number().positive().default(60).transform(secondsToMs), '...or this many seconds after its first message.'),
      maxBufferedBytes: variable('BRONZE_MAX_BUFFERED_BYTES', z.coerce.number().int().min(1024).default(32 * 1024 * 1024), 'Partitions pause while more than this many bytes are buffered or unwritten.'),
      uploadConcurrency: variable('BRONZE_UPLOAD_CONCURRENCY', z.coerce.number().int().min(1).max(64).default(4), 'Files written in parallel (one at a time per partition).'),
      encoderThreads: variable('BRONZE_ENCODER_THREADS', z.coerce.number().int().min(0).max(16).default(0), '0 = decode and encode Parquet on the main thread; N = N worker threads (about 70 MB each).'),
      topicRefreshMs: variable('BRONZE_TOPIC_REFRESH_S', z.coerce.number().positive().default(30).transform(secondsToMs), 'Seconds between looks for new topics matching the pattern.'),
      shutdownTimeoutMs: variable('BRONZE_SHUTDOWN_TIMEOUT_S', z.coerce.number().positive().default(30).transform(secondsToMs), 'SIGTERM: seconds allowed to store buffered rows before exiting.'),
      sessionTimeoutMs: variable('BRONZE_SESSION_TIMEOUT_S', z.coerce.number().min(6).max(300).default(30).transform(secondsToMs), "Seconds (6-300) after which a crashed instance's partitions move to the others."),
      progressEveryMs: variable('BRONZE_PROGRESS_S', z.coerce.number().positive().default(10).transform(secondsToMs), 'Seconds between "progress" log lines (counters, buffered bytes, memory).'),
    },
  },
});
