/**
 * The bronze writer's side of the schema link (docs/contracts/table-schemas.md): the table schema
 * documents its rows reference are copied from the compacted topic `<prefix>._schemas` to the
 * lake, at `_schemas/<topic>/<schemaId>.json`, before the offsets of those rows are committed. So
 * a lake holds every schema its bronze rows reference, and the batch never needs Kafka.
 *
 * - services/common/schema-topic.ts (SchemaTopicReader) reads the schema topic (not as a data
 *   topic: its own consumer, in a group of its own per process that never commits) into memory,
 *   and reads it up to its end again whenever a row names an id it does not know yet;
 * - {@link LakeSchemaStore} writes the documents of a segment's ids (once per process and lake
 *   key; content-addressed, so a rewrite after a restart or a replay writes the same bytes).
 */
import { encodeTableSchema, schemaObjectKey } from '../common/contracts/table-schema.ts';
import type { LakeStorage } from '../common/lake-storage.ts';
import type { Logger } from '../common/logger.ts';
import type { SchemaLookup } from '../common/schema-topic.ts';

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
        // Another segment may have stored it while this one looked the documents up.
        if (this.stored.has(key)) return;
        let put = this.inFlight.get(key);
        if (!put) {
          if (doc.topic !== topic) this.logger.warn({ topic, schemaId: id, documentTopic: doc.topic }, 'rows of a topic name a schema document of another topic; stored under the rows\' topic');
          // Marked stored before it leaves the in-flight map, so no caller in between writes it again.
          put = this.lake
            .put(key, Buffer.from(encodeTableSchema(doc)))
            .then(() => void this.stored.add(key))
            .finally(() => this.inFlight.delete(key));
          this.inFlight.set(key, put);
          await put;
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
