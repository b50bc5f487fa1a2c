/**
 * Where the pipeline stands, read from the systems themselves (no service has to report it):
 *
 * - consumer-group lag per group and topic-partition: high watermark minus committed offset
 *   (Kafka's definition of consumer lag; admin `fetchOffsets` + `fetchTopicOffsets`), in
 *   messages, and whether the group has live members (`describeGroups`);
 * - replication slot lag: `pg_current_wal_lsn() - confirmed_flush_lsn` of the CDC slot, in bytes
 *   of WAL PostgreSQL retains for it, and whether a walsender holds the slot (`active`);
 * - dead-letter counts: messages retained in each `<topic>.dlq` (high minus low watermark);
 * - the batch job: last run and last successful run from run_log.jsonl, quality state from the
 *   latest quality report (services/batch/README.md, "run_log" and "Quality suite"), and gold.duckdb.
 *
 * The pure parts (lag arithmetic, row/report parsing, summaries) are exported for unit tests; the
 * readers are thin adapters over the Kafka admin client (services/common/kafka), pg and the file system. Used by `npm run monitor`
 * (services/monitor) and the ops CLI (`lakehouse status`).
 */
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { kafkaErrorMessage, type KafkaAdmin as Admin } from './kafka/index.ts';
import pg from 'pg';
import { pgConnection, type Config } from './config.ts';
import { isSchemaTopic } from './contracts/table-schema.ts';
import { parseQualityReport, type QualityReport, type QualityResult } from './contracts/quality-report.ts';
import { bronzeInputTotals, parseRunLogLine, type RunLogEntry, type RunStatus } from './contracts/run-log.ts';

// ------------------------------------------------------------------ consumer groups

/** The services that consume from Kafka, with their consumer group. */
export type ConsumerService = 'bronze-writer' | 'slack-notifier' | 'distance-worker';

/** A consumer group the status watches, and the topics it is expected to read. */
export interface WatchedGroup {
  service: ConsumerService;
  groupId: string;
  /** Selects the topics the group reads among the broker's topics (dead-letter topics never). */
  topics: (allTopics: readonly string[]) => string[];
}

/**
 * The three consumer groups of the project (BRONZE_CONSUMER_GROUP, SLACK_CONSUMER_GROUP,
 * DISTANCE_CONSUMER_GROUP) with their topics: the bronze writer reads BRONZE_TOPICS or every
 * topic matching its pattern, the Slack notifier `<prefix>.public.activities`, the distance worker
 * `<prefix>.public.employees` (docs/contracts/change-events.md).
 */
export function watchedGroups(config: Config): WatchedGroup[] {
  const prefix = config.kafka.topicPrefix;
  const only = (name: string) => (all: readonly string[]) => all.filter((t) => t === name);
  return [
    {
      service: 'bronze-writer',
      groupId: config.bronze.consumerGroup,
      topics: (all) => all.filter((t) => !isDeadLetterTopic(t) && !isSchemaTopic(t) && (config.bronze.topics ? config.bronze.topics.includes(t) : config.bronze.topicPattern.test(t))),
    },
    { service: 'slack-notifier', groupId: config.slack.consumerGroup, topics: only(`${prefix}.public.activities`) },
    { service: 'distance-worker', groupId: config.distance.consumerGroup, topics: only(`${prefix}.public.employees`) },
  ];
}

/** True for a dead-letter topic name (`<topic>.dlq`, services/common/dead-letter.ts). */
export function isDeadLetterTopic(topic: string): boolean {
  return topic.endsWith('.dlq');
}

/** Watermarks of one partition, as offsets (numbers; exact below 2^53). */
export interface PartitionWatermarks {
  partition: number;
  /** Offset of the next message to be written (log end offset). */
  high: number;
  /** Offset of the oldest retained message. */
  low: number;
}

/** Lag of one group on one topic-partition. */
export interface PartitionLag {
  topic: string;
  partition: number;
  /** Committed offset (next message the group will read); null when the group never committed here. */
  committed: number | null;
  high: number;
  low: number;
  /** Messages not yet consumed: high - committed, or high - low without a commit (the services start from the beginning). */
  lag: number;
}

/** Lag of one group. */
export interface GroupLag {
  groupId: string;
  service?: ConsumerService;
  topics: string[];
  partitions: PartitionLag[];
  /** Sum of the partitions' lag, messages. */
  totalLag: number;
}

