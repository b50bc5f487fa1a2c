/**
 * The bronze writer's Kafka side, a thin adapter over the project's consumer
 * (services/common/kafka): joins the group on the topics, hands over consumed messages in arrival
 * batches per partition, pauses and resumes consumption, commits offsets, reports assignments,
 * and re-subscribes when topics are added. No decision is taken here (writer.ts and
 * partition-segments.ts take them).
 *
 * Messages of one fetch response arrive synchronously from the client's stream; they are queued
 * and handed over on the next turn of the event loop, after the client has sent its next fetch
 * request, so the broker prepares the next response while this one is packed.
 *
 * A stream that fails (the broker gone for longer than the client's own retries) is reported once
 * through `onFailure`; {@link KafkaSource.reconnect} then joins again with a new client (a client
 * whose fetch or join failed is not reused: one was seen to consume nothing afterwards).
 */
import type { KafkaSettings } from '../common/config.ts';
import type { Logger } from '../common/logger.ts';
import { closeFailedConsumer, createConsumer, KafkaAdmin, type KafkaConsumer } from '../common/kafka/index.ts';
import type { CommitOffset, IncomingMessage } from './partition-segments.ts';

/** Messages of one topic-partition, in offset order. */
export interface PartitionBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  /** Key + value bytes of the messages. */
  bytes: number;
}

type MessagesStream = Awaited<ReturnType<KafkaConsumer['consume']>>;
type StreamMessage = MessagesStream extends AsyncIterable<infer M> ? M : never;

export interface KafkaSourceOptions {
  config: KafkaSettings;
  service: string;
  logger: Logger;
  groupId: string;
  sessionTimeoutMs: number;
  /** Called with the partitions of this member after every join (`topic -> partitions`). */
  onAssignment: (assignment: Record<string, number[]>) => void;
  /** Called with each arrival batch; returns nothing (the writer queues and packs on its own). */
  onBatches: (batches: PartitionBatch[]) => void;
  /** Called once when consumption stopped for good by itself (the stream failed). */
  onFailure: (err: Error) => void;
}

/** See the module documentation. */
export class KafkaSource {
  readonly admin: KafkaAdmin;
  private consumer: KafkaConsumer;
  /** Clients replaced by {@link reconnect}. */
  clientsReplaced = 0;
  private stream: MessagesStream | undefined;
  private queued = new Map<string, PartitionBatch>();
  private handOver: NodeJS.Immediate | undefined;
  private paused = false;
  private closing = false;

  constructor(private readonly options: KafkaSourceOptions) {
    this.admin = KafkaAdmin.create(options.config, options.service, options.logger);
    this.consumer = this.newClient();
  }

  private newClient(): KafkaConsumer {
    const { options } = this;
    const consumer = createConsumer(options.config, options.service, options.logger, {
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor(options.sessionTimeoutMs / 3)),
      // One fetch response is held in memory while its messages are packed: keep it small.
      maxBytesPerPartition: 1024 * 1024,
      maxBytes: 4 * 1024 * 1024,
      maxWaitTime: 500,
    });
    consumer.on('consumer:group:join', (payload: { assignments?: { topic: string; partitions: number[] }[] }) => {
      const assignment: Record<string, number[]> = {};
      for (const a of payload.assignments ?? []) assignment[a.topic] = [...a.partitions];
      options.onAssignment(assignment);
    });
    return consumer;
  }

  /**
   * Leaves the current stream, replaces the client by a new one and joins the group on `topics`
   * with it (from the committed offsets). Call it again after a failure: each call starts from a
   * new client. @throws when the join fails (the broker still down).
   */
  async reconnect(topics: readonly string[]): Promise<void> {
    await this.unsubscribe().catch(() => undefined);
    const failed = this.consumer;
    this.consumer = this.newClient();
    this.clientsReplaced += 1;
    await closeFailedConsumer(failed, this.options.logger);
    await this.subscribe(topics);
  }

  /** Joins the group on `topics` (from the committed offsets, else the beginning) and starts delivering. */
  async subscribe(topics: readonly string[]): Promise<void> {
    const stream = await this.consumer.consume({ topics: [...topics], mode: 'committed', fallbackMode: 'earliest' });
    this.stream = stream;
    stream.on('data', (m: StreamMessage) => this.receive(m));
    stream.once('error', (err: Error) => {
      if (!this.closing && this.stream === stream) this.options.onFailure(err);
    });
    if (this.paused) stream.pause();
  }

  /** Stops delivering and leaves the group's stream (buffered, not yet handed over messages are dropped). */
  async unsubscribe(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    if (this.handOver) clearImmediate(this.handOver);
    this.handOver = undefined;
    this.queued.clear();
    await stream?.close();
  }

  private receive(m: StreamMessage): void {
    const key = `${m.topic}/${m.partition}`;
    let batch = this.queued.get(key);
    if (!batch) {
      batch = { topic: m.topic, partition: m.partition, messages: [], bytes: 0 };
      this.queued.set(key, batch);
    }
    // Null = tombstone; an empty value stays empty (dead-lettered at decoding: empty_value).
    const value = m.value ?? null;
    // The client's header map as it is (values are views into the fetch response: the segment
    // copies what it keeps); no object of our own per message.
    batch.messages.push({ offset: Number(m.offset), timestampMs: Number(m.timestamp), key: m.key ?? null, value, headers: m.headers.size > 0 ? m.headers : undefined });
    batch.bytes += (m.key?.length ?? 0) + (value?.length ?? 0);
    this.handOver ??= setImmediate(() => {
      this.handOver = undefined;
      const batches = [...this.queued.values()];
      this.queued = new Map();
      this.options.onBatches(batches);
    });
  }

  /** Pauses (true) or resumes (false) fetching from every partition. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!this.stream) return;
    if (paused) this.stream.pause();
    else this.stream.resume();
  }

  /** Commits `offsets` (next offset to read per partition) for the group. @throws on a broker refusal. */
  async commit(offsets: readonly CommitOffset[]): Promise<void> {
    await this.consumer.commit({ offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: BigInt(o.offset), leaderEpoch: -1 })) });
  }

  /** Leaves the group and closes the clients. */
  async close(): Promise<void> {
    this.closing = true;
    await this.unsubscribe().catch((err: unknown) => this.options.logger.warn({ err }, 'closing the consumer stream failed'));
    await this.consumer.close(true).catch((err: unknown) => this.options.logger.warn({ err }, 'consumer close failed'));
    await this.admin.close().catch(() => undefined);
  }
}
