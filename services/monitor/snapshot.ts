/**
 * One observation of the whole pipeline, taken by the collector every MONITOR_INTERVAL_S, and
 * the pure derivations on it: each service's liveness and the event throughput. /metrics,
 * /healthz, the alert rules and the dashboard all read snapshots, never the systems directly.
 *
 * How a service is known to be up (no service reports to the monitor):
 * - cdc: its replication slot is `active` in pg_replication_slots (a walsender streams it). Its
 *   /metrics endpoint answering is reported alongside, but a process that answers without
 *   holding the slot is not streaming, so it counts as down.
 * - bronze-writer, slack-notifier, distance-worker: their consumer group has at least one live
 *   member (Kafka DescribeGroups; state not Empty/Dead). A crashed instance leaves the group
 *   after its session timeout (BRONZE_SESSION_TIMEOUT_S, kafkajs' 30 s default for the others).
 * When the system that tells (PostgreSQL, Kafka) is unreachable, the service is "unknown" (null).
 */
import type { BatchState } from '../common/status/batch-state.ts';
import type { DeadLetterCount, GroupLag, GroupLiveness } from '../common/status/kafka-lag.ts';
import type { SlotStatus } from '../common/status/replication-slot.ts';

export type ServiceName = 'cdc' | 'bronze-writer' | 'slack-notifier' | 'distance-worker';
export type DependencyName = 'postgres' | 'kafka' | 'lake';

/** Reachability of a system the pipeline depends on. */
export interface DependencyHealth {
  up: boolean;
  /** Round trip of the probe, milliseconds (null when it failed). */
  latencyMs: number | null;
  error: string | null;
}

/** Liveness of one service and how it was decided. */
export interface ServiceHealth {
  /** null: unknown, the system that tells is unreachable. */
  up: boolean | null;
  /** The signal used, e.g. "replication slot active" or "consumer group has live members". */
  how: string;
  detail: string;
}

/** What the monitor read from the CDC service's own /metrics (services/cdc/metrics.ts). */
export interface CdcMetricsReading {
  url: string;
  up: boolean;
  error: string | null;
  /** Sum of cdc_events_total (events acknowledged by the broker, all topics and ops). */
  eventsTotal: number | null;
  /** cdc_events_total summed per op (c, u, d, r, t, tombstone). */
  eventsByOp: Record<string, number>;
  /** Sum of cdc_errors_total, and per kind. */
  errorsTotal: number | null;
  errorsByKind: Record<string, number>;
  /** cdc_events_per_second (10 s window). */
  eventsPerSecond: number | null;
}

/**
 * A consumer group as collected. `liveness` null: membership could not be read; `lagUnknown`:
 * offsets could not be read (`error` says why), so `totalLag` means nothing.
 */
export type GroupStatus = GroupLag & { liveness: GroupLiveness | null; error?: string | null; lagUnknown?: boolean };

export interface Snapshot {
  /** When the collection started, ms since epoch. */
  at: number;
  dependencies: Record<DependencyName, DependencyHealth>;
  services: Partial<Record<ServiceName, ServiceHealth>>;
  /** Consumer groups with their lag (messages) and membership; empty when Kafka is unreachable. */
  groups: GroupStatus[];
  /** The CDC slot; null when PostgreSQL is unreachable. */
  slot: SlotStatus | null;
  /** Dead-letter topics of the prefix; null when Kafka is unreachable. */
  deadLetters: DeadLetterCount[] | null;
  /** Source topics of the prefix with the messages ever written (sum of high watermarks); null when Kafka is unreachable. */
  topicMessages: { topic: string; messages: number }[] | null;
  /** null when no CDC metrics URL is configured. */
  cdc: CdcMetricsReading | null;
  batch: BatchState | null;
  batchError: string | null;
  /** Messages per second written to the source topics since the previous snapshot (null on the first). */
  eventsPerSecond: number | null;
}

/**
 * Liveness of `service` from a snapshot's parts (pure); see the module doc for the signals.
 * @param parts what the collector read; `slot` null = PostgreSQL unreachable, `groups` without
 *   liveness = Kafka unreachable.
 */
export function serviceHealth(
  service: ServiceName,
  parts: { slot: SlotStatus | null; groups: readonly GroupStatus[]; groupIds: Record<Exclude<ServiceName, 'cdc'>, string>; kafkaUp: boolean; cdc: CdcMetricsReading | null },
): ServiceHealth {
  if (service === 'cdc') {
    const how = 'replication slot active (pg_replication_slots)';
    const metrics = parts.cdc ? (parts.cdc.up ? 'metrics endpoint answers' : `metrics endpoint does not answer (${parts.cdc.error})`) : 'no metrics URL configured';
    if (!parts.slot) return { up: null, how, detail: `PostgreSQL unreachable; ${metrics}` };
    if (!parts.slot.exists) return { up: false, how, detail: `slot ${parts.slot.slotName} does not exist; ${metrics}` };
    return parts.slot.active
      ? { up: true, how, detail: `slot ${parts.slot.slotName} held by pid ${parts.slot.activePid}; ${metrics}` }
      : { up: false, how, detail: `slot ${parts.slot.slotName} is not held by any process; ${metrics}` };
  }
  const groupId = parts.groupIds[service];
  const how = 'consumer group has live members (DescribeGroups)';
  if (!parts.kafkaUp) return { up: null, how, detail: 'Kafka unreachable' };
  const group = parts.groups.find((g) => g.groupId === groupId);
  const liveness = group?.liveness;
  if (!liveness) return { up: null, how, detail: `group ${groupId} not described${group?.error ? `: ${group.error}` : ''}` };
  return liveness.live
    ? { up: true, how, detail: `group ${groupId}: ${liveness.members} member(s), ${liveness.state}` }
    : { up: false, how, detail: `group ${groupId} has no live member (${liveness.state})` };
}

/**
 * Messages per second written to the source topics between two snapshots (pure): the growth of
 * the summed high watermarks over the elapsed time. null without both readings; a topic that
 * shrank (recreated) counts from 0.
 */
export function eventsPerSecond(previous: Pick<Snapshot, 'at' | 'topicMessages'> | undefined, current: Pick<Snapshot, 'at' | 'topicMessages'>): number | null {
  if (!previous?.topicMessages || !current.topicMessages) return null;
  const seconds = (current.at - previous.at) / 1000;
  if (seconds <= 0) return null;
  const before = new Map(previous.topicMessages.map((t) => [t.topic, t.messages]));
  let delta = 0;
  for (const t of current.topicMessages) {
    const b = before.get(t.topic) ?? 0;
    delta += t.messages >= b ? t.messages - b : t.messages;
  }
  return delta / seconds;
}