/**
 * Lag of one partition in messages (pure). A committed offset of -1 or null means "no commit";
 * the group then starts from the oldest retained message, so everything retained is pending. A
 * committed offset below `low` (records deleted by retention) counts from `low`; never negative.
 */
export function partitionLag(committed: number | null, w: { high: number; low: number }): number {
  const from = committed === null || committed < 0 ? w.low : Math.max(committed, w.low);
  return Math.max(0, w.high - from);
}

/**
 * A group's lag over `topics` (pure).
 * @param committed the admin client's `fetchOffsets` result: per topic, partitions with `offset` as a decimal string ("-1" = none).
 * @param watermarks per topic, the partitions' watermarks.
 */
export function computeGroupLag(
  groupId: string,
  topics: readonly string[],
  committed: readonly { topic: string; partitions: readonly { partition: number; offset: string }[] }[],
  watermarks: ReadonlyMap<string, readonly PartitionWatermarks[]>,
): GroupLag {
  const commits = new Map<string, number>();
  for (const t of committed) for (const p of t.partitions) commits.set(`${t.topic}\u0000${p.partition}`, Number(p.offset));
  const partitions: PartitionLag[] = [];
  for (const topic of [...topics].sort()) {
    for (const w of [...(watermarks.get(topic) ?? [])].sort((a, b) => a.partition - b.partition)) {
      const c = commits.get(`${topic}\u0000${w.partition}`);
      const committedOffset = c === undefined || c < 0 ? null : c;
      partitions.push({ topic, partition: w.partition, committed: committedOffset, high: w.high, low: w.low, lag: partitionLag(committedOffset, w) });
    }
  }
  return { groupId, topics: [...topics].sort(), partitions, totalLag: partitions.reduce((s, p) => s + p.lag, 0) };
}

/** Reads the watermarks of `topics` (one metadata + ListOffsets round per topic, in parallel). */
export async function readWatermarks(admin: Admin, topics: readonly string[]): Promise<Map<string, PartitionWatermarks[]>> {
  const entries = await Promise.all(
    topics.map(async (topic) => {
      const offsets = await admin.fetchTopicOffsets(topic);
      return [topic, offsets.map((o) => ({ partition: o.partition, high: Number(o.high), low: Number(o.low) }))] as const;
    }),
  );
  return new Map(entries);
}

/**
 * Lag of each group over the topics it reads (those of {@link WatchedGroup.topics} that exist,
 * plus any other existing topic it has committed offsets on).
 * @param allTopics the broker's topics (admin.listTopics()); read when omitted.
 * @param watermarks reused when given (e.g. from {@link readWatermarks} on every topic).
 */
export async function readConsumerLag(
  admin: Admin,
  groups: readonly WatchedGroup[],
  allTopics?: readonly string[],
  watermarks?: ReadonlyMap<string, readonly PartitionWatermarks[]>,
): Promise<GroupLag[]> {
  const topics = allTopics ?? (await admin.listTopics());
  const out: GroupLag[] = [];
  for (const g of groups) {
    // Without `topics`, OffsetFetch v2+ returns every topic the group committed on.
    const committed = await admin.fetchOffsets(g.groupId);
    const readTopics = [...new Set([...g.topics(topics), ...committed.map((c) => c.topic).filter((t) => topics.includes(t) && !isDeadLetterTopic(t))])];
    const marks = new Map<string, readonly PartitionWatermarks[]>();
    const missing = readTopics.filter((t) => !watermarks?.has(t));
    for (const [t, w] of await readWatermarks(admin, missing)) marks.set(t, w);
    for (const t of readTopics) if (watermarks?.has(t)) marks.set(t, watermarks.get(t)!);
    out.push({ ...computeGroupLag(g.groupId, readTopics, committed, marks), service: g.service });
  }
  return out;
}

/** Membership of a consumer group, i.e. whether its service is running. */
export interface GroupLiveness {
  groupId: string;
  /** Kafka's group state: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead, Unknown. */
  state: string;
  members: number;
  /** At least one member and not Empty/Dead: some instance of the service is consuming. */
  live: boolean;
}

/** Liveness from a describeGroups entry (pure). */
export function groupLiveness(description: { groupId: string; state: string; members: readonly unknown[] }): GroupLiveness {
  const members = description.members.length;
  return { groupId: description.groupId, state: description.state, members, live: members > 0 && description.state !== 'Empty' && description.state !== 'Dead' };
}

