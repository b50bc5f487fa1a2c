/**
 * The bronze writer: a Kafka consumer group over the CDC topics that writes every change event,
 * unchanged, into zstd Parquet files on the lake (docs/contracts/change-events.md,
 * "Bronze objects"), at least once and never losing one.
 *
 * Flow per topic-partition: consumed messages are packed into an open segment (segment.ts). A
 * full, old or boundary-reaching segment is sealed and flushed: an encoder thread decodes it
 * (bronze-row.ts) and writes the Parquet file (encoder-pool.ts); undecodable messages are
 * published to `<topic>.dlq` (acks=all); then the table schema documents its rows name
 * (schema-documents.ts, docs/contracts/table-schemas.md), the Parquet object and the manifest
 * entry are stored, and only then is the offset after the segment committed. Flushes of one partition run
 * in order; partitions flush in parallel up to `uploadConcurrency`. A crash anywhere re-reads
 * from the last commit and rewrites the same keys (recorded-ranges.ts).
 *
 * Memory: when buffered plus unwritten message bytes exceed `maxBufferedBytes`, every partition
 * is paused until they fall below half of it.
 *
 * Storage errors are retried with exponential backoff (p-retry) for as long as the service
 * runs; consumption pauses as unwritten data reaches the memory limit.
 */
// Before kafkajs loads its RecordBatch decoder (kafkajs-record-decoding.ts).
import { recordDecodingStatus } from './kafkajs-record-decoding.ts';
import { Kafka, logLevel as kafkaLogLevel, Partitioners, type Admin, type Consumer, type EachBatchPayload, type KafkaMessage, type LogEntry, type Producer } from 'kafkajs';
import pRetry from 'p-retry';
import type { Config } from '../common/config.ts';
import { DeadLetterPublisher, ensureDeadLetterTopic } from '../common/dead-letter.ts';
import { openLake, type LakeStorage } from '../common/lake-storage.ts';
import type { Logger } from '../common/logger.ts';
import type { Undecodable } from './bronze-row.ts';
import { openSegmentEncoder, type EncodedSegment, type SegmentEncoder } from './encoder-pool.ts';
import { bronzeObjectKey, encodeManifest, type BronzeManifest } from '../common/contracts/bronze-object.ts';
import { RecordedRanges } from './recorded-ranges.ts';
import { packedHeaders, packedMessage, SegmentBuilder, type RotationPolicy, type SealReason, type Segment } from './segment.ts';
import { SchemaTopicReader } from '../common/schema-topic.ts';
import { LakeSchemaStore } from './schema-documents.ts';
import { selectTopics } from './topics.ts';

export const SERVICE_NAME = 'bronze-writer';

/** Counters since start. */
export interface BronzeWriterStats {
  messages: number;
  rows: number;
  tombstones: number;
  deadLetters: number;
  files: number;
  /** Parquet bytes stored. */
  fileBytes: number;
  commits: number;
  /** Milliseconds consumption was paused because `maxBufferedBytes` were buffered (back-pressure). */
  pausedMs: number;
  /** Table schema documents copied to the lake (`_schemas/<topic>/<id>.json`). */
  schemasStored: number;
  /** Schema ids named by rows that the schema topic does not hold (logged once each). */
  schemasMissing: number;
}

/** The outcome of {@link BronzeWriter.stop}. */
export interface StopResult {
  /** False when some buffered data could not be stored before the shutdown timeout. */
  complete: boolean;
  /** Sealed segments abandoned at shutdown (their offsets were not committed). */
  abandonedSegments: number;
}

interface PartitionState {
  key: string;
  topic: string;
  partition: number;
  open: SegmentBuilder | null;
  /** Offsets below this are already in a segment: a redelivery after a rebalance is skipped. */
  nextOffset: number | null;
  /** Every offset below this is stored (or was a tombstone / dead letter covered by a stored range). */
  durableNext: number | null;
  committedNext: number | null;
  flushChain: Promise<void>;
  /** A flush gave up (shutdown): later segments of this partition must not be marked durable. */
  broken: boolean;
  revoked: boolean;
  ranges: RecordedRanges;
  /** Size of the last sealed segment, to size the next one's buffers. */
  lastSize: { messages: number; bytes: number } | undefined;
}

