/**
 * The CDC service: PostgreSQL logical replication (pgoutput) into Kafka, with a consistent
 * initial snapshot and crash-safe LSN acknowledgement. services/cdc/README.md describes the
 * behaviour; this module wires the pure core (pgoutput.ts, change-mapper.ts, ack-tracker.ts) to
 * the adapters (postgres-setup.ts, replication-stream.ts, kafka-sink.ts, metrics.ts).
 *
 * Life cycle of {@link CdcService.run}:
 * 1. metrics endpoint; PostgreSQL checks/setup (publication, grants); Kafka topics;
 * 2. slot: a missing slot (or a snapshot marker left by an unfinished snapshot) means a new slot
 *    created with EXPORT_SNAPSHOT and, with CDC_SNAPSHOT_MODE=initial, a snapshot read in a
 *    REPEATABLE READ transaction that imported that snapshot: exactly the rows as of the slot's
 *    consistent point, so streaming from that point neither misses nor repeats a change;
 * 3. streaming from the slot's confirmed LSN; an LSN is confirmed once the broker acknowledged
 *    every event up to it (AckTracker), on a timer and when PostgreSQL asks;
 * 4. {@link CdcService.stop} (SIGTERM): stop reading, flush the producer, confirm, exit.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import pRetry, { AbortError } from 'p-retry';
import { REPO_ROOT, type Config } from '../common/config.ts';
import type { Logger } from '../common/logger.ts';
import { AckTracker, type Position } from './ack-tracker.ts';
import { ChangeMapper, snapshotMarker, type MapperWarning, type OutgoingEvent, type RelationPlan, type SnapshotRowPosition } from './change-mapper.ts';
import { KafkaSink } from './kafka-sink.ts';
import { formatLsn, parseLsn } from './lsn.ts';
import { CdcMetrics } from './metrics.ts';
import type { RelationMessage } from './pgoutput.ts';
import { describeTableById, TypeCatalog, type TableDescription } from './postgres-catalog.ts';
import {
  cdcConnection, CdcSetupError, createMarkerSlot, createSlotWithSnapshot, dropSlotIfExists, preparePostgres, readSlot, snapshotMarkerSlot,
} from './postgres-setup.ts';
import { RawPgoutputPlugin, ReplicationStream, type DecodedPayload } from './replication-stream.ts';

/** `source.version`: the project's version from package.json. */
export const SERVICE_VERSION: string = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Inbox size above which the replication socket is paused. */
const INBOX_HIGH_WATER = 5_000;
const STATUS_TICK_MS = 200;
const SHUTDOWN_FLUSH_TIMEOUT_MS = 30_000;

type InboxItem = { kind: 'data'; lsn: bigint; payload: DecodedPayload } | { kind: 'keepalive'; lsn: bigint };

/** Every column value as PostgreSQL's text output (the snapshot renders like the stream). */
const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

export class CdcService {
  readonly metrics = new CdcMetrics();
  private readonly mapper: ChangeMapper;
  private readonly types = new TypeCatalog();
  private readonly tableKeys: Set<string>;
  private sink: KafkaSink<Position | null> | null = null;
  private catalogDb: pg.Client | null = null;
  private stream: ReplicationStream | null = null;
  private tracker: AckTracker | null = null;

  private stopping = false;
  private stopRequested!: () => void;
  private readonly stopSignal = new Promise<void>((resolve) => (this.stopRequested = resolve));
  private fatalError: Error | null = null;
  private fatalSignal!: (err: Error) => void;
  private readonly fatal = new Promise<never>((_, reject) => (this.fatalSignal = reject));
  private markStreaming!: () => void;
  /** Resolves once the snapshot (if any) is acknowledged and changes stream. */
  readonly streaming = new Promise<void>((resolve) => (this.markStreaming = resolve));

