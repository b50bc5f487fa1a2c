/**
 * A Kafka consumer-group loop for services whose side effect is one call per message (post to
 * Slack, write a row): messages are handled one at a time, in partition order, and each offset is
 * committed only after its handler resolved, i.e. after the side effect is durable (at-least-once;
 * docs/architecture.md, "Delivery"). Offsets of messages without a side effect are committed at the
 * end of their batch, so skipping a large snapshot costs one commit per batch, not per message.
 *
 * - A handler may wait a long time (Retry-After, backoff): {@link HandlerContext.sleep} keeps the
 *   group membership alive with heartbeats and returns early, by throwing {@link ShutdownError},
 *   when the service stops.
 * - A handler that throws any other error leaves the message uncommitted; kafkajs restarts the
 *   batch from the last committed offset after its retry backoff, so nothing is lost.
 * - A handler that throws {@link FatalConsumerError} (e.g. a revoked API key) stops the consumer;
 *   {@link RunningConsumer.crashed} resolves with the error so `main` can exit non-zero.
 */
import { type Admin, type Consumer, type Kafka, type KafkaMessage } from 'kafkajs';
import type { Logger } from './logger.ts';
import type { SourceMessage } from './dead-letter.ts';

/** Thrown by {@link HandlerContext.sleep} when the service is stopping. */
export class ShutdownError extends Error {
  constructor() {
    super('consumer is stopping');
    this.name = 'ShutdownError';
  }
}

/** An error no retry can fix (bad credentials): the consumer stops without committing. */
export class FatalConsumerError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FatalConsumerError';
  }
}

/** What a handler gets besides the message. */
export interface HandlerContext {
  /** Aborted when the service stops. */
  signal: AbortSignal;
  /** Sleeps `ms` milliseconds while heartbeating. @throws ShutdownError on stop. */
  sleep(ms: number): Promise<void>;
  heartbeat(): Promise<void>;
}

/** `no-op`: the message caused no side effect, so its offset may be committed lazily. */
export type HandleResult = void | 'no-op';

/** A consumed message with its coordinates. */
export interface ConsumedMessage extends SourceMessage {
  /** Broker timestamp, ms since epoch. */
  timestampMs: number;
  raw: KafkaMessage;
}

export interface OrderedConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  logger: Logger;
  /** Where a group without committed offsets starts. Default true: nothing produced before the first start is missed. */
  fromBeginning?: boolean;
  /** Resolves once the side effect of `message` is durable; see the module doc for errors. */
  handle(message: ConsumedMessage, context: HandlerContext): Promise<HandleResult>;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Polling interval while waiting for the topic to be created by its producer. */
  topicPollMs?: number;
}

export interface RunningConsumer {
  /** Stops after the in-flight message (or aborts its waits), commits nothing unfinished, disconnects. */
  stop(): Promise<void>;
  /** Resolves with the fatal error that stopped the consumer, never rejects. */
  crashed: Promise<FatalConsumerError>;
  consumer: Consumer;
}

/** Resolves after `ms`, or rejects with ShutdownError as soon as `signal` aborts. */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new ShutdownError());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ShutdownError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Waits until `topic` exists (it is created by its producer, e.g. the CDC service). */
async function waitForTopic(admin: Admin, topic: string, signal: AbortSignal, logger: Logger, pollMs: number): Promise<void> {
  let warned = false;
  for (;;) {
    if ((await admin.listTopics()).includes(topic)) return;
    if (!warned) {
      logger.warn({ topic }, 'waiting for the topic to be created by its producer');
      warned = true;
    }
    await abortableDelay(pollMs, signal);
  }
}

/**
 * Connects, waits for the topic, joins the group and starts handling messages.
 * @returns once the consumer runs; see {@link RunningConsumer}.
 * @throws ShutdownError when stopped while waiting for the topic; broker errors on connect.
 */
export async function startOrderedConsumer(options: OrderedConsumerOptions): Promise<RunningConsumer> {
  const { kafka, groupId, topic, logger } = options;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3_000;
  const controller = new AbortController();
  const { signal } = controller;
  let reportFatal: (err: FatalConsumerError) => void = () => undefined;
  const crashed = new Promise<FatalConsumerError>((resolve) => (reportFatal = resolve));

  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitForTopic(admin, topic, signal, logger, options.topicPollMs ?? 2_000);
  } finally {
    await admin.disconnect();
  }

  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: heartbeatIntervalMs,
    // Long-poll bound: a stop waits for the fetch in flight; new messages still arrive at once.
    maxWaitTimeInMs: 1_000,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      controller.abort();
      await consumer.disconnect();
    })();
    return stopping;
  };

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const sleep = async (ms: number) => {
        const until = Date.now() + ms;
        for (let left = ms; left > 0; left = until - Date.now()) {
          await abortableDelay(Math.min(left, heartbeatIntervalMs), signal);
          await heartbeat();
        }
      };
      // Offset of the next message to read, once everything before it is finished.
      let uncommitted: string | null = null;
      const commit = async () => {
        if (uncommitted === null) return;
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: uncommitted }]);
        uncommitted = null;
      };
      try {
        for (const message of batch.messages) {
          if (signal.aborted || !isRunning() || isStale()) return;
          const consumed: ConsumedMessage = {
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            key: message.key,
            value: message.value,
            headers: message.headers,
            timestampMs: Number(message.timestamp),
            raw: message,
          };
          let result: HandleResult;
          try {
            result = await options.handle(consumed, { signal, sleep, heartbeat });
          } catch (err) {
            if (err instanceof ShutdownError || signal.aborted) return;
            if (err instanceof FatalConsumerError) {
              logger.fatal({ err, topic: batch.topic, partition: batch.partition, offset: message.offset }, 'fatal error, stopping');
              reportFatal(err);
              void stop();
              return;
            }
            logger.error({ err, topic: batch.topic, partition: batch.partition, offset: message.offset }, 'handler failed; the message will be retried');
            throw err;
          }
          resolveOffset(message.offset);
          uncommitted = (BigInt(message.offset) + 1n).toString();
          // A side effect is committed at once (a restart redoes nothing); a run of no-ops
          // (snapshot rows, replays) is committed at the end of the batch.
          if (result !== 'no-op') await commit();
          await heartbeat();
        }
      } finally {
        await commit().catch((err: unknown) => logger.warn({ err }, 'offset commit failed; those messages will be read again'));
      }
    },
  });
  return { stop, crashed, consumer };
}

/**
 * Starts a consumer that owns other resources (producer, database pool), closing them with
 * `cleanup` if the start fails, and returns one idempotent `stop` that stops the consumer first
 * (so nothing in flight uses the resources), then runs `cleanup`, then `onStopped`.
 */
export async function startConsumerWithResources(
  startConsumer: () => Promise<RunningConsumer>,
  cleanup: () => Promise<void>,
  onStopped: () => void = () => undefined,
): Promise<{ consumer: RunningConsumer; stop: () => Promise<void>; crashed: Promise<FatalConsumerError> }> {
  let consumer: RunningConsumer;
  try {
    consumer = await startConsumer();
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
  let stopped: Promise<void> | null = null;
  const stop = () => {
    stopped ??= (async () => {
      await consumer.stop();
      await cleanup();
      onStopped();
    })();
    return stopped;
  };
  return { consumer, stop, crashed: consumer.crashed };
}
