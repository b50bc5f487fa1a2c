/**
 * Contract: the run log, one record per batch refresh (successful or not), so anyone can tell
 * which parameters and which bronze inputs produced which figures (DOMAIN.md: "the run log must
 * say which parameters produced which figures"). The batch writes each record as one JSON line of
 * BATCH_RUN_LOG (and as a row of meta.run_log / gold's run_log, services/batch/run-log.ts); the
 * monitor and `lakehouse status` read the JSON lines through this module only.
 *
 * - Schema: {@link runLogEntrySchema}: the JSON line. Times are ISO-8601 UTC strings on the
 *   wire and `Date`s in memory (a zod codec), so reader and writer share one schema.
 * - Reader: {@link parseRunLogLine}. Writer: {@link encodeRunLogLine}.
 *
 * Statuses: `success` (gold swapped in), `failed_quality` (an error-level check failed; gold kept),
 * `failed` (the run failed), `interrupted` (stopped by SIGTERM/SIGINT: rolled back, gold kept,
 * exit 0 by design; not a failure), `skipped` (a run was due but did not start: another refresh
 * held the lock; only in the JSON lines, `error` says why).
 *
 * Orchestration (issue 17, services/batch/watch.ts): `trigger` says what started the run,
 * `attempt` and `retryOf` which retry of a failed run it is. `completeThrough` is the
 * completeness watermark: every source commit up to `at` is in the run's inputs
 * (services/batch/watermark.ts). `published` is where gold was served from PostgreSQL.
 * Lines written before these fields existed read with their defaults (manual, attempt 1, nulls).
 */
import { z } from 'zod';
import { readJsonContract, toJsonContract } from './contract-error.ts';

/** Every run status, in the order status pages list them. */
export const RUN_STATUSES = ['success', 'failed_quality', 'failed', 'interrupted', 'skipped'] as const;
export const runStatusSchema = z.enum(RUN_STATUSES);
export type RunStatus = z.output<typeof runStatusSchema>;

export const runModeSchema = z.enum(['incremental', 'full']);
export type RunMode = z.output<typeof runModeSchema>;

/** ISO-8601 UTC text on the wire, a Date in memory. */
export const isoTimestamp = z.codec(z.iso.datetime(), z.date(), {
  decode: (text) => new Date(text),
  encode: (date) => date.toISOString(),
});

const count = z.number().int().min(0);

/** The bronze files a run read, grouped per topic-partition with their offset range. */
export const bronzeInputRangeSchema = z.object({
  topic: z.string().min(1),
  partition: count,
  firstOffset: count,
  lastOffset: count,
  /** Rows (events) in those files. */
  events: count,
  /** Keys of the bronze objects read. */
  files: z.array(z.string()),
});
export type BronzeInputRange = z.output<typeof bronzeInputRangeSchema>;

/** Counts of the run's quality suite and the ids of its failed checks, per severity. */
export const qualitySummarySchema = z.object({
  checks: count,
  passed: count,
  skipped: count,
  errors: z.array(z.string()),
  warnings: z.array(z.string()),
});
export type QualitySummary = z.output<typeof qualitySummarySchema>;

/**
 * What started a run: `manual` (a one-off `npm run refresh`), `bronze` (the watch saw new
 * committed bronze objects), `schedule` (the full refresh's cron), `watermark` (the watch moved
 * the completeness watermark with no new objects), `catch-up` (`--until-caught-up`).
 */
export const RUN_TRIGGERS = ['manual', 'bronze', 'schedule', 'watermark', 'catch-up'] as const;
export const runTriggerSchema = z.enum(RUN_TRIGGERS);
export type RunTrigger = z.output<typeof runTriggerSchema>;

/** The completeness watermark of a run (services/batch/watermark.ts). */
export const completenessSchema = z.object({
  /** Every source commit at or before this time (source server's clock) is in the run's inputs. */
  at: isoTimestamp,
  /** The source WAL position read at `at` (pg_lsn text), which the CDC had confirmed. */
  lsn: z.string().regex(/^[0-9A-F]+\/[0-9A-F]+$/i),
  /** Topic-partitions whose bronze was checked caught up to it. */
  partitions: count,
});
export type Completeness = z.output<typeof completenessSchema>;

