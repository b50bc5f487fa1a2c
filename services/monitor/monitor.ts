/**
 * The monitor's engine: every MONITOR_INTERVAL_S it takes a snapshot (collector.ts), updates the
 * Prometheus metrics, evaluates the alert rules, advances the alert state machine and delivers
 * the resulting notifications, and keeps a short history for the dashboard's pipeline charts.
 *
 * Alert state and undelivered notifications are saved to MONITOR_STATE_FILE (written aside and
 * renamed) after every change, so a restarted monitor neither announces an ongoing incident again
 * nor loses a notification the webhook did not take.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MonitorConfig } from '../common/config.ts';
import type { Logger } from '../common/logger.ts';
import { encodeAlertState, parseAlertState, type AlertState, type Transition } from '../common/contracts/alert-state.ts';
import { alertMessage, evaluateRules, stepAlerts } from './alerts.ts';
import { DryRunAlertSink, WebhookAlertSink, type AlertSink } from './alert-sink.ts';
import { Collector, type MonitorSnapshot } from './collector.ts';
import { GoldReader } from './gold-reader.ts';
import { MonitorMetrics } from './metrics.ts';

/** One point of the pipeline history (dashboard charts). */
export interface HistoryPoint {
  /** ms since epoch */
  at: number;
  eventsPerSecond: number | null;
  /** Lag per consumer group, messages (absent while Kafka is unreachable). */
  lagByGroup: Record<string, number>;
  slotLagBytes: number | null;
  dlqMessages: number | null;
  cdcEventsPerSecond: number | null;
}

/** Name shown in alert messages. */
const SOURCE = 'sport-lakehouse';

export class Monitor {
  readonly metrics = new MonitorMetrics();
  readonly gold: GoldReader;
  readonly history: HistoryPoint[] = [];
  readonly sink: AlertSink;
  readonly startedAt = Date.now();
  private readonly collector: Collector;
  private latest: MonitorSnapshot | null = null;
  private inFlight: Promise<MonitorSnapshot> | null = null;
  private alerts: AlertState = {};
  private outbox: Transition[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly now: () => number;
  private firstResolve!: () => void;
  /** Resolves after the first collection. */
  readonly ready = new Promise<void>((resolve) => (this.firstResolve = resolve));

  constructor(
    readonly config: MonitorConfig,
    private readonly logger: Logger,
    options: { sink?: AlertSink; now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.gold = new GoldReader(config.batch.goldDb);
    this.collector = new Collector(config, this.gold, logger);
    this.sink =
      options.sink ??
      (config.alerts.webhookUrl
        ? new WebhookAlertSink(config.alerts.webhookUrl)
        : new DryRunAlertSink(config.alerts.dryRunFile, (line) => logger.warn({ dryRun: config.alerts.dryRunFile }, line)));
  }

  /** Loads the saved alert state, takes the first snapshot, then collects every interval. */
  async start(): Promise<void> {
    await this.loadState();
    await this.refresh();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.refresh()
        .catch((err: Error) => this.logger.error({ err }, 'collection failed'))
        .finally(() => this.schedule());
    }, this.config.monitor.intervalMs);
    this.timer.unref();
  }

  /** The latest snapshot (null before the first collection). */
  snapshot(): MonitorSnapshot | null {
    return this.latest;
  }

  /**
   * A snapshot taken after `notBefore` (ms since epoch): the latest if recent enough, else the
   * one in flight if it started after, else a new one. One collection at a time.
   */
  async fresh(notBefore: number = this.now()): Promise<MonitorSnapshot> {
    for (;;) {
      if (this.latest && this.latest.at >= notBefore) return this.latest;
      if (this.inFlight) {
        await this.inFlight.catch(() => undefined);
        continue;
      }
      return this.refresh();
    }
  }

