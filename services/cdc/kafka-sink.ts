/**
 * Kafka side of the CDC service: creates the topics, writes events with an idempotent producer
 * and acks=all (the project's client factory, services/common/kafka, on @platformatic/kafka),
 * and reports which events the broker acknowledged.
 *
 * Pipelining: events are cut into produce batches of at most CDC_BATCH_MAX_EVENTS, and up to
 * CDC_MAX_IN_FLIGHT batches are outstanding at once (Kafka allows five in-flight requests per
 * connection with idempotence). The client sends them in call order and assigns the idempotent
 * sequence numbers in that order, so the broker keeps each partition in push order and refuses a
 * batch that would overtake an unwritten one (OUT_OF_ORDER_SEQUENCE_NUMBER); the client keeps one
 * request on the wire per broker connection with idempotence, so the overlap is between one
 * batch's round trip and the serialisation of the next ones, and between brokers. Batches may be
 * acknowledged in any order (one per broker in parallel): each acknowledgement hands the batch's
 * tokens to the offset context, which confirms an LSN only once every event up to it is
 * acknowledged (offset-context.ts, ack-tracker.ts). A batch the client gives up on fails the sink:
 * the session is closed and streaming resumes from the confirmed LSN (session.ts).
 *
 * Batching grows with load: full batches leave while a slot is free; a partial batch leaves only
 * when nothing is in flight (after a completion at once, when idle after CDC_LINGER_MS), so each
 * round trip carries as many events as have waited for it. Partitioning is by key with
 * Kafka's default murmur2 (Java client), computed by murmur2.ts, so all changes of a row share a
 * partition; explicit partitions for keyless tables and TRUNCATE fan-out. Every message leaves
 * with its partition set.
 *
 * A value above CDC_MAX_MESSAGE_BYTES is not dropped: `<topic>.dlq` gets a summary (key, LSN,
 * size) with `dlq.*` reason headers, as services/common/dead-letter.ts does for consumers.
 */
import type { KafkaSettings } from '../common/config.ts';
import { deadLetterTopic } from '../common/dead-letter.ts';
import { createProducer, KafkaAdmin, type Bytes, type KafkaProducer } from '../common/kafka/index.ts';
import type { Logger } from '../common/logger.ts';
import type { OutgoingEvent } from './change-mapper.ts';
import type { EventSink } from './event-dispatcher.ts';
import { partitionForKey } from './murmur2.ts';

/** Replication also pauses above this much pending event text (UTF-16 units), whatever the count: wide rows. */
export const MAX_PENDING_TEXT = 64 * 1024 * 1024;

export interface SinkOptions {
  partitions: number;
  batchMaxEvents: number;
  lingerMs: number;
  compression: 'none' | 'gzip';
  maxPendingEvents: number;
  maxMessageBytes: number;
  /** Produce batches outstanding at once (CDC_MAX_IN_FLIGHT, 1-5). */
  maxInFlight: number;
}

/** Called with the tokens of the events of one acknowledged batch (one per pushed event, a TRUNCATE's copies counting once). */
export type AckCallback<T> = (tokens: T[]) => void;

/** One message as the client takes it. */
interface ProducedMessage {
  topic: string;
  key: Bytes | undefined;
  value: Bytes | null;
  partition: number;
  headers?: Map<string, Bytes> | Record<string, Bytes>;
}

/**
 * The producer's form of an event's headers: a Map of UTF-8 values. The mapper shares one frozen
 * headers object among every event of a table (Debezium's context headers, the schema id), so
 * that object is converted once and its Map reused: the client takes a Map as is and a Buffer
 * value without copying, instead of building both per message.
 */
const encodedHeaders = new WeakMap<object, Map<string, Bytes>>();
function producerHeaders(headers: Readonly<Record<string, string>>): Map<string, Bytes> {
  const cached = encodedHeaders.get(headers);
  if (cached) return cached;
  const map = new Map<string, Bytes>();
  for (const name in headers) map.set(name, Buffer.from(headers[name]!));
  if (Object.isFrozen(headers)) encodedHeaders.set(headers, map);
  return map;
}

/** Text length of an event (the pending-text bound). */
const textOf = (e: OutgoingEvent) => (e.value?.length ?? 0) + (e.key?.length ?? 0);