/** Liveness of `groupIds` (one DescribeGroups request). An unknown group is reported Dead, 0 members. */
export async function readGroupLiveness(admin: Admin, groupIds: readonly string[]): Promise<GroupLiveness[]> {
  const groups = await admin.describeGroups([...groupIds]);
  return groupIds.map((id) => groupLiveness(groups.find((g) => g.groupId === id) ?? { groupId: id, state: 'Dead', members: [] }));
}

// ------------------------------------------------------------------ dead-letter topics

/** Messages retained in one dead-letter topic. */
export interface DeadLetterCount {
  topic: string;
  /** Sum over partitions of high - low watermark (records deleted by retention or deleteRecords are gone from it). */
  messages: number;
}

/** Messages retained in a topic (pure): sum over partitions of high - low. */
export function retainedMessages(watermarks: readonly PartitionWatermarks[]): number {
  return watermarks.reduce((s, w) => s + Math.max(0, w.high - w.low), 0);
}

/**
 * Counts of every `*.dlq` topic on the broker whose name starts with `<prefix>.`, sorted by topic.
 * @param watermarks reused when given.
 */
export async function readDeadLetterCounts(admin: Admin, topicPrefix: string, allTopics?: readonly string[], watermarks?: ReadonlyMap<string, readonly PartitionWatermarks[]>): Promise<DeadLetterCount[]> {
  const topics = (allTopics ?? (await admin.listTopics())).filter((t) => isDeadLetterTopic(t) && t.startsWith(`${topicPrefix}.`)).sort();
  const missing = topics.filter((t) => !watermarks?.has(t));
  const read = await readWatermarks(admin, missing);
  return topics.map((topic) => ({ topic, messages: retainedMessages(watermarks?.get(topic) ?? read.get(topic) ?? []) }));
}

// ------------------------------------------------------------------ replication slot

/** The CDC service's replication slot as PostgreSQL reports it. */
export interface SlotStatus {
  slotName: string;
  exists: boolean;
  /** A walsender (the CDC service) is connected to the slot. */
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: string | null;
  /** WAL retained for the slot: pg_current_wal_lsn() - confirmed_flush_lsn, bytes; null without a slot. */
  lagBytes: number | null;
  /** reserved | extended | unreserved | lost (PostgreSQL 13+); null without a slot. */
  walStatus: string | null;
}

/** Reads one slot; `$1` = slot name. Any role may read pg_replication_slots and the WAL position. */
export const SLOT_STATUS_SQL = `SELECT slot_name, active, active_pid, confirmed_flush_lsn::text AS confirmed_flush_lsn, wal_status,
  pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag_bytes
  FROM pg_replication_slots WHERE slot_name = $1`;

/** A row of {@link SLOT_STATUS_SQL} (or none) as a {@link SlotStatus} (pure). */
export function slotStatusFromRow(
  slotName: string,
  row: { active: boolean; active_pid: number | null; confirmed_flush_lsn: string | null; wal_status: string | null; lag_bytes: string | null } | undefined,
): SlotStatus {
  if (!row) return { slotName, exists: false, active: false, activePid: null, confirmedFlushLsn: null, lagBytes: null, walStatus: null };
  return {
    slotName,
    exists: true,
    active: row.active,
    activePid: row.active_pid,
    confirmedFlushLsn: row.confirmed_flush_lsn,
    lagBytes: row.lag_bytes === null ? null : Math.max(0, Number(row.lag_bytes)),
    walStatus: row.wal_status,
  };
}

/** Reads the slot `slotName` through `db` (any connected pg client or pool). */
export async function readSlotStatus(db: Pick<pg.ClientBase, 'query'>, slotName: string): Promise<SlotStatus> {
  const res = await db.query(SLOT_STATUS_SQL, [slotName]);
  return slotStatusFromRow(slotName, res.rows[0]);
}

// ------------------------------------------------------------------ batch job

/**
 * One batch run as the status shows it: the run_log record (services/common/contracts/run-log.ts)
 * with times as ISO strings (JSON APIs, terminal) and the figures derived from it.
 */
export type BatchRun = Pick<
  RunLogEntry,
  'runId' | 'batch' | 'status' | 'mode' | 'rulesVersion' | 'paramsHash' | 'rowCounts' | 'quality' | 'bonusCostEur' | 'wellbeingCostEur' | 'reportFile' | 'error'
