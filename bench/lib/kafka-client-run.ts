/**
 * One measured run of one Kafka client, in a process of its own (spawned by bench/kafka-clients.ts,
 * so CPU time and peak RSS are this client's alone):
 *
 *   node --import tsx bench/lib/kafka-client-run.ts <client> <produce|consume> <json options>
 *
 * - `produce`: the CDC service's produce path. `messages` pre-rendered change events (the bronze
 *   kit's activity events: keys and Debezium envelopes, tombstones included) are sent to `topic`
 *   with an idempotent producer and acks=all, `batch` messages per send, each message with its
 *   partition set by Kafka's murmur2 of its key (as services/cdc does); up to `inFlight` sends are
 *   outstanding at once (what the client then puts on the wire is its own business: see below).
 * - `consume`: the bronze writer's consume path. A new consumer group reads `topic` from the
 *   beginning until it has seen `messages` messages, touching each key and value (bytes summed),
 *   and checks that offsets increase within each partition.
 *
 * Prints one JSON line: `{ client, path, messages, seconds, cpuUs, maxRssBytes, checksum, ordered }`;
 * seconds run from the first send (produce) or the first message (consume) to the last
 * acknowledgement or message; cpuUs is the process's user+system CPU over the same span.
 *
 * Clients (`client`):
 * - `kafkajs`: kafkajs 2.2.4 as published (from the benchmark's own install, see CLIENTS_DIR);
 * - `kafkajs-patched`: kafkajs with the project's former load-time replacements of its internals
 *   (services/cdc/kafkajs-*.ts, services/bronze-writer/kafkajs-record-decoding.ts); those files are
 *   gone since the move to @platformatic/kafka, so this now reports that;
 * - `platformatic`: @platformatic/kafka (pure JavaScript);
 * - `confluent`: @confluentinc/kafka-javascript (librdkafka), through its KafkaJS-compatible API.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../services/common/config.ts';
import { partitionForKey } from '../../services/cdc/murmur2.ts';
import { activityMessages } from '../../services/bronze-writer/testing/bronze-kit.ts';

/** Where bench/kafka-clients.ts installs the clients under test (pinned versions, outside the project's dependencies). */
export const CLIENTS_DIR = path.join(REPO_ROOT, '.local', 'bench-kafka-clients');

export interface RunOptions {
  brokers: string[];
  topic: string;
  messages: number;
  partitions: number;
  /** Produce: messages per send. */
  batch: number;
  /** Produce: sends outstanding at once. */
  inFlight: number;
  groupId: string;
  /** SASL credentials of the stack's admin principal (SCRAM; the stack's listener requires them), if any. */
  sasl?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
  /** Produce: headers on every message (one shared object, as the CDC service shares one per table). */
  headers?: Record<string, string>;
}

export interface RunResult {
  client: string;
  path: 'produce' | 'consume';
  messages: number;
  seconds: number;
  cpuUs: number;
  maxRssBytes: number;
  /** Consume: sum of key and value lengths (the same for every client reading the same topic). */
  checksum: number;
  /** Consume: offsets increased within every partition. */
  ordered: boolean;
}

interface Clock {
  start(): void;
  stop(): { seconds: number; cpuUs: number };
}

function clock(): Clock {
  let t0 = 0;
  let c0: NodeJS.CpuUsage = { user: 0, system: 0 };
  return {
    start() {
      t0 = performance.now();
      c0 = process.cpuUsage();
    },
    stop() {
      const c = process.cpuUsage(c0);
      return { seconds: (performance.now() - t0) / 1000, cpuUs: c.user + c.system };
    },
  };
}

/** The CDC-shaped messages of a produce run, partitioned as the CDC service partitions them; `headers` shared by all. */
function cdcMessages<H>(count: number, partitions: number, headers?: H): { key: Buffer; value: Buffer | null; partition: number; headers?: H }[] {
  const out: { key: Buffer; value: Buffer | null; partition: number; headers?: H }[] = [];
  for (let seed = 1; out.length < count; seed++) {
    for (const m of activityMessages(10_000, seed)) {
      if (out.length === count) break;
      const message = { key: Buffer.from(m.key), value: m.value === null ? null : Buffer.from(m.value), partition: partitionForKey(m.key, partitions) };
      out.push(headers ? { ...message, headers } : message);
    }
  }
  return out;
}

/** Headers as kafkajs and Confluent's KafkaJS API take them: name -> Buffer. */
const headerRecord = (h: Record<string, string> | undefined) => (h ? Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Buffer.from(v)])) : undefined);

/** SASL as kafkajs and Confluent's KafkaJS API take it (lower-case mechanism). */
const kafkajsSasl = (o: RunOptions) => (o.sasl ? { sasl: { mechanism: o.sasl.mechanism.toLowerCase(), username: o.sasl.username, password: o.sasl.password } } : {});

