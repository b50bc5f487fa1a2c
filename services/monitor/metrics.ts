/**
 * The monitor's Prometheus metrics (prom-client), set from each snapshot and served at /metrics.
 * All names start with `lakehouse_`; units in the names (Prometheus naming conventions).
 *
 * Pipeline
 * - `lakehouse_up{component}`: 1/0 per dependency (postgres, kafka, lake) and service (cdc,
 *   bronze-writer, slack-notifier, distance-worker; absent while unknown). See snapshot.ts for how.
 * - `lakehouse_dependency_latency_seconds{dependency}`: probe round trip.
 * - `lakehouse_consumer_lag_messages{group,topic,partition}` and `lakehouse_consumer_group_lag_messages{group}`.
 * - `lakehouse_consumer_group_members{group}`.
 * - `lakehouse_replication_slot_lag_bytes{slot}`, `lakehouse_replication_slot_active{slot}`.
 * - `lakehouse_dlq_messages{topic}`: messages retained per dead-letter topic.
 * - `lakehouse_topic_messages{topic}`: messages ever written per source topic (sum of high
 *   watermarks; change events and tombstones), and `lakehouse_events_per_second` (its growth).
 * Relayed from the CDC service's /metrics (CDC_METRICS_PORT; Prometheus may also scrape it directly):
 * - `lakehouse_cdc_up`, `lakehouse_cdc_events{op}` (= sum of cdc_events_total by op),
 *   `lakehouse_cdc_errors{kind}` (= cdc_errors_total), `lakehouse_cdc_events_per_second`.
 * Batch (run_log.jsonl, latest quality report)
 * - `lakehouse_batch_runs{status}`: runs in run_log per status; `lakehouse_batch_duration_seconds{status}`
 *   histogram of run durations read since the monitor started; `lakehouse_batch_last_run_duration_seconds`,
 *   `lakehouse_batch_last_run_success`, `lakehouse_batch_last_success_timestamp_seconds`;
 *   `lakehouse_batch_cost_eur{kind=bonus|wellbeing}` of the last successful run.
 * - `lakehouse_quality_checks{status}`, `lakehouse_quality_check_failed{check,severity}`,
 *   `lakehouse_quality_state` (0 ok, 1 warn, 2 error), `lakehouse_quality_score{dimension}`
 *   (freshness, completeness, anomaly; quality-scores.ts), `lakehouse_quality_findings{finding_type,severity}`.
 * Alerts and the monitor itself
 * - `lakehouse_alert_firing{rule,key}`, `lakehouse_alert_notifications_total{kind}`,
 *   `lakehouse_alert_delivery_failures_total`, `lakehouse_monitor_collect_seconds`,
 *   `lakehouse_monitor_collect_errors_total{part}`, and prom-client's default process metrics
 *   prefixed `lakehouse_monitor_`.
 */
import client from 'prom-client';
import type { BatchRun } from '../common/status/batch-state.ts';
import type { AlertState } from '../common/contracts/alert-state.ts';
import type { MonitorSnapshot } from './collector.ts';