/** Where a run published gold in PostgreSQL (services/batch/pg-publish.ts). */
export const publishedSchema = z.object({
  database: z.string().min(1),
  schema: z.string().min(1),
  relations: count,
  rows: count,
  /** Export + load + swap, seconds. */
  seconds: z.number().min(0),
});

/** One run_log record. */
export const runLogEntrySchema = z.object({
  runId: z.string().min(1),
  /** Sequence number of the run in silver (0 when the run failed before it got one). */
  batch: count,
  status: runStatusSchema,
  mode: runModeSchema,
  startedAt: isoTimestamp,
  finishedAt: isoTimestamp,
  /** Reference time of the run (freshness, future dates). */
  asOf: isoTimestamp,
  rulesFile: z.string(),
  rulesVersion: z.string(),
  /** sha256 of the canonical JSON of `params`, hex. */
  paramsHash: z.string(),
  /** The validated rules the run used. */
  params: z.record(z.string(), z.unknown()),
  bronzeInputs: z.array(bronzeInputRangeSchema),
  /** Rows per table after the run, e.g. `{ "silver.activities": 1000, "gold.sport_bonus": 160 }`. */
  rowCounts: z.record(z.string(), z.number()),
  quality: qualitySummarySchema,
  /** Total annual sport bonus and total well-being cost in gold after the run, EUR (null: gold not built). */
  bonusCostEur: z.number().nullable(),
  wellbeingCostEur: z.number().nullable(),
  goldDb: z.string(),
  reportFile: z.string().nullable(),
  error: z.string().nullable(),
  trigger: runTriggerSchema.default('manual'),
  /** 1 for a first attempt, n for the (n-1)th retry of a failed run. */
  attempt: z.number().int().min(1).default(1),
  /** The run id of the first failed attempt this run retries, null for a first attempt. */
  retryOf: z.string().nullable().default(null),
  /** The completeness watermark of the run's inputs; null when none could be established. */
  completeThrough: completenessSchema.nullable().default(null),
  /** Where gold was published in PostgreSQL; null when it was not (disabled or run not successful). */
  published: publishedSchema.nullable().default(null),
});

/** A run_log record in memory (times as Dates). */
export type RunLogEntry = z.output<typeof runLogEntrySchema>;
/** A run_log record as JSON (times as ISO strings). */
export type RunLogEntryJson = z.input<typeof runLogEntrySchema>;

const CONTRACT = 'run_log record';

/**
 * Reader: one run_log.jsonl line.
 * @throws ContractError naming every field that is missing or holds an unknown value (e.g. a
 *   status outside {@link RUN_STATUSES}).
 */
export function parseRunLogLine(line: string): RunLogEntry {
  return readJsonContract(CONTRACT, runLogEntrySchema, line);
}

/**
 * Writer: `entry` as one JSON line (with its trailing newline).
 * @throws ContractError for an entry the reader would reject.
 */
export function encodeRunLogLine(entry: RunLogEntry): string {
  return `${JSON.stringify(encodeRunLogEntry(entry))}\n`;
}

/** `entry` in its JSON form (as written in the line, and embedded in the quality report). @throws ContractError */
export function encodeRunLogEntry(entry: RunLogEntry): RunLogEntryJson {
  return toJsonContract(CONTRACT, runLogEntrySchema, entry);
}

/** Sum of the files and events of a run's bronze inputs. */
export function bronzeInputTotals(entry: Pick<RunLogEntry, 'bronzeInputs'>): { files: number; events: number } {
  return {
    files: entry.bronzeInputs.reduce((a, r) => a + r.files.length, 0),
    events: entry.bronzeInputs.reduce((a, r) => a + r.events, 0),
  };
}