/** Header bytes of a consumed message (each client decodes them its own way; touching them is part of the cost). */
function headerBytes(headers: unknown): number {
  if (!headers) return 0;
  let n = 0;
  const entries = headers instanceof Map ? [...(headers as Map<unknown, unknown>).entries()] : Array.isArray(headers) ? (headers as Record<string, unknown>[]).flatMap((h) => Object.entries(h)) : Object.entries(headers);
  for (const [, v] of entries) n += (v as { length?: number } | undefined)?.length ?? 0;
  return n;
}

/** Sends `batches` with at most `inFlight` sends outstanding; resolves when all are acknowledged. */
async function pipelined<B>(batches: B[], inFlight: number, send: (batch: B) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < batches.length) await send(batches[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, batches.length) }, lane));
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Counts messages and checks per-partition offset order. */
class Tally {
  seen = 0;
  checksum = 0;
  ordered = true;
  private readonly last = new Map<string, bigint>();
  add(topic: string, partition: number, offset: bigint, key: { length: number } | null | undefined, value: { length: number } | null | undefined, headers?: unknown): void {
    const p = `${topic}/${partition}`;
    const before = this.last.get(p);
    if (before !== undefined && offset <= before) this.ordered = false;
    this.last.set(p, offset);
    this.checksum += (key?.length ?? 0) + (value?.length ?? 0) + headerBytes(headers);
    this.seen++;
  }
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the clients are loaded by path at run time */
function requireFrom(dir: string): NodeJS.Require {
  return createRequire(path.join(dir, 'package.json'));
}

async function runKafkajs(kafkajs: any, path_: 'produce' | 'consume', o: RunOptions, name: string): Promise<RunResult> {
  const kafka = new kafkajs.Kafka({ clientId: `bench-${name}`, brokers: o.brokers, logLevel: kafkajs.logLevel.NOTHING, ...kafkajsSasl(o) });
  const c = clock();
  if (path_ === 'produce') {
    const batches = chunks(cdcMessages(o.messages, o.partitions, headerRecord(o.headers)), o.batch);
    // kafkajs allows one request in flight for an idempotent producer.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: () => ({ message }: any) => message.partition });
    await producer.connect();
    await producer.send({ topic: o.topic, acks: -1, messages: [batches[0]![0]] }); // warm-up: metadata, producer id
    c.start();
    // Its idempotent producer takes one request at a time (concurrent sends fail its sequence checks): sends in turn, as the CDC service does.
    await pipelined(batches, 1, (batch) => producer.send({ topic: o.topic, acks: -1, messages: batch }));
    const t = c.stop();
    await producer.disconnect();
    return { client: name, path: path_, messages: o.messages, ...t, maxRssBytes: process.resourceUsage().maxRSS * 1024, checksum: 0, ordered: true };
  }
  const consumer = kafka.consumer({ groupId: o.groupId, maxBytesPerPartition: 1024 * 1024, maxBytes: 4 * 1024 * 1024, maxWaitTimeInMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics: [o.topic], fromBeginning: true });
  const tally = new Tally();
  let t: { seconds: number; cpuUs: number } | undefined;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 2,
      eachBatch: async ({ batch }: any) => {
        if (tally.seen === 0) c.start();
        for (const m of batch.messages) tally.add(batch.topic, batch.partition, BigInt(m.offset), m.key, m.value, m.headers);
        if (tally.seen >= o.messages && !t) {
          t = c.stop();
          resolve();
        }
      },
    });
  });
  await done;
  await consumer.disconnect();
  return { client: name, path: path_, messages: tally.seen, ...t!, maxRssBytes: process.resourceUsage().maxRSS * 1024, checksum: tally.checksum, ordered: tally.ordered };
}

async function runPlatformatic(lib: any, path_: 'produce' | 'consume', o: RunOptions): Promise<RunResult> {
  const c = clock();
  if (path_ === 'produce') {
    const batches = chunks(
      cdcMessages(o.messages, o.partitions, o.headers ? new Map(Object.entries(o.headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])) : undefined).map((m) => ({
        topic: o.topic, key: m.key, value: m.value ?? undefined, partition: m.partition, ...(m.headers ? { headers: m.headers } : {}),
      })),
      o.batch,
    );
    const producer = new lib.Producer({ clientId: 'bench-platformatic', bootstrapBrokers: o.brokers, idempotent: true, acks: lib.ProduceAcks.ALL, ...(o.sasl ? { sasl: o.sasl } : {}) });
    await producer.send({ messages: [batches[0]![0]] });
    c.start();
    await pipelined(batches, o.inFlight, (messages) => producer.send({ messages }));
    const t = c.stop();
    await producer.close();
    return { client: 'platformatic', path: path_, messages: o.messages, ...t, maxRssBytes: process.resourceUsage().maxRSS * 1024, checksum: 0, ordered: true };
  }
  const consumer = new lib.Consumer({ clientId: 'bench-platformatic', bootstrapBrokers: o.brokers, groupId: o.groupId, maxBytesPerPartition: 1024 * 1024, maxBytes: 4 * 1024 * 1024, maxWaitTime: 500, ...(o.sasl ? { sasl: o.sasl } : {}) });
  const stream = await consumer.consume({ topics: [o.topic], mode: 'earliest', autocommit: false });
  const tally = new Tally();
  let t: { seconds: number; cpuUs: number } | undefined;
  for await (const m of stream) {
    if (tally.seen === 0) c.start();
    tally.add(m.topic, m.partition, m.offset, m.key, m.value, m.headers);
    if (tally.seen >= o.messages) {
      t = c.stop();
      break;
    }
  }
  await stream.close();
  await consumer.close(true);
  return { client: 'platformatic', path: path_, messages: tally.seen, ...t!, maxRssBytes: process.resourceUsage().maxRSS * 1024, checksum: tally.checksum, ordered: tally.ordered };
}