  private readonly inbox: InboxItem[] = [];
  private inboxHead = 0;
  private processing = false;
  private paused = false;
  private position: Position | null = null;
  private lastSentLsn = -1n;
  private lastSentAt = 0;
  private lastReceivedLsn = 0n;
  private readonly warningCounts = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];
  private boundMetricsPort: number | null = null;

  /**
   * @param hooks instrumentation for benchmarks: `onAcknowledged` gets every batch of events the
   *   broker acknowledged and the time of the acknowledgement (ms since epoch).
   */
  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly hooks: { onAcknowledged?: (events: OutgoingEvent[], ackedAtMs: number) => void } = {},
  ) {
    this.tableKeys = new Set(config.cdc.tables.map((t) => `${t.schema}.${t.table}`));
    this.mapper = new ChangeMapper({
      topicPrefix: config.kafka.topicPrefix,
      database: config.postgres.database,
      version: SERVICE_VERSION,
      onWarning: (w) => this.onMapperWarning(w),
      extendedHeaders: config.cdc.extendedHeaders,
      skippedOperations: new Set(config.cdc.skippedOperations),
    });
    this.fatal.catch(() => undefined);
  }

  /** Port of the /metrics endpoint once listening. */
  get metricsPort(): number | null {
    return this.boundMetricsPort;
  }

  /**
   * Runs until {@link stop} or a fatal error.
   * @throws CdcSetupError (publication, privileges, slot in use), Kafka or PostgreSQL errors.
   */
  async run(): Promise<void> {
    const { config, logger } = this;
    try {
      this.boundMetricsPort = await this.metrics.listen(config.cdc.metricsPort);
      logger.info({ port: this.boundMetricsPort }, 'metrics at /metrics');
      const tables = await preparePostgres(config, logger);
      if (this.stopping) return;

      this.sink = new KafkaSink<Position | null>(
        {
          brokers: config.kafka.brokers,
          clientId: `${config.kafka.clientId}-cdc`,
          partitions: config.kafka.topicPartitions,
          batchMaxEvents: config.cdc.batchMaxEvents,
          lingerMs: config.cdc.lingerMs,
          compression: config.cdc.compression,
          maxPendingEvents: config.cdc.maxPendingEvents,
          maxMessageBytes: config.cdc.maxMessageBytes,
        },
        (tokens) => this.onAcked(tokens),
        logger,
        (events) => this.countSent(events),
      );
      this.sink.onFailure((err) => this.failWith(err, 'produce'));
      await this.sink.connect();
      await this.sink.ensureTopics(tables.map((t) => `${config.kafka.topicPrefix}.${t.schema}.${t.table}`));

      this.catalogDb = new pg.Client(cdcConnection(config));
      await this.catalogDb.connect();
      const catalogDb = this.catalogDb;
      this.metrics.setLagReader(async () => {
        const res = await catalogDb.query<{ lag: string | null }>(
          'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1',
          [config.cdc.slotName],
        );
        return res.rows[0]?.lag == null ? null : Number(res.rows[0].lag);
      });
      await this.types.ensure(catalogDb, tables.flatMap((t) => t.columns.map((c) => c.typeOid)));

      const startLsn = await this.prepareSlot(tables);
      if (startLsn === null || this.stopping) return;
      await this.streamFrom(startLsn);
    } catch (err) {
      if (!this.fatalError) this.fatalError = err as Error;
    } finally {
      await this.shutdown();
    }
    if (this.fatalError) throw this.fatalError;
  }

  /** Graceful stop: resolves once events are flushed, the LSN confirmed and connections closed. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info('stop requested: flushing and confirming');
    this.stopRequested();
  }

  // ----------------------------------------------------------------------------------------------
  // Slot and snapshot

  /** @returns the LSN to stream from, or null when stopped during the snapshot. */
  private async prepareSlot(tables: TableDescription[]): Promise<bigint | null> {
    const { config, logger } = this;
    const db = this.catalogDb!;
    const slotName = config.cdc.slotName;
    const marker = await readSlot(db, snapshotMarkerSlot(slotName));
    const slot = await readSlot(db, slotName);
    if (slot && (slot.plugin !== 'pgoutput' || slot.database !== config.postgres.database)) {
      throw new CdcSetupError(`replication slot ${slotName} exists for plugin ${slot.plugin} / database ${slot.database}; choose another CDC_SLOT_NAME or drop it (npm run cdc:admin -- drop-slot)`);
    }
    if (slot && !marker) {
      logger.info({ slot: slotName, confirmedFlushLsn: formatLsn(slot.confirmedFlushLsn ?? 0n) }, 'resuming from the slot');
      this.mapper.resumeAfter(slot.confirmedFlushLsn);
      return slot.confirmedFlushLsn ?? 0n;
    }
    if (config.cdc.snapshotMode === 'never') {
      if (marker) await dropSlotIfExists(db, marker.name);
      if (slot) {
        logger.warn({ slot: slotName }, 'an unfinished snapshot is abandoned (CDC_SNAPSHOT_MODE=never): resuming from the slot');
        return slot.confirmedFlushLsn ?? 0n;
      }
      const created = await this.withReplicationConnection((repl) => createSlotWithSnapshot(repl, slotName, false));
      logger.info({ slot: slotName, consistentPoint: formatLsn(created.consistentPoint) }, 'created slot (CDC_SNAPSHOT_MODE=never: no snapshot)');
      return created.consistentPoint;
    }
    if (marker) logger.warn({ slot: slotName }, 'the previous initial snapshot did not finish: dropping the slot and taking it again');
    await createMarkerSlot(db, slotName);
    await dropSlotIfExists(db, slotName);
    const consistentPoint = await this.snapshot(tables);
    if (consistentPoint === null) return null;
    await dropSlotIfExists(db, snapshotMarkerSlot(slotName));
    return consistentPoint;
  }

  private async withReplicationConnection<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const repl = new pg.Client(cdcConnection(this.config, true));
    await repl.connect();
    try {
      return await fn(repl);
    } finally {
      await repl.end().catch(() => undefined);
    }
  }

  /**
   * Creates the slot with an exported snapshot and sends every row of the captured tables as op
   * "r", in chunks, with progress logs. Waits until the broker acknowledged all of them.
   * @returns the slot's consistent point, or null when stopped midway (the marker slot stays, so
   *   the next start snapshots again).
   */
  private async snapshot(tables: TableDescription[]): Promise<bigint | null> {
    const { config, logger } = this;
    const sink = this.sink!;
    const repl = new pg.Client(cdcConnection(config, true));
    await repl.connect();
    const snap = new pg.Client(cdcConnection(config));
    let replOpen = true;
    try {
      const { consistentPoint, snapshotName } = await createSlotWithSnapshot(repl, config.cdc.slotName, true);
      await snap.connect();
      await snap.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await snap.query(`SET TRANSACTION SNAPSHOT '${snapshotName!.replace(/'/g, "''")}'`);
      // The importing transaction now holds the snapshot; the exporting session may go.
      await repl.end();
      replOpen = false;
      const txId = Number((await snap.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]!.x);
      const tsMs = Date.now();
      logger.info({ slot: config.cdc.slotName, consistentPoint: formatLsn(consistentPoint), tables: tables.length }, 'initial snapshot started');
      // One row is held back, so that its snapshot marker (first/last of its table, of the snapshot) is known.
      let held: { plan: RelationPlan; values: (string | null)[]; position: SnapshotRowPosition } | null = null;
      const emit = (lastInSnapshot: boolean) => {
        if (!held) return;
        const snapshot = snapshotMarker({ ...held.position, lastInSnapshot });
        sink.push(this.mapper.snapshotEvent(held.plan, held.values, { lsn: consistentPoint, txId, tsMs, snapshot }), null);
      };
      let total = 0;
      const started = Date.now();
      for (const [tableIndex, t] of tables.entries()) {
        const plan = this.mapper.plan(t.schema, t.table, t.columns, t.primaryKey, this.types.lookup);
        const name = `${t.schema}.${t.table}`;
        const estimate = Number((await snap.query<{ n: string }>('SELECT GREATEST(reltuples, 0)::int8::text AS n FROM pg_class WHERE oid = $1', [t.oid])).rows[0]?.n ?? 0);
        const columnList = t.columns.map((c) => `"${c.name.replace(/"/g, '""')}"`).join(', ');
        const from = `${t.relkind === 'p' ? '' : 'ONLY '}"${t.schema}"."${t.table}"`;
        await snap.query(`DECLARE cdc_snapshot NO SCROLL CURSOR FOR SELECT ${columnList} FROM ${from}`);
        let rows = 0;
        let lastLog = Date.now();
        for (;;) {
          if (this.stopping || this.fatalError) {
            logger.warn({ table: name, rows }, 'snapshot interrupted; it will start over on the next run');
            await snap.query('ROLLBACK').catch(() => undefined);
            return null;
          }
          const res = await snap.query<(string | null)[]>({ text: `FETCH FORWARD ${config.cdc.snapshotChunkRows} FROM cdc_snapshot`, rowMode: 'array', types: RAW_TEXT_TYPES });
          for (const [i, values] of res.rows.entries()) {
            emit(false);
            held = { plan, values, position: { firstTable: tableIndex === 0, firstInTable: rows === 0 && i === 0, lastInTable: false } };
          }
          rows += res.rows.length;
          total += res.rows.length;
          this.metrics.snapshotRows.inc({ table: name }, res.rows.length);
          if (Date.now() - lastLog >= 5000) {
            lastLog = Date.now();
            logger.info({ table: name, rows, estimatedRows: estimate, percent: estimate > 0 ? Math.min(100, Math.round((rows / estimate) * 100)) : null }, 'snapshot progress');
          }
          await sink.waitForCapacity();
          if (res.rows.length < config.cdc.snapshotChunkRows) break;
        }
        if (held?.plan === plan) held.position.lastInTable = true;
        await snap.query('CLOSE cdc_snapshot');
        logger.info({ table: name, rows }, 'snapshot of table done');
      }
      emit(true);
      await snap.query('COMMIT');
      await sink.flush();
      const seconds = (Date.now() - started) / 1000;
      logger.info({ rows: total, seconds, rowsPerSecond: Math.round(total / Math.max(seconds, 0.001)) }, 'initial snapshot done and acknowledged');
      return consistentPoint;
    } finally {
      if (replOpen) await repl.end().catch(() => undefined);
      await snap.end().catch(() => undefined);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Streaming

  private async streamFrom(startLsn: bigint): Promise<void> {
    const { config, logger } = this;
    this.tracker = new AckTracker(startLsn);
    this.lastReceivedLsn = startLsn;
    const stream = new ReplicationStream(cdcConnection(config, true));
    this.stream = stream;
    stream.on('data', (lsn: string, payload: DecodedPayload) => {
      this.inbox.push({ kind: 'data', lsn: parseLsn(lsn), payload });
      this.kick();
    });
    stream.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      this.inbox.push({ kind: 'keepalive', lsn: parseLsn(lsn) });
      if (shouldRespond) this.sendStatus(true);
      this.kick();
    });
    let started = false;
    stream.on('start', () => {
      started = true;
    });
    stream.on('error', (err: Error) => {
      // Before the stream starts, connection errors are retried below.
      if (started) this.failWith(err, 'replication');
      else logger.debug({ err }, 'replication connection error before start');
    });

    const plugin = new RawPgoutputPlugin({ publication: config.postgres.publication });
    const subscribed = pRetry(
      async () => {
        try {
          // Resolves when the stream ends: pass it on without awaiting it here.
          const ended = stream.subscribe(plugin as never, config.cdc.slotName, formatLsn(startLsn));
          await new Promise<void>((resolve, reject) => {
            stream.once('start', () => resolve());
            ended.then(() => resolve(), reject);
          });
          return { ended };
        } catch (err) {
          // A killed predecessor's walsender may hold the slot for a moment.
          if (/is active for PID/.test((err as Error).message) && !this.stopping) throw err;
          throw new AbortError(err as Error);
        }
      },
      { retries: 30, minTimeout: 500, maxTimeout: 1000, factor: 1 },
    );
    const { ended } = await subscribed;
    logger.info({ slot: config.cdc.slotName, publication: config.postgres.publication, from: formatLsn(startLsn) }, 'streaming changes');
    this.markStreaming();

    const tick = Math.min(STATUS_TICK_MS, config.cdc.heartbeatIntervalMs);
    this.timers.push(setInterval(() => this.sendStatus(false), tick));
    let lastProgress = Date.now();
    let eventsAtLastProgress = 0;
    this.timers.push(
      setInterval(() => {
        const rate = this.metrics.updateRate();
        this.metrics.pendingEvents.set(this.sink?.pending() ?? 0);
        this.metrics.lastReceivedLsn.set(Number(this.lastReceivedLsn));
        if (Date.now() - lastProgress >= 30_000) {
          const total = this.totalAcked;
          if (total !== eventsAtLastProgress) {
            logger.info({ eventsPerSecond: rate, events: total, lastReceivedLsn: formatLsn(this.lastReceivedLsn), confirmedLsn: formatLsn(this.tracker!.confirmable()), pending: this.sink?.pending() ?? 0 }, 'streaming progress');
          }
          lastProgress = Date.now();
          eventsAtLastProgress = total;
        }
      }, 1000),
    );
    this.timers.push(setInterval(() => void this.metrics.readLag(), config.cdc.heartbeatIntervalMs));

    await Promise.race([
      this.stopSignal,
      this.fatal,
      ended.then(() => {
        if (!this.stopping) throw new Error('replication stream ended unexpectedly');
      }),
    ]);
  }

  private kick(): void {
    if (this.inbox.length - this.inboxHead > INBOX_HIGH_WATER && !this.paused) {
      this.paused = true;
      this.stream?.pause();
    }
    if (!this.processing) void this.processInbox();
  }

  private async processInbox(): Promise<void> {
    this.processing = true;
    const sink = this.sink!;
    const tracker = this.tracker!;
    try {
      while (this.inboxHead < this.inbox.length && !this.stopping && !this.fatalError) {
        if (!sink.hasCapacity()) {
          await sink.waitForCapacity();
          continue;
        }
        const item = this.inbox[this.inboxHead]!;
        this.inbox[this.inboxHead++] = undefined as unknown as InboxItem;
        if (item.kind === 'keepalive') {
          tracker.marker(item.lsn);
          continue;
        }
        this.lastReceivedLsn = item.lsn;
        if (!item.payload.ok) throw item.payload.error;
        const message = item.payload.message;
        switch (message.tag) {
          case 'relation':
            await this.registerRelation(message);
            break;
          case 'begin':
            this.position = tracker.open();
            this.mapper.handle(message, item.lsn);
            break;
          case 'commit':
            this.mapper.handle(message, item.lsn);
            if (this.position) tracker.close(this.position, message.endLsn);
            this.position = null;
            break;
          default: {
            const events = this.mapper.handle(message, item.lsn);
            if (events.length > 0) {
              const position = this.position;
              if (position) tracker.add(position, events.length);
              for (const e of events) sink.push(e, position);
            }
          }
        }
      }
      if (this.inboxHead > 0 && this.inboxHead >= this.inbox.length) {
        this.inbox.length = 0;
        this.inboxHead = 0;
      } else if (this.inboxHead > 10_000 && this.inboxHead * 2 > this.inbox.length) {
        this.inbox.splice(0, this.inboxHead);
        this.inboxHead = 0;
      }
      if (this.paused && this.inbox.length - this.inboxHead < INBOX_HIGH_WATER / 2) {
        this.paused = false;
        this.stream?.resume();
      }
    } catch (err) {
      this.failWith(err as Error, 'stream_processing');
    } finally {
      this.processing = false;
    }
    if (this.inboxHead < this.inbox.length && !this.stopping && !this.fatalError) void this.processInbox();
  }

  private async registerRelation(message: RelationMessage): Promise<void> {
    const db = this.catalogDb!;
    if (!this.tableKeys.has(`${message.schema}.${message.name}`)) {
      this.mapper.registerRelation(message, null, this.types.lookup);
      return;
    }
    const description = await describeTableById(db, message.relationId);
    await this.types.ensure(db, message.columns.map((c) => c.typeOid));
    this.mapper.registerRelation(message, description?.primaryKey ?? [], this.types.lookup);
    this.logger.info({ table: `${message.schema}.${message.name}`, columns: message.columns.length }, 'relation (re)described');
  }

  private totalAcked = 0;

  /** Events the broker acknowledged since start (snapshot included; TRUNCATE counts once). */
  get acknowledgedEvents(): number {
    return this.totalAcked;
  }

  private onAcked(tokens: (Position | null)[]): void {
    const tracker = this.tracker;
    if (!tracker) return;
    let run: Position | null = null;
    let n = 0;
    for (const t of tokens) {
      if (t === run) {
        n++;
        continue;
      }
      if (run && n > 0) tracker.ack(run, n);
      run = t;
      n = 1;
    }
    if (run && n > 0) tracker.ack(run, n);
  }

  private countSent(events: OutgoingEvent[]): void {
    const counts = new Map<string, number>();
    let topic = '';
    let op = '';
    let run = 0;
    // Events come in runs of one topic and op: count runs, not events.
    for (const e of events) {
      if (e.topic === topic && e.op === op) {
        run++;
        continue;
      }
      if (run > 0) counts.set(`${topic}|${op}`, (counts.get(`${topic}|${op}`) ?? 0) + run);
      topic = e.topic;
      op = e.op;
      run = 1;
    }
    if (run > 0) counts.set(`${topic}|${op}`, (counts.get(`${topic}|${op}`) ?? 0) + run);
    this.totalAcked += events.length;
    this.metrics.acknowledged(counts, events.length);
    this.hooks.onAcknowledged?.(events, Date.now());
  }

  private sendStatus(force: boolean): void {
    const stream = this.stream;
    const tracker = this.tracker;
    if (!stream || !tracker) return;
    const lsn = tracker.confirmable();
    const now = Date.now();
    if (force || lsn !== this.lastSentLsn || now - this.lastSentAt >= this.config.cdc.heartbeatIntervalMs) {
      this.lastSentLsn = lsn;
      this.lastSentAt = now;
      void stream.confirm(lsn).catch((err: Error) => this.logger.warn({ err }, 'standby status update failed'));
      this.metrics.confirmedLsn.set(Number(lsn));
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Errors and shutdown

  private onMapperWarning(w: MapperWarning): void {
    const key = `${w.kind}|${w.schema}.${w.table}|${w.column ?? ''}`;
    const n = (this.warningCounts.get(key) ?? 0) + 1;
    this.warningCounts.set(key, n);
    this.metrics.errors.inc({ kind: w.kind });
    // First occurrence, then every 1000th: the stream goes on either way.
    if (n === 1 || n % 1000 === 0) this.logger.warn({ ...w, occurrences: n }, `cdc: ${w.kind}`);
  }

  private failWith(err: Error, kind: string): void {
    this.metrics.errors.inc({ kind });
    if (this.fatalError || this.stopping) {
      this.logger.warn({ err, kind }, 'error while stopping');
      return;
    }
    this.fatalError = err;
    this.logger.error({ err, kind }, 'fatal error: stopping');
    this.fatalSignal(err);
  }

  private async shutdown(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.stopping = true;
    this.stream?.pause();
    if (this.sink && !this.fatalError) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          this.sink.flush(),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('flush timed out')), SHUTDOWN_FLUSH_TIMEOUT_MS))),
        ]);
      } catch (err) {
        this.logger.error({ err }, 'could not flush every event before exiting; unconfirmed changes will be sent again on restart');
      } finally {
        clearTimeout(timer);
      }
    }
    if (this.stream && this.tracker) {
      this.sendStatus(true);
      this.logger.info({ confirmedLsn: formatLsn(this.tracker.confirmable()) }, 'confirmed LSN');
      await this.stream.stop().catch(() => undefined);
    }
    await this.sink?.disconnect();
    await this.catalogDb?.end().catch(() => undefined);
    await this.metrics.close();
  }
}
