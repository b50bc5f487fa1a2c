/**
 * Reads the compacted schema topic `<KAFKA_TOPIC_PREFIX>._schemas` (docs/contracts/table-schemas.md)
 * into memory, for the services that need the table schema documents: the bronze writer (which
 * copies the documents its rows name to the lake) and the CDC service (which, at start, recalls the
 * catalog facts of columns an earlier run saw).
 *
 * Never as a data topic: its own consumer, in a group of its own per process
 * (`<groupPrefix>.schemas.<uuid>`) that never commits, from the earliest offset. A lookup of an id
 * it does not know yet reads the topic up to its end first: the CDC service produces a document
 * before the first event that names it, so after that catch-up a missing id is really missing.
 * Records that are not valid documents (parseTableSchema) are logged and skipped.
 */
import { randomUUID } from 'node:crypto';
import type { KafkaSettings } from './config.ts';
import { parseTableSchema, schemaTopic, type TableSchema } from './contracts/table-schema.ts';
import { createConsumer, KafkaAdmin, type KafkaConsumer } from './kafka/index.ts';
import type { Logger } from './logger.ts';

/** Where documents come from: the schema topic in the services, anything in unit tests. */
export interface SchemaLookup {
  /**
   * The documents of `ids` that exist; an id absent from the result is not in the schema topic.
   * @throws when the documents cannot be read now (broker unreachable): the caller retries.
   */
  lookup(ids: readonly string[]): Promise<Map<string, TableSchema>>;
}

type MessagesStream = Awaited<ReturnType<KafkaConsumer['consume']>>;
type StreamMessage = MessagesStream extends AsyncIterable<infer M> ? M : never;

export interface SchemaTopicReaderOptions {
  config: KafkaSettings;
  logger: Logger;
  /** Client name (`<KAFKA_CLIENT_ID>-<service>`). */
  service: string;
  /** Consumer group prefix; the reader's group is `<prefix>.schemas.<uuid>` (never committed). */
  groupPrefix: string;
  /** How long a catch-up to the end of the topic may take before lookup() throws (ms). */
  catchUpTimeoutMs?: number;
  /** Topic prefix whose `<prefix>._schemas` to read; default KAFKA_TOPIC_PREFIX. */
  topicPrefix?: string;
  /** Called once per new valid document, as it is read. */
  onDocument?: (doc: TableSchema) => void;
}

/** Reads `<prefix>._schemas` into memory; see the module documentation. */
export class SchemaTopicReader implements SchemaLookup {
  readonly topic: string;
  private readonly docs = new Map<string, TableSchema>();
  private readonly admin: KafkaAdmin;
  private consumer: KafkaConsumer | undefined;
  private stream: MessagesStream | undefined;
  private starting: Promise<boolean> | undefined;
  /** Next offset to read: every record below it has been seen. */
  private position = 0n;
  private failure: Error | undefined;
  private closed = false;
  private readonly waiters = new Set<() => void>();
  /** Records that were not valid documents (logged, not used). */
  invalid = 0;

  constructor(private readonly options: SchemaTopicReaderOptions) {
    this.topic = schemaTopic(options.topicPrefix ?? options.config.kafka.topicPrefix);
    this.admin = KafkaAdmin.create(options.config, options.service, options.logger);
  }

  /**
   * Every document of the topic, read up to its current end, in the order they first appeared
   * ([] when the topic does not exist).
   * @throws on a consumer failure or after the catch-up timeout.
   */
  async readAll(): Promise<TableSchema[]> {
    if (!(await this.admin.listTopics()).includes(this.topic)) return [];
    const end = await this.endOffset();
    if (end === 0n || !(await this.start())) return [];
    await this.readUpTo(end);
    return [...this.docs.values()];
  }

  async lookup(ids: readonly string[]): Promise<Map<string, TableSchema>> {
    const found = new Map<string, TableSchema>();
    const pick = () => {
      for (const id of ids) {
        const doc = this.docs.get(id);
        if (doc) found.set(id, doc);
      }
      return found.size === ids.length;
    };
    if (pick()) return found;
    if (!(await this.start())) return found;
    const end = await this.endOffset();
    await this.readUpTo(end);
    pick();
    return found;
  }

  /**
   * Starts reading (and keeps reading: new documents reach `onDocument` as they are produced).
   * @returns false when the topic does not exist (yet): call again later.
   */
  follow(): Promise<boolean> {
    return this.start();
  }

  /** Starts the consumer once the topic exists. @returns false when the topic does not exist. */
  private start(): Promise<boolean> {
    if (this.stream) return Promise.resolve(true);
    this.starting ??= (async () => {
      try {
        if (!(await this.admin.listTopics()).includes(this.topic)) return false;
        const consumer = createConsumer(this.options.config, this.options.service, this.options.logger, {
          groupId: `${this.options.groupPrefix}.schemas.${randomUUID()}`,
          maxWaitTime: 250,
        });
        this.consumer = consumer;
        const stream = await consumer.consume({ topics: [this.topic], mode: 'earliest' });
        this.stream = stream;
        stream.on('data', (m: StreamMessage) => this.receive(m));
        stream.once('error', (err: Error) => {
          if (this.closed) return;
          this.failure = err;
          this.options.logger.error({ err, topic: this.topic }, 'reading the schema topic failed');
          this.wake();
        });
        return true;
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }

  private receive(m: StreamMessage): void {
    const id = m.key?.toString('utf8') ?? '';
    try {
      const doc = parseTableSchema(m.value?.toString('utf8') ?? '', id);
      if (!this.docs.has(id)) {
        this.docs.set(id, doc);
        this.options.onDocument?.(doc);
      }
    } catch (err) {
      this.invalid++;
      this.options.logger.error({ err, topic: this.topic, offset: String(m.offset), key: id }, 'schema topic record is not a valid table schema document; ignored');
    }
    if (m.offset + 1n > this.position) this.position = m.offset + 1n;
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves on the next record or failure, or after `ms`. */
  private progress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  /** The schema topic's end offset (its only partition's high watermark). */
  private async endOffset(): Promise<bigint> {
    const offsets = await this.admin.fetchTopicOffsets(this.topic);
    return BigInt(offsets.find((o) => o.partition === 0)?.high ?? '0');
  }

  /**
   * Waits until every record below `end` was read.
   * @throws on a consumer failure (the next call starts a new consumer) or after the catch-up timeout.
   */
  private async readUpTo(end: bigint): Promise<void> {
    const deadline = Date.now() + (this.options.catchUpTimeoutMs ?? 30_000);
    while (this.position < end) {
      if (this.failure) {
        const err = this.failure;
        await this.reset();
        throw err;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`schema topic ${this.topic}: read up to offset ${this.position}, its end is ${end}`);
      await this.progress(Math.min(left, 1000));
    }
  }

  /** Drops a failed consumer; the next call starts a new one (documents read so far are kept). */
  private async reset(): Promise<void> {
    const { stream, consumer } = this;
    this.stream = undefined;
    this.consumer = undefined;
    this.failure = undefined;
    await stream?.close().catch(() => undefined);
    await consumer?.close(true).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stream?.close().catch(() => undefined);
    await this.consumer?.close(true).catch(() => undefined);
    await this.admin.close().catch(() => undefined);
  }
}

