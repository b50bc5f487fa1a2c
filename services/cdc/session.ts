/**
 * One connection attempt of the CDC service: the producer, the catalog connection, the slot
 * (snapshot included when one is due) and the replication stream, from opening to closing.
 * service.ts runs one session after another: when PostgreSQL or the broker goes away, the session
 * fails, is closed, and a new one resumes from the LSN the last one could confirm (Debezium
 * restarts its change event sources the same way after a retriable error).
 *
 * A session fails on the first of: an error thrown while opening or streaming, an 'error' event
 * of any of its clients, a produce failure, a failed broker probe ({@link PROBE_TIMEOUT_MS}), the
 * replication stream ending. {@link CdcSession.failureOrigin} says which side it came from, for
 * error-handler.ts.
 */
import pg from 'pg';
import { readSlotStatus } from '../common/status/replication-slot.ts';
import type { ColumnDescription } from './change-mapper.ts';
import type { FailureComponent } from './error-handler.ts';
import { KafkaSink } from './kafka-sink.ts';
import { flushWithin, type Lifecycle } from './lifecycle.ts';
import { formatLsn } from './lsn.ts';
import { OffsetContext, type Position } from './offset-context.ts';
import type { RelationMessage } from './pgoutput.ts';
import { describeTableById, readSchemaFacts } from './postgres-catalog.ts';
import { cdcConnection, preparePostgres } from './postgres-setup.ts';
import { SchemaTopicReader } from '../common/schema-topic.ts';
import { SchemaPublisher } from './schema-publisher.ts';
import { prepareSlot } from './slot.ts';
import { IncrementalSnapshotChangeEventSource, reconcileCapturedTables } from './incremental-snapshot-source.ts';
import { SnapshotChangeEventSource, type SourceParts } from './snapshot-source.ts';
import { SnapshotStateWriter, type SnapshotStateMemory } from './snapshot-state-store.ts';
import { StreamingChangeEventSource } from './streaming-source.ts';
import { buildTableSchema, type ColumnFactsMemory } from './table-schema-builder.ts';

/** A graceful stop waits this long for the broker to acknowledge what is pending. */
const SHUTDOWN_FLUSH_TIMEOUT_MS = 30_000;
/** After a PostgreSQL failure, pending events get this long to be acknowledged before the session closes. */
const FAILURE_FLUSH_TIMEOUT_MS = 10_000;
/** Closing a client on a dead connection is abandoned after this. */
const CLOSE_TIMEOUT_MS = 5_000;
/** A broker probe that has not answered after this fails the session. */
export const PROBE_TIMEOUT_MS = 15_000;

export interface SessionDeps extends SourceParts {
  lifecycle: Lifecycle;
  /** Captured tables as "schema.table". */
  tableKeys: Set<string>;
  /** Column facts of earlier catalog reads (kept across sessions). */
  columnFacts: ColumnFactsMemory;
  /** Incremental snapshot state (loaded once per process, kept across sessions). */
  snapshotStates: SnapshotStateMemory;
}

/** Where streaming starts: the slot's LSN (`resumed`), or a fresh slot's consistent point. */
export interface StartPoint {
  lsn: bigint;
  /** true when the slot already existed (the LSN may then be raised to what this process confirmed). */
  resumed: boolean;
}

