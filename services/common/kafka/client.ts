/**
 * The one place a Kafka client is built (docs/decisions/0010-kafka-client.md): every producer,
 * consumer and admin client of the project comes from {@link createProducer},
 * {@link createConsumer} or {@link createAdmin}, built on @platformatic/kafka from the validated
 * configuration (`config.kafka`: brokers, client id prefix), named `<KAFKA_CLIENT_ID>-<service>`,
 * and logging through the service's pino logger ({@link attachKafkaLogging}: one mapping).
 *
 * Bytes in, bytes out: a producer takes keys, values and header values as Buffer or string
 * (a string is sent as its UTF-8 bytes; null or undefined value = tombstone); a consumer gives
 * keys and values as the Buffers read (undefined for a null key or a tombstone's value), header
 * names as strings and header values as Buffers. Serialising JSON is the caller's business.
 *
 * Defaults that differ from the library's, and why:
 * - producers are idempotent with acks=all unless told otherwise (docs/architecture.md, "Delivery");
 *   the library then keeps one request in flight per broker connection and retries without end;
 * - `strict: true`: option objects are validated by the library, so a typo fails at start-up; a hot
 *   producer may opt out of the per-send check (`checkEachSend: false`, the CDC sink): its options are
 *   then validated here, with the library's exported validators;
 * - a keyed message without a partition goes where the Java client (and kafkajs, and the CDC
 *   service's murmur2.ts) would put it: `murmur2(key) & 0x7fffffff` modulo the partition count
 *   (the library's `compatibilityPartitioner`; its own default uses `>>> 0`, which differs for half
 *   of the keys);
 * - topics are never auto-created (`autocreateTopics: false`): producers create their topics
 *   with the configured partition count (admin.ts, {@link ensureTopic});
 * - every client authenticates (SASL/SCRAM, KAFKA_SASL_MECHANISM) as the principal of the
 *   process (`config.kafka.as`: each service its own, the ops CLI and scripts the admin), and
 *   speaks TLS when KAFKA_TLS is set ({@link connectionSecurity}; docs/security.md).
 */
import {
  Admin,
  compatibilityPartitioner,
  Consumer,
  Producer,
  ProduceAcks,
  type BaseOptions,
  type ConsumeBaseOptions,
  type GroupOptions,
  type ProducerOptions,
  type AdminOptions,
  type Deserializer,
  type Serializer,
  baseOptionsValidator,
  producerOptionsValidator,
  UserError,
} from '@platformatic/kafka';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaSettings } from '../config.ts';
import type { Logger } from '../logger.ts';
import { attachKafkaLogging } from './logging.ts';

/** What a producer accepts for a key, value or header value. */
export type Bytes = Buffer | string;

/** A producer of the project: Buffer/string keys, values and header values, string header names. */
export type KafkaProducer = Producer<Bytes | null | undefined, Bytes | null | undefined, string, Bytes>;

/** A consumer of the project: raw Buffers (undefined = null), string header names, Buffer header values. */
export type KafkaConsumer = Consumer<Buffer | undefined, Buffer | undefined, string, Buffer>;

/** Serialises Buffer as is, string as UTF-8, null/undefined as a null field. */
export const bytesSerializer: Serializer<Bytes | null | undefined> = (data) => (data === null || data === undefined ? undefined : typeof data === 'string' ? Buffer.from(data) : data);

/**
 * Header names come from the code (Debezium's `__debezium.*`, `lakehouse.*`, `dlq.*`) and repeat on
 * every message: their UTF-8 bytes are made once and shared (the client only copies them into the
 * request). At most 1,024 names are kept; others are encoded each time.
 */
const headerNameBytes = new Map<string, Buffer>();
const headerNameSerializer: Serializer<string> = (data) => {
  if (data === undefined) return undefined;
  let bytes = headerNameBytes.get(data);
  if (!bytes) {
    bytes = Buffer.from(data);
    if (headerNameBytes.size < 1024) headerNameBytes.set(data, bytes);
  }
  return bytes;
};
/**
 * Header names as strings. The same few names come on every message (`lakehouse.schema.id` and
 * Debezium's `__debezium.context.*` on every CDC event): a name seen before is matched by its bytes
 * and its string reused, instead of decoding a new string per header. Up to 64 distinct names
 * (of at most 256 bytes) are remembered per consumer; others are decoded each time.
 */
export function internedUtf8Deserializer(): Deserializer<string> {
  const known: { bytes: Uint8Array; text: string }[] = [];
  return (data) => {
    if (data === undefined) return '';
    const n = data.length;
    next: for (const k of known) {
      const b = k.bytes;
      if (b.length !== n) continue;
      for (let i = 0; i < n; i++) if (b[i] !== data[i]) continue next;
      return k.text;
    }
    const text = data.toString('utf8');
    if (known.length < 64 && n <= 256) known.push({ bytes: Uint8Array.from(data), text });
    return text;
  };
}
const rawDeserializer = (data?: Buffer): Buffer | undefined => data ?? undefined;
const rawHeaderDeserializer: Deserializer<Buffer> = (data) => data ?? Buffer.alloc(0);

/** The SASL and TLS options of a connection (the library's `sasl` and `tls`). */
export interface ConnectionSecurity {
  sasl?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
  tls?: ConnectionOptions;
}

/**
 * How a client of this process authenticates (docs/security.md, "Kafka"): as the principal
 * `config.kafka.as` (each service its own, scripts and the ops CLI the admin), with that
 * principal's credentials and KAFKA_SASL_MECHANISM; over TLS when KAFKA_TLS is set.
 * @throws Error when the configuration holds no credentials for that principal (an entry point
 *   composed without its principal block: a programming error, caught by the types elsewhere).
 */
