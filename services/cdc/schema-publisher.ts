/**
 * Produces table schema documents (docs/contracts/table-schemas.md) to the compacted topic
 * `<KAFKA_TOPIC_PREFIX>._schemas`: key = schemaId, value = the document's canonical JSON, one
 * partition, `cleanup.policy=compact`. The CDC service awaits {@link SchemaPublisher.publish}
 * (acks=all) before it hands the first event that references the document to the event sink, so
 * a consumer that sees an id in a `lakehouse.schema.id` header finds the document in the topic.
 *
 * Idempotent: ids are content-addressed, so producing a document again (after a restart, or
 * from another service instance) only adds a record that compaction folds into the first.
 * Within a process each id is produced once.
 *
 * Its own idempotent producer (acks=all, the project's client factory, services/common/kafka),
 * apart from the event sink's, so that a schema document is never queued behind the events it
 * must precede.
 */
import { ConfigResourceTypes } from '@platformatic/kafka';
import type { KafkaSettings } from '../common/config.ts';
import { schemaTopic, encodeTableSchema, type TableSchema } from '../common/contracts/table-schema.ts';
import { createProducer, KafkaAdmin, type KafkaProducer } from '../common/kafka/index.ts';
import type { Logger } from '../common/logger.ts';

export class SchemaPublisher {
  readonly topic: string;
  private readonly producer: KafkaProducer;
  private readonly admin: KafkaAdmin;
  private readonly published = new Set<string>();

  /**
   * @param config the Kafka connection and KAFKA_TOPIC_PREFIX (the topic is `<prefix>._schemas`).
   * @param clientLogger the logger the Kafka clients log into (see kafka-sink.ts).
   */
  constructor(config: KafkaSettings, private readonly logger: Logger, clientLogger: Logger = logger) {
    this.topic = schemaTopic(config.kafka.topicPrefix);
    this.producer = createProducer(config, 'cdc-schemas', clientLogger);
    this.admin = KafkaAdmin.create(config, 'cdc-schemas', clientLogger);
  }

  /**
   * Creates the topic when missing (1 partition, cleanup.policy=compact) and waits until it has a
   * leader. An existing topic that is not compacted is used as it is, with a warning: documents
   * could then expire with the topic's retention, and the lake copy becomes their only home.
   */
  async connect(): Promise<void> {
    if (await this.admin.ensureTopic(this.topic, 1, { configs: { 'cleanup.policy': 'compact' } })) {
      this.logger.info({ topic: this.topic }, 'created the schema topic (compacted)');
      return;
    }
    const [described] = await this.admin.client.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: this.topic, configurationKeys: ['cleanup.policy'] }] });
    const policy = described?.configs.find((c) => c.name === 'cleanup.policy')?.value ?? undefined;
    if (policy !== undefined && !policy.split(',').includes('compact')) {
      this.logger.warn({ topic: this.topic, cleanupPolicy: policy }, 'the schema topic is not compacted: its documents may expire (set cleanup.policy=compact)');
    }
  }

  /**
   * Produces `doc` (once per process per id) and resolves when the broker acknowledged it.
   * @throws the producer's error (the CDC session fails and reconnects; the document is produced again).
   */
  async publish(doc: TableSchema): Promise<void> {
    if (this.published.has(doc.schemaId)) return;
    await this.producer.send({ messages: [{ topic: this.topic, key: doc.schemaId, value: encodeTableSchema(doc), partition: 0 }] });
    this.published.add(doc.schemaId);
    this.logger.info({ topic: doc.topic, schemaId: doc.schemaId, columns: doc.columns.length }, 'schema document produced');
  }

  async disconnect(): Promise<void> {
    await this.producer.close(true).catch((err: Error) => this.logger.debug({ err }, 'closing the schema producer'));
    await this.admin.close().catch((err: Error) => this.logger.debug({ err }, 'closing the schema admin client'));
  }
}
