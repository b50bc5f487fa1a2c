/**
 * The bronze writer: a Kafka consumer group over the CDC topics that writes every change event,
 * unchanged, into zstd Parquet files on the lake (docs/contracts/change-events.md,
 * "Bronze objects"), at least once and never losing one.
 *
 * This module coordinates; the decisions live in modules without I/O:
 * - partition-segments.ts: owned partitions, open segments and rotation, what is durable and what
 *   may be committed;
 * - backpressure.ts: when to pause and resume consumption;
 * and the I/O in thin adapters: kafka-source.ts (the consumer group), encoder-pool.ts (Parquet
 * encoding on worker threads), the lake storage and the dead-letter producer.
 *
 * Flow per topic-partition: consumed messages are packed into an open segment. A full, old or
 * boundary-reaching segment is sealed and flushed: an encoder thread decodes it (bronze-row.ts)
 * and writes the Parquet file; undecodable messages are published to `<topic>.dlq` (acks=all);
 * then the table schema documents its rows name (schema-documents.ts,
 * docs/contracts/table-schemas.md), the Parquet object and the manifest entry are stored, and
 * only then is the offset after the segment committed. Flushes of one partition run in order; partitions flush in parallel up
 * to `uploadConcurrency`. A crash anywhere re-reads from the last commit and rewrites the same
 * keys (recorded-ranges.ts).
 *
 * Storage errors are retried with exponential backoff (p-retry) for as long as the service
 * runs; consumption pauses as unwritten data reaches the memory limit.
 */
import pRetry from 'p-retry';
import type { BronzeWriterConfig } from '../common/config.ts';
import { DeadLetterPublisher, ensureDeadLetterTopic } from '../common/dead-letter.ts';
import { createProducer, type KafkaProducer } from '../common/kafka/index.ts';
import { openLake, type LakeStorage } from '../common/lake-storage.ts';
import type { Logger } from '../common/logger.ts';
import type { Undecodable } from './bronze-row.ts';
import { decideBackpressure } from './backpressure.ts';
import { openSegmentEncoder, type EncodedSegment, type SegmentEncoder } from './encoder-pool.ts';
import { bronzeObjectKey, encodeManifest, type BronzeManifest } from '../common/contracts/bronze-object.ts';
import { KafkaSource, type PartitionBatch } from './kafka-source.ts';
import { PartitionSegments, type PartitionState } from './partition-segments.ts';
import { RecordedRanges } from './recorded-ranges.ts';
import { packedHeaders, packedMessage, type RotationPolicy, type SealReason, type Segment } from './segment.ts';
import { BronzeSchemas } from './schema-documents.ts';
import { selectTopics } from './topics.ts';
import { encodeIsolatingUnstorable } from './unstorable.ts';

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

/** Plain encoding attempts of a segment before its messages are examined one by one (unstorable.ts). */
const ENCODE_ATTEMPTS = 3;

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

/** Test hooks, injected by tests (never read from the configuration). */
export interface BronzeWriterHooks {
  /** Called after a segment is stored (Parquet + manifest), before its offsets are committed. */
  beforeCommit?(stats: Readonly<BronzeWriterStats>): void;
}

export interface BronzeWriterOptions {
  config: BronzeWriterConfig;
  logger: Logger;
  hooks?: BronzeWriterHooks;
  /** Default: openLake(config). Closed by stop(). */
  lake?: LakeStorage;
  /** Default: per `config.bronze.encoderThreads`. Closed by stop(). */
  encoders?: SegmentEncoder;
}

/** See the module documentation. Lifecycle: `start()` once, then `stop()` once. */
export class BronzeWriter {
  readonly stats: BronzeWriterStats = { messages: 0, rows: 0, tombstones: 0, deadLetters: 0, files: 0, fileBytes: 0, commits: 0, pausedMs: 0, schemasStored: 0, schemasMissing: 0 };
  /**
   * The runtime's crash signal (runtime.ts). It never resolves: every failure the writer meets
   * (broker, lake, encoder, a consumer stream that ends) is retried until it succeeds or the writer
   * stops (issue 14).
   */
  readonly crashed: Promise<Error> = new Promise<Error>(() => undefined);

