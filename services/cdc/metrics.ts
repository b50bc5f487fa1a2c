/**
 * Prometheus metrics of the CDC service (prom-client), served at `GET /metrics` on
 * CDC_METRICS_HOST:CDC_METRICS_PORT (127.0.0.1 by default), plus `GET /healthz` (health.ts: JSON,
 * 200 while snapshotting or streaming, 503 while starting, recovering from an outage or stopping).
 *
 * - `cdc_events_total{topic,op}`: events acknowledged by the broker (op c/u/d/r/t/tombstone).
 * - `cdc_events_per_second`: acknowledged events per second over the last 10 s.
 * - `cdc_replication_lag_bytes`: pg_current_wal_lsn() - confirmed_flush_lsn of the slot, read at
 *   scrape time (and every heartbeat).
 * - `cdc_last_received_lsn`, `cdc_confirmed_lsn`: LSNs as numbers (exact below 2^53).
 * - `cdc_errors_total{kind}`: produce failures, unrenderable values, unknown types, stream errors.
 * - `cdc_pending_events`: events waiting for the broker's acknowledgement.
 * - `cdc_snapshot_rows_total{table}`, plus the default process metrics (RSS, CPU, event loop lag).
 * - `cdc_healthy`: 1 while snapshotting or streaming, 0 while starting, recovering or stopping.
 * - `cdc_outages_total{component}`: outages of PostgreSQL or the broker the service rode out
 *   (one per outage, however many reconnection attempts it took).
 * - Incremental snapshots (incremental-snapshot-source.ts), by table:
 *   `cdc_incremental_snapshot_running{table}` (1 while it runs), `_chunks_total`, `_rows_total`
 *   (rows sent as op "r" and acknowledged), `_superseded_rows_total` (chunk rows left out because a
 *   change of the same key was streamed in the chunk's window), `_percent` (of the planner's
 *   estimate; 100 when done).
 */
import http from 'node:http';
import client from 'prom-client';
import type { HealthReport } from './health.ts';
import { listenHttp, type HealthServer } from '../common/health-server.ts';

export class CdcMetrics {
  readonly registry = new client.Registry();
  readonly events = new client.Counter({ name: 'cdc_events_total', help: 'Events acknowledged by the broker', labelNames: ['topic', 'op'], registers: [this.registry] });
  readonly eventsPerSecond = new client.Gauge({ name: 'cdc_events_per_second', help: 'Acknowledged events per second over the last 10 s', registers: [this.registry] });
  readonly lagBytes: client.Gauge;
  readonly lastReceivedLsn = new client.Gauge({ name: 'cdc_last_received_lsn', help: 'Last LSN received from PostgreSQL', registers: [this.registry] });
  readonly confirmedLsn = new client.Gauge({ name: 'cdc_confirmed_lsn', help: 'Last LSN confirmed to PostgreSQL', registers: [this.registry] });
  readonly errors = new client.Counter({ name: 'cdc_errors_total', help: 'Errors by kind', labelNames: ['kind'], registers: [this.registry] });
  readonly pendingEvents = new client.Gauge({ name: 'cdc_pending_events', help: 'Events awaiting broker acknowledgement', registers: [this.registry] });
  readonly snapshotRows = new client.Counter({ name: 'cdc_snapshot_rows_total', help: 'Snapshot rows read', labelNames: ['table'], registers: [this.registry] });
  readonly healthy = new client.Gauge({ name: 'cdc_healthy', help: '1 while snapshotting or streaming, 0 while starting, recovering from an outage or stopping', registers: [this.registry] });
  readonly outages = new client.Counter({ name: 'cdc_outages_total', help: 'PostgreSQL or broker outages ridden out (one per outage)', labelNames: ['component'], registers: [this.registry] });