/** A counting semaphore for the upload slots. */
class Slots {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Copies Kafka headers out of the fetch buffer they point into (kafkajs values are Buffer slices). */
function copyHeaders(headers: Record<string, unknown>): Record<string, Buffer> | undefined {
  let out: Record<string, Buffer> | undefined;
  // for-in, not Object.entries: called for every message, and CDC messages have no headers.
  for (const name in headers) {
    const value = headers[name];
    if (Buffer.isBuffer(value) || typeof value === 'string') (out ??= {})[name] = Buffer.from(value);
  }
  return out;
}

/** Index of `offset` in the sorted `offsets`. @throws RangeError when absent. */
function indexOfOffset(offsets: Float64Array, offset: number): number {
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = offsets[mid]!;
    if (v === offset) return mid;
    if (v < offset) lo = mid + 1;
    else hi = mid - 1;
  }
  throw new RangeError(`offset ${offset} not in segment`);
}

/** kafkajs log lines into pino, as child `kafkajs` of the service logger. */
function kafkaLogCreator(logger: Logger) {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      // kafkajs logs retried, transient failures (coordinator loading, rebalances) as errors;
      // what really fails surfaces as a consumer crash event, logged by the writer.
      if (level === kafkaLogLevel.ERROR || level === kafkaLogLevel.WARN) child.warn(extra, message);
      else if (level === kafkaLogLevel.INFO) child.debug(extra, message);
      else child.trace(extra, message);
    };
}

export interface BronzeWriterOptions {
  config: Config;
  logger: Logger;
  /** Default: openLake(config). Closed by stop(). */
  lake?: LakeStorage;
  /** Default: per `config.bronze.encoderThreads`. Closed by stop(). */
  encoders?: SegmentEncoder;
}

/** See the module documentation. Lifecycle: `start()` once, then `stop()` once. */
export class BronzeWriter {
  readonly stats: BronzeWriterStats = { messages: 0, rows: 0, tombstones: 0, deadLetters: 0, files: 0, fileBytes: 0, commits: 0, pausedMs: 0, schemasStored: 0, schemasMissing: 0 };
  /** Resolves (never rejects) with the error when the consumer stopped for good by itself. */
  readonly crashed: Promise<Error>;

  private readonly config: Config;
  private readonly settings: Config['bronze'];
  private readonly policy: RotationPolicy;
  private readonly logger: Logger;
  private readonly lake: LakeStorage;
  private readonly schemaReader: SchemaTopicReader;
  private readonly schemaStore: LakeSchemaStore;
  private encoders: SegmentEncoder | undefined;
  private readonly kafka: Kafka;
  private readonly admin: Admin;
  private readonly producer: Producer;
  private readonly consumer: Consumer;
  private readonly deadLetters: DeadLetterPublisher;
  private readonly dlqTopicsReady = new Set<string>();
  private readonly states = new Map<string, PartitionState>();
  private readonly flushes = new Set<Promise<void>>();
  private readonly slots: Slots;
  private readonly abort = new AbortController();
  private assigned: Set<string> | undefined;
  private subscribed: string[] = [];
  /** Open segments' bytes plus batches queued for packing (`pendingBytes`). */
  private bufferedBytes = 0;
  private readonly pending: { st: PartitionState; messages: KafkaMessage[]; bytes: number }[] = [];
  private pendingBytes = 0;
  private packing: Promise<void> | undefined;
  private sealedUnflushed = 0;
  private paused = false;
  private pausedAt = 0;
  private draining = false;
  private stopping: Promise<StopResult> | undefined;
  private restarting: Promise<void> | undefined;
  private commitRunning: Promise<void> | undefined;
  private commitAgain = false;
  private timers: NodeJS.Timeout[] = [];
  private lastProgressAt = Date.now();
  private resolveCrashed!: (err: Error) => void;

