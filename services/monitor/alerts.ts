/**
 * Alerting: rules evaluated on each {@link Snapshot}, and a state machine that turns conditions
 * into notifications, once per incident (the Prometheus Alertmanager model: pending -> firing ->
 * resolved, https://prometheus.io/docs/alerting/latest/alertmanager/). Everything here is pure;
 * the monitor persists the {@link AlertState} (MONITOR_STATE_FILE) so a restart does not announce
 * an incident again, and the sink (alert-sink.ts) delivers the messages.
 *
 * Rules (one alert per key; labels in the key):
 * | rule | key | active when | for | severity |
 * |---|---|---|---|---|
 * | dependency_down | dependency_down:<postgres\|kafka\|lake> | the probe failed | ALERT_FOR_S | critical |
 * | service_down | service_down:<service> | liveness false (snapshot.ts) | ALERT_FOR_S | critical |
 * | consumer_lag | consumer_lag:<group> | lag summed over partitions > ALERT_LAG_THRESHOLD messages | ALERT_FOR_S | warning |
 * | replication_slot_lag | replication_slot_lag:<slot> | WAL retained > ALERT_SLOT_LAG_BYTES | ALERT_FOR_S | warning |
 * | dlq_not_empty | dlq_not_empty:<topic> | the dead-letter topic retains messages | 0 | warning |
 * | quality_error | quality_error | the last refresh failed (not: interrupted), or an error-level check failed | 0 | critical |
 * | volume_anomaly | volume_anomaly | the batch's daily volume check failed (z-score) | 0 | warning |
 * | cost_drift | cost_drift | the batch's cost drift check failed | 0 | warning |
 * | gold_stale | gold_stale | the last successful refresh's figures are complete through a time older than ALERT_GOLD_MAX_AGE_S (without a watermark: it finished longer ago); 0 = off | 0 | warning |
 *
 * A rule that cannot be evaluated (its source unreachable) holds its alerts as they are: a Kafka
 * outage neither resolves a DLQ alert nor fires a lag alert; dependency_down speaks for it.
 */
import type { AlertRule, AlertState, Condition, Transition } from '../common/contracts/alert-state.ts';
import { isFailedRun } from '../common/status/batch-state.ts';
import type { Snapshot, ServiceName } from './snapshot.ts';

/** What the rules found: the active conditions, and the rules that could not be evaluated. */
export interface Evaluation {
  active: Condition[];
  /** Rules whose source was unreachable: their alerts keep their state. */
  heldRules: AlertRule[];
  /** Individual keys that could not be evaluated (e.g. a service whose liveness is unknown). */
  heldKeys: string[];
}

export interface AlertThresholds {
  /** Consumer-group lag, messages. */
  lagThreshold: number;
  /** Replication slot lag, bytes. */
  slotLagBytes: number;
  /** Hold time of service_down, dependency_down and the lag rules before firing, ms. */
  forMs: number;
  /** gold_stale: oldest acceptable completeness watermark (or build time), ms before the snapshot; 0 = rule off. */
  goldMaxAgeMs?: number;
}

const int = (n: number) => n.toLocaleString('en-US');
const SERVICES: readonly ServiceName[] = ['cdc', 'bronze-writer', 'slack-notifier', 'distance-worker'];