  /** Takes a snapshot now and runs the alerting on it (awaits any collection in flight first). */
  async refresh(): Promise<MonitorSnapshot> {
    while (this.inFlight) await this.inFlight.catch(() => undefined);
    this.inFlight = this.tick().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async tick(): Promise<MonitorSnapshot> {
    const t0 = performance.now();
    const s = await this.collector.collect();
    this.metrics.update(s, this.collector.newRuns, (performance.now() - t0) / 1000);
    this.record(s);
    const evaluation = evaluateRules(s, this.config.alerts);
    const { state, transitions } = stepAlerts(this.alerts, evaluation, this.now(), this.config.alerts.forMs);
    const changed = JSON.stringify(state) !== JSON.stringify(this.alerts) || transitions.length > 0;
    this.alerts = state;
    this.outbox.push(...transitions);
    for (const t of transitions) this.logger.info({ kind: t.kind, rule: t.condition.rule, key: t.condition.key, summary: t.condition.summary }, `alert ${t.kind}`);
    if (changed) await this.saveState();
    await this.deliver();
    this.metrics.updateAlerts(this.alerts);
    this.latest = s;
    this.firstResolve();
    return s;
  }

  private record(s: MonitorSnapshot): void {
    this.history.push({
      at: s.at,
      eventsPerSecond: s.eventsPerSecond,
      lagByGroup: Object.fromEntries(s.groups.filter((g) => !g.lagUnknown).map((g) => [g.groupId, g.totalLag])),
      slotLagBytes: s.slot?.lagBytes ?? null,
      dlqMessages: s.deadLetters ? s.deadLetters.reduce((a, d) => a + d.messages, 0) : null,
      cdcEventsPerSecond: s.cdc?.eventsPerSecond ?? null,
    });
    if (this.history.length > this.config.monitor.historyPoints) this.history.splice(0, this.history.length - this.config.monitor.historyPoints);
  }

  /** Sends queued notifications in order; stops at the first failure and keeps the rest. */
  private async deliver(): Promise<void> {
    let sent = 0;
    while (this.outbox.length > 0) {
      const t = this.outbox[0]!;
      try {
        await this.sink.deliver(alertMessage(t, SOURCE), t);
      } catch (err) {
        this.metrics.deliveryFailures.inc();
        this.logger.warn({ err: (err as Error).message, sink: this.sink.description, queued: this.outbox.length }, 'alert delivery failed; kept for the next evaluation');
        break;
      }
      this.outbox.shift();
      this.metrics.notifications.inc({ kind: t.kind });
      sent++;
    }
    if (sent > 0) await this.saveState();
  }

  /** Firing and pending alerts, and notifications not delivered yet. */
  alertsView() {
    const list = Object.entries(this.alerts).map(([key, a]) => ({ key, rule: a.condition.rule, severity: a.condition.severity, summary: a.condition.summary, labels: a.condition.labels, state: a.state, since: new Date(a.since).toISOString(), firedAt: a.firedAt ? new Date(a.firedAt).toISOString() : null }));
    return { sink: this.sink.description, firing: list.filter((a) => a.state === 'firing'), pending: list.filter((a) => a.state === 'pending'), undelivered: this.outbox.length };
  }

  private async loadState(): Promise<void> {
    const file = this.config.monitor.stateFile;
    if (!existsSync(file)) return;
    try {
      const saved = parseAlertState(await readFile(file, 'utf8'));
      this.alerts = saved.alerts;
      this.outbox = saved.outbox;
      this.logger.info({ alerts: Object.keys(this.alerts).length, undelivered: this.outbox.length }, 'alert state restored');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, file }, 'alert state unreadable; starting with none');
    }
  }

  private async saveState(): Promise<void> {
    const file = this.config.monitor.stateFile;
    const text = encodeAlertState({ version: 1, alerts: this.alerts, outbox: this.outbox });
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, text);
    await rename(tmp, file);
  }

  /** Stops collecting, waits for a collection in flight, closes clients (idempotent). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight?.catch(() => undefined);
    await this.collector.close();
    this.gold.close();
  }
}
