/**
 * Takes {@link Snapshot}s: probes PostgreSQL, Kafka and the lake, reads consumer lag and group
 * membership, the replication slot, dead-letter counts, the CDC service's /metrics, the batch
 * job's run_log / quality report, and the quality scores' inputs from gold. Each part is read
 * independently and bounded by timeouts, so one unreachable system never hides the others.
 * Long-lived clients (a Kafka admin client, a one-connection pg pool, the lake client) are reused.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { KafkaAdmin } from '../common/kafka/index.ts';
import pg from 'pg';
import { pgConnection, type MonitorConfig } from '../common/config.ts';
import { openLake, type LakeStorage } from '../common/lake-storage.ts';
import type { Logger } from '../common/logger.ts';
import { readQualityReport, readRunLog, emptyRunCounts, summarizeRuns, type BatchRun, type BatchState, type QualityStatus } from '../common/status/batch-state.ts';
import { isDeadLetterTopic, readConsumerLag, readGroupLiveness, readWatermarks, retainedMessages, watchedGroups, type GroupLiveness } from '../common/status/kafka-lag.ts';
import { readSlotStatus } from '../common/status/replication-slot.ts';
import { GoldMissingError, type GoldReader } from './gold-reader.ts';
import { QUALITY_SQL } from '../../products/sport-rewards/dashboard/gold-queries.ts';
import { cdcReading } from './prom-text.ts';
import { anomalyScore, completenessScore, freshnessScore, type AnomalyScore, type CompletenessScore, type FreshnessScore } from './quality-scores.ts';
import { eventsPerSecond, serviceHealth, type CdcMetricsReading, type DependencyHealth, type GroupStatus, type ServiceName, type Snapshot } from './snapshot.ts';

/** Quality scores and finding counts (for /metrics and /api/quality). */
export interface QualityState {
  freshness: FreshnessScore;
  completeness: CompletenessScore;
  anomaly: AnomalyScore;
  findingsByType: { finding_type: string; severity: string; findings: number }[] | null;
  /** Why gold could not be read (not built yet, unreadable), null when read. */
  goldError: string | null;
}

export type MonitorSnapshot = Snapshot & { quality: QualityState };

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