/** Evaluates every rule on `s` (pure). */
export function evaluateRules(s: Snapshot, t: AlertThresholds): Evaluation {
  const active: Condition[] = [];
  const heldRules: AlertRule[] = [];
  const heldKeys: string[] = [];

  for (const [name, dep] of Object.entries(s.dependencies)) {
    if (!dep.up) active.push({ key: `dependency_down:${name}`, rule: 'dependency_down', severity: 'critical', labels: { dependency: name }, summary: `${name} is unreachable: ${dep.error ?? 'no answer'}` });
  }

  for (const name of SERVICES) {
    const h = s.services[name];
    if (!h) continue;
    const key = `service_down:${name}`;
    if (h.up === null) heldKeys.push(key);
    else if (!h.up) active.push({ key, rule: 'service_down', severity: 'critical', labels: { service: name }, summary: `${name} is down: ${h.detail}` });
  }

  if (!s.dependencies.kafka.up) heldRules.push('consumer_lag', 'dlq_not_empty');
  else {
    for (const g of s.groups) {
      if (g.lagUnknown) heldKeys.push(`consumer_lag:${g.groupId}`);
      else if (g.totalLag > t.lagThreshold) {
        const worst = [...g.partitions].sort((a, b) => b.lag - a.lag)[0];
        active.push({
          key: `consumer_lag:${g.groupId}`,
          rule: 'consumer_lag',
          severity: 'warning',
          labels: { group: g.groupId },
          summary: `consumer group ${g.groupId} is ${int(g.totalLag)} messages behind (threshold ${int(t.lagThreshold)})${worst ? `; most on ${worst.topic}[${worst.partition}]: ${int(worst.lag)}` : ''}`,
        });
      }
    }
    if (s.deadLetters === null) heldRules.push('dlq_not_empty');
    else {
      for (const d of s.deadLetters) {
        if (d.messages > 0) {
          active.push({ key: `dlq_not_empty:${d.topic}`, rule: 'dlq_not_empty', severity: 'warning', labels: { topic: d.topic }, summary: `dead-letter topic ${d.topic} holds ${int(d.messages)} message(s)` });
        }
      }
    }
  }

  if (!s.slot) heldRules.push('replication_slot_lag');
  else if (s.slot.lagBytes !== null && s.slot.lagBytes > t.slotLagBytes) {
    active.push({
      key: `replication_slot_lag:${s.slot.slotName}`,
      rule: 'replication_slot_lag',
      severity: 'warning',
      labels: { slot: s.slot.slotName },
      summary: `replication slot ${s.slot.slotName} retains ${int(s.slot.lagBytes)} bytes of WAL (threshold ${int(t.slotLagBytes)})${s.slot.active ? '' : ', and no process holds it'}`,
    });
  }

  if (!s.batch) heldRules.push('quality_error', 'volume_anomaly', 'cost_drift', 'gold_stale');
  else {
    const q = s.batch.quality;
    const last = s.batch.lastRun;
    // An interrupted run (SIGTERM/SIGINT: rolled back on purpose, gold kept) is not a failure.
    const lastFailed = last && isFailedRun(last.status);
    if (lastFailed || q?.state === 'error') {
      const errors = q?.failed.filter((f) => f.severity === 'error').map((f) => f.id) ?? [];
      const what = lastFailed ? `refresh ${last.runId} ended ${last.status}${last.error ? `: ${last.error}` : ''}` : `run ${q!.runId}: error-level checks failed: ${errors.join(', ')}`;
      active.push({ key: 'quality_error', rule: 'quality_error', severity: 'critical', labels: {}, summary: `quality error, gold not refreshed: ${what}` });
    }
    const metric = (type: string) => q?.results.find((r) => r.type === type && r.status === 'fail');
    const volume = metric('volume_anomaly');
    if (volume) active.push({ key: 'volume_anomaly', rule: 'volume_anomaly', severity: 'warning', labels: {}, summary: `abnormal activity volume (run ${q!.runId}): ${volume.observed ?? volume.description}` });
    const drift = metric('cost_drift');
    if (drift) active.push({ key: 'cost_drift', rule: 'cost_drift', severity: 'warning', labels: {}, summary: `cost drift (run ${q!.runId}): ${drift.observed ?? drift.description}` });
    const ok = s.batch.lastSuccess;
    if (t.goldMaxAgeMs && ok) {
      const through = ok.completeThrough ?? ok.finishedAt;
      const ageMs = s.at - Date.parse(through);
      if (ageMs > t.goldMaxAgeMs) {
        const what = ok.completeThrough ? `figures complete through ${through}` : `built ${through} (no completeness watermark)`;
        active.push({
          key: 'gold_stale',
          rule: 'gold_stale',
          severity: 'warning',
          labels: {},
          summary: `gold is stale: ${what}, ${formatDuration(ageMs)} ago (threshold ${formatDuration(t.goldMaxAgeMs)}); last refresh ${s.batch.lastRun?.runId ?? '-'} ${s.batch.lastRun?.status ?? ''}`.trimEnd(),
        });
      }
    }
  }
  return { active, heldRules, heldKeys };
}

