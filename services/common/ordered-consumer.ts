/**
 * A Kafka consumer-group loop for services whose side effect is one call per message (post to
 * Slack, write a row): messages are handled one at a time, in partition order, and each offset is
 * committed only after its handler resolved, i.e. after the side effect is durable (at-least-once;
 * docs/architecture.md, "Delivery"). Offsets of messages without a side effect are committed lazily
 * (when nothing more is buffered, or every 1,000), so skipping a large snapshot costs few commits.
 *
 * - A handler may wait a long time (Retry-After, backoff): {@link HandlerContext.sleep} keeps the
 *   group membership alive and returns early, by throwing {@link ShutdownError},
 *   when the service stops.
 * - A handler that throws any other error (a database or broker restart, an outage of any length)
 *   leaves the message uncommitted; after a capped exponential backoff (retryBackoffMs doubling to
 *   {@link MAX_RETRY_BACKOFF_MS}) the consumer reads again from the last committed offset, so
 *   nothing is lost or reordered. The same holds when reading itself fails (the stream errors, the
 *   group join or a re-subscription is refused while the broker is down, at start-up too): the
 *   client is then closed and a new one joins the group after the backoff (a client whose join
 *   failed was seen to consume nothing afterwards), and the loop never ends by itself. One
 *   warning per outage (its first failure, with the cause), one `resumed` line when a message is
 *   handled again; meanwhile {@link RunningConsumer.health} reports unhealthy with the cause.
 * - A handler that throws {@link FatalConsumerError} (e.g. a revoked API key) stops the consumer;
 *   {@link RunningConsumer.crashed} resolves with the error so `main` can exit non-zero.
 * Group heartbeats run on the client's own timer (services/common/kafka), whatever a handler does.
 */
import type { KafkaSettings } from './config.ts';
import type { Logger } from './logger.ts';
import type { SourceMessage } from './dead-letter.ts';
import { closeFailedConsumer, createConsumer, KafkaAdmin, type KafkaConsumer } from './kafka/index.ts';

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
  /** Sleeps `ms` milliseconds (the group membership stays alive). @throws ShutdownError on stop. */
  sleep(ms: number): Promise<void>;
}

/** `no-op`: the message caused no side effect, so its offset may be committed lazily. */
export type HandleResult = void | 'no-op';

/** A consumed message with its coordinates: key and value as read (null for none), headers by name. */
export interface ConsumedMessage extends SourceMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  /** Broker timestamp, ms since epoch. */
  timestampMs: number;
}

export interface OrderedConsumerOptions {
  config: KafkaSettings;
  /** Names the Kafka client (`<KAFKA_CLIENT_ID>-<service>`). */
  service: string;
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
  /** First wait before reading again after a failure (doubling up to {@link MAX_RETRY_BACKOFF_MS}). Default 2 s. */
  retryBackoffMs?: number;
  /** The service's stop signal during start-up (runtime.ts): aborting it ends the waits of the start with ShutdownError. */
  signal?: AbortSignal;
}

/** Cap of the backoff between attempts during an outage. */
export const MAX_RETRY_BACKOFF_MS = 30_000;