> & {
  startedAt: string;
  finishedAt: string;
  /** finishedAt - startedAt, seconds. */
  durationS: number;
  bronzeFiles: number;
  bronzeEvents: number;
};

/** The status view of a run_log record (pure). */
export function batchRunOf(e: RunLogEntry): BatchRun {
  const { files, events } = bronzeInputTotals(e);
  return {
    runId: e.runId,
    batch: e.batch,
    status: e.status,
    mode: e.mode,
    startedAt: e.startedAt.toISOString(),
    finishedAt: e.finishedAt.toISOString(),
    durationS: (e.finishedAt.getTime() - e.startedAt.getTime()) / 1000,
    rulesVersion: e.rulesVersion,
    paramsHash: e.paramsHash,
    bronzeFiles: files,
    bronzeEvents: events,
    rowCounts: e.rowCounts,
    quality: e.quality,
    bonusCostEur: e.bonusCostEur,
    wellbeingCostEur: e.wellbeingCostEur,
    reportFile: e.reportFile,
    error: e.error,
  };
}

/** A run_log line the contract rejects: where it is and why (the line is skipped). */
export interface RunLogProblem {
  /** Byte offset of the line in the file. */
  offset: number;
  problem: string;
}

/**
 * Reads the complete lines of run_log.jsonl from byte `fromOffset` (streamed, so a long log
 * costs no more memory than its summaries). A last line without its newline (a run still
 * appending) is left for the next read.
 * @returns the runs and the offset to continue from; an absent file gives no runs and offset 0.
 */
export async function readRunLog(file: string, fromOffset = 0): Promise<{ runs: BatchRun[]; problems: RunLogProblem[]; nextOffset: number }> {
  if (!existsSync(file)) return { runs: [], problems: [], nextOffset: 0 };
  const size = (await stat(file)).size;
  // A file shorter than where we were (rotated or rewritten): start again.
  const start = fromOffset > size ? 0 : fromOffset;
  if (start === size) return { runs: [], problems: [], nextOffset: start };
  const runs: BatchRun[] = [];
  const problems: RunLogProblem[] = [];
  let offset = start;
  const stream = createReadStream(file, { start, end: size - 1 });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let consumed = start;
  for await (const line of lines) {
    const bytes = Buffer.byteLength(line) + 1;
    if (consumed + bytes > size) break; // the last line has no newline yet
    const at = consumed;
    consumed += bytes;
    offset = consumed;
    if (line.trim() === '') continue;
    try {
      runs.push(batchRunOf(parseRunLogLine(line)));
    } catch (err) {
      problems.push({ offset: at, problem: (err as Error).message });
    }
  }
  return { runs, problems, nextOffset: offset };
}

/** A failed check of the quality report. */
export interface FailedCheck {
  id: string;
  type: string;
  severity: 'error' | 'warn';
  description: string;
  observed: string | null;
  failures: number;
}

/** The latest quality report (BATCH_REPORT_DIR/latest.json), summarized for status pages and alerts. */
export interface QualityStatus {
  runId: string;
  status: RunStatus;
  finishedAt: string;
  checks: number;
  passed: number;
  skipped: number;
  failed: FailedCheck[];
  /**
   * ok: nothing failed; warn: warn-level checks failed; error: an error-level check failed or
   * the run failed. An interrupted run (stopped on purpose, gold kept) is judged by its failed
   * checks only.
   */
  state: 'ok' | 'warn' | 'error';
  /** Every check result, for metric checks' observed values (freshness, volume, drift). */
  results: Omit<QualityResult, 'model' | 'column' | 'sample'>[];
  /** Rules in force for the run (the run_log record's params). */
  params: Record<string, unknown>;
}

/** Statuses of a run that failed (an interrupted run did not: it was stopped on purpose). */
export function isFailedRun(status: RunStatus): boolean {
  return status === 'failed' || status === 'failed_quality';
}

/** Summarizes a quality report (pure). */
export function summarizeQualityReport(report: QualityReport): QualityStatus {
  const results = report.results.map(({ id, type, severity, status, observed, failures, description }) => ({ id, type, severity, status, observed, failures, description }));
  const failed = results.filter((x) => x.status === 'fail').map(({ id, type, severity, description, observed, failures }) => ({ id, type, severity, description, observed, failures }));
  return {
    runId: report.runId,
    status: report.status,
    finishedAt: report.finishedAt.toISOString(),
    checks: results.length,
    passed: results.filter((x) => x.status === 'pass').length,
    skipped: results.filter((x) => x.status === 'skipped').length,
    failed,
    state: isFailedRun(report.status) || failed.some((f) => f.severity === 'error') ? 'error' : failed.length > 0 ? 'warn' : 'ok',
    results,
    params: report.runLog.params,
  };
}