/** Rules that fire as soon as their condition holds (their source is itself a discrete event). */
const IMMEDIATE: ReadonlySet<AlertRule> = new Set(['dlq_not_empty', 'quality_error', 'volume_anomaly', 'cost_drift', 'gold_stale']);

/** Hold time before `rule` fires, ms. */
export function holdTimeMs(rule: AlertRule, forMs: number): number {
  return IMMEDIATE.has(rule) ? 0 : forMs;
}

/**
 * Advances the state machine by one evaluation (pure). Per key:
 * absent -> pending (hold time > 0) or firing (hold time 0, notifies);
 * pending -> firing once the condition held for the hold time (notifies), or dropped if it cleared;
 * firing -> firing while it holds (summary refreshed, no notification), resolved when it clears
 * (notifies, then forgotten). Keys of held rules/keys keep their state.
 */
export function stepAlerts(state: AlertState, evaluation: Evaluation, now: number, forMs: number): { state: AlertState; transitions: Transition[] } {
  const next: AlertState = {};
  const transitions: Transition[] = [];
  const activeByKey = new Map(evaluation.active.map((c) => [c.key, c]));
  const held = (key: string, rule: AlertRule) => evaluation.heldRules.includes(rule) || evaluation.heldKeys.includes(key);

  for (const [key, tracked] of Object.entries(state)) {
    const condition = activeByKey.get(key);
    if (!condition) {
      if (held(key, tracked.condition.rule)) next[key] = tracked;
      else if (tracked.state === 'firing') transitions.push({ kind: 'resolved', condition: tracked.condition, since: tracked.since, at: now });
      continue;
    }
    if (tracked.state === 'firing') next[key] = { ...tracked, condition };
    else if (now - tracked.since >= holdTimeMs(condition.rule, forMs)) {
      next[key] = { condition, state: 'firing', since: tracked.since, firedAt: now };
      transitions.push({ kind: 'firing', condition, since: tracked.since, at: now });
    } else next[key] = { ...tracked, condition };
  }
  for (const condition of evaluation.active) {
    if (condition.key in state) continue;
    if (holdTimeMs(condition.rule, forMs) === 0) {
      next[condition.key] = { condition, state: 'firing', since: now, firedAt: now };
      transitions.push({ kind: 'firing', condition, since: now, at: now });
    } else next[condition.key] = { condition, state: 'pending', since: now };
  }
  return { state: next, transitions };
}

/** Human duration: "45 s", "12 min", "3 h 05 min" (pure). */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${String(Math.round((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** Slack incoming-webhook payload (https://api.slack.com/messaging/webhooks): `text` plus Block Kit blocks. */
export interface AlertMessage {
  text: string;
  blocks: { type: string; text?: { type: string; text: string }; elements?: { type: string; text: string }[] }[];
}

/**
 * The message of a transition (pure). `text` is the notification fallback line; the blocks add
 * the rule, labels and timing.
 * @param source label naming this deployment, e.g. "sport-lakehouse".
 */
export function alertMessage(t: Transition, source: string): AlertMessage {
  const c = t.condition;
  const labels = Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(', ');
  const head =
    t.kind === 'firing'
      ? `${c.severity === 'critical' ? ':red_circle:' : ':warning:'} FIRING [${c.severity}] ${c.rule}${labels ? ` (${labels})` : ''}: ${c.summary}`
      : `:white_check_mark: RESOLVED ${c.rule}${labels ? ` (${labels})` : ''} after ${formatDuration(t.at - t.since)}: was "${c.summary}"`;
  // Slack caps a section's text at 3000 characters.
  const sectionText = head.length > 2900 ? `${head.slice(0, 2899)}…` : head;
  const context = `${source} monitor · incident started ${new Date(t.since).toISOString()}${t.kind === 'resolved' ? ` · resolved ${new Date(t.at).toISOString()}` : ''}`;
  return {
    text: head,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: sectionText } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
    ],
  };
}
