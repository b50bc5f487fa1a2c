/**
 * The project's Kafka clients (docs/decisions/0010-kafka-client.md): build every producer,
 * consumer and admin client here, from the configuration, logging into the service's logger.
 * - client.ts: {@link createProducer}, {@link createConsumer} (and {@link closeFailedConsumer}), {@link createAdmin}, byte serialisers;
 * - admin.ts: {@link KafkaAdmin}, the admin calls the project makes (topics, offsets, groups);
 * - logging.ts: {@link attachKafkaLogging}, the one mapping of client events into pino.
 */
export { bytesSerializer, clientBase, closeFailedConsumer, createAdmin, createConsumer, createProducer, type Bytes, type ConsumerSettings, type KafkaConsumer, type KafkaProducer } from './client.ts';
export { KafkaAdmin, type CommittedOffset, type GroupDescription, type TopicPartitionOffsets } from './admin.ts';
export { attachKafkaLogging, kafkaErrorFields, kafkaErrorMessage } from './logging.ts';