  readonly incrementalRunning = new client.Gauge({ name: 'cdc_incremental_snapshot_running', help: '1 while an incremental snapshot of the table runs', labelNames: ['table'], registers: [this.registry] });
  readonly incrementalChunks = new client.Counter({ name: 'cdc_incremental_snapshot_chunks_total', help: 'Incremental snapshot chunks finished (rows acknowledged)', labelNames: ['table'], registers: [this.registry] });
  readonly incrementalRows = new client.Counter({ name: 'cdc_incremental_snapshot_rows_total', help: 'Incremental snapshot rows sent as op "r" and acknowledged', labelNames: ['table'], registers: [this.registry] });
  readonly incrementalSuperseded = new client.Counter({ name: 'cdc_incremental_snapshot_superseded_rows_total', help: 'Incremental snapshot rows left out: a change of the same key was streamed in the chunk window', labelNames: ['table'], registers: [this.registry] });
  readonly incrementalPercent = new client.Gauge({ name: 'cdc_incremental_snapshot_percent', help: "Incremental snapshot progress, percent of the planner's row estimate (100 when done)", labelNames: ['table'], registers: [this.registry] });

  private readonly window: { at: number; count: number }[] = [];
  private lagReader: (() => Promise<number | null>) | null = null;
  private healthReader: () => HealthReport = () => ({ httpStatus: 200, body: { status: 'ok', state: 'streaming', since: new Date(0).toISOString() } });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
    const readLag = () => this.readLag();
    this.lagBytes = new client.Gauge({
      name: 'cdc_replication_lag_bytes',
      help: 'pg_current_wal_lsn() - confirmed_flush_lsn of the slot, bytes (measured at scrape time)',
      registers: [this.registry],
      async collect() {
        await readLag();
      },
    });
  }

  /** Sets how the replication lag is measured (a query on the source database). */
  setLagReader(reader: () => Promise<number | null>): void {
    this.lagReader = reader;
  }

  /** Sets what /healthz answers (health.ts). */
  setHealthReader(reader: () => HealthReport): void {
    this.healthReader = reader;
  }

  /** Measures the lag now and updates the gauge; null if it could not be read. */
  async readLag(): Promise<number | null> {
    if (!this.lagReader) return null;
    try {
      const lag = await this.lagReader();
      if (lag !== null) this.lagBytes.set(lag);
      return lag;
    } catch {
      this.errors.inc({ kind: 'lag_query' });
      return null;
    }
  }

  /** Counts acknowledged events (`counts` by topic and op) for the totals and the 10 s rate. */
  acknowledged(byTopicOp: Map<string, number>, total: number): void {
    for (const [k, n] of byTopicOp) {
      const sep = k.lastIndexOf('|');
      this.events.inc({ topic: k.slice(0, sep), op: k.slice(sep + 1) }, n);
    }
    const now = Date.now();
    this.window.push({ at: now, count: total });
    this.updateRate(now);
  }

  /** Recomputes the events-per-second gauge (also called on a timer so it decays when idle). */
  updateRate(now = Date.now()): number {
    while (this.window.length > 0 && this.window[0]!.at < now - 10_000) this.window.shift();
    const sum = this.window.reduce((s, w) => s + w.count, 0);
    const rate = sum / 10;
    this.eventsPerSecond.set(rate);
    return rate;
  }

  /**
   * Serves /metrics and /healthz on `host:port` (0 picks a free port), bound by the project's one
   * HTTP binder (services/common/health-server.ts, listenHttp).
   * @param host interface (CDC_METRICS_HOST).
   * @param onError called with a listener error after start-up (logged by the caller; the listener
   *   keeps serving other connections).
   * @returns the bound port and its close.
   * @throws the listen error (port in use, host not local).
   */
  serve(port: number, host = '127.0.0.1', onError: (err: Error) => void = () => undefined): Promise<HealthServer> {
    const server = http.createServer((req, res) => {
      if (req.url === '/metrics') {
        this.registry
          .metrics()
          .then((body) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(body);
          })
          .catch((err: Error) => {
            res.writeHead(500);
            res.end(err.message);
          });
      } else if (req.url === '/healthz') {
        const report = this.healthReader();
        res.writeHead(report.httpStatus, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify(report.body)}\n`);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    return listenHttp(server, host, port, onError);
  }
}