  private readonly config: BronzeWriterConfig;
  private readonly settings: BronzeWriterConfig['bronze'];
  private readonly hooks: BronzeWriterHooks;
  private readonly logger: Logger;
  private readonly lake: LakeStorage;
  private readonly schemas: BronzeSchemas;
  private encoders: SegmentEncoder | undefined;
  private readonly source: KafkaSource;
  private readonly producer: KafkaProducer;
  private readonly deadLetters: DeadLetterPublisher;
  private readonly dlqTopicsReady = new Set<string>();
  private readonly partitions: PartitionSegments;
  /** Per partition key: the chain of its flushes, so that they store in order. */
  private readonly flushChains = new Map<string, Promise<void>>();
  private readonly flushes = new Set<Promise<void>>();
  private readonly slots: Slots;
  private readonly abort = new AbortController();
  private subscribed: string[] = [];
  /** Received batches not packed yet, in arrival order. */
  private readonly pending: { batch: PartitionBatch; st: PartitionState }[] = [];
  private pendingBytes = 0;
  /** Bytes of sealed segments not stored yet. */
  private sealedBytes = 0;
  private sealedUnflushed = 0;
  private packing: Promise<void> | undefined;
  private paused = false;
  private pausedAt = 0;
  private draining = false;
  private stopping: Promise<StopResult> | undefined;
  private restarting: Promise<void> | undefined;
  private commitRunning: Promise<void> | undefined;
  private commitAgain = false;
  private timers: NodeJS.Timeout[] = [];
  private lastProgressAt = Date.now();
  private lastRecordedEndCheck = 0;
  private checkingRecordedEnds = false;

  constructor(options: BronzeWriterOptions) {
    this.config = options.config;
    this.settings = options.config.bronze;
    const policy: RotationPolicy = { maxRows: this.settings.maxRows, maxBytes: this.settings.maxBytes, maxAgeMs: this.settings.maxAgeMs };
    this.logger = options.logger;
    this.hooks = options.hooks ?? {};
    this.lake = options.lake ?? openLake(options.config);
    this.schemas = new BronzeSchemas({
      config: this.config,
      logger: this.logger,
      lake: this.lake,
      groupPrefix: this.settings.consumerGroup,
      consumes: (topic) => selectTopics([topic], this.settings).length > 0,
      retrying: (what, op) => this.retrying(what, op),
    });
    this.encoders = options.encoders;
    this.slots = new Slots(this.settings.uploadConcurrency);
    this.partitions = new PartitionSegments(policy, (topic, partition) => new RecordedRanges(this.lake, topic, partition, (what, op) => this.retrying(what, op)));
    this.producer = createProducer(this.config, SERVICE_NAME, this.logger);
    this.deadLetters = new DeadLetterPublisher(this.producer, SERVICE_NAME);
    this.source = new KafkaSource({
      config: this.config,
      service: SERVICE_NAME,
      logger: this.logger,
      groupId: this.settings.consumerGroup,
      sessionTimeoutMs: this.settings.sessionTimeoutMs,
      onAssignment: (assignment) => this.onAssignment(assignment),
      onBatches: (batches) => this.onBatches(batches),
      onFailure: (err) => this.onConsumerFailure(err),
    });
  }

  /** Bytes held: received but not packed, in open segments, in sealed segments not stored yet. */
  private get bufferedBytes(): number {
    return this.pendingBytes + this.partitions.openBytes + this.sealedBytes;
  }

  /**
   * Waits until at least one topic to consume exists, joins the group and starts consuming.
   * @throws when Kafka cannot be reached (after the client's retries) or DuckDB fails.
   */
  async start(): Promise<void> {
    this.encoders ??= await openSegmentEncoder(this.settings.encoderThreads);
    const topics = await this.waitForTopics();
    if (this.stopping) return;
    await this.subscribe(topics);
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
    await this.source.close();
    await this.producer.close().catch(() => undefined);
    await this.encoders?.close();
    await this.schemas.close();
    this.lake.close();
    const usage = process.resourceUsage();
    this.logger.info({ ...this.stats, maxRssBytes: usage.maxRSS * 1024, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6 }, 'bronze writer stopped');
    return { complete: stored, abandonedSegments: abandoned };
  }