/** Reads and summarizes a quality report file; null when it does not exist. @throws ContractError for a file that is not a report. */
export async function readQualityReport(file: string): Promise<QualityStatus | null> {
  if (!existsSync(file)) return null;
  return summarizeQualityReport(parseQualityReport(await readFile(file, 'utf8')));
}

/** The batch job's state: last runs, quality, gold file. */
export interface BatchState {
  runLogFile: string;
  lastRun: BatchRun | null;
  lastSuccess: BatchRun | null;
  /** Runs per status over the whole run_log. */
  runsByStatus: Record<RunStatus, number>;
  quality: QualityStatus | null;
  gold: { file: string; exists: boolean; modifiedAt: string | null; sizeBytes: number | null };
}

/** A zero count for every run status. */
export function emptyRunCounts(): Record<RunStatus, number> {
  return { success: 0, failed_quality: 0, failed: 0, interrupted: 0, skipped: 0 };
}

/**
 * Last run, last success and counts per status of `runs` (in file order, pure). A skipped run
 * (it never started) is counted but is not the last run: it would hide the outcome of the run before.
 */
export function summarizeRuns(runs: readonly BatchRun[]): Pick<BatchState, 'lastRun' | 'lastSuccess' | 'runsByStatus'> {
  const runsByStatus = emptyRunCounts();
  let lastSuccess: BatchRun | null = null;
  let lastRun: BatchRun | null = null;
  for (const r of runs) {
    runsByStatus[r.status]++;
    if (r.status === 'success') lastSuccess = r;
    if (r.status !== 'skipped') lastRun = r;
  }
  return { lastRun, lastSuccess, runsByStatus };
}

/** Reads the batch job's files (BATCH_RUN_LOG, BATCH_REPORT_DIR/latest.json, BATCH_GOLD_DB). */
export async function readBatchState(config: Config): Promise<BatchState> {
  const { runs } = await readRunLog(config.batch.runLogFile);
  const goldStat = existsSync(config.batch.goldDb) ? await stat(config.batch.goldDb) : null;
  return {
    runLogFile: config.batch.runLogFile,
    ...summarizeRuns(runs),
    quality: await readQualityReport(`${config.batch.reportDir}/latest.json`),
    gold: { file: config.batch.goldDb, exists: goldStat !== null, modifiedAt: goldStat?.mtime.toISOString() ?? null, sizeBytes: goldStat?.size ?? null },
  };
}

// ------------------------------------------------------------------ everything at once

/** The whole status, each part read independently: a part that could not be read carries `error`. */
export interface PipelineStatus {
  checkedAt: string;
  kafka: { error: string | null; groups: (GroupLag & { liveness: GroupLiveness | null })[]; deadLetters: DeadLetterCount[] };
  replicationSlot: SlotStatus | { slotName: string; error: string };
  batch: BatchState | { error: string };
}

/**
 * Reads the whole status with short-lived clients (for `lakehouse status`). Never throws for an
 * unreachable system: its part carries the error message instead.
 * @param connectAdmin returns an admin client (closed here afterwards).
 */
export async function readPipelineStatus(config: Config, connectAdmin: () => Promise<Admin>): Promise<PipelineStatus> {
  const kafka = await (async (): Promise<PipelineStatus['kafka']> => {
    let admin: Admin | undefined;
    try {
      admin = await connectAdmin();
      const topics = await admin.listTopics();
      const groups = watchedGroups(config);
      const lag = await readConsumerLag(admin, groups, topics);
      const liveness = await readGroupLiveness(admin, groups.map((g) => g.groupId));
      return {
        error: null,
        groups: lag.map((l) => ({ ...l, liveness: liveness.find((x) => x.groupId === l.groupId) ?? null })),
        deadLetters: await readDeadLetterCounts(admin, config.kafka.topicPrefix, topics),
      };
    } catch (err) {
      return { error: kafkaErrorMessage(err), groups: [], deadLetters: [] };
    } finally {
      await admin?.close().catch(() => undefined);
    }
  })();
  const replicationSlot = await (async (): Promise<PipelineStatus['replicationSlot']> => {
    const db = new pg.Client({ ...pgConnection(config, 'monitor'), connectionTimeoutMillis: 5_000, application_name: 'sport-lakehouse-status' });
    try {
      await db.connect();
      return await readSlotStatus(db, config.cdc.slotName);
    } catch (err) {
      return { slotName: config.cdc.slotName, error: (err as Error).message };
    } finally {
      await db.end().catch(() => undefined);
    }
  })();
  const batch = await readBatchState(config).catch((err: Error) => ({ error: err.message }));
  return { checkedAt: new Date().toISOString(), kafka, replicationSlot, batch };
}