export class KafkaSink<T> implements EventSink<T> {
  private readonly producer: KafkaProducer;
  private readonly admin: KafkaAdmin;
  private readonly partitionCounts = new Map<string, number>();
  /** Events waiting for a batch, and their tokens (parallel arrays: no object per event, and a batch's arrays go to the callbacks as they are). */
  private queue: OutgoingEvent[] = [];
  private queueTokens: T[] = [];
  private inFlightBatches = 0;
  private inFlightEvents = 0;
  private pendingText = 0;
  private failure: Error | null = null;
  private idleWaiters: (() => void)[] = [];
  private capacityWaiters: (() => void)[] = [];
  private failureListeners: ((err: Error) => void)[] = [];

  /**
   * @param onAck called once per acknowledged batch with its events' tokens.
   * @param onSent called once per acknowledged batch with its events and the round-trip time, ms.
   * @param clientLogger the logger the Kafka clients log into (session.ts passes one at `error`
   *   level: the service reports an outage once itself).
   */
  constructor(
    config: KafkaSettings,
    private readonly options: SinkOptions,
    private readonly onAck: AckCallback<T>,
    private readonly logger: Logger,
    private readonly onSent: (events: OutgoingEvent[], ms: number) => void = () => undefined,
    clientLogger: Logger = logger,
  ) {
    // Messages are built here from typed events: the library's per-send schema check is left out
    // (options are still validated at construction).
    this.producer = createProducer(config, 'cdc', clientLogger, { compression: options.compression, checkEachSend: false });
    this.admin = KafkaAdmin.create(config, 'cdc', clientLogger);
  }

  /** Checks that a broker answers (the client connects lazily). @throws the client's error. */
  async connect(): Promise<void> {
    await this.admin.listTopics();
  }

  /**
   * Creates missing topics (and their `.dlq`) with the configured partition count; learns the
   * partition count of existing ones (an existing topic keeps its count; a difference is logged).
   */
  async ensureTopics(topics: string[]): Promise<void> {
    const wanted = [...new Set(topics.flatMap((t) => [t, deadLetterTopic(t)]))];
    const created: string[] = [];
    for (const t of wanted) if (await this.admin.ensureTopic(t, this.options.partitions)) created.push(t);
    if (created.length > 0) this.logger.info({ topics: created, partitions: this.options.partitions }, 'created topics');
    for (const [name, count] of await this.admin.partitionCounts(wanted)) {
      this.partitionCounts.set(name, count);
      if (count !== this.options.partitions && !name.endsWith('.dlq')) {
        this.logger.warn({ topic: name, partitions: count, configured: this.options.partitions }, 'existing topic has a different partition count; keeping it');
      }
    }
  }

  /**
   * Asks the broker for its topics: the liveness probe of an idle producer (a producing one learns
   * of an outage from its requests, which the client retries without end).
   * @throws the client's error when no broker answers.
   */
  async probe(): Promise<void> {
    await this.admin.listTopics();
  }

