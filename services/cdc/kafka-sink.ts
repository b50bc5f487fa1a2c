/**
 * Kafka side of the CDC service: creates the topics, writes events in order with an idempotent
 * producer and acks=all, and reports which events the broker acknowledged.
 *
 * Ordering and acknowledgement: one produce request is in flight at a time, so requests complete
 * in the order the events were pushed, and a request that fails is never overtaken by a later one.
 * Events pushed while a request is in flight form the next request (up to CDC_BATCH_MAX_EVENTS),
 * which is how batching grows with load; an idle sink waits CDC_LINGER_MS for company.
 * Partitioning is by key with Kafka's default murmur2 partitioning (Java client and kafkajs
 * default partitioner alike; murmur2.ts computes it without kafkajs' per-message allocations), so
 * all changes of a row share a partition; explicit partitions are used for keyless tables and
 * TRUNCATE fan-out. Every message leaves with its partition set.
 *
 * A value above CDC_MAX_MESSAGE_BYTES is not dropped: `<topic>.dlq` gets a summary (key, LSN,
 * size) with `dlq.*` reason headers, as services/common/dead-letter.ts does for consumers.
 */
// Must precede the kafkajs import: see the module comment.
import { linearGroupingStatus } from './kafkajs-linear-grouping.ts';
import { recordEncodingStatus } from './kafkajs-record-encoding.ts';
import { CompressionTypes, Kafka, logLevel as KafkaLogLevel, type Admin, type Message, type Producer, type TopicMessages } from 'kafkajs';
import type { Logger } from '../common/logger.ts';
import { deadLetterTopic } from '../common/dead-letter.ts';
import type { OutgoingEvent } from './change-mapper.ts';
import { partitionForKey } from './murmur2.ts';

/** Replication also pauses above this much pending event text (UTF-16 units), whatever the count: wide rows. */
export const MAX_PENDING_TEXT = 64 * 1024 * 1024;

export interface SinkOptions {
  brokers: string[];
  clientId: string;
  partitions: number;
  batchMaxEvents: number;
  lingerMs: number;
  compression: 'none' | 'gzip';
  maxPendingEvents: number;
  maxMessageBytes: number;
}

/** Called once per pushed event when the broker acknowledged it (for every partition copy). */
export type AckCallback<T> = (tokens: T[]) => void;

interface Pending<T> {
  event: OutgoingEvent;
  token: T;
}

/**
 * kafkajs' lines about an unreachable or electing broker: the service reports an outage once
 * itself (service.ts), so these go to debug instead of one error line per retry.
 */
const OUTAGE_NOISE = /Connection error|ECONNREFUSED|ECONNRESET|Connection timeout|Failed to connect|not the leader|leadership election|Closed connection|Request .* timed out|Failed to send messages|coordinator is (loading|not available)|disconnected/i;

/** kafkajs log lines go to pino, at warn and above (outage noise at debug). */
function kafkaLogCreator(logger: Logger) {
  return () => ({ level, log }: { level: number; log: { message: string } & Record<string, unknown> }) => {
    const { message, ...rest } = log;
    if (level <= KafkaLogLevel.WARN && (OUTAGE_NOISE.test(message) || OUTAGE_NOISE.test(String(rest.error ?? '')))) logger.debug({ kafka: rest }, message);
    else if (level <= KafkaLogLevel.ERROR) logger.error({ kafka: rest }, message);
    else if (level === KafkaLogLevel.WARN) logger.warn({ kafka: rest }, message);
  };
}

export class KafkaSink<T> {
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly partitionCounts = new Map<string, number>();
  private queue: Pending<T>[] = [];
  private inFlight = 0;
  private pendingText = 0;
  private inFlightText = 0;
  private sending = false;
  private lingerTimer: NodeJS.Timeout | null = null;
  private failure: Error | null = null;
  private idleWaiters: (() => void)[] = [];
  private capacityWaiters: (() => void)[] = [];
  private failureListeners: ((err: Error) => void)[] = [];