export class MonitorMetrics {
  readonly registry = new client.Registry();
  private readonly r = [this.registry];
  private readonly up = new client.Gauge({ name: 'lakehouse_up', help: '1 when the component is up, 0 when down (absent while unknown)', labelNames: ['component'], registers: this.r });
  private readonly depLatency = new client.Gauge({ name: 'lakehouse_dependency_latency_seconds', help: 'Probe round trip of a dependency, seconds', labelNames: ['dependency'], registers: this.r });
  private readonly partitionLag = new client.Gauge({ name: 'lakehouse_consumer_lag_messages', help: 'High watermark minus committed offset, messages', labelNames: ['group', 'topic', 'partition'], registers: this.r });
  private readonly groupLag = new client.Gauge({ name: 'lakehouse_consumer_group_lag_messages', help: 'Consumer lag summed over partitions, messages', labelNames: ['group'], registers: this.r });
  private readonly members = new client.Gauge({ name: 'lakehouse_consumer_group_members', help: 'Live members of the consumer group', labelNames: ['group'], registers: this.r });
  private readonly slotLag = new client.Gauge({ name: 'lakehouse_replication_slot_lag_bytes', help: 'pg_current_wal_lsn() - confirmed_flush_lsn of the slot, bytes', labelNames: ['slot'], registers: this.r });
  private readonly slotActive = new client.Gauge({ name: 'lakehouse_replication_slot_active', help: '1 when a process streams the slot', labelNames: ['slot'], registers: this.r });
  private readonly dlq = new client.Gauge({ name: 'lakehouse_dlq_messages', help: 'Messages retained in the dead-letter topic', labelNames: ['topic'], registers: this.r });
  private readonly topicMessages = new client.Gauge({ name: 'lakehouse_topic_messages', help: 'Messages ever written to the source topic (sum of high watermarks)', labelNames: ['topic'], registers: this.r });
  private readonly eventsPerSecond = new client.Gauge({ name: 'lakehouse_events_per_second', help: 'Messages per second written to the source topics between the last two collections', registers: this.r });
  private readonly cdcUp = new client.Gauge({ name: 'lakehouse_cdc_up', help: '1 when the CDC service metrics endpoint answers', registers: this.r });
  private readonly cdcEvents = new client.Gauge({ name: 'lakehouse_cdc_events', help: 'Events the CDC service got acknowledged, by op (relayed cdc_events_total)', labelNames: ['op'], registers: this.r });
  private readonly cdcErrors = new client.Gauge({ name: 'lakehouse_cdc_errors', help: 'CDC service errors by kind (relayed cdc_errors_total)', labelNames: ['kind'], registers: this.r });
  private readonly cdcRate = new client.Gauge({ name: 'lakehouse_cdc_events_per_second', help: 'CDC acknowledged events per second, 10 s window (relayed)', registers: this.r });
  private readonly batchRuns = new client.Gauge({ name: 'lakehouse_batch_runs', help: 'Batch runs recorded in run_log, by status', labelNames: ['status'], registers: this.r });
  private readonly batchDuration = new client.Histogram({
    name: 'lakehouse_batch_duration_seconds',
    help: 'Duration of batch runs read from run_log since the monitor started, seconds',
    labelNames: ['status'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: this.r,
  });
  private readonly lastDuration = new client.Gauge({ name: 'lakehouse_batch_last_run_duration_seconds', help: 'Duration of the last batch run, seconds', registers: this.r });
  private readonly lastRunSuccess = new client.Gauge({ name: 'lakehouse_batch_last_run_success', help: '1 when the last batch run succeeded', registers: this.r });
  private readonly lastSuccessTs = new client.Gauge({ name: 'lakehouse_batch_last_success_timestamp_seconds', help: 'End of the last successful batch run, Unix seconds', registers: this.r });
  private readonly cost = new client.Gauge({ name: 'lakehouse_batch_cost_eur', help: 'Total cost in gold after the last successful run, EUR', labelNames: ['kind'], registers: this.r });
  private readonly checks = new client.Gauge({ name: 'lakehouse_quality_checks', help: 'Quality checks of the latest report, by status', labelNames: ['status'], registers: this.r });
  private readonly checkFailed = new client.Gauge({ name: 'lakehouse_quality_check_failed', help: '1 per failed quality check of the latest report', labelNames: ['check', 'severity'], registers: this.r });
  private readonly qualityState = new client.Gauge({ name: 'lakehouse_quality_state', help: 'Latest quality report: 0 ok, 1 warn, 2 error', registers: this.r });
  private readonly qualityScore = new client.Gauge({ name: 'lakehouse_quality_score', help: 'Data-quality score in [0, 1] (anomaly: 0 normal, 1 at threshold)', labelNames: ['dimension'], registers: this.r });
  private readonly findings = new client.Gauge({ name: 'lakehouse_quality_findings', help: 'Row-level quality findings in gold', labelNames: ['finding_type', 'severity'], registers: this.r });
  private readonly alertFiring = new client.Gauge({ name: 'lakehouse_alert_firing', help: '1 per firing alert', labelNames: ['rule', 'key'], registers: this.r });
  readonly notifications = new client.Counter({ name: 'lakehouse_alert_notifications_total', help: 'Alert notifications delivered', labelNames: ['kind'], registers: this.r });
  readonly deliveryFailures = new client.Counter({ name: 'lakehouse_alert_delivery_failures_total', help: 'Alert deliveries that failed (kept for the next attempt)', registers: this.r });
  private readonly collectSeconds = new client.Gauge({ name: 'lakehouse_monitor_collect_seconds', help: 'Duration of the last collection, seconds', registers: this.r });
  readonly collectErrors = new client.Counter({ name: 'lakehouse_monitor_collect_errors_total', help: 'Parts of a collection that could not be read', labelNames: ['part'], registers: this.r });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'lakehouse_monitor_' });
  }

  /** Sets every gauge from `s`; `newRuns` are the batch runs read by this collection. */
  update(s: MonitorSnapshot, newRuns: readonly BatchRun[], collectSeconds: number): void {
    this.collectSeconds.set(collectSeconds);
    this.up.reset();
    this.depLatency.reset();
    for (const [name, d] of Object.entries(s.dependencies)) {
      this.up.set({ component: name }, d.up ? 1 : 0);
      if (d.latencyMs !== null) this.depLatency.set({ dependency: name }, d.latencyMs / 1000);
      if (!d.up) this.collectErrors.inc({ part: name });
    }
    for (const [name, h] of Object.entries(s.services)) if (h && h.up !== null) this.up.set({ component: name }, h.up ? 1 : 0);

    if (s.dependencies.kafka.up) {
      this.partitionLag.reset();
      this.groupLag.reset();
      this.members.reset();
      for (const g of s.groups) {
        if (g.liveness) this.members.set({ group: g.groupId }, g.liveness.members);
        if (g.lagUnknown) {
          this.collectErrors.inc({ part: 'consumer_group' });
          continue;
        }
        this.groupLag.set({ group: g.groupId }, g.totalLag);
        for (const p of g.partitions) this.partitionLag.set({ group: g.groupId, topic: p.topic, partition: String(p.partition) }, p.lag);
      }
      this.dlq.reset();
      for (const d of s.deadLetters ?? []) this.dlq.set({ topic: d.topic }, d.messages);
      this.topicMessages.reset();
      for (const t of s.topicMessages ?? []) this.topicMessages.set({ topic: t.topic }, t.messages);
    }
    if (s.eventsPerSecond !== null) this.eventsPerSecond.set(s.eventsPerSecond);
    if (s.slot) {
      this.slotLag.reset();
      this.slotActive.reset();
      if (s.slot.exists) {
        this.slotLag.set({ slot: s.slot.slotName }, s.slot.lagBytes ?? 0);
        this.slotActive.set({ slot: s.slot.slotName }, s.slot.active ? 1 : 0);
      }
    }

    if (s.cdc) {
      this.cdcUp.set(s.cdc.up ? 1 : 0);
      if (s.cdc.up) {
        this.cdcEvents.reset();
        for (const [op, n] of Object.entries(s.cdc.eventsByOp)) this.cdcEvents.set({ op }, n);
        this.cdcErrors.reset();
        for (const [kind, n] of Object.entries(s.cdc.errorsByKind)) this.cdcErrors.set({ kind }, n);
        if (s.cdc.eventsPerSecond !== null) this.cdcRate.set(s.cdc.eventsPerSecond);
      }
    }

    if (s.batch) {
      for (const [status, n] of Object.entries(s.batch.runsByStatus)) this.batchRuns.set({ status }, n);
      for (const run of newRuns) this.batchDuration.observe({ status: run.status }, run.durationS);
      const last = s.batch.lastRun;
      if (last) {
        this.lastDuration.set(last.durationS);
        this.lastRunSuccess.set(last.status === 'success' ? 1 : 0);
      }
      const ok = s.batch.lastSuccess;
      if (ok) {
        this.lastSuccessTs.set(Date.parse(ok.finishedAt) / 1000);
        if (ok.bonusCostEur !== null) this.cost.set({ kind: 'bonus' }, ok.bonusCostEur);
        if (ok.wellbeingCostEur !== null) this.cost.set({ kind: 'wellbeing' }, ok.wellbeingCostEur);
      }
      const q = s.batch.quality;
      this.checks.reset();
      this.checkFailed.reset();
      if (q) {
        this.checks.set({ status: 'pass' }, q.passed);
        this.checks.set({ status: 'skipped' }, q.skipped);
        this.checks.set({ status: 'fail' }, q.failed.length);
        for (const f of q.failed) this.checkFailed.set({ check: f.id, severity: f.severity }, 1);
        this.qualityState.set(q.state === 'ok' ? 0 : q.state === 'warn' ? 1 : 2);
      }
    } else this.collectErrors.inc({ part: 'batch' });

    this.qualityScore.reset();
    for (const [dimension, v] of [
      ['freshness', s.quality.freshness.score],
      ['completeness', s.quality.completeness.score],
      ['anomaly', s.quality.anomaly.score],
    ] as const) {
      if (v !== null) this.qualityScore.set({ dimension }, v);
    }
    if (s.quality.findingsByType) {
      this.findings.reset();
      for (const f of s.quality.findingsByType) this.findings.set({ finding_type: f.finding_type, severity: f.severity }, f.findings);
    }
  }

  /** Sets the firing alerts. */
  updateAlerts(state: AlertState): void {
    this.alertFiring.reset();
    for (const [key, a] of Object.entries(state)) if (a.state === 'firing') this.alertFiring.set({ rule: a.condition.rule, key }, 1);
  }
}