async function runConfluent(lib: any, path_: 'produce' | 'consume', o: RunOptions): Promise<RunResult> {
  const { Kafka, logLevel } = lib.KafkaJS;
  const kafka = new Kafka({ kafkaJS: { clientId: 'bench-confluent', brokers: o.brokers, logLevel: logLevel.NOTHING, ...kafkajsSasl(o) } });
  const c = clock();
  if (path_ === 'produce') {
    const batches = chunks(cdcMessages(o.messages, o.partitions, headerRecord(o.headers)), o.batch);
    // librdkafka keeps up to 5 requests in flight per broker with idempotence (Kafka's limit).
    const producer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1, maxInFlightRequests: 5, compression: lib.KafkaJS.CompressionTypes.None }, 'linger.ms': 5 });
    await producer.connect();
    // A copy: the client replaces a sent message's headers by its own form, and the first message is measured again below.
    await producer.send({ topic: o.topic, messages: [{ ...batches[0]![0]! }] });
    c.start();
    await pipelined(batches, o.inFlight, (batch) => producer.send({ topic: o.topic, messages: batch }));
    const t = c.stop();
    await producer.disconnect();
    return { client: 'confluent', path: path_, messages: o.messages, ...t, maxRssBytes: process.resourceUsage().maxRSS * 1024, checksum: 0, ordered: true };
  }
  const consumer = kafka.consumer({ kafkaJS: { groupId: o.groupId, fromBeginning: true, autoCommit: false } });
  await consumer.connect();
  await consumer.subscribe({ topics: [o.topic] });
  const tally = new Tally();
  let t: { seconds: number; cpuUs: number } | undefined;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      partitionsConsumedConcurrently: 2,
      eachBatch: async ({ batch }: any) => {
        if (tally.seen === 0) c.start();
        for (const m of batch.messages) tally.add(batch.topic, batch.partition, BigInt(m.offset), m.key, m.value, m.headers);
        if (tally.seen >= o.messages && !t) {
          t = c.stop();
          resolve();
        }
      },
    });
  });
  await done;
  await consumer.disconnect();
  return { client: 'confluent', path: path_, messages: tally.seen, ...t!, maxRssBytes: process.resourceUsage().maxRSS * 1024, checksum: tally.checksum, ordered: tally.ordered };
}

/** Runs one client on one path. @throws when the client is not installed or the run fails. */
export async function runClient(client: string, path_: 'produce' | 'consume', o: RunOptions): Promise<RunResult> {
  const local = requireFrom(CLIENTS_DIR);
  switch (client) {
    case 'kafkajs':
      return runKafkajs(local('kafkajs'), path_, o, client);
    case 'kafkajs-patched': {
      const patches =
        path_ === 'produce' ? ['services/cdc/kafkajs-linear-grouping.ts', 'services/cdc/kafkajs-record-encoding.ts'] : ['services/bronze-writer/kafkajs-record-decoding.ts'];
      for (const p of patches) {
        const file = path.join(REPO_ROOT, p);
        if (!existsSync(file)) throw new Error(`${p} no longer exists (the project's kafkajs patches are gone)`);
        await import(pathToFileURL(file).href);
      }
      return runKafkajs(local('kafkajs'), path_, o, client);
    }
    case 'platformatic':
      return runPlatformatic(await import(pathToFileURL(local.resolve('@platformatic/kafka')).href), path_, o);
    case 'confluent':
      return runConfluent(local('@confluentinc/kafka-javascript'), path_, o);
    default:
      throw new Error(`unknown client ${client}`);
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [client, path_, json] = process.argv.slice(2);
  const result = await runClient(client!, path_ as 'produce' | 'consume', JSON.parse(json!) as RunOptions);
  console.log(JSON.stringify(result));
  process.exit(0);
}
