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
 * Its own kafkajs producer (idempotent, acks=all), apart from the event sink's, so that a schema
 * document is never queued behind the events it must precede.
 */
import { Kafka, logLevel as KafkaLogLevel, type Admin, type Producer } from 'kafkajs';
import pRetry from 'p-retry';
import { schemaTopic, encodeTableSchema, type TableSchema } from '../common/contracts/table-schema.ts';
import type { Logger } from '../common/logger.ts';

export interface SchemaPublisherOptions {
  brokers: string[];
  clientId: string;
  /** KAFKA_TOPIC_PREFIX: the topic is `<prefix>._schemas`. */
  topicPrefix: string;
}

export class SchemaPublisher {
  readonly topic: string;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly published = new Set<string>();

  constructor(options: SchemaPublisherOptions, private readonly logger: Logger) {
    this.topic = schemaTopic(options.topicPrefix);
    this.kafka = new Kafka({ clientId: options.clientId, brokers: options.brokers, logLevel: KafkaLogLevel.WARN, logCreator: () => ({ level, log }) => {
      const { message, ...rest } = log;
      if (level <= KafkaLogLevel.ERROR) logger.error({ kafka: rest }, message);
      else if (level === KafkaLogLevel.WARN) logger.warn({ kafka: rest }, message);
    } });
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.admin = this.kafka.admin();
  }

  /**
   * Connects and creates the topic when missing (1 partition, cleanup.policy=compact). An
   * existing topic that is not compacted is used as it is, with a warning: documents could then
   * expire with the topic's retention, and the lake copy becomes their only home.
   */
  async connect(): Promise<void> {
    await this.admin.connect();
    await this.producer.connect();
    const existing = new Set(await this.admin.listTopics());
    if (!existing.has(this.topic)) {
      await this.createTopic();
      this.logger.info({ topic: this.topic }, 'created the schema topic (compacted)');
      return;
    }
    const described = await this.admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2 /* TOPIC */, name: this.topic, configNames: ['cleanup.policy'] }] });
    const policy = described.resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue;
    if (policy !== undefined && !policy.split(',').includes('compact')) {
      this.logger.warn({ topic: this.topic, cleanupPolicy: policy }, 'the schema topic is not compacted: its documents may expire (set cleanup.policy=compact)');
    }
  }

  /**
   * Creates the topic and waits until the broker serves its metadata. kafkajs' waitForLeaders
   * retries only LEADER_NOT_AVAILABLE; a broker that has not yet learnt of the new topic answers
   * UNKNOWN_TOPIC_OR_PARTITION, which is retried here (as is a concurrent creation).
   */
  private async createTopic(): Promise<void> {
    try {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic: this.topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
      });
      return;
    } catch (err) {
      const type = (err as { type?: string }).type;
      if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'TOPIC_ALREADY_EXISTS') throw err;
    }
    await pRetry(
      async () => {
        const meta = await this.admin.fetchTopicMetadata({ topics: [this.topic] });
        if (!meta.topics[0]?.partitions.every((p) => p.leader >= 0)) throw new Error(`schema topic ${this.topic} has no leader yet`);
      },
      { retries: 50, minTimeout: 100, maxTimeout: 500 },
    );
  }

  /**
   * Produces `doc` (once per process per id) and resolves when the broker acknowledged it.
   * @throws the producer's error (the service stops; a restart produces it again).
   */
  async publish(doc: TableSchema): Promise<void> {
    if (this.published.has(doc.schemaId)) return;
    await this.producer.send({ topic: this.topic, acks: -1, messages: [{ key: doc.schemaId, value: encodeTableSchema(doc), partition: 0 }] });
    this.published.add(doc.schemaId);
    this.logger.info({ topic: doc.topic, schemaId: doc.schemaId, columns: doc.columns.length }, 'schema document produced');
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }
}