  /** Events pushed and not yet acknowledged. */
  pending(): number {
    return this.queue.length + this.inFlightEvents;
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

  /** Registers a listener for the sink's failure (a batch the client gave up on). */
  onFailure(listener: (err: Error) => void): void {
    this.failureListeners.push(listener);
  }

  /**
   * Queues one event; `token` comes back through the ack callback once the broker acknowledged it.
   * @throws the sink's failure, once it has failed.
   */
  push(event: OutgoingEvent, token: T): void {
    if (this.failure) throw this.failure;
    this.queue.push(event);
    this.queueTokens.push(token);
    this.pendingText += textOf(event);
    this.schedule();
  }

  /** Resolves when every pushed event is acknowledged; rejects if the sink failed. */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending() === 0) return Promise.resolve();
    this.cancelLinger();
    this.sendWhilePossible(true);
    return new Promise((resolve, reject) => {
      this.idleWaiters.push(() => (this.failure ? reject(this.failure) : resolve()));
    });
  }

  /** Closes the producer (outstanding batches are abandoned: their events were not confirmed) and the admin client. */
  async disconnect(): Promise<void> {
    this.cancelLinger();
    await this.producer.close(true).catch((err: Error) => this.logger.debug({ err }, 'closing the producer'));
    await this.admin.close().catch((err: Error) => this.logger.debug({ err }, 'closing the admin client'));
  }

  private cancelLinger(): void {
    if (!this.lingerTimer) return;
    if (this.options.lingerMs > 0) clearTimeout(this.lingerTimer as NodeJS.Timeout);
    else clearImmediate(this.lingerTimer as NodeJS.Immediate);
    this.lingerTimer = null;
  }

  private lingerTimer: NodeJS.Timeout | NodeJS.Immediate | null = null;

  /**
   * When batches leave (so that they stay large, as each costs a round trip: the client keeps one
   * request on the wire per broker connection):
   * - full batches, while a slot is free;
   * - a partial batch only when nothing is in flight: at once after a completion (its events
   *   waited a round trip already), else after CDC_LINGER_MS (0: the end of the current turn of
   *   the event loop, so one transaction's events share a batch).
   * While batches are in flight, a partial batch keeps filling until it is full or they complete.
   */
  private schedule(): void {
    if (this.queue.length >= this.options.batchMaxEvents) {
      this.cancelLinger();
      this.sendWhilePossible();
      return;
    }
    if (this.inFlightBatches > 0 || this.lingerTimer) return; // a completion re-evaluates
    const fire = () => {
      this.lingerTimer = null;
      this.sendWhilePossible();
    };
    this.lingerTimer = this.options.lingerMs > 0 ? setTimeout(fire, this.options.lingerMs) : setImmediate(fire);
  }

  /** Sends full batches while slots are free; a partial one only when nothing else is in flight (or on flush). */
  private sendWhilePossible(force = false): void {
    while (!this.failure && this.queue.length > 0 && this.inFlightBatches < this.options.maxInFlight) {
      if (this.queue.length < this.options.batchMaxEvents && this.inFlightBatches > 0 && !force) break;
      this.sendBatch();
    }
  }

  private sendBatch(): void {
    const max = this.options.batchMaxEvents;
    const whole = this.queue.length <= max;
    const batch = whole ? this.queue : this.queue.slice(0, max);
    const tokens = whole ? this.queueTokens : this.queueTokens.slice(0, max);
    this.queue = whole ? [] : this.queue.slice(max);
    this.queueTokens = whole ? [] : this.queueTokens.slice(max);
    this.inFlightBatches++;
    this.inFlightEvents += batch.length;
    const started = Date.now();
    this.producer.send({ messages: this.toMessages(batch) }).then(
      () => {
        this.inFlightBatches--;
        this.inFlightEvents -= batch.length;
        let text = 0;
        for (const e of batch) text += textOf(e);
        this.pendingText -= text;
        if (this.failure) return;
        this.onSent(batch, Date.now() - started);
        this.onAck(tokens);
        // What queued meanwhile leaves now if nothing else is in flight: it has waited a round trip.
        this.cancelLinger();
        this.sendWhilePossible(this.idleWaiters.length > 0);
        this.wake();
      },
      (err: Error) => {
        this.inFlightBatches--;
        this.inFlightEvents -= batch.length;
        this.fail(err);
      },
    );
  }

  private toMessages(batch: readonly OutgoingEvent[]): ProducedMessage[] {
    const out: ProducedMessage[] = [];
    const maxBytes = this.options.maxMessageBytes;
    for (const event of batch) {
      // A UTF-8 byte is at least one UTF-16 unit and at most three: measure only when it may matter.
      if (event.value !== null && event.value.length * 3 > maxBytes && Buffer.byteLength(event.value) > maxBytes) {
        const dlq = deadLetterTopic(event.topic);
        out.push({ ...this.oversizeSummary(event), topic: dlq, partition: event.key === null ? 0 : partitionForKey(event.key, this.partitionsOf(dlq)) });
        continue;
      }
      const key = event.key ?? undefined;
      const partitions = this.partitionsOf(event.topic);
      if (event.allPartitions) {
        for (let p = 0; p < partitions; p++) out.push({ topic: event.topic, key, value: event.value, partition: p, ...(event.headers ? { headers: producerHeaders(event.headers) } : {}) });
        continue;
      }
      const partition = event.partition ?? (event.key === null ? 0 : partitionForKey(event.key, partitions));
      out.push(event.headers ? { topic: event.topic, key, value: event.value, partition, headers: producerHeaders(event.headers) } : { topic: event.topic, key, value: event.value, partition });
    }
    return out;
  }

  private partitionsOf(topic: string): number {
    return this.partitionCounts.get(topic) ?? this.options.partitions;
  }

  private oversizeSummary(event: OutgoingEvent): Omit<ProducedMessage, 'topic' | 'partition'> {
    const size = Buffer.byteLength(event.value ?? '');
    this.logger.error({ topic: event.topic, key: event.key, lsn: event.lsn.toString(), bytes: size }, 'event larger than CDC_MAX_MESSAGE_BYTES sent to the dead-letter topic');
    return {
      key: event.key ?? undefined,
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
    if (this.failure) return;
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