  constructor(options: BronzeWriterOptions) {
    this.config = options.config;
    this.settings = options.config.bronze;
    this.policy = { maxRows: this.settings.maxRows, maxBytes: this.settings.maxBytes, maxAgeMs: this.settings.maxAgeMs };
    this.logger = options.logger;
    this.lake = options.lake ?? openLake(options.config);
    this.schemaReader = new SchemaTopicReader({ config: this.config, logger: this.logger, service: 'bronze-writer-schemas', groupPrefix: this.settings.consumerGroup });
    this.schemaStore = new LakeSchemaStore(this.lake, this.schemaReader, this.logger);
    this.encoders = options.encoders;
    this.slots = new Slots(this.settings.uploadConcurrency);
    this.crashed = new Promise((resolve) => (this.resolveCrashed = resolve));
    this.kafka = new Kafka({
      clientId: `${this.config.kafka.clientId}-${SERVICE_NAME}`,
      brokers: this.config.kafka.brokers,
      logLevel: kafkaLogLevel.INFO,
      logCreator: kafkaLogCreator(this.logger),
    });
    this.admin = this.kafka.admin();
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    this.consumer = this.kafka.consumer({
      groupId: this.settings.consumerGroup,
      allowAutoTopicCreation: false,
      // One fetch response is held in memory while its messages are packed: keep it small.
      maxBytesPerPartition: 1024 * 1024,
      maxBytes: 4 * 1024 * 1024,
      maxWaitTimeInMs: 500,
      sessionTimeout: this.settings.sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor(this.settings.sessionTimeoutMs / 3)),
    });
    this.deadLetters = new DeadLetterPublisher(this.producer, SERVICE_NAME);
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => this.onAssignment(event.payload.memberAssignment));
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      if (restart) {
        this.logger.warn({ err: error }, 'consumer crashed; kafkajs restarts it');
      } else if (!this.draining) {
        this.logger.error({ err: error }, 'consumer stopped for good');
        this.resolveCrashed(error);
      }
    });
  }

  /**
   * Connects, waits until at least one topic to consume exists, joins the group and starts
   * consuming. @throws when Kafka cannot be reached (after kafkajs' retries) or DuckDB fails.
   */
  async start(): Promise<void> {
    this.encoders ??= await openSegmentEncoder(this.settings.encoderThreads);
    await this.admin.connect();
    await this.producer.connect();
    await this.consumer.connect();
    const topics = await this.waitForTopics();
    if (this.stopping) return;
    await this.subscribeAndRun(topics);
    const tickMs = Math.max(50, Math.min(1000, Math.floor(this.settings.maxAgeMs / 4)));
    this.timers.push(setInterval(() => this.tick(), tickMs));
    if (!this.settings.topics) this.timers.push(setInterval(() => void this.refreshTopics(), this.settings.topicRefreshMs));
  }

  /**
   * Graceful stop (SIGTERM): stops consuming, seals every open segment, stores what can be
   * stored within `shutdownTimeoutMs`, commits the stored offsets, disconnects.
   * Idempotent: later calls return the first call's result.
   */
  stop(): Promise<StopResult> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<StopResult> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    // A re-subscription in progress waits for its flushes; the drain below aborts them on timeout.
    if (this.restarting) await Promise.race([this.restarting.catch(() => undefined), sleep(this.settings.shutdownTimeoutMs)]);
    const stored = await this.drain(this.settings.shutdownTimeoutMs);
    const abandoned = this.sealedUnflushed;
    if (!stored) this.logger.error({ abandonedSegments: abandoned }, 'shutdown timeout: some buffered rows were not stored; their offsets stay uncommitted and will be re-read');
    await this.consumer.disconnect().catch((err: unknown) => this.logger.warn({ err }, 'consumer disconnect failed'));
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
    await this.encoders?.close();
    await this.schemaReader.close();
    this.lake.close();
    const usage = process.resourceUsage();
    this.logger.info({ ...this.stats, maxRssBytes: usage.maxRSS * 1024, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6 }, 'bronze writer stopped');
    return { complete: stored, abandonedSegments: abandoned };
  }

  // ----------------------------------------------------------------------------------------------
  // Topics and group membership

  private async listSelectedTopics(): Promise<string[]> {
    return selectTopics(await this.admin.listTopics(), this.settings);
  }

  private async waitForTopics(): Promise<string[]> {
    let warned = false;
    for (;;) {
      const topics = await this.listSelectedTopics();
      const missing = this.settings.topics?.filter((t) => !topics.includes(t)) ?? [];
      if (topics.length > 0 && missing.length === 0) return topics;
      if (!warned) {
        this.logger.info({ pattern: this.settings.topicPattern.source, topics: this.settings.topics, missing }, 'waiting for the topics to be created');
        warned = true;
      }
      if (this.stopping) return topics;
      await sleep(Math.min(this.settings.topicRefreshMs, 2000));
    }
  }

  private async subscribeAndRun(topics: string[]): Promise<void> {
    await this.consumer.subscribe({ topics, fromBeginning: true });
    this.subscribed = topics;
    this.logger.info({ topics, group: this.settings.consumerGroup, lake: this.lake.url, kafkajsRecordDecoding: recordDecodingStatus }, 'consuming');
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 2,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /** New topics matching the pattern: store and commit what is buffered, then re-subscribe. */
  private async refreshTopics(): Promise<void> {
    if (this.stopping || this.restarting) return;
    let topics: string[];
    try {
      topics = await this.listSelectedTopics();
    } catch (err) {
      this.logger.warn({ err }, 'cannot list topics');
      return;
    }
    const added = topics.filter((t) => !this.subscribed.includes(t));
    if (added.length === 0) return;
    this.restarting = (async () => {
      this.logger.info({ added }, 'new topics: re-subscribing');
      await this.drain(Number.POSITIVE_INFINITY);
      await this.consumer.stop();
      this.states.clear();
      this.assigned = undefined;
      this.bufferedBytes = 0;
      this.pending.length = 0;
      this.pendingBytes = 0;
      this.paused = false;
      if (this.stopping) return;
      this.draining = false;
      if (!this.stopping) await this.subscribeAndRun([...new Set([...this.subscribed, ...topics])].sort());
    })().finally(() => (this.restarting = undefined));
    await this.restarting.catch((err: unknown) => this.logger.error({ err }, 're-subscription failed'));
  }

  /**
   * After every join: partitions no longer ours drop their open segment (the new owner re-reads
   * it from the committed offset) and never commit again; kept partitions keep their state.
   */
  private onAssignment(memberAssignment: Record<string, number[]>): void {
    const assigned = new Set<string>();
    for (const [topic, partitions] of Object.entries(memberAssignment)) for (const p of partitions) assigned.add(`${topic}/${p}`);
    for (const [key, st] of this.states) {
      if (assigned.has(key)) continue;
      st.revoked = true;
      if (st.open) this.bufferedBytes -= st.open.bytes;
      st.open = null;
      this.states.delete(key);
    }
    this.assigned = assigned;
    this.logger.info({ assignment: memberAssignment }, 'partitions assigned');
  }

  private stateFor(topic: string, partition: number): PartitionState | undefined {
    const key = `${topic}/${partition}`;
    let st = this.states.get(key);
    if (st) return st;
    if (this.assigned && !this.assigned.has(key)) return undefined;
    st = {
      key,
      topic,
      partition,
      open: null,
      nextOffset: null,
      durableNext: null,
      committedNext: null,
      flushChain: Promise.resolve(),
      broken: false,
      revoked: false,
      ranges: new RecordedRanges(this.lake, topic, partition, this.logger),
      lastSize: undefined,
    };
    this.states.set(key, st);
    return st;
  }

  // ----------------------------------------------------------------------------------------------
  // Consuming

  /**
   * Takes a fetched batch: resolves its offsets and queues it for packing, then returns at once,
   * so that kafkajs sends the next fetch request right away and the broker prepares it while
   * this batch is packed (kafkajs fetches again only after every batch of the previous fetch has
   * been handled). Queued bytes count towards `maxBufferedBytes`.
   */
  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition, messages } = batch;
    const st = this.stateFor(topic, partition);
    if (!st || this.draining || messages.length === 0 || !isRunning() || isStale()) return;
    let bytes = 0;
    for (const m of messages) bytes += (m.value?.length ?? 0) + (m.key?.length ?? 0);
    this.pending.push({ st, messages, bytes });
    this.pendingBytes += bytes;
    this.bufferedBytes += bytes;
    // kafkajs' resolveOffset costs a few Long and string conversions: once per batch.
    resolveOffset(messages[messages.length - 1]!.offset);
    this.packing ??= this.packPending().finally(() => (this.packing = undefined));
    this.applyBackpressure();
    await heartbeat();
  }

  /** Packs queued batches into their partitions' open segments, in order, until none is left. */
  private async packPending(): Promise<void> {
    // Let kafkajs send its next fetch request first (it does so once onBatch has resolved).
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (let next = this.pending.shift(); next; next = this.pending.shift()) {
      this.pendingBytes -= next.bytes;
      this.bufferedBytes -= next.bytes;
      const { st, messages } = next;
      const { topic, partition } = st;
      for (const message of messages) {
        if (st.revoked) break;
        const offset = Number(message.offset);
        if (st.nextOffset !== null && offset < st.nextOffset) continue; // redelivered after a rebalance
        if (st.open?.endsBefore(offset)) this.seal(st, 'boundary');
        if (!st.open) {
          const boundary = await st.ranges.boundaryFor(offset);
          if (st.revoked) break;
          st.open ??= new SegmentBuilder(topic, partition, this.policy, boundary, st.lastSize);
        }
        const now = Date.now();
        const before = st.open.bytes;
        st.open.add(offset, Number(message.timestamp), message.key, message.value, now, message.headers && copyHeaders(message.headers));
        this.bufferedBytes += st.open.bytes - before;
        this.stats.messages++;
        st.nextOffset = offset + 1;
        const reason = st.open.sealReason(now);
        if (reason) this.seal(st, reason);
      }
      this.applyBackpressure();
    }
  }

  /** Publishes one undecodable message of `segment`, unchanged, to `<topic>.dlq` (acks=all). */
  private async publishDeadLetter(segment: Segment, bad: Undecodable): Promise<void> {
    const { topic, partition } = segment;
    this.logger.warn({ topic, partition, offset: bad.offset, reason: bad.reason, detail: bad.detail }, 'undecodable message: dead-lettering');
    const index = indexOfOffset(segment.packed.offsets, bad.offset);
    const { key, value } = packedMessage(segment.packed, index);
    const asBuffer = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    await this.retrying(`dead-letter ${topic}/${partition}@${bad.offset}`, async () => {
      if (!this.dlqTopicsReady.has(topic)) {
        await ensureDeadLetterTopic(this.admin, topic, this.config.kafka.topicPartitions);
        this.dlqTopicsReady.add(topic);
      }
      await this.deadLetters.publish(
        { topic, partition, offset: String(bad.offset), key: asBuffer(key), value: asBuffer(value), headers: packedHeaders(segment, index) },
        bad.reason,
        bad.detail,
      );
    });
    this.stats.deadLetters++;
  }

  // ----------------------------------------------------------------------------------------------
  // Sealing and flushing

  private seal(st: PartitionState, reason: SealReason): void {
    const open = st.open;
    if (!open || open.isEmpty) return;
    st.open = null;
    const segment = open.seal(reason);
    // Only a partition that fills its segments is worth pre-sized buffers.
    st.lastSize = reason === 'rows' || reason === 'bytes' ? { messages: segment.messages, bytes: segment.packed.bytes.length } : undefined;
    this.sealedUnflushed++;
    // Encoding starts now and overlaps with earlier segments' uploads; storing stays in order.
    const encoding = this.encoders!.encode(segment, new Date());
    encoding.catch(() => undefined); // awaited (and retried) by the flush
    const flush = st.flushChain.then(() => this.flush(st, segment, encoding));
    st.flushChain = flush;
    this.flushes.add(flush);
    void flush.finally(() => this.flushes.delete(flush));
  }

  /** Runs `op` until it succeeds, with exponential backoff; rejects only when aborted (shutdown). */
  private retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
    return pRetry(op, {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: 500,
      maxTimeout: 10_000,
      factor: 2,
      randomize: true,
      signal: this.abort.signal,
      shouldRetry: () => !this.abort.signal.aborted,
      onFailedAttempt: ({ error, attemptNumber }) => {
        // First failure: a warning; then an error every 10 attempts (~1.5 min at the 10 s cap).
        const level = attemptNumber === 1 ? 'warn' : attemptNumber % 10 === 0 ? 'error' : 'debug';
        this.logger[level]({ err: error, attempt: attemptNumber }, `${what} failed; retrying`);
      },
    });
  }

  /** Stores one segment (Parquet, then manifest), then marks its offsets durable. Never rejects. */
  private async flush(st: PartitionState, segment: Segment, encoding: Promise<EncodedSegment>): Promise<void> {
    try {
      if (st.broken || this.abort.signal.aborted) {
        st.broken = true;
        return;
      }
      // A revoked partition's new owner re-reads these offsets from the last commit.
      if (!st.revoked) {
        let started: Promise<EncodedSegment> | undefined = encoding;
        const encoded = await this.retrying(`encode ${segment.topic}/${segment.partition}@${segment.firstOffset}`, () => {
          const attempt = started ?? this.encoders!.encode(segment, new Date());
          started = undefined; // a retry encodes again
          return attempt;
        });
        for (const bad of encoded.undecodable) await this.publishDeadLetter(segment, bad);
        // The schema documents the rows name reach the lake before the rows (and their commit).
        if (encoded.parquet && segment.schemaIds.length > 0) await this.storeSchemas(segment);
        if (encoded.parquet) await this.store(segment, encoded);
        this.stats.rows += encoded.rows;
        this.stats.tombstones += encoded.tombstones;
      }
      this.sealedUnflushed--;
      this.bufferedBytes -= segment.bytes;
      if (st.revoked) return;
      st.durableNext = segment.lastOffset + 1;
      const crashAfter = this.settings.crashBeforeCommitAfterFiles;
      if (crashAfter > 0 && this.stats.files >= crashAfter) {
        this.logger.warn({ files: this.stats.files }, 'BRONZE_TEST_CRASH_BEFORE_COMMIT: killing this process before the commit');
        process.kill(process.pid, 'SIGKILL');
      }
      void this.requestCommit();
      this.applyBackpressure();
    } catch (err) {
      st.broken = true;
      if (!this.abort.signal.aborted) this.logger.error({ err, topic: segment.topic, partition: segment.partition }, 'flush failed');
    }
  }

  /** Copies the schema documents named by the segment's rows to the lake (docs/contracts/table-schemas.md). */
  private async storeSchemas(segment: Segment): Promise<void> {
    const outcome = await this.retrying(`schemas of ${segment.topic}/${segment.partition}@${segment.firstOffset}`, () => this.schemaStore.ensureStored(segment.topic, segment.schemaIds));
    this.stats.schemasStored = this.schemaStore.stats.written;
    this.stats.schemasMissing = this.schemaStore.stats.missing;
    if (outcome.written > 0) this.logger.debug({ topic: segment.topic, written: outcome.written }, 'schema documents stored');
  }

  /** Stores the Parquet object, then its manifest entry; resolves once both are durable. */
  private async store(segment: Segment, encoded: EncodedSegment): Promise<void> {
    const body = encoded.parquet!;
    await this.slots.acquire();
    try {
      const key = bronzeObjectKey(segment, segment.firstTimestampMs);
      await this.retrying(`put ${key}`, () => this.lake.put(key, body));
      const entry: BronzeManifest = {
        key,
        topic: segment.topic,
        partition: segment.partition,
        firstOffset: segment.firstOffset,
        lastOffset: segment.lastOffset,
        rows: encoded.rows,
        bytes: body.length,
        minKafkaTimestampMs: segment.minTimestampMs,
        maxKafkaTimestampMs: segment.maxTimestampMs,
        writtenAt: new Date().toISOString(),
      };
      const manifest = encodeManifest(entry);
      await this.retrying(`put ${manifest.key}`, () => this.lake.put(manifest.key, Buffer.from(manifest.body)));
      this.stats.files++;
      this.stats.fileBytes += body.length;
      this.logger.debug({ key, rows: entry.rows, bytes: entry.bytes, sealedBy: segment.sealedBy }, 'stored');
    } finally {
      this.slots.release();
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Committing

  /** Commits every durable, uncommitted offset; coalesces concurrent requests. */
  private requestCommit(): Promise<void> {
    if (this.commitRunning) {
      this.commitAgain = true;
      return this.commitRunning;
    }
    this.commitRunning = (async () => {
      do {
        this.commitAgain = false;
        await this.commitOnce();
      } while (this.commitAgain);
    })().finally(() => (this.commitRunning = undefined));
    return this.commitRunning;
  }

  private async commitOnce(): Promise<void> {
    const due = [...this.states.values()].filter((st) => !st.revoked && st.durableNext !== null && st.durableNext !== st.committedNext);
    if (due.length === 0) return;
    const offsets = due.map((st) => ({ topic: st.topic, partition: st.partition, offset: String(st.durableNext) }));
    try {
      await this.consumer.commitOffsets(offsets);
      for (const [i, st] of due.entries()) st.committedNext = Number(offsets[i]!.offset);
      this.stats.commits++;
    } catch (err) {
      // Usually a rebalance in progress: the tick retries, and the data is stored either way.
      this.logger.warn({ err, offsets }, 'offset commit failed; will retry');
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Periodic work, back-pressure, draining

  private tick(): void {
    const now = Date.now();
    for (const st of this.states.values()) {
      const reason = st.open?.sealReason(now);
      if (reason) this.seal(st, reason);
    }
    this.applyBackpressure();
    void this.requestCommit();
    if (now - this.lastProgressAt >= this.settings.progressEveryMs) {
      this.lastProgressAt = now;
      const memory = process.memoryUsage();
      this.logger.info(
        {
          ...this.stats,
          bufferedBytes: this.bufferedBytes,
          pendingBytes: this.pendingBytes,
          unflushedSegments: this.sealedUnflushed,
          paused: this.paused,
          partitions: this.states.size,
          rssBytes: memory.rss,
          heapUsedBytes: memory.heapUsed,
          heapTotalBytes: memory.heapTotal,
          externalBytes: memory.external,
        },
        'progress',
      );
    }
  }

  private applyBackpressure(): void {
    if (this.draining || this.stopping) return;
    const max = this.settings.maxBufferedBytes;
    if (this.bufferedBytes > max) {
      if (!this.paused) {
        this.paused = true;
        this.pausedAt = Date.now();
        this.setPaused(true);
        this.logger.debug({ bufferedBytes: this.bufferedBytes }, 'buffer full: pausing partitions');
      }
      // Nothing in flight would ever free memory: write the largest open segment now.
      if (this.sealedUnflushed === 0) {
        let largest: PartitionState | undefined;
        for (const st of this.states.values()) if (st.open && (!largest || st.open.bytes > largest.open!.bytes)) largest = st;
        if (largest) this.seal(largest, 'forced');
      }
    } else if (this.paused && this.bufferedBytes <= max / 2) {
      this.paused = false;
      this.stats.pausedMs += Date.now() - this.pausedAt;
      this.setPaused(false);
      this.logger.debug({ bufferedBytes: this.bufferedBytes }, 'buffer drained: resuming partitions');
    }
  }

  private setPaused(paused: boolean): void {
    if (this.subscribed.length === 0) return; // not consuming yet
    const topics = this.subscribed.map((topic) => ({ topic }));
    try {
      if (paused) this.consumer.pause(topics);
      else this.consumer.resume(topics);
    } catch (err) {
      this.logger.warn({ err }, paused ? 'pause failed' : 'resume failed');
    }
  }

  /**
   * Stops taking messages, seals every open segment and waits up to `timeoutMs` for all
   * flushes, then commits what is stored. @returns true when everything was stored.
   */
  private async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    this.setPaused(true);
    // Batches already taken from kafkajs go into segments first.
    if (this.packing) await Promise.race([this.packing, sleep(Number.isFinite(timeoutMs) ? timeoutMs : 2 ** 31 - 1)]);
    for (const st of this.states.values()) this.seal(st, 'forced');
    const all = Promise.all([...this.flushes]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = Number.isFinite(timeoutMs)
      ? await Promise.race([all.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)))])
      : await all.then(() => false);
    clearTimeout(timer);
    if (timedOut) {
      this.abort.abort(new Error('shutdown timeout'));
      await all;
    }
    await this.requestCommit();
    return !timedOut && this.sealedUnflushed === 0;
  }
}
