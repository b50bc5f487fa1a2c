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
 * | one connection attempt: open, stream, close | session.ts | the task's start/stop |
| retriable or fatal failures, health | error-handler.ts, health.ts, this module | ErrorHandler, PostgresErrorHandler |
| stop signalling, bounded flush | lifecycle.ts | ChangeEventSourceContext |
 *
 * Life cycle of {@link CdcService.run}:
 * 1. metrics endpoint; PostgreSQL checks/setup (publication, grants); Kafka topics;
 * 2. slot (slot.ts): resume, create, or take the initial snapshot on a new slot;
 * 3. streaming from the slot's confirmed LSN; an LSN is confirmed once the broker acknowledged
 *    every event up to it, on a timer and when PostgreSQL asks;
 * 4. {@link CdcService.stop} (SIGTERM): stop reading, flush the producer, confirm, close.
 * Steps 1-3 run in a session (session.ts); a retriable failure (error-handler.ts: PostgreSQL or the
 * broker unavailable) closes the session and opens a new one with capped exponential backoff,
 * resuming from the highest LSN this process confirmed (health.ts reports the outage).
 *
 * Schema link (docs/contracts/table-schemas.md): before the first event of a table version (its
 * snapshot rows, or the changes after a Relation message), the table's schema document is built
 * (table-schema-builder.ts from the Relation message and a catalog read) and produced to
 * `<prefix>._schemas` (schema-publisher.ts), acknowledged, and its id becomes the header of every
 * event of that version (`CdcSession.publishSchema`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pRetry, { AbortError } from 'p-retry';
import { REPO_ROOT, type CdcConfig } from '../common/config.ts';
import type { Logger } from '../common/logger.ts';
import { ChangeMapper } from './change-mapper.ts';
import { classifyFailure, type FailureVerdict } from './error-handler.ts';
import { EventDispatcher, type DispatcherHooks } from './event-dispatcher.ts';
import { Health } from './health.ts';
import { Lifecycle } from './lifecycle.ts';
import { formatLsn } from './lsn.ts';
import { CdcMetrics } from './metrics.ts';
import type { Position } from './offset-context.ts';
import { TypeCatalog } from './postgres-catalog.ts';
import { listenWithRetry, type RetriedListener } from '../common/health-server.ts';
import { CdcSession } from './session.ts';
import { SnapshotStateMemory } from './snapshot-state-store.ts';
import { ColumnFactsMemory } from './table-schema-builder.ts';

/** `source.version`: the project's version from package.json. */
export const SERVICE_VERSION: string = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** First reconnection delay after a failure; it doubles up to CDC_RETRY_MAX_BACKOFF_S. */
const RETRY_MIN_BACKOFF_MS = 500;

/** How one connection attempt ended without an error escaping: stopped, or failed after it had streamed. */
type AttemptOutcome = 'stopped' | 'restart';

export class CdcService {
  readonly metrics = new CdcMetrics();
  private readonly lifecycle = new Lifecycle();
  private readonly health = new Health(Date.now());
  private readonly mapper: ChangeMapper;
  private readonly dispatcher: EventDispatcher<Position | null>;
  private readonly types = new TypeCatalog();
  private readonly tableKeys: Set<string>;
  /** Column facts of earlier catalog reads, across sessions (table-schema-builder.ts). */
  private readonly columnFacts = new ColumnFactsMemory();
  /** Incremental snapshot state (snapshot-state-store.ts), across sessions. */
  private readonly snapshotStates = new SnapshotStateMemory();
  /** The highest LSN a session of this process could confirm: where the next session resumes. */
  private resumeLsn: bigint | null = null;
  private metricsListener: RetriedListener | undefined;
  private markStreaming!: () => void;
  /** Resolves once the snapshot (if any) is acknowledged and changes stream. */
  readonly streaming = new Promise<void>((resolve) => (this.markStreaming = resolve));

  /**
   * @param hooks instrumentation for benchmarks: `onAcknowledged` gets every batch of events the
   *   broker acknowledged and the time of the acknowledgement (ms since epoch).
   */
  constructor(
    private readonly config: CdcConfig,
    private readonly logger: Logger,
    hooks: DispatcherHooks = {},
  ) {
    this.tableKeys = new Set(config.cdc.tables.map((t) => `${t.schema}.${t.table}`));
    this.mapper = new ChangeMapper({
      topicPrefix: config.kafka.topicPrefix,
      database: config.postgres.database,
      version: SERVICE_VERSION,
      intervalMode: config.cdc.intervalHandling,
      onWarning: (w) => this.dispatcher.warn(w),
      extendedHeaders: config.cdc.extendedHeaders,
      skippedOperations: new Set(config.cdc.skippedOperations),
    });
    this.dispatcher = new EventDispatcher(this.mapper, this.metrics, logger, hooks);
    this.metrics.setHealthReader(() => this.health.report(Date.now()));
    this.metrics.healthy.set(0);
  }

  /** Port of the /metrics endpoint once listening. */
  get metricsPort(): number | null {
    return this.metricsListener?.port ?? null;
  }

  /** Events the broker acknowledged since start (snapshot included; TRUNCATE counts once). */
  get acknowledgedEvents(): number {
    return this.dispatcher.acknowledgedEvents();
  }

  /** The service's state as /healthz reports it. */
  healthReport() {
    return this.health.report(Date.now());
  }

  /**
   * Runs until {@link stop} or a failure that retrying cannot fix (error-handler.ts). PostgreSQL
   * and broker outages of any length are ridden out: one warning, `/healthz` 503 and
   * `cdc_healthy` 0 while reconnecting with capped exponential backoff, then streaming resumes
   * from the last confirmed LSN.
   * @throws CdcSetupError (publication, privileges, slot in use), non-retriable PostgreSQL or
   *   broker errors, decoding errors.
   */
  async run(): Promise<void> {
    const { config, logger, lifecycle } = this;
    try {
      const at = { host: config.cdc.metricsHost, port: config.cdc.metricsPort };
      const onError = (err: Error) => logger.warn({ err }, 'metrics listener error');
      this.metricsListener = await listenWithRetry('metrics (/metrics) and health (/healthz)', at, () => this.metrics.serve(at.port, at.host, onError), logger);
      while (!lifecycle.isStopping()) {
        // One pRetry per outage, so the backoff starts small again after the service has streamed.
        const outcome = await pRetry(() => this.attempt(), {
          retries: Number.POSITIVE_INFINITY,
          factor: 2,
          minTimeout: RETRY_MIN_BACKOFF_MS,
          maxTimeout: Math.max(RETRY_MIN_BACKOFF_MS, config.cdc.retryMaxBackoffMs),
          randomize: true,
          signal: lifecycle.signal,
        }).catch((err: unknown) => {
          if (lifecycle.isStopping()) return 'stopped' as const;
          throw err;
        });
        if (outcome === 'stopped') break;
      }
    } catch (err) {
      lifecycle.record(err as Error);
    } finally {
      this.health.stopping(Date.now());
      this.metrics.healthy.set(0);
      await this.metricsListener?.close();
    }
    const error = lifecycle.error();
    if (error) throw error;
  }

  /** Graceful stop: {@link run} resolves once events are flushed, the LSN confirmed and connections closed. */
  stop(): void {
    if (!this.lifecycle.requestStop()) return;
    this.logger.info('stop requested: flushing and confirming');
  }

  /**
   * One session: open, stream until stopped or failed, close.
   * @returns 'stopped' after a requested stop; 'restart' after a retriable failure once the session
   *   had streamed (a new outage: the caller starts a fresh backoff).
   * @throws the failure of a session that did not reach streaming (retried with backoff), or
   *   AbortError wrapping a failure retrying cannot fix.
   */
  private async attempt(): Promise<AttemptOutcome> {
    const { logger, lifecycle, health, metrics } = this;
    const session = new CdcSession({
      config: this.config, logger, metrics, mapper: this.mapper, types: this.types, dispatcher: this.dispatcher, lifecycle, tableKeys: this.tableKeys, columnFacts: this.columnFacts, snapshotStates: this.snapshotStates,
    });
    health.connecting(Date.now());
    let streamed = false;
    try {
      const start = await session.open(() => {
        health.snapshotting(Date.now());
        metrics.healthy.set(1);
      });
      if (start !== null) {
        // A slot that existed may lag behind what this process confirmed before a reconnection.
        const from = start.resumed && this.resumeLsn !== null && this.resumeLsn > start.lsn ? this.resumeLsn : start.lsn;
        // source.sequence of the first transaction names the position streaming resumes from (Debezium: its stored offset).
        this.mapper.resumeAfter(start.resumed ? from : null);
        await session.stream(from, () => {
          streamed = true;
          this.onStreaming(from);
        });
      }
      await session.close(true);
      return 'stopped';
    } catch (err) {
      if (lifecycle.isStopping()) {
        logger.warn({ err }, 'error while stopping');
        await session.close(false);
        return 'stopped';
      }
      const verdict = classifyFailure(err, session.failureOrigin());
      if (!verdict.retriable) {
        logger.error({ err, component: verdict.component, reason: verdict.reason }, 'fatal error: stopping');
        await session.close(false);
        throw new AbortError(err as Error);
      }
      this.onRetriableFailure(verdict, err as Error);
      await session.close(false);
      const confirmable = session.confirmable();
      if (confirmable !== null && (this.resumeLsn === null || confirmable > this.resumeLsn)) this.resumeLsn = confirmable;
      if (streamed) return 'restart';
      throw err;
    }
  }

  private onStreaming(from: bigint): void {
    const ended = this.health.streaming(Date.now());
    this.metrics.healthy.set(1);
    if (ended) {
      this.logger.info({ component: ended.component, outageSeconds: Math.round((Date.now() - ended.since) / 1000), attempts: ended.attempts, from: formatLsn(from) }, `${ended.component} available again: streaming resumed`);
    }
    this.markStreaming();
  }

  /** One warning per outage (later attempts at debug), health and metrics. */
  private onRetriableFailure(verdict: FailureVerdict, err: Error): void {
    const opened = this.health.failed(verdict.component, verdict.reason, Date.now());
    this.metrics.healthy.set(0);
    const fields = { component: verdict.component, reason: verdict.reason, err, retryMaxBackoffMs: this.config.cdc.retryMaxBackoffMs };
    if (opened) {
      this.metrics.outages.inc({ component: verdict.component });
      this.logger.warn(fields, `${verdict.component} unavailable: reconnecting with backoff (unhealthy until streaming again)`);
    } else {
      this.logger.debug({ ...fields, attempts: this.health.currentOutage()?.attempts }, 'reconnection attempt failed');
    }
  }
}
