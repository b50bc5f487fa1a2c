/**
 * Contract: the monitor's alert state file (MONITOR_STATE_FILE), so a restarted monitor neither
 * announces an ongoing incident again nor loses a notification the webhook did not take
 * (services/monitor/monitor.ts; the rules and the state machine are services/monitor/alerts.ts).
 *
 * - Schema: {@link savedAlertStateSchema}; the alert types the monitor uses are derived from it.
 * - Reader: {@link parseAlertState}. Writer: {@link encodeAlertState}.
 */
import { z } from 'zod';
import { readJsonContract, toJsonContract } from './contract-error.ts';

/** Every alert rule (one per row of the table in services/monitor/alerts.ts). */
export const ALERT_RULES = ['dependency_down', 'service_down', 'consumer_lag', 'replication_slot_lag', 'dlq_not_empty', 'quality_error', 'volume_anomaly', 'cost_drift', 'gold_stale'] as const;
export const alertRuleSchema = z.enum(ALERT_RULES);
export type AlertRule = z.output<typeof alertRuleSchema>;

export const alertSeveritySchema = z.enum(['critical', 'warning']);
export type AlertSeverity = z.output<typeof alertSeveritySchema>;

/** A rule's condition holding now. */
export const conditionSchema = z.object({
  /** `<rule>` or `<rule>:<label value>`, e.g. `consumer_lag:bronze-writer`. */
  key: z.string().min(1),
  rule: alertRuleSchema,
  severity: alertSeveritySchema,
  /** One line, e.g. "consumer group bronze-writer is 12,345 messages behind (threshold 1,000)". */
  summary: z.string(),
  /** Labels identifying the alert, e.g. `{ group: "bronze-writer" }`. */
  labels: z.record(z.string(), z.string()),
});
export type Condition = z.output<typeof conditionSchema>;

const epochMs = z.number().int().min(0);

/** One alert being tracked. */
export const trackedAlertSchema = z.object({
  condition: conditionSchema,
  state: z.enum(['pending', 'firing']),
  /** When the condition was first seen in this incident, ms since epoch. */
  since: epochMs,
  /** When the alert fired (notified), ms since epoch. */
  firedAt: epochMs.optional(),
});
export type TrackedAlert = z.output<typeof trackedAlertSchema>;

/** Every tracked alert by key. */
export const alertStateSchema = z.record(z.string(), trackedAlertSchema);
export type AlertState = z.output<typeof alertStateSchema>;

/** A notification to send. */
export const transitionSchema = z.object({
  kind: z.enum(['firing', 'resolved']),
  condition: conditionSchema,
  /** Incident start (first seen), ms since epoch. */
  since: epochMs,
  /** When the transition happened, ms since epoch. */
  at: epochMs,
});
export type Transition = z.output<typeof transitionSchema>;

/** The file: the tracked alerts and the notifications not delivered yet, in order. */
export const savedAlertStateSchema = z.object({
  version: z.literal(1),
  alerts: alertStateSchema,
  outbox: z.array(transitionSchema),
});
export type SavedAlertState = z.output<typeof savedAlertStateSchema>;

const CONTRACT = 'alert state';

/** Reader: the state file's text. @throws ContractError naming every problem (an unknown rule, a missing field...). */
export function parseAlertState(text: string): SavedAlertState {
  return readJsonContract(CONTRACT, savedAlertStateSchema, text);
}

/** Writer: the state as JSON text. @throws ContractError for a state the reader would reject. */
export function encodeAlertState(state: SavedAlertState): string {
  return JSON.stringify(toJsonContract(CONTRACT, savedAlertStateSchema, state));
}