/** Resolves after `ms`, or at once with the promise's outcome. @throws Error(`${what} timed out`). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export class CdcSession {
  private failure: { err: Error; origin: FailureComponent; kind: string } | null = null;
  private rejectFailed!: (err: Error) => void;
  /** Rejects with the session's first failure. */
  readonly failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
  private sink: KafkaSink<Position | null> | null = null;
  private sinkFailed = false;
  private schemas: SchemaPublisher | null = null;
  private catalogDb: pg.Client | null = null;
  private streamingSource: StreamingChangeEventSource | null = null;
  private stateWriter: SnapshotStateWriter | null = null;
  private incremental: IncrementalSnapshotChangeEventSource | null = null;
  private offsets: OffsetContext | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly deps: SessionDeps) {
    this.failed.catch(() => undefined);
  }

  /** True once the session should stop working: a stop was requested or it failed. */
  readonly interrupted = (): boolean => this.deps.lifecycle.isStopping() || this.failure !== null;

  /**
   * Records the session's failure (the first one counts; later ones are logged at debug).
   * @param kind for `cdc_errors_total{kind}`: produce, broker, replication, stream_processing, postgres.
   */
  fail(err: Error, origin: FailureComponent, kind: string): void {
    if (this.closed) return;
    if (this.failure) {
      this.deps.logger.debug({ err, kind }, 'further error in a failed session');
      return;
    }
    this.deps.metrics.errors.inc({ kind });
    this.failure = { err, origin, kind };
    this.rejectFailed(err);
  }

  /** Which side the failure came from (the origin the error classification starts from). */
  failureOrigin(): FailureComponent {
    return this.failure?.origin ?? 'service';
  }

  /** The LSN every event up to which the broker acknowledged in this session; null before streaming. */
  confirmable(): bigint | null {
    return this.offsets?.confirmable() ?? null;
  }

  /**
   * Connects the producer and the catalog, checks PostgreSQL, prepares the slot (taking the
   * initial snapshot when one is due).
   * @param onSnapshot called when an initial snapshot starts.
   * @returns where to stream from, or null when a stop was requested during the snapshot.
   * @throws the session's failure, setup errors.
   */
  async open(onSnapshot: () => void): Promise<StartPoint | null> {
    const { config, logger, metrics, dispatcher, lifecycle } = this.deps;
    const guard = <T>(p: Promise<T>) => Promise.race([p, this.failed]);
    const tables = await guard(preparePostgres(config, logger));
    if (this.interrupted()) return this.endOfOpen();

    // The client's own warnings (a connection refused, an operation retried) would repeat for as
    // long as an outage lasts; the service reports the outage once itself (service.ts), so the
    // client logs only errors, unless LOG_LEVEL asks for debug.
    const kafkaLogger = logger.isLevelEnabled('debug') ? logger : logger.child({}, { level: 'error' });
    const sink = new KafkaSink<Position | null>(
      config,
      {
        partitions: config.kafka.topicPartitions,
        batchMaxEvents: config.cdc.batchMaxEvents,
        lingerMs: config.cdc.lingerMs,
        compression: config.cdc.compression,
        maxPendingEvents: config.cdc.maxPendingEvents,
        maxMessageBytes: config.cdc.maxMessageBytes,
        maxInFlight: config.cdc.maxInFlight,
      },
      (tokens) => this.offsets?.acknowledged(tokens),
      logger,
      (events) => dispatcher.acknowledged(events),
      kafkaLogger,
    );
    this.sink = sink;
    dispatcher.attach(sink);
    sink.onFailure((err) => {
      this.sinkFailed = true;
      this.fail(err, 'kafka', 'produce');
    });
    await guard(sink.connect());
    await guard(sink.ensureTopics(tables.map((t) => `${config.kafka.topicPrefix}.${t.schema}.${t.table}`)));
    this.schemas = new SchemaPublisher(config, logger, kafkaLogger);
    await guard(this.schemas.connect());
    if (!this.deps.columnFacts.seeded) await guard(this.recallColumnFacts());
    this.stateWriter = new SnapshotStateWriter(config, this.deps.snapshotStates, logger, kafkaLogger);
    await guard(this.stateWriter.connect(config, kafkaLogger));

    const catalogDb = new pg.Client(cdcConnection(config));
    catalogDb.on('error', (err) => this.fail(err, 'postgres', 'postgres'));
    this.catalogDb = catalogDb;
    await guard(catalogDb.connect());
    // The one slot-lag query of the project (services/common/status/replication-slot.ts).
    metrics.setLagReader(async () => (await readSlotStatus(catalogDb, config.cdc.slotName)).lagBytes);
    await guard(this.deps.types.ensure(catalogDb, tables.flatMap((t) => t.columns.map((c) => c.typeOid))));
    // Every captured table's current document, rows or not: a consumer (the batch) types a table
    // that has no event yet from it. Already produced ids are not produced again.
    for (const t of tables) await guard(this.publishSchema(catalogDb, t.oid, { published: t.columns }));

    const snapshotSource = new SnapshotChangeEventSource({
      config, logger, metrics, mapper: this.deps.mapper, types: this.deps.types, dispatcher, sink, interrupted: this.interrupted,
      publishSchema: (db, table) => this.publishSchema(db, table.oid, { published: table.columns }),
    });
    const start = await guard(
      prepareSlot(
        {
          db: catalogDb,
          withReplication: (fn) => this.withReplicationConnection(fn),
          snapshot: () => {
            onSnapshot();
            return snapshotSource.execute(tables);
          },
          logger,
        },
        { slotName: config.cdc.slotName, database: config.postgres.database, snapshotMode: config.cdc.snapshotMode },
      ),
    );
    if (start === null || lifecycle.isStopping()) return this.endOfOpen();
    // Tables added to CDC_TABLES since the last run get an incremental snapshot (a new slot: none).
    await guard(reconcileCapturedTables({ config, logger, memory: this.deps.snapshotStates, writer: this.stateWriter }, !start.resumed));
    return start;
  }

  private endOfOpen(): null {
    if (this.failure) throw this.failure.err;
    return null;
  }

  private async withReplicationConnection<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const repl = new pg.Client(cdcConnection(this.deps.config, true));
    repl.on('error', (err) => this.deps.logger.debug({ err }, 'replication connection error (slot creation)'));
    await repl.connect();
    try {
      return await fn(repl);
    } finally {
      await repl.end().catch(() => undefined);
    }
  }

  /**
   * Streams from `startLsn` until a stop is requested.
   * @param onStreaming called once the stream runs.
   * @throws the session's failure (the stream ended, a client failed, the broker is gone).
   */
  async stream(startLsn: bigint, onStreaming: () => void): Promise<void> {
    const { config, logger, metrics, dispatcher, lifecycle } = this.deps;
    const sink = this.sink!;
    const offsets = new OffsetContext(startLsn, config.cdc.heartbeatIntervalMs);
    this.offsets = offsets;
    const incremental = new IncrementalSnapshotChangeEventSource({
      config, logger, metrics, dispatcher, sink, offsets, mapper: this.deps.mapper, types: this.deps.types,
      memory: this.deps.snapshotStates, writer: this.stateWriter!,
      publishSchema: (db, table) => this.publishSchema(db, table.oid, { published: table.columns }),
      fail: (err, origin) => this.fail(err, origin, 'incremental_snapshot'),
    });
    this.incremental = incremental;
    const source = new StreamingChangeEventSource({
      config, logger, metrics, dispatcher, sink, offsets,
      registerRelation: (m) => this.registerRelation(m),
      onLogicalMessage: (m, lsn) => incremental.handleMessage(m, lsn),
      interrupted: this.interrupted,
      fail: (err, kind) => this.fail(err, kind === 'stream_processing' ? 'service' : 'postgres', kind),
    });
    this.streamingSource = source;
    const { ended } = await Promise.race([source.start(), this.failed]);
    onStreaming();
    this.startProbe(sink);
    incremental.start();
    await Promise.race([
      lifecycle.stopped,
      this.failed,
      ended.then(() => {
        if (!lifecycle.isStopping()) throw new Error('replication stream ended unexpectedly');
      }),
    ]);
  }

  /** Probes the broker every heartbeat interval, so an outage is noticed while nothing is produced. */
  private startProbe(sink: KafkaSink<Position | null>): void {
    let probing = false;
    this.probeTimer = setInterval(() => {
      if (probing || this.interrupted()) return;
      probing = true;
      within(sink.probe(), PROBE_TIMEOUT_MS, 'broker probe')
        .catch((err: Error) => this.fail(err, 'kafka', 'broker'))
        .finally(() => (probing = false));
    }, this.deps.config.cdc.heartbeatIntervalMs);
  }

  /** A Relation message: re-reads the table's key and types when the table is captured. */
  private async registerRelation(message: RelationMessage): Promise<void> {
    const { mapper, types, logger, tableKeys } = this.deps;
    const db = this.catalogDb!;
    if (!tableKeys.has(`${message.schema}.${message.name}`)) {
      mapper.registerRelation(message, null, types.lookup);
      return;
    }
    const description = await describeTableById(db, message.relationId);
    await types.ensure(db, message.columns.map((c) => c.typeOid));
    const schemaId = await this.publishSchema(db, message.relationId, message);
    mapper.registerRelation(message, description?.primaryKey ?? [], types.lookup, schemaId);
    logger.info({ table: `${message.schema}.${message.name}`, columns: message.columns.length, schemaId }, 'relation (re)described');
  }

  /**
   * Reads the documents earlier runs produced to the schema topic into the column memory (once per
   * process), so that changes re-sent after a restart behind DDL get the documents they had.
   */
  private async recallColumnFacts(): Promise<void> {
    const { config, logger, columnFacts } = this.deps;
    const reader = new SchemaTopicReader({ config, logger, service: 'cdc-schemas', groupPrefix: config.cdc.slotName });
    try {
      const docs = await reader.readAll();
      columnFacts.seed(docs);
      if (docs.length > 0) logger.info({ topic: reader.topic, documents: docs.length }, 'schema documents of earlier runs recalled');
    } finally {
      await reader.close();
    }
  }

  /**
   * Builds the schema document of a table version and produces it to the schema topic; resolves
   * with its id once the broker acknowledged it, before any event carrying the id is dispatched.
   * @param relation the Relation message (streaming), or the columns the snapshot reads.
   */
  private async publishSchema(db: Pick<pg.Client, 'query'>, relationOid: number, relation: RelationMessage | { published: readonly ColumnDescription[] }): Promise<string> {
    const { config, columnFacts } = this.deps;
    const facts = await readSchemaFacts(db, relationOid, { topicPrefix: config.kafka.topicPrefix, database: config.postgres.database, intervalMode: config.cdc.intervalHandling }, relation);
    if (!facts) throw new Error(`table with OID ${relationOid} disappeared while its schema was read`);
    const doc = buildTableSchema(columnFacts.complete(facts));
    await this.schemas!.publish(doc);
    return doc.schemaId;
  }

  /**
   * Closes the session: stops reading, waits (bounded) until the broker acknowledged what is
   * pending (not when the producer failed), confirms the confirmable LSN, closes every client.
   * @param graceful a requested stop (30 s to flush, errors logged as such) or a failure (10 s).
   */
  async close(graceful: boolean): Promise<void> {
    if (this.closed) return;
    const { logger } = this.deps;
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.streamingSource?.pause();
    await this.incremental?.close();
    if (this.sink && !this.sinkFailed) {
      const sink = this.sink;
      try {
        await flushWithin(() => sink.flush(), graceful ? SHUTDOWN_FLUSH_TIMEOUT_MS : FAILURE_FLUSH_TIMEOUT_MS);
      } catch (err) {
        if (graceful) logger.error({ err }, 'could not flush every event before exiting; unconfirmed changes will be sent again on restart');
        else logger.debug({ err }, 'pending events not acknowledged before reconnecting; they will be sent again');
      }
    }
    this.closed = true;
    if (this.streamingSource && this.offsets) {
      await within(this.streamingSource.close(), CLOSE_TIMEOUT_MS, 'closing the replication connection').catch((err: Error) => logger.debug({ err }, 'closing the replication connection'));
      if (graceful) logger.info({ confirmedLsn: formatLsn(this.offsets.confirmable()) }, 'confirmed LSN');
    }
    if (this.sink) await within(this.sink.disconnect(), CLOSE_TIMEOUT_MS, 'disconnecting from the broker').catch((err: Error) => logger.debug({ err }, 'disconnecting from the broker'));
    if (this.schemas) await within(this.schemas.disconnect(), CLOSE_TIMEOUT_MS, 'disconnecting the schema producer').catch((err: Error) => logger.debug({ err }, 'disconnecting the schema producer'));
    if (this.stateWriter) await within(this.stateWriter.disconnect(), CLOSE_TIMEOUT_MS, 'disconnecting the snapshot state producer').catch((err: Error) => logger.debug({ err }, 'disconnecting the snapshot state producer'));
    if (this.catalogDb) await within(this.catalogDb.end(), CLOSE_TIMEOUT_MS, 'closing the catalog connection').catch((err: Error) => logger.debug({ err }, 'closing the catalog connection'));
  }
}