  constructor(
    private readonly options: SinkOptions,
    private readonly onAck: AckCallback<T>,
    private readonly logger: Logger,
    private readonly onSent: (events: OutgoingEvent[], ms: number) => void = () => undefined,
  ) {
    this.kafka = new Kafka({ clientId: options.clientId, brokers: options.brokers, logLevel: KafkaLogLevel.WARN, logCreator: kafkaLogCreator(logger) });
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Partitions are computed in toTopicMessages; this only passes them through.
      createPartitioner: () => ({ message, partitionMetadata }) => message.partition ?? (message.key ? partitionForKey(String(message.key), partitionMetadata.length) : 0),
    });
    this.admin = this.kafka.admin();
  }

  /** Connects the producer and admin client. */
  async connect(): Promise<void> {
    this.logger.debug({ linearGroupingStatus, recordEncodingStatus }, 'kafkajs message grouping and record encoding');
    await this.admin.connect();
    await this.producer.connect();
  }

  /**
   * Creates missing topics (and their `.dlq`) with the configured partition count; learns the
   * partition count of existing ones (an existing topic keeps its count; a difference is logged).
   */
  async ensureTopics(topics: string[]): Promise<void> {
    const wanted = [...new Set(topics.flatMap((t) => [t, deadLetterTopic(t)]))];
    const existing = new Set(await this.admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await this.admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: this.options.partitions })) });
      this.logger.info({ topics: missing, partitions: this.options.partitions }, 'created topics');
    }
    const meta = await this.admin.fetchTopicMetadata({ topics: wanted });
    for (const t of meta.topics) {
      this.partitionCounts.set(t.name, t.partitions.length);
      if (t.partitions.length !== this.options.partitions && !t.name.endsWith('.dlq')) {
        this.logger.warn({ topic: t.name, partitions: t.partitions.length, configured: this.options.partitions }, 'existing topic has a different partition count; keeping it');
      }
    }
  }

  /**
   * Asks the broker for its cluster description: the liveness probe of an idle producer (a
   * producing one learns of an outage from its requests).
   * @throws the client's error when no broker answers.
   */
  async probe(): Promise<void> {
    await this.admin.describeCluster();
  }

  /** Events pushed and not yet acknowledged. */
  pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** True while fewer than CDC_MAX_PENDING_EVENTS events and {@link MAX_PENDING_TEXT} of text are pending. */
  hasCapacity(): boolean {
    return this.pending() < this.options.maxPendingEvents && this.pendingText < MAX_PENDING_TEXT;
  }

  /** Resolves when there is capacity again (or at once); rejects if the sink failed. */
  waitForCapacity(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.hasCapacity()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.capacityWaiters.push(() => (this.failure ? reject(this.failure) : resolve()));
    });
  }

  /** Registers a listener for a fatal produce failure (non-retriable error from the broker). */
  onFailure(listener: (err: Error) => void): void {
    this.failureListeners.push(listener);
  }

  /**
   * Queues one event; `token` comes back through the ack callback once the broker acknowledged it.
   * @throws the sink's failure, once it has failed.
   */
  push(event: OutgoingEvent, token: T): void {
    if (this.failure) throw this.failure;
    this.queue.push({ event, token });
    this.pendingText += (event.value?.length ?? 0) + (event.key?.length ?? 0);
    this.schedule();
  }

  /** Resolves when every pushed event is acknowledged; rejects if the sink failed. */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending() === 0) return Promise.resolve();
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
      void this.sendNext();
    }
    return new Promise((resolve, reject) => {
      this.idleWaiters.push(() => (this.failure ? reject(this.failure) : resolve()));
    });
  }

  async disconnect(): Promise<void> {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }

  private schedule(): void {
    if (this.sending) return;
    if (this.queue.length >= this.options.batchMaxEvents || this.options.lingerMs === 0) {
      if (this.lingerTimer) {
        clearTimeout(this.lingerTimer);
        this.lingerTimer = null;
      }
      if (this.options.lingerMs === 0) {
        this.sending = true;
        setImmediate(() => {
          this.sending = false;
          void this.sendNext();
        });
      } else {
        void this.sendNext();
      }
      return;
    }
    if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = null;
        void this.sendNext();
      }, this.options.lingerMs);
    }
  }

  private async sendNext(): Promise<void> {
    if (this.sending || this.failure || this.queue.length === 0) return;
    this.sending = true;
    const batch = this.queue.length <= this.options.batchMaxEvents ? this.queue : this.queue.slice(0, this.options.batchMaxEvents);
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    this.inFlight = batch.length;
    let batchText = 0;
    for (const p of batch) batchText += (p.event.value?.length ?? 0) + (p.event.key?.length ?? 0);
    this.inFlightText = batchText;
    const started = Date.now();
    try {
      await this.producer.sendBatch({
        acks: -1,
        compression: this.options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        topicMessages: this.toTopicMessages(batch),
      });
    } catch (err) {
      this.fail(err as Error);
      return;
    } finally {
      this.inFlight = 0;
      this.pendingText -= this.inFlightText;
      this.inFlightText = 0;
      this.sending = false;
    }
    const events = batch.map((p) => p.event);
    this.onSent(events, Date.now() - started);
    this.onAck(batch.map((p) => p.token));
    if (this.queue.length > 0) void this.sendNext();
    this.wake();
  }

  private toTopicMessages(batch: Pending<T>[]): TopicMessages[] {
    const byTopic = new Map<string, Message[]>();
    const add = (topic: string, m: Message) => {
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push(m);
    };
    const maxBytes = this.options.maxMessageBytes;
    for (const { event } of batch) {
      // A UTF-8 byte is at least one UTF-16 unit and at most three: measure only when it may matter.
      if (event.value !== null && event.value.length * 3 > maxBytes && Buffer.byteLength(event.value) > maxBytes) {
        const summary = this.oversizeSummary(event);
        summary.partition = event.key === null ? 0 : partitionForKey(event.key, this.partitionsOf(deadLetterTopic(event.topic)));
        add(deadLetterTopic(event.topic), summary);
        continue;
      }
      const partitions = this.partitionsOf(event.topic);
      if (event.allPartitions) {
        for (let p = 0; p < partitions; p++) add(event.topic, { key: event.key, value: event.value, partition: p, headers: event.headers });
        continue;
      }
      const partition = event.partition ?? (event.key === null ? 0 : partitionForKey(event.key, partitions));
      add(event.topic, event.headers ? { key: event.key, value: event.value, partition, headers: event.headers } : { key: event.key, value: event.value, partition });
    }
    return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  }

  private partitionsOf(topic: string): number {
    return this.partitionCounts.get(topic) ?? this.options.partitions;
  }

  private oversizeSummary(event: OutgoingEvent): Message {
    const size = Buffer.byteLength(event.value ?? '');
    this.logger.error({ topic: event.topic, key: event.key, lsn: event.lsn.toString(), bytes: size }, 'event larger than CDC_MAX_MESSAGE_BYTES sent to the dead-letter topic');
    return {
      key: event.key,
      value: JSON.stringify({ topic: event.topic, key: event.key, lsn: event.lsn.toString(), op: event.op, bytes: size }),
      headers: {
        'dlq.reason': 'message_too_large',
        'dlq.detail': `value of ${size} bytes exceeds CDC_MAX_MESSAGE_BYTES=${this.options.maxMessageBytes}`,
        'dlq.service': 'cdc',
        'dlq.source.topic': event.topic,
        'dlq.failed_at': new Date().toISOString(),
      },
    };
  }

  private fail(err: Error): void {
    this.failure = err;
    this.logger.debug({ err }, 'producing to Kafka failed');
    for (const l of this.failureListeners) l(err);
    this.wake();
  }

  private wake(): void {
    if (this.capacityWaiters.length > 0 && (this.hasCapacity() || this.failure)) {
      const waiters = this.capacityWaiters;
      this.capacityWaiters = [];
      for (const w of waiters) w();
    }
    if (this.idleWaiters.length > 0 && (this.pending() === 0 || this.failure)) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
