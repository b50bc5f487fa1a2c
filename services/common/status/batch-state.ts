/**
 * Pipeline status, source of truth the batch job's files: the run log (BATCH_RUN_LOG, read
 * through the run_log contract), the latest quality report (BATCH_REPORT_DIR/latest.json, through
 * the quality-report contract) and gold.duckdb (BATCH_GOLD_DB). A line or report the contract
 * rejects is reported, never cast (services/common/contracts/).
 */
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { StatusConfig } from '../config.ts';
import { parseQualityReport, type QualityReport, type QualityResult } from '../contracts/quality-report.ts';
import { bronzeInputTotals, parseRunLogLine, type RunLogEntry, type RunStatus } from '../contracts/run-log.ts';

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
  /** What started the run and which attempt it was (issue 17's orchestrated refresh). */
  trigger: RunLogEntry['trigger'];
  attempt: number;
  /** The completeness watermark of the run: every source commit up to this time is in it (ISO), or null. */
  completeThrough: string | null;
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
    trigger: e.trigger,
    attempt: e.attempt,
    completeThrough: e.completeThrough?.at.toISOString() ?? null,
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
export async function readBatchState(config: StatusConfig): Promise<BatchState> {
  const { runs } = await readRunLog(config.batch.runLogFile);
  const goldStat = existsSync(config.batch.goldDb) ? await stat(config.batch.goldDb) : null;
  return {
    runLogFile: config.batch.runLogFile,
    ...summarizeRuns(runs),
    quality: await readQualityReport(`${config.batch.reportDir}/latest.json`),
    gold: { file: config.batch.goldDb, exists: goldStat !== null, modifiedAt: goldStat?.mtime.toISOString() ?? null, sizeBytes: goldStat?.size ?? null },
  };
}
