/**
 * The bronze writer's side of the schema link (docs/contracts/table-schemas.md): the table schema
 * documents its rows reference are copied from the compacted topic `<prefix>._schemas` to the
 * lake, at `_schemas/<topic>/<schemaId>.json`, before the offsets of those rows are committed. So
 * a lake holds every schema its bronze rows reference, and the batch never needs Kafka.
 *
 * - services/common/schema-topic.ts (SchemaTopicReader) reads a schema topic (not as a data
 *   topic: its own consumer, in a group of its own per process that never commits) into memory,
 *   and reads it up to its end again whenever a row names an id it does not know yet;
 * - {@link LakeSchemaStore} writes documents to the lake (once per process and lake key;
 *   content-addressed, so a rewrite after a restart or a replay writes the same bytes);
 * - {@link BronzeSchemas} ties them to the writer: one reader per topic prefix the writer
 *   consumes (one writer may consume several sources), the documents of a segment's rows stored
 *   before its commit, and every document of a consumed topic stored as it arrives, so a table
 *   without rows (yet) has its document in the lake too (the batch types its empty silver table).
 */
import { encodeTableSchema, schemaObjectKey, topicPrefixOf, type TableSchema } from '../common/contracts/table-schema.ts';
import type { KafkaSettings } from '../common/config.ts';
import type { LakeStorage } from '../common/lake-storage.ts';
import type { Logger } from '../common/logger.ts';
import { SchemaTopicReader, type SchemaLookup } from '../common/schema-topic.ts';

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
    private readonly logger: Logger,
  ) {}

  /**
   * Stores `doc` at `_schemas/<topic>/<schemaId>.json` unless this process already did.
   * @returns true when this call wrote it.
   * @throws when the lake cannot be written now (the caller retries).
   */
  async store(topic: string, doc: TableSchema): Promise<boolean> {
    const key = schemaObjectKey(topic, doc.schemaId);
    if (this.stored.has(key)) return false;
    let put = this.inFlight.get(key);
    if (put) {
      await put;
      return false;
    }
    if (doc.topic !== topic) this.logger.warn({ topic, schemaId: doc.schemaId, documentTopic: doc.topic }, 'rows of a topic name a schema document of another topic; stored under the rows\' topic');
    // Marked stored before it leaves the in-flight map, so no caller in between writes it again.
    put = this.lake
      .put(key, Buffer.from(encodeTableSchema(doc)))
      .then(() => void this.stored.add(key))
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, put);
    await put;
    this.stats.written++;
    return true;
  }

  /**
   * Stores the documents of `ids` (the schema ids of rows of `topic`), found through `source`, at
   * `_schemas/<topic>/<schemaId>.json`; resolves once each is durable in the lake.
   * @throws when the schema topic or the lake cannot be read or written now (the caller retries;
   *   nothing half-done matters, a rewrite writes the same bytes).
   */
  async ensureStored(topic: string, ids: readonly string[], source: SchemaLookup): Promise<StoreOutcome> {
    const wanted = ids.filter((id) => !this.stored.has(schemaObjectKey(topic, id)));
    if (wanted.length === 0) return { written: 0, missing: [] };
    const docs = await source.lookup(wanted);
    const missing = wanted.filter((id) => !docs.has(id));
    let written = 0;
    await Promise.all([...docs.values()].map(async (doc) => {
      if (await this.store(topic, doc)) written++;
    }));
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

export interface BronzeSchemasOptions {
  config: KafkaSettings;
  logger: Logger;
  lake: LakeStorage;
  /** Consumer group prefix of the readers (BRONZE_CONSUMER_GROUP). */
  groupPrefix: string;
  /** True for a table topic this writer consumes: its documents are stored as they arrive. */
  consumes: (topic: string) => boolean;
  /** Runs a lake write until it succeeds (the writer's retry with backoff); rejects only on shutdown. */
  retrying: <T>(what: string, op: () => Promise<T>) => Promise<T>;
}

/** The bronze writer's schema documents: see the module documentation. */
export class BronzeSchemas {
  readonly store: LakeSchemaStore;
  /** One reader per topic prefix. */
  private readonly readers = new Map<string, SchemaTopicReader>();
  private readonly following = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly options: BronzeSchemasOptions) {
    this.store = new LakeSchemaStore(options.lake, options.logger);
  }

  private reader(prefix: string): SchemaTopicReader {
    let reader = this.readers.get(prefix);
    if (!reader) {
      reader = new SchemaTopicReader({
        config: this.options.config,
        logger: this.options.logger,
        service: 'bronze-writer-schemas',
        groupPrefix: this.options.groupPrefix,
        topicPrefix: prefix,
        onDocument: (doc) => this.arrived(doc),
      });
      this.readers.set(prefix, reader);
    }
    return reader;
  }

  /** Schema id -> the key columns its events carry (see {@link keyColumnsOf}). */
  private readonly keys = new Map<string, readonly string[]>();

  /**
   * The key columns of the events of `doc`'s table: its primary key ([] = keyless). A primary key
   * with a column the document does not publish is not one the CDC keys events by (it then sends
   * no key): undefined, nothing checked.
   */
  static keyColumnsOf(doc: TableSchema): readonly string[] | undefined {
    const published = new Set(doc.columns.map((c) => c.name));
    return doc.primaryKey.every((k) => published.has(k)) ? doc.primaryKey : undefined;
  }

  private remember(doc: TableSchema): void {
    const key = BronzeSchemas.keyColumnsOf(doc);
    if (key !== undefined) this.keys.set(doc.schemaId, key);
  }

  /**
   * Key columns of the schema ids `ids` of `topic`'s rows, for the key checks (key-check.ts): from
   * the documents already read, else from the schema topic of the topic's prefix. Ids whose
   * document is not there (or has no usable key) are left out.
   * @throws when the schema topic cannot be read now (the caller retries).
   */
  async keyColumns(topic: string, ids: readonly string[]): Promise<Record<string, readonly string[]>> {
    const missing = ids.filter((id) => !this.keys.has(id));
    const prefix = topicPrefixOf(topic);
    if (missing.length > 0 && prefix !== undefined) for (const doc of (await this.reader(prefix).lookup(missing)).values()) this.remember(doc);
    const out: Record<string, readonly string[]> = {};
    for (const id of ids) {
      const key = this.keys.get(id);
      if (key !== undefined) out[id] = key;
    }
    return out;
  }

  /** A document read from a schema topic: stored now when its table's topic is one this writer consumes. */
  private arrived(doc: TableSchema): void {
    this.remember(doc);
    if (!this.options.consumes(doc.topic)) return;
    const write = this.options.retrying(`store schema ${doc.schemaId} of ${doc.topic}`, () => this.store.store(doc.topic, doc)).catch(() => undefined);
    this.background.add(write);
    void write.finally(() => this.background.delete(write));
  }

  /**
   * Follows the schema topics of the prefixes of `dataTopics` (the writer's subscription): from
   * now on their documents are stored as they arrive. A schema topic that does not exist yet is
   * tried again on the next call (the writer calls this on every topic refresh).
   */
  async follow(dataTopics: readonly string[]): Promise<void> {
    const prefixes = new Set(dataTopics.map(topicPrefixOf).filter((p): p is string => p !== undefined));
    for (const prefix of prefixes) {
      if (this.following.has(prefix)) continue;
      try {
        if (await this.reader(prefix).follow()) this.following.add(prefix);
      } catch (err) {
        this.options.logger.warn({ err, prefix }, 'cannot read the schema topic yet; trying again on the next topic refresh');
      }
    }
  }

  /**
   * Stores the documents the rows of `topic` name ({@link LakeSchemaStore.ensureStored}), from the
   * schema topic of the topic's prefix.
   */
  ensureStored(topic: string, ids: readonly string[]): Promise<StoreOutcome> {
    const prefix = topicPrefixOf(topic);
    if (prefix === undefined) return Promise.resolve({ written: 0, missing: [...ids] });
    return this.store.ensureStored(topic, ids, this.reader(prefix));
  }

  /** Waits for the background writes (bounded by the writer's retry abort) and closes the readers. */
  async close(): Promise<void> {
    await Promise.all([...this.background]);
    await Promise.all([...this.readers.values()].map((r) => r.close()));
  }
}
