/**
 * The CDC service: PostgreSQL logical replication (pgoutput) into Kafka, with a consistent
 * initial snapshot and crash-safe LSN acknowledgement. services/cdc/README.md describes the
 * behaviour. This module is the coordinator (Debezium's ChangeEventSourceCoordinator): it wires
 * the parts, split along Debezium's lines, and runs their life cycle.
 *
 * | part | module | Debezium |
 * |---|---|---|
 * | slot: preparation, creation, snapshot marker | slot.ts, postgres-setup.ts | PostgresConnectorTask, snapshotter |
 * | initial snapshot | snapshot-source.ts | PostgresSnapshotChangeEventSource |
 * | streaming | streaming-source.ts, replication-stream.ts | PostgresStreamingChangeEventSource |
 * | events to the producer | event-dispatcher.ts, change-mapper.ts, kafka-sink.ts | EventDispatcher |
 * | offsets: what LSN may be confirmed | offset-context.ts, ack-tracker.ts | PostgresOffsetContext |
 * | stop, failure, shutdown | lifecycle.ts, this module | ChangeEventSourceContext, task stop |
 *
 * Life cycle of {@link CdcService.run}:
 * 1. metrics endpoint; PostgreSQL checks/setup (publication, grants); Kafka topics;
 * 2. slot (slot.ts): resume, create, or take the initial snapshot on a new slot;
 * 3. streaming from the slot's confirmed LSN; an LSN is confirmed once the broker acknowledged
 *    every event up to it, on a timer and when PostgreSQL asks;
 * 4. {@link CdcService.stop} (SIGTERM): stop reading, flush the producer, confirm, close.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { REPO_ROOT, type Config } from '../common/config.ts';
import type { Logger } from '../common/logger.ts';
import { ChangeMapper } from './change-mapper.ts';
import { EventDispatcher, type DispatcherHooks } from './event-dispatcher.ts';
import { KafkaSink } from './kafka-sink.ts';
import { flushWithin, Lifecycle } from './lifecycle.ts';
import { formatLsn } from './lsn.ts';
import { CdcMetrics } from './metrics.ts';
import { OffsetContext, type Position } from './offset-context.ts';
import type { RelationMessage } from './pgoutput.ts';
import { describeTableById, TypeCatalog } from './postgres-catalog.ts';
import { cdcConnection, preparePostgres } from './postgres-setup.ts';
import { prepareSlot } from './slot.ts';
import { SnapshotChangeEventSource } from './snapshot-source.ts';
import { StreamingChangeEventSource } from './streaming-source.ts';

/** `source.version`: the project's version from package.json. */
export const SERVICE_VERSION: string = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const SHUTDOWN_FLUSH_TIMEOUT_MS = 30_000;

export class CdcService {
  readonly metrics = new CdcMetrics();
  private readonly lifecycle = new Lifecycle();
  private readonly mapper: ChangeMapper;
  private readonly dispatcher: EventDispatcher<Position | null>;
  private readonly types = new TypeCatalog();
  private readonly tableKeys: Set<string>;
  private sink: KafkaSink<Position | null> | null = null;
  private catalogDb: pg.Client | null = null;
  private streamingSource: StreamingChangeEventSource | null = null;
  private offsets: OffsetContext | null = null;
  private boundMetricsPort: number | null = null;
  private markStreaming!: () => void;
  /** Resolves once the snapshot (if any) is acknowledged and changes stream. */
  readonly streaming = new Promise<void>((resolve) => (this.markStreaming = resolve));