const int = (n: number) => n.toLocaleString('en-US');

/** Human-readable bytes, binary units: 1536 -> "1.5 KiB" (pure). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Human-readable age of `iso` at `now`: "42 s", "5 min", "3.2 h", "2.0 d" (pure). */
export function formatAge(iso: string, now: Date = new Date()): string {
  const s = Math.max(0, (now.getTime() - Date.parse(iso)) / 1000);
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}

/** The status as plain text lines, for a terminal (pure). */
export function formatPipelineStatus(status: PipelineStatus, now: Date = new Date(status.checkedAt)): string[] {
  const out: string[] = ['Consumer groups (lag = messages not yet consumed)'];
  if (status.kafka.error) out.push(`  Kafka unreachable: ${status.kafka.error}`);
  for (const g of status.kafka.groups) {
    const live = g.liveness ? (g.liveness.live ? `${g.liveness.members} member(s), ${g.liveness.state}` : `no live member (${g.liveness.state})`) : 'membership unknown';
    out.push(`  ${g.groupId.padEnd(24)} lag ${int(g.totalLag).padStart(10)}   ${live}`);
    for (const p of g.partitions) out.push(`    ${p.topic}[${p.partition}]  committed ${p.committed ?? 'none'}  high ${p.high}  lag ${int(p.lag)}`);
  }
  out.push('Dead-letter topics');
  if (status.kafka.deadLetters.length === 0) out.push('  none');
  for (const d of status.kafka.deadLetters) out.push(`  ${d.topic.padEnd(40)} ${int(d.messages)} message(s)`);
  const slot = status.replicationSlot;
  out.push('Replication slot');
  if ('error' in slot) out.push(`  ${slot.slotName}: PostgreSQL unreachable: ${slot.error}`);
  else if (!slot.exists) out.push(`  ${slot.slotName}: does not exist (the CDC service creates it on start)`);
  else out.push(`  ${slot.slotName}: ${slot.active ? 'active' : 'INACTIVE'}, lag ${formatBytes(slot.lagBytes ?? 0)} (${int(slot.lagBytes ?? 0)} bytes), confirmed ${slot.confirmedFlushLsn}, wal_status ${slot.walStatus}`);
  out.push('Batch');
  const b = status.batch;
  if ('error' in b) out.push(`  unreadable: ${b.error}`);
  else {
    const run = (r: BatchRun | null) => (r ? `${r.runId} ${r.status} (${r.mode}), finished ${r.finishedAt} (${formatAge(r.finishedAt, now)} ago), ${r.durationS.toFixed(1)} s` : 'none');
    out.push(`  last refresh       ${run(b.lastRun)}`);
    out.push(`  last success       ${run(b.lastSuccess)}`);
    if (b.lastSuccess) out.push(`  costs              bonus ${b.lastSuccess.bonusCostEur ?? '?'} EUR, well-being ${b.lastSuccess.wellbeingCostEur ?? '?'} EUR`);
    const q = b.quality;
    out.push(`  quality            ${q ? `${q.state.toUpperCase()}: ${q.passed}/${q.checks} passed, ${q.skipped} skipped, ${q.failed.length} failed (run ${q.runId})` : 'no report yet'}`);
    for (const f of q?.failed ?? []) out.push(`    [${f.severity}] ${f.id}${f.observed ? `: ${f.observed}` : ` (${f.failures} row(s))`}`);
    out.push(`  gold               ${b.gold.exists ? `${b.gold.file} (${formatBytes(b.gold.sizeBytes ?? 0)}, ${b.gold.modifiedAt})` : `${b.gold.file} (not built yet)`}`);
  }
  return out;
}