async function timed<T>(fn: () => Promise<T>, timeoutMs: number, what: string): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const value = await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { value, ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

/** run_log.jsonl read incrementally: only new lines are parsed on each collection. */
class RunLogFollower {
  private offset = 0;
  counts: BatchState['runsByStatus'] = emptyRunCounts();
  lastRun: BatchRun | null = null;
  lastSuccess: BatchRun | null = null;
  /** Runs read by the last {@link read}, for the duration histogram. */
  fresh: BatchRun[] = [];

  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {}

  async read(): Promise<void> {
    const { runs, problems, nextOffset } = await readRunLog(this.file, this.offset);
    for (const p of problems) this.logger.warn({ file: this.file, offset: p.offset, problem: p.problem }, 'run_log line skipped: not a run_log record');
    if (nextOffset < this.offset || (nextOffset === 0 && this.offset > 0)) {
      // Rewritten or removed: start the summaries again.
      this.counts = emptyRunCounts();
      this.lastRun = null;
      this.lastSuccess = null;
    }
    this.offset = nextOffset;
    const summary = summarizeRuns(runs);
    for (const k of Object.keys(this.counts) as (keyof BatchState['runsByStatus'])[]) this.counts[k] += summary.runsByStatus[k];
    this.lastRun = summary.lastRun ?? this.lastRun;
    this.lastSuccess = summary.lastSuccess ?? this.lastSuccess;
    this.fresh = runs;
  }
}

export class Collector {
  private admin: KafkaAdmin | null = null;
  private readonly pool: pg.Pool;
  private readonly lake: LakeStorage;
  private readonly runLog: RunLogFollower;
  private report: { mtimeMs: number; value: QualityStatus | null } | null = null;
  private previous: MonitorSnapshot | undefined;
  /** Batch runs read in the last collection (the metrics observe their durations once). */
  newRuns: BatchRun[] = [];

  constructor(
    private readonly config: MonitorConfig,
    private readonly gold: GoldReader,
    private readonly logger: Logger,
    private readonly timeoutMs = 5_000,
  ) {
    this.pool = new pg.Pool({ ...pgConnection(config, 'monitor'), application_name: 'sport-lakehouse-monitor', max: 1, connectionTimeoutMillis: 3_000, idleTimeoutMillis: 60_000 });
    this.pool.on('error', () => undefined); // a dropped idle connection is reported by the next probe
    this.lake = openLake(config);
    this.runLog = new RunLogFollower(config.batch.runLogFile, logger);
  }

  private async connectedAdmin(): Promise<KafkaAdmin> {
    // The client connects on first use; failures are the collection's to report (no log line each time).
    this.admin ??= KafkaAdmin.create(this.config, 'monitor', this.logger.child({ level: 'silent' }) as Logger, { connectTimeout: 3_000, timeout: this.timeoutMs, retries: 3, retryDelay: 200 });
    return this.admin;
  }

  private async dropAdmin(): Promise<void> {
    const admin = this.admin;
    this.admin = null;
    await admin?.close().catch(() => undefined);
  }

  /** Takes one snapshot. Never throws: unreachable parts are reported in it. */
  async collect(): Promise<MonitorSnapshot> {
    const at = Date.now();
    const [pgPart, kafkaPart, lakePart, cdc, batchPart] = await Promise.all([this.readPostgres(), this.readKafka(), this.probeLake(), this.readCdcMetrics(), this.readBatch()]);
    const groupIds = {
      'bronze-writer': this.config.bronze.consumerGroup,
      'slack-notifier': this.config.slack.consumerGroup,
      'distance-worker': this.config.distance.consumerGroup,
    };
    const services: Partial<Record<ServiceName, ReturnType<typeof serviceHealth>>> = {};
    for (const name of this.config.monitor.services) {
      services[name] = serviceHealth(name, { slot: pgPart.slot, groups: kafkaPart.groups, groupIds, kafkaUp: kafkaPart.health.up, cdc });
    }
    const snapshot: MonitorSnapshot = {
      at,
      dependencies: { postgres: pgPart.health, kafka: kafkaPart.health, lake: lakePart },
      services,
      groups: kafkaPart.groups,
      slot: pgPart.slot,
      deadLetters: kafkaPart.deadLetters,
      topicMessages: kafkaPart.topicMessages,
      cdc,
      batch: batchPart.state,
      batchError: batchPart.error,
      eventsPerSecond: null,
      quality: await this.readQuality(batchPart.state, at),
    };
    snapshot.eventsPerSecond = eventsPerSecond(this.previous, snapshot);
    this.previous = snapshot;
    return snapshot;
  }

  private async readPostgres(): Promise<{ health: DependencyHealth; slot: Snapshot['slot'] }> {
    try {
      const { value: slot, ms } = await timed(() => readSlotStatus(this.pool, this.config.cdc.slotName), this.timeoutMs, 'PostgreSQL');
      return { health: { up: true, latencyMs: Math.round(ms), error: null }, slot };
    } catch (err) {
      return { health: { up: false, latencyMs: null, error: errorText(err) }, slot: null };
    }
  }

  private async readKafka(): Promise<{ health: DependencyHealth; groups: GroupStatus[]; deadLetters: Snapshot['deadLetters']; topicMessages: Snapshot['topicMessages'] }> {
    try {
      const { value, ms } = await timed(
        async () => {
          const admin = await this.connectedAdmin();
          const t0 = performance.now();
          const topics = await admin.listTopics();
          const probeMs = performance.now() - t0;
          const prefix = `${this.config.kafka.topicPrefix}.`;
          const ours = topics.filter((t) => t.startsWith(prefix));
          const marks = await readWatermarks(admin, ours);
          const groups = watchedGroups(this.config);
          // Group reads can fail on their own (coordinator loading or moving): that group is
          // unknown for this collection, Kafka itself is not down.
          let liveness: GroupLiveness[] | null = null;
          let livenessError: string | null = null;
          try {
            liveness = await readGroupLiveness(admin, groups.map((g) => g.groupId));
          } catch (err) {
            livenessError = errorText(err);
          }
          const statuses: GroupStatus[] = [];
          for (const g of groups) {
            const live = liveness?.find((x) => x.groupId === g.groupId) ?? null;
            try {
              const [lag] = await readConsumerLag(admin, [g], topics, marks);
              statuses.push({ ...lag!, liveness: live, error: livenessError });
            } catch (err) {
              statuses.push({ groupId: g.groupId, service: g.service, topics: [], partitions: [], totalLag: 0, liveness: live, error: errorText(err), lagUnknown: true });
            }
          }
          return {
            probeMs,
            groups: statuses,
            deadLetters: ours.filter(isDeadLetterTopic).sort().map((topic) => ({ topic, messages: retainedMessages(marks.get(topic) ?? []) })),
            topicMessages: ours.filter((t) => !isDeadLetterTopic(t)).sort().map((topic) => ({ topic, messages: (marks.get(topic) ?? []).reduce((s, w) => s + w.high, 0) })),
          };
        },
        this.timeoutMs * 2,
        'Kafka',
      );
      void ms;
      return { health: { up: true, latencyMs: Math.round(value.probeMs), error: null }, groups: value.groups, deadLetters: value.deadLetters, topicMessages: value.topicMessages };
    } catch (err) {
      await this.dropAdmin();
      return { health: { up: false, latencyMs: null, error: errorText(err) }, groups: [], deadLetters: null, topicMessages: null };
    }
  }

  private async probeLake(): Promise<DependencyHealth> {
    try {
      // A HEAD on a key that need not exist: "not found" proves the store answers.
      const { ms } = await timed(() => this.lake.exists('_manifest/.monitor-probe'), this.timeoutMs, 'lake');
      return { up: true, latencyMs: Math.round(ms), error: null };
    } catch (err) {
      return { up: false, latencyMs: null, error: errorText(err) };
    }
  }

  private async readCdcMetrics(): Promise<CdcMetricsReading | null> {
    const url = this.config.monitor.cdcMetricsUrl;
    if (!url) return null;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return cdcReading(url, await res.text());
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return { url, up: false, error: cause ?? errorText(err), eventsTotal: null, eventsByOp: {}, errorsTotal: null, errorsByKind: {}, eventsPerSecond: null };
    }
  }

  private async readBatch(): Promise<{ state: BatchState | null; error: string | null }> {
    try {
      await this.runLog.read();
      this.newRuns = this.runLog.fresh;
      const reportFile = path.join(this.config.batch.reportDir, 'latest.json');
      const reportStat = existsSync(reportFile) ? await stat(reportFile) : null;
      if (!reportStat) this.report = null;
      else if (!this.report || this.report.mtimeMs !== reportStat.mtimeMs) this.report = { mtimeMs: reportStat.mtimeMs, value: await readQualityReport(reportFile) };
      const goldStat = existsSync(this.config.batch.goldDb) ? await stat(this.config.batch.goldDb).catch(() => null) : null;
      return {
        state: {
          runLogFile: this.config.batch.runLogFile,
          lastRun: this.runLog.lastRun,
          lastSuccess: this.runLog.lastSuccess,
          runsByStatus: { ...this.runLog.counts },
          quality: this.report?.value ?? null,
          gold: { file: this.config.batch.goldDb, exists: goldStat !== null, modifiedAt: goldStat?.mtime.toISOString() ?? null, sizeBytes: goldStat?.size ?? null },
        },
        error: null,
      };
    } catch (err) {
      this.newRuns = [];
      return { state: null, error: errorText(err) };
    }
  }

  private async readQuality(batch: BatchState | null, now: number): Promise<QualityState> {
    let commute: { qualifyingEmployees: number; withDistance: number } | null = null;
    let findingsByType: QualityState['findingsByType'] = null;
    let goldError: string | null = null;
    try {
      const [c] = await this.gold.query<{ qualifying: number; with_distance: number }>(QUALITY_SQL.commute);
      commute = c ? { qualifyingEmployees: c.qualifying, withDistance: c.with_distance } : null;
      findingsByType = await this.gold.query(QUALITY_SQL.findingsByType);
    } catch (err) {
      goldError = errorText(err);
      if (!(err instanceof GoldMissingError)) this.logger.warn({ err: goldError }, 'gold not readable');
    }
    return {
      freshness: freshnessScore(batch?.quality ?? null, batch?.lastSuccess ?? null, now),
      completeness: completenessScore(batch?.lastSuccess?.rowCounts ?? null, commute),
      anomaly: anomalyScore(batch?.quality ?? null),
      findingsByType,
      goldError,
    };
  }

  async close(): Promise<void> {
    await this.dropAdmin();
    await this.pool.end().catch(() => undefined);
    this.lake.close();
  }
}