  /**
   * @param hooks instrumentation for benchmarks: `onAcknowledged` gets every batch of events the
   *   broker acknowledged and the time of the acknowledgement (ms since epoch).
   */
  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    hooks: DispatcherHooks = {},
  ) {
    this.tableKeys = new Set(config.cdc.tables.map((t) => `${t.schema}.${t.table}`));
    this.mapper = new ChangeMapper({
      topicPrefix: config.kafka.topicPrefix,
      database: config.postgres.database,
      version: SERVICE_VERSION,
      onWarning: (w) => this.dispatcher.warn(w),
      extendedHeaders: config.cdc.extendedHeaders,
      skippedOperations: new Set(config.cdc.skippedOperations),
    });
    this.dispatcher = new EventDispatcher(this.mapper, this.metrics, logger, hooks);
  }

  /** Port of the /metrics endpoint once listening. */
  get metricsPort(): number | null {
    return this.boundMetricsPort;
  }

  /** Events the broker acknowledged since start (snapshot included; TRUNCATE counts once). */
  get acknowledgedEvents(): number {
    return this.dispatcher.acknowledgedEvents();
  }

  /**
   * Runs until {@link stop} or a fatal error.
   * @throws CdcSetupError (publication, privileges, slot in use), Kafka or PostgreSQL errors.
   */
  async run(): Promise<void> {
    const { config, logger, lifecycle } = this;
    try {
      this.boundMetricsPort = await this.metrics.listen(config.cdc.metricsPort);
      logger.info({ port: this.boundMetricsPort }, 'metrics at /metrics');
      const tables = await preparePostgres(config, logger);
      if (lifecycle.isStopping()) return;

      const sink = new KafkaSink<Position | null>(
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
        (tokens) => this.offsets?.acknowledged(tokens),
        logger,
        (events) => this.dispatcher.acknowledged(events),
      );
      this.sink = sink;
      this.dispatcher.attach(sink);
      sink.onFailure((err) => this.failWith(err, 'produce'));
      await sink.connect();
      await sink.ensureTopics(tables.map((t) => `${config.kafka.topicPrefix}.${t.schema}.${t.table}`));

      const catalogDb = new pg.Client(cdcConnection(config));
      this.catalogDb = catalogDb;
      await catalogDb.connect();
      this.metrics.setLagReader(async () => {
        const res = await catalogDb.query<{ lag: string | null }>(
          'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1',
          [config.cdc.slotName],
        );
        return res.rows[0]?.lag == null ? null : Number(res.rows[0].lag);
      });
      await this.types.ensure(catalogDb, tables.flatMap((t) => t.columns.map((c) => c.typeOid)));

      const snapshotSource = new SnapshotChangeEventSource({
        config, logger, metrics: this.metrics, mapper: this.mapper, types: this.types, dispatcher: this.dispatcher, sink,
        interrupted: () => lifecycle.interrupted(),
      });
      const startLsn = await prepareSlot(
        {
          db: catalogDb, withReplication: (fn) => this.withReplicationConnection(fn), snapshot: () => snapshotSource.execute(tables), logger,
          onResume: (lsn) => this.mapper.resumeAfter(lsn),
        },
        { slotName: config.cdc.slotName, database: config.postgres.database, snapshotMode: config.cdc.snapshotMode },
      );
      if (startLsn === null || lifecycle.isStopping()) return;
      await this.streamFrom(startLsn, sink);
    } catch (err) {
      lifecycle.record(err as Error);
    } finally {
      await this.shutdown();
    }
    const error = lifecycle.error();
    if (error) throw error;
  }

  /** Graceful stop: {@link run} resolves once events are flushed, the LSN confirmed and connections closed. */
  stop(): void {
    if (!this.lifecycle.requestStop()) return;
    this.logger.info('stop requested: flushing and confirming');
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

  private async streamFrom(startLsn: bigint, sink: KafkaSink<Position | null>): Promise<void> {
    const offsets = new OffsetContext(startLsn, this.config.cdc.heartbeatIntervalMs);
    this.offsets = offsets;
    const source = new StreamingChangeEventSource({
      config: this.config,
      logger: this.logger,
      metrics: this.metrics,
      dispatcher: this.dispatcher,
      sink,
      offsets,
      registerRelation: (m) => this.registerRelation(m),
      interrupted: () => this.lifecycle.interrupted(),
      fail: (err, kind) => this.failWith(err, kind),
    });
    this.streamingSource = source;
    const { ended } = await source.start();
    this.markStreaming();
    await Promise.race([
      this.lifecycle.stopped,
      this.lifecycle.failed,
      ended.then(() => {
        if (!this.lifecycle.isStopping()) throw new Error('replication stream ended unexpectedly');
      }),
    ]);
  }

  /** A Relation message: re-reads the table's key and types when the table is captured. */
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

  private failWith(err: Error, kind: string): void {
    this.metrics.errors.inc({ kind });
    if (!this.lifecycle.fail(err)) {
      this.logger.warn({ err, kind }, 'error while stopping');
      return;
    }
    this.logger.error({ err, kind }, 'fatal error: stopping');
  }

  /** Stop reading, flush the producer (bounded), confirm the confirmable LSN, close everything. */
  private async shutdown(): Promise<void> {
    this.lifecycle.markStopping();
    this.streamingSource?.pause();
    if (this.sink && !this.lifecycle.error()) {
      try {
        const sink = this.sink;
        await flushWithin(() => sink.flush(), SHUTDOWN_FLUSH_TIMEOUT_MS);
      } catch (err) {
        this.logger.error({ err }, 'could not flush every event before exiting; unconfirmed changes will be sent again on restart');
      }
    }
    if (this.streamingSource && this.offsets) {
      await this.streamingSource.close();
      this.logger.info({ confirmedLsn: formatLsn(this.offsets.confirmable()) }, 'confirmed LSN');
    }
    await this.sink?.disconnect();
    await this.catalogDb?.end().catch(() => undefined);
    await this.metrics.close();
  }
}