export function connectionSecurity(config: KafkaSettings): ConnectionSecurity {
  const { security, as, principals } = config.kafka;
  const out: ConnectionSecurity = {};
  if (security.mechanism !== 'none') {
    const creds = principals[as];
    if (!creds) throw new Error(`no Kafka credentials for principal "${as}" in this configuration`);
    out.sasl = { mechanism: security.mechanism, username: creds.username, password: creds.password };
  }
  if (security.tls) out.tls = security.tlsCaFile ? { ca: readFileSync(security.tlsCaFile) } : {};
  return out;
}

/** The connection settings every client of `service` shares. */
export function clientBase(config: KafkaSettings, service: string): { clientId: string; bootstrapBrokers: string[]; strict: true } & ConnectionSecurity {
  return { clientId: `${config.kafka.clientId}-${service}`, bootstrapBrokers: config.kafka.brokers, strict: true, ...connectionSecurity(config) };
}

type Overrides<T> = Partial<Omit<T, 'clientId' | 'bootstrapBrokers' | 'serializers' | 'deserializers'>>;

/**
 * A producer for `service`: idempotent, acks=all, no topic auto-creation, unless `options`
 * override them (only a non-critical producer should).
 * @param logger the service's logger; the client's events are logged through it.
 */
export function createProducer(config: KafkaSettings, service: string, logger: Logger, options: ProducerOverrides = {}): KafkaProducer {
  const { checkEachSend = true, ...overrides } = options;
  const producerOptions: ProducerOptions<Bytes | null | undefined, Bytes | null | undefined, string, Bytes> = {
    ...clientBase(config, service),
    idempotent: true,
    acks: ProduceAcks.ALL,
    autocreateTopics: false,
    partitioner: compatibilityPartitioner,
    ...overrides,
    serializers: { key: bytesSerializer, value: bytesSerializer, headerKey: headerNameSerializer, headerValue: bytesSerializer },
  };
  if (!checkEachSend) {
    // The library validates only when `strict` is on, at construction and on every call: check the
    // construction here with its own validators, then let sends go unchecked.
    assertValid(producerOptions, producerOptionsValidator);
    assertValid(producerOptions, baseOptionsValidator);
    producerOptions.strict = false;
  }
  const producer: KafkaProducer = new Producer(producerOptions);
  attachKafkaLogging(producer, logger);
  return producer;
}

/** What a caller may set on a producer. */
export type ProducerOverrides = Overrides<ProducerOptions<Bytes | null | undefined, Bytes | null | undefined, string, Bytes>> & {
  /**
   * false: the library does not validate each `send()` (its message schema, about 5 % of the CDC
   * service's CPU at 2,000 messages per send); the producer's options are still validated here at
   * construction, with the library's own validators (a bad option throws as with `strict`). For a
   * hot producer whose messages are built by typed code. Default true.
   */
  checkEachSend?: boolean;
};

/** The shape of the library's exported (ajv) option validators. */
type OptionsValidator = ((data: unknown) => boolean) & { errors?: { instancePath?: string; message?: string }[] | null };

/** Runs one of the library's exported option validators. @throws UserError listing what is wrong. */
function assertValid(options: object, validator: OptionsValidator): void {
  if (validator(options)) return;
  const problems = (validator.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');
  throw new UserError(`Invalid producer options: ${problems}`);
}

/**
 * A consumer of group `groupId` for `service`. Offsets are committed by the caller
 * (`autocommit` is off unless `options` set it), after its side effect is durable.
 */
export function createConsumer(
  config: KafkaSettings,
  service: string,
  logger: Logger,
  options: ConsumerSettings,
): KafkaConsumer {
  const consumer: KafkaConsumer = new Consumer({
    ...clientBase(config, service),
    autocommit: false,
    autocreateTopics: false,
    ...options,
    deserializers: { key: rawDeserializer, value: rawDeserializer, headerKey: internedUtf8Deserializer(), headerValue: rawHeaderDeserializer },
  });
  attachKafkaLogging(consumer, logger);
  return consumer;
}

/** How long closing a failed consumer may take before it is left to the broker's session timeout. */
export const CLOSE_FAILED_CONSUMER_MS = 5_000;

/**
 * Closes a consumer whose join or stream failed, before a new one takes its place (a client whose
 * join failed was seen to consume nothing afterwards, so it is never reused). It leaves the group
 * if the broker answers within {@link CLOSE_FAILED_CONSUMER_MS}; otherwise the broker ends its
 * membership at its session timeout. Never rejects.
 */
export async function closeFailedConsumer(consumer: KafkaConsumer, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    consumer.close(true).catch((err: unknown) => logger.debug({ err }, 'closing the failed consumer failed; the broker ends its membership at its session timeout')),
    new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_FAILED_CONSUMER_MS))),
  ]);
  clearTimeout(timer);
}

/** What a caller may set on a consumer (the group, its timeouts, fetch sizes); the rest is the factory's. */
export type ConsumerSettings = { groupId: string } & Partial<GroupOptions> &
  Overrides<ConsumeBaseOptions<Buffer | undefined, Buffer | undefined, string, Buffer>> &
  Overrides<BaseOptions>;

/** An admin client for `service` (topics, offsets, groups: see admin.ts for the calls the project makes). */
export function createAdmin(config: KafkaSettings, service: string, logger: Logger, options: Overrides<AdminOptions> = {}): Admin {
  const admin = new Admin({ ...clientBase(config, service), ...options });
  attachKafkaLogging(admin, logger);
  return admin;
}