export interface RunningConsumer {
  /** Stops after the in-flight message (or aborts its waits), commits nothing unfinished, disconnects. */
  stop(): Promise<void>;
  /** Resolves with the fatal error that stopped the consumer, never rejects. */
  crashed: Promise<FatalConsumerError>;
  /** The group client in use now (replaced after a failed join or stream). */
  readonly consumer: KafkaConsumer;
  /** Unhealthy while messages cannot be handled or read (an outage), with the cause; healthy otherwise. */
  health(): { healthy: boolean; detail: string };
  /** Times a client was replaced by a new one after its join or its stream failed. */
  readonly clientsReplaced: number;
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

/**
 * Waits until `topic` exists (it is created by its producer, e.g. the CDC service). A broker that
 * cannot be reached is waited for too (one warning, then a poll every `pollMs`): a start-up during
 * a broker outage is an outage like any other (issue 14).
 */
async function waitForTopic(admin: KafkaAdmin, topic: string, signal: AbortSignal, logger: Logger, pollMs: number): Promise<void> {
  let warned = false;
  let unreachable = false;
  for (;;) {
    let topics: string[] | null = null;
    try {
      topics = await admin.listTopics();
    } catch (err) {
      if (!unreachable) logger.warn({ err, topic }, 'listing topics failed; retrying until the broker answers');
      unreachable = true;
    }
    if (topics?.includes(topic)) return;
    if (topics && !warned) {
      logger.warn({ topic }, 'waiting for the topic to be created by its producer');
      warned = true;
    }
    await abortableDelay(pollMs, signal);
  }
}

/** Offsets of no-op messages are committed at the latest after this many of them. */
const LAZY_COMMIT_EVERY = 1000;

/**
 * Waits for the topic, joins the group and starts handling messages.
 * @returns once the consumer has joined the group and runs; see {@link RunningConsumer}.
 * @throws ShutdownError when `options.signal` aborts before that (the topic and the join are
 *   waited for, whatever the broker does meanwhile).
 */
export async function startOrderedConsumer(options: OrderedConsumerOptions): Promise<RunningConsumer> {
  const { config, service, groupId, topic, logger } = options;
  const controller = new AbortController();
  const { signal } = controller;
  const onStartAbort = () => controller.abort();
  options.signal?.addEventListener('abort', onStartAbort, { once: true });
  if (options.signal?.aborted) controller.abort();
  let reportFatal: (err: FatalConsumerError) => void = () => undefined;
  const crashed = new Promise<FatalConsumerError>((resolve) => (reportFatal = resolve));

  const admin = KafkaAdmin.create(config, service, logger);
  try {
    await waitForTopic(admin, topic, signal, logger, options.topicPollMs ?? 2_000);
  } finally {
    await admin.close();
  }

  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3_000;
  const newClient = () =>
    createConsumer(config, service, logger, {
      groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: heartbeatIntervalMs,
      // Long-poll bound: a stop waits for the fetch in flight; new messages still arrive at once.
      maxWaitTime: 1_000,
    });
  let consumer = newClient();
  let clientsReplaced = 0;
  /** Closes the current client (leaving the group if the broker answers) and makes a new one. */
  const replaceClient = async () => {
    const failedClient = consumer;
    consumer = newClient();
    clientsReplaced += 1;
    await closeFailedConsumer(failedClient, logger);
  };
  const sleep = (ms: number) => abortableDelay(ms, signal);
  let stream: Awaited<ReturnType<KafkaConsumer['consume']>> | undefined;
  // Offsets (next to read) of handled messages not committed yet, by partition.
  const uncommitted = new Map<number, bigint>();
  let lazy = 0;
  const commit = async () => {
    if (uncommitted.size === 0) return;
    const offsets = [...uncommitted].map(([partition, offset]) => ({ topic, partition, offset, leaderEpoch: -1 }));
    uncommitted.clear();
    lazy = 0;
    await consumer.commit({ offsets });
  };
  const commitOrWarn = () => commit().catch((err: unknown) => logger.warn({ err }, 'offset commit failed; those messages will be read again'));

  // Outage state: failures since the last handled message (0 = healthy).
  let failures = 0;
  let failingSince = 0;
  let lastCause = '';
  const failed = (err: unknown, what: string, where: Record<string, unknown> = {}) => {
    lastCause = `${what}: ${(err as Error)?.message ?? String(err)}`;
    if (failures++ === 0) {
      failingSince = Date.now();
      logger.warn({ err, topic, groupId, ...where }, `${what}; retrying with backoff until it succeeds`);
    } else logger.debug({ err, topic, attempt: failures, ...where }, what);
  };
  const recovered = () => {
    if (failures === 0) return;
    logger.info({ topic, groupId, failedAttempts: failures, outageMs: Date.now() - failingSince }, 'resumed');
    failures = 0;
  };
  const health = () => (failures === 0 ? { healthy: true, detail: 'consuming' } : { healthy: false, detail: `${failures} failed attempts since ${new Date(failingSince).toISOString()}; last: ${lastCause}` });

  /** One pass over the stream until a handler fails (false) or the consumer stops (true). */
  const open = async () => (stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: options.fromBeginning === false ? 'latest' : 'earliest' }));
  // Set while the failure being ridden out is the group's (join, stream), not a handler's: a
  // successful join then ends the outage even if no message comes.
  let readFailing = false;
  const joined = () => {
    if (!readFailing) return;
    readFailing = false;
    recovered();
  };
  const readUntilFailure = async (opened?: NonNullable<typeof stream>): Promise<boolean> => {
    const stream = opened ?? (await open());
    joined();
    try {
      for await (const message of stream) {
        if (signal.aborted) return true;
        const headers: Record<string, Buffer> = {};
        for (const [name, value] of message.headers) headers[name] = value;
        const consumed: ConsumedMessage = {
          topic: message.topic,
          partition: message.partition,
          offset: String(message.offset),
          key: message.key ?? null,
          value: message.value ?? null,
          headers,
          timestampMs: Number(message.timestamp),
        };
        let result: HandleResult;
        try {
          result = await options.handle(consumed, { signal, sleep });
        } catch (err) {
          if (err instanceof ShutdownError || signal.aborted) return true;
          if (err instanceof FatalConsumerError) {
            logger.fatal({ err, topic, partition: message.partition, offset: consumed.offset }, 'fatal error, stopping');
            reportFatal(err);
            void stop();
            return true;
          }
          failed(err, 'handler failed; the message will be retried', { partition: message.partition, offset: consumed.offset });
          return false;
        }
        recovered();
        uncommitted.set(message.partition, message.offset + 1n);
        // A side effect is committed at once (a restart redoes nothing); a run of no-ops
        // (snapshot rows, replays) is committed once nothing more is buffered, or every 1,000.
        if (result !== 'no-op' || ++lazy >= LAZY_COMMIT_EVERY || stream.readableLength === 0) await commitOrWarn();
      }
      return true;
    } finally {
      await commitOrWarn();
      await stream.close().catch(() => undefined);
    }
  };

  const initialBackoff = options.retryBackoffMs ?? 2_000;
  const backoff = () => abortableDelay(Math.max(initialBackoff, Math.min(MAX_RETRY_BACKOFF_MS, initialBackoff * 2 ** Math.min(failures - 1, 16))), signal);

  // Joined once this resolves: nothing produced afterwards is missed, even with fromBeginning false.
  // A join that fails (the broker going away while the group still waits for a killed member's
  // session to expire) is retried with a new client after the backoff, for as long as it takes.
  let first: NonNullable<typeof stream> | undefined;
  try {
    for (;;) {
      try {
        first = await open();
        break;
      } catch (err) {
        if (signal.aborted) throw new ShutdownError();
        failed(err, 'joining the consumer group failed');
        readFailing = true;
        await replaceClient();
        await backoff();
      }
    }
  } catch (err) {
    await consumer.close(true).catch(() => undefined);
    throw err instanceof ShutdownError || signal.aborted ? new ShutdownError() : err;
  } finally {
    options.signal?.removeEventListener('abort', onStartAbort);
  }
  const running = (async () => {
    for (;;) {
      if (signal.aborted) return;
      const opened = first;
      first = undefined;
      try {
        if (await readUntilFailure(opened)) return;
      } catch (err) {
        // Reading failed (stream error, subscription refused while the broker is down): not the
        // end; the next attempt joins with a new client.
        if (signal.aborted) return;
        failed(err, 'reading the topic failed');
        readFailing = true;
        await replaceClient();
      }
      // Read again from the last commit after a pause: the failed message comes first.
      await backoff().catch(() => undefined);
    }
  })();

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      controller.abort();
      await stream?.close().catch(() => undefined);
      await running;
      await consumer.close(true).catch(() => undefined);
    })();
    return stopping;
  };
  return {
    stop,
    crashed,
    health,
    get consumer() {
      return consumer;
    },
    get clientsReplaced() {
      return clientsReplaced;
    },
  };
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
