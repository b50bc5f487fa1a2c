/**
 * The bronze writer's side of the schema link (docs/contracts/table-schemas.md): the table schema
 * documents its rows reference are copied from the compacted topic `<prefix>._schemas` to the
 * lake, at `_schemas/<topic>/<schemaId>.json`, before the offsets of those rows are committed. So
 * a lake holds every schema its bronze rows reference, and the batch never needs Kafka.
 *
 * - {@link SchemaTopicReader} reads the schema topic (not as a data topic: its own consumer, in a
 *   group of its own per process that never commits, from the earliest offset) into memory, and
 *   reads it up to its end again whenever a row names an id it does not know yet. The CDC service
 *   produces a document before the first event that names it, so after that catch-up a missing id
 *   is really missing.
 * - {@link LakeSchemaStore} writes the documents of a segment's ids (once per process and lake
 *   key; content-addressed, so a rewrite after a restart or a replay writes the same bytes).
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../common/config.ts';
import { encodeTableSchema, parseTableSchema, schemaObjectKey, schemaTopic, type TableSchema } from '../common/contracts/table-schema.ts';
import { createConsumer, KafkaAdmin, type KafkaConsumer } from '../common/kafka/index.ts';
import type { LakeStorage } from '../common/lake-storage.ts';
import type { Logger } from '../common/logger.ts';

/** Where documents come from: the schema topic in the service, anything in unit tests. */
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
  config: Pick<Config, 'kafka'>;
  logger: Logger;
  /** Consumer group prefix; the reader's group is `<prefix>.schemas.<uuid>` (never committed). */
  groupPrefix: string;
  /** How long a catch-up to the end of the topic may take before lookup() throws (ms). */
  catchUpTimeoutMs?: number;
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
    this.topic = schemaTopic(options.config.kafka.topicPrefix);
    this.admin = KafkaAdmin.create(options.config, 'bronze-writer-schemas', options.logger);
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

  /** Starts the consumer once the topic exists. @returns false when the topic does not exist. */
  private start(): Promise<boolean> {
    if (this.stream) return Promise.resolve(true);
    this.starting ??= (async () => {
      try {
        if (!(await this.admin.listTopics()).includes(this.topic)) return false;
        const consumer = createConsumer(this.options.config, 'bronze-writer-schemas', this.options.logger, {
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
      this.docs.set(id, parseTableSchema(m.value?.toString('utf8') ?? '', id));
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

  /** Waits until every record below `end` was read. @throws on a consumer failure or after the catch-up timeout. */
  private async readUpTo(end: bigint): Promise<void> {
    const deadline = Date.now() + (this.options.catchUpTimeoutMs ?? 30_000);
    while (this.position < end) {
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`schema topic ${this.topic}: read up to offset ${this.position}, its end is ${end}`);
      await this.progress(Math.min(left, 1000));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stream?.close().catch(() => undefined);
    await this.consumer?.close(true).catch(() => undefined);
    await this.admin.close().catch(() => undefined);
  }
}

/** What {@link LakeSchemaStore.ensureStored} did. */
export interface StoreOutcome {
  /** Documents written to the lake by this call. */
  written: number;
  /** Ids the schema topic does not hold (their rows are stored anyway; logged, counted). */
  missing: string[];
}

/** Copies schema documents to the lake, once per process and key; see the module documentation. */
export class LakeSchemaStore {
  private readonly stored = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly reportedMissing = new Set<string>();
  /** Documents written and ids found missing since start. */
  readonly stats = { written: 0, missing: 0 };

  constructor(
    private readonly lake: LakeStorage,
    private readonly source: SchemaLookup,
    private readonly logger: Logger,
  ) {}

  /**
   * Stores the documents of `ids` (the schema ids of rows of `topic`) at
   * `_schemas/<topic>/<schemaId>.json`; resolves once each is durable in the lake.
   * @throws when the schema topic or the lake cannot be read or written now (the caller retries;
   *   nothing half-done matters, a rewrite writes the same bytes).
   */
  async ensureStored(topic: string, ids: readonly string[]): Promise<StoreOutcome> {
    const wanted = ids.filter((id) => !this.stored.has(schemaObjectKey(topic, id)));
    if (wanted.length === 0) return { written: 0, missing: [] };
    const docs = await this.source.lookup(wanted);
    const missing = wanted.filter((id) => !docs.has(id));
    let written = 0;
    await Promise.all(
      [...docs].map(async ([id, doc]) => {
        const key = schemaObjectKey(topic, id);
        let put = this.inFlight.get(key);
        if (!put) {
          if (doc.topic !== topic) this.logger.warn({ topic, schemaId: id, documentTopic: doc.topic }, 'rows of a topic name a schema document of another topic; stored under the rows\' topic');
          put = this.lake.put(key, Buffer.from(encodeTableSchema(doc))).finally(() => this.inFlight.delete(key));
          this.inFlight.set(key, put);
          await put;
          this.stored.add(key);
          written++;
          this.stats.written++;
          return;
        }
        await put;
      }),
    );
    for (const id of missing) {
      const key = schemaObjectKey(topic, id);
      if (this.reportedMissing.has(key)) continue;
      this.reportedMissing.add(key);
      this.stats.missing++;
      this.logger.error({ topic, schemaId: id }, 'rows name a schema id the schema topic does not hold; they are stored without their document');
    }
    return { written, missing };
  }
}