  // ----------------------------------------------------------------------------------------------
  // Topics and group membership

  private async listSelectedTopics(): Promise<string[]> {
    return selectTopics(await this.source.admin.listTopics(), this.settings);
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

  private async subscribe(topics: string[]): Promise<void> {
    this.subscribed = topics;
    // Their schema topics: every document of a consumed table reaches the lake, rows or not.
    void this.schemas.follow(topics);
    await this.source.subscribe(topics);
    this.logger.info({ topics, group: this.settings.consumerGroup, lake: this.lake.url }, 'consuming');
  }

  /** New topics matching the pattern: store and commit what is buffered, then subscribe again. */
  private async refreshTopics(): Promise<void> {
    if (this.stopping || this.restarting) return;
    let topics: string[];
    try {
      topics = await this.listSelectedTopics();
    } catch (err) {
      this.logger.warn({ err }, 'cannot list topics');
      return;
    }
    void this.schemas.follow(this.subscribed); // a schema topic created after the data topics
    const added = topics.filter((t) => !this.subscribed.includes(t));
    if (added.length === 0) return;
    this.logger.info({ added }, 're-subscribing');
    await this.rejoin([...new Set([...this.subscribed, ...topics])].sort(), 'new topics');
  }

  /**
   * The consumer's stream failed (the broker gone for longer than the client's own retries): not
   * the end (issue 14). The writer reports itself unhealthy and joins the group again
   * ({@link rejoin}) for as long as it takes.
   */
  private onConsumerFailure(err: Error): void {
    if (this.stopping || this.restarting) return; // a re-join in progress uses a new client anyway
    const ended = this.outage('consuming', err);
    void this.rejoin(this.subscribed, 'consumer failed').finally(ended);
  }

  /**
   * Joins the group again on `topics` with a new client: what was received is stored first (and
   * committed if the broker answers), so that no segment is left open across the change of
   * client; then every partition starts again from its committed offset. Replayed ranges get their
   * recorded boundaries and object keys back (segment.ts), so a range stored but not committed is
   * stored again under the same keys. The join is retried with capped backoff until it succeeds
   * or the writer stops. Never rejects.
   */
  private async rejoin(topics: string[], why: string): Promise<void> {
    if (this.restarting) return this.restarting;
    this.restarting = (async () => {
      await this.drain(Number.POSITIVE_INFINITY);
      await this.source.unsubscribe();
      this.partitions.reset();
      this.flushChains.clear();
      this.pending.length = 0;
      this.pendingBytes = 0;
      this.paused = false;
      this.source.setPaused(false);
      if (this.stopping) return;
      this.draining = false;
      this.subscribed = topics;
      void this.schemas.follow(topics);
      await this.retrying(`joining the group again (${why})`, async () => {
        if (!this.stopping) await this.source.reconnect(topics);
      });
      if (!this.stopping) this.logger.info({ topics, group: this.settings.consumerGroup, why, clientsReplaced: this.source.clientsReplaced }, 'consuming');
    })()
      .catch((err: unknown) => {
        if (!this.stopping) this.logger.error({ err, why }, 'joining the group again failed');
      })
      .finally(() => (this.restarting = undefined));
    return this.restarting;
  }

  /** After every join: partitions no longer ours drop their open segment (the new owner re-reads it). */
  private onAssignment(assignment: Record<string, number[]>): void {
    for (const st of this.partitions.assign(assignment)) this.flushChains.delete(st.key);
    this.logger.info({ assignment }, 'partitions assigned');
  }

  // ----------------------------------------------------------------------------------------------
  // Consuming

  /** Queues received batches for packing (bytes count towards `maxBufferedBytes`) and returns at once. */
  private onBatches(batches: PartitionBatch[]): void {
    if (this.draining) return;
    for (const batch of batches) {
      const st = this.partitions.stateFor(batch.topic, batch.partition);
      if (!st || batch.messages.length === 0) continue;
      this.pending.push({ batch, st });
      this.pendingBytes += batch.bytes;
    }
    this.packing ??= this.packPending().finally(() => (this.packing = undefined));
    this.applyBackpressure();
  }

  /** Packs queued batches into their partitions' open segments, in order, until none is left. */
  private async packPending(): Promise<void> {
    const now = () => Date.now();
    const onSealed = (st: PartitionState, segment: Segment) => this.flushSealed(st, segment);
    for (let next = this.pending.shift(); next; next = this.pending.shift()) {
      this.pendingBytes -= next.batch.bytes;
      this.stats.messages += await this.partitions.pack(next.st, next.batch.messages, now, onSealed);
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
        await ensureDeadLetterTopic(this.source.admin, topic, this.config.kafka.topicPartitions);
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
    const segment = this.partitions.seal(st, reason);
    if (segment) this.flushSealed(st, segment);
  }

  /** Starts encoding a sealed segment now (overlapping earlier segments' uploads) and chains its store after them. */
  private flushSealed(st: PartitionState, segment: Segment): void {
    this.sealedUnflushed++;
    this.sealedBytes += segment.bytes;
    const encoding = this.encodeChecked(segment);
    encoding.catch(() => undefined); // awaited (and retried) by the flush
    const flush = (this.flushChains.get(st.key) ?? Promise.resolve()).then(() => this.flush(st, segment, encoding));
    this.flushChains.set(st.key, flush);
    this.flushes.add(flush);
    void flush.finally(() => this.flushes.delete(flush));
  }

  /**
   * Encodes `segment` with the key checks of its rows' tables (key-check.ts): the key columns of
   * its schema ids are looked up first (retried while the schema topic cannot be read), and stay
   * on the segment for its re-encodings.
   */
  private async encodeChecked(segment: Segment): Promise<EncodedSegment> {
    if (segment.schemaIds.length > 0 && segment.packed.keyColumns === undefined) {
      const where = `${segment.topic}/${segment.partition}@${segment.firstOffset}`;
      segment.packed.keyColumns = await this.retrying(`key columns of ${where}`, () => this.schemas.keyColumns(segment.topic, segment.schemaIds));
    }
    return this.encoders!.encode(segment, new Date());
  }

  /** Operations failing now (an outage of the lake or the broker), with their first failure. */
  private readonly failing = new Map<object, { what: string; sinceMs: number; cause: string }>();

  /**
   * Unhealthy while an operation is being retried (the lake or the broker is down), with the
   * oldest failing one and its last cause; healthy otherwise (issue 14).
   */
  health(): { healthy: boolean; detail: string } {
    const oldest = this.failing.values().next().value;
    if (oldest === undefined) return { healthy: true, detail: 'consuming' };
    return { healthy: false, detail: `${this.failing.size} operations failing since ${new Date(oldest.sinceMs).toISOString()}: ${oldest.what}: ${oldest.cause}` };
  }

  /**
   * Marks an outage that is not an operation being retried (the consumer's stream failed): one
   * warning now, unhealthy until the returned function is called, then `resumed` if nothing else fails.
   */
  private outage(what: string, err: Error): () => void {
    const token = {};
    this.noteFailure(token, what, err, `${what} failed; joining the group again with backoff until it succeeds`);
    return () => this.endFailure(token);
  }

  /** Records the failure of the operation `token`: a warning when it begins an outage, debug otherwise. */
  private noteFailure(token: object, what: string, err: Error, message: string, attempt?: number): void {
    const outageBegins = this.failing.size === 0;
    const known = this.failing.get(token);
    if (known) known.cause = err.message;
    else this.failing.set(token, { what, sinceMs: Date.now(), cause: err.message });
    this.logger[outageBegins ? 'warn' : 'debug']({ err, attempt }, message);
  }

  /** The operation `token` no longer fails: `resumed` when no other operation fails. */
  private endFailure(token: object): void {
    const entry = this.failing.get(token);
    if (!entry || !this.failing.delete(token)) return;
    if (this.failing.size === 0 && !this.abort.signal.aborted) this.logger.info({ outageMs: Date.now() - entry.sinceMs }, 'resumed');
  }

  /**
   * Runs `op` until it succeeds, with exponential backoff (0.5 s doubling to 10 s); rejects only
   * when aborted (shutdown). One warning when an outage begins (the first operation to fail while
   * none was failing), one `resumed` line when the last failing operation succeeds; the writer is
   * unhealthy in between ({@link health}).
   */
  private retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
    const token = {};
    const result = pRetry(op, {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: 500,
      maxTimeout: 10_000,
      factor: 2,
      randomize: true,
      signal: this.abort.signal,
      shouldRetry: () => !this.abort.signal.aborted,
      onFailedAttempt: ({ error, attemptNumber }) => this.noteFailure(token, what, error, `${what} failed; retrying with backoff until it succeeds`, attemptNumber),
    });
    const settle = () => this.endFailure(token);
    void result.then(settle, settle);
    return result;
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
        const encoded = await this.encodeForStore(segment, encoding);
        for (const bad of encoded.undecodable) await this.publishDeadLetter(segment, bad);
        // The schema documents the rows name reach the lake before the rows (and their commit).
        if (encoded.parquet && segment.schemaIds.length > 0) await this.storeSchemas(segment);
        if (encoded.parquet) await this.store(segment, encoded);
        this.stats.rows += encoded.rows;
        this.stats.tombstones += encoded.tombstones;
      }
      this.sealedUnflushed--;
      this.sealedBytes -= segment.bytes;
      if (!this.partitions.markDurable(st, segment)) return;
      this.hooks.beforeCommit?.(this.stats);
      void this.requestCommit();
      this.applyBackpressure();
    } catch (err) {
      st.broken = true;
      if (!this.abort.signal.aborted) this.logger.error({ err, topic: segment.topic, partition: segment.partition }, 'flush failed');
    }
  }

  /**
   * The encoding of `segment` to store: `first` (started when it was sealed), else up to
   * {@link ENCODE_ATTEMPTS} plain attempts; a failure that outlasts them is narrowed down to the
   * messages that cause it, which join the segment's dead letters (unstorable.ts), and the rest is
   * encoded without them. A failure of the encoder itself is retried for as long as the service runs.
   */
  private async encodeForStore(segment: Segment, first: Promise<EncodedSegment>): Promise<EncodedSegment> {
    const where = `${segment.topic}/${segment.partition}@${segment.firstOffset}`;
    for (let attempt = 1; attempt <= ENCODE_ATTEMPTS; attempt++) {
      try {
        return await (attempt === 1 ? first : this.encoders!.encode(segment, new Date()));
      } catch (err) {
        if (this.abort.signal.aborted) throw err;
        this.logger.warn({ err, attempt, topic: segment.topic, partition: segment.partition, firstOffset: segment.firstOffset }, 'encoding a segment failed; retrying');
        if (attempt < ENCODE_ATTEMPTS) await sleep(250 * 2 ** attempt);
      }
    }
    return this.retrying(`encode ${where} (isolating unstorable messages)`, () => encodeIsolatingUnstorable(segment, (part) => this.encoders!.encode(part, new Date())));
  }

  /** Copies the schema documents named by the segment's rows to the lake (docs/contracts/table-schemas.md). */
  private async storeSchemas(segment: Segment): Promise<void> {
    const outcome = await this.retrying(`schemas of ${segment.topic}/${segment.partition}@${segment.firstOffset}`, () => this.schemas.ensureStored(segment.topic, segment.schemaIds));
    this.stats.schemasStored = this.schemas.store.stats.written;
    this.stats.schemasMissing = this.schemas.store.stats.missing;
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
    const due = this.partitions.dueCommits();
    if (due.length === 0) return;
    try {
      await this.source.commit(due);
      this.partitions.markCommitted(due);
      this.stats.commits++;
    } catch (err) {
      // Usually a rebalance in progress: the tick retries, and the data is stored either way.
      this.logger.warn({ err, offsets: due }, 'offset commit failed; will retry');
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Periodic work, back-pressure, draining

  /**
   * A replayed segment waits for its recorded end whatever the time (segment.ts). The one case
   * where that end will never come is a log that no longer reaches it (truncated: unclean leader
   * election, records deleted): when such a segment has been idle for `maxAgeMs` (10 s at least),
   * the partition's log end is asked, at most once per that period, and if nothing beyond what
   * the segment holds exists, it is sealed as it is, with a warning.
   */
  private async sealUnreachableRecordedEnds(now: number): Promise<void> {
    const idleMs = Math.max(this.settings.maxAgeMs, 10_000);
    if (this.checkingRecordedEnds || now - this.lastRecordedEndCheck < idleMs) return;
    const idle = this.partitions.idleAwaitingRecordedEnd(now, idleMs);
    if (idle.length === 0) return;
    this.checkingRecordedEnds = true;
    this.lastRecordedEndCheck = now;
    try {
      for (const topic of new Set(idle.map((st) => st.topic))) {
        const ends = new Map((await this.source.admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
        for (const st of idle.filter((x) => x.topic === topic)) {
          const open = st.open;
          const logEnd = ends.get(st.partition);
          if (!open?.awaitsRecordedEnd || logEnd === undefined || logEnd > open.lastOffset + 1 || logEnd > open.boundary.exactLastOffset!) continue;
          this.logger.warn({ topic, partition: st.partition, firstOffset: open.firstOffset, lastOffset: open.lastOffset, recordedLastOffset: open.boundary.exactLastOffset, logEnd }, 'the log ends before the recorded end of this range (truncated?): storing the segment as it is, under a new key');
          this.seal(st, 'age');
        }
      }
    } catch (err) {
      this.logger.debug({ err }, 'cannot read log end offsets; checking again later');
    } finally {
      this.checkingRecordedEnds = false;
    }
  }

  private tick(): void {
    const now = Date.now();
    void this.sealUnreachableRecordedEnds(now);
    this.stats.schemasStored = this.schemas.store.stats.written;
    this.stats.schemasMissing = this.schemas.store.stats.missing;
    this.partitions.sealDue(now, (st, segment) => this.flushSealed(st, segment));
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
          partitions: this.partitions.size,
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
    const sealable = this.partitions.largestOpen();
    const decision = decideBackpressure({ bufferedBytes: this.bufferedBytes, maxBufferedBytes: this.settings.maxBufferedBytes, paused: this.paused, unflushedSegments: this.sealedUnflushed, sealableOpen: sealable !== undefined });
    if (decision.change === 'pause') {
      this.paused = true;
      this.pausedAt = Date.now();
      this.source.setPaused(true);
      this.logger.debug({ bufferedBytes: this.bufferedBytes }, 'buffer full: pausing partitions');
    } else if (decision.change === 'resume') {
      this.paused = false;
      this.stats.pausedMs += Date.now() - this.pausedAt;
      this.source.setPaused(false);
      this.logger.debug({ bufferedBytes: this.bufferedBytes }, 'buffer drained: resuming partitions');
    }
    if (decision.sealLargest && sealable) this.seal(sealable, 'forced');
  }

  /**
   * Stops taking messages, seals every open segment and waits up to `timeoutMs` for all
   * flushes, then commits what is stored. @returns true when everything was stored.
   */
  private async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    this.source.setPaused(true);
    // Batches already received go into segments first.
    if (this.packing) await Promise.race([this.packing, sleep(Number.isFinite(timeoutMs) ? timeoutMs : 2 ** 31 - 1)]);
    const dropped = this.partitions.sealAll((st, segment) => this.flushSealed(st, segment));
    if (dropped > 0) this.logger.info({ segments: dropped }, 'replayed segments short of their recorded end are not stored now (they would get new keys): their offsets stay uncommitted and are read again');
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
