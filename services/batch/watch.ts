/**
 * The orchestrated refresh (issue 17): `npm run refresh -- --watch` keeps gold fresh on its own,
 * and `npm run refresh -- --until-caught-up` waits until gold is complete through "now".
 *
 * Watch mode, one loop (services/batch/README.md, "Orchestrated refresh"):
 * - every REFRESH_POLL_INTERVAL_S it reads the bronze writer group's committed offsets (the writer
 *   commits only after the Parquet object and its manifest are stored: a moved offset means new
 *   committed bronze objects); a second loop takes a completeness checkpoint as often
 *   (watermark.ts), so a run finds a recent one already covered;
 * - new objects start an incremental run (trigger `bronze`), at most every REFRESH_MIN_INTERVAL_S
 *   (debounce: objects arriving meanwhile are read by the next run);
 * - REFRESH_FULL_CRON (croner syntax, REFRESH_CRON_TIMEZONE) starts a full run (trigger `schedule`);
 * - with nothing new, a run every REFRESH_WATERMARK_INTERVAL_S moves the watermark (`watermark`).
 * Runs never overlap: one at a time in this process, and across processes the silver database's
 * file lock (held by DuckDB through an OS lock, which the kernel releases when a process dies, even
 * by kill -9: nothing is left behind to clean). A run that finds it locked is logged `skipped` in
 * run_log and the trigger stays pending. A failed run (`failed`, or `failed_quality`: the previous
 * gold stays) is retried through p-retry with exponential backoff from REFRESH_RETRY_MIN_BACKOFF_S
 * capped at REFRESH_RETRY_MAX_BACKOFF_S; each attempt is its own run_log record (`attempt`,
 * `retryOf`), and the monitor alerts on the failed run (quality_error) and on stale gold
 * (gold_stale). SIGTERM/SIGINT interrupts the running run (rolled back, logged `interrupted`) and
 * ends the loop.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Cron } from 'croner';
import pRetry, { AbortError } from 'p-retry';
import { ConfigError, type RefreshConfig } from '../common/config.ts';
import { encodeRunLogLine, type RunLogEntry, type RunMode, type RunTrigger } from '../common/contracts/run-log.ts';
import { BatchLockedError, refresh, RefreshFailedError, type RefreshOptions, type RefreshOutcome } from './refresh.ts';
import { newestCovered, type Checkpoint, type CompletenessTracker } from './watermark.ts';

/** Thrown for a watch setting that cannot work (an invalid cron expression or time zone). */
export class WatchConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WatchConfigError';
  }
}

/** The parts of a refresh the orchestration passes through (rules file, lake, progress lines). */
export type RunSettings = Pick<RefreshOptions, 'rulesFile' | 'lakeUrl' | 'progress' | 'logger' | 'asOf' | 'acceptDrift'>;

/** What the orchestration needs of the completeness tracker (watermark.ts). */
export type Tracker = Pick<CompletenessTracker, 'establish' | 'checkpoint' | 'committed' | 'checkpoints' | 'close'>;

/** The full-refresh schedule, validated. @throws WatchConfigError naming REFRESH_FULL_CRON or REFRESH_CRON_TIMEZONE */
export function fullSchedule(config: RefreshConfig): Cron | null {
  const expr = config.refresh.fullCron;
  if (expr === '' || expr === 'off') return null;
  try {
    const cron = new Cron(expr, { timezone: config.refresh.cronTimezone, paused: true });
    cron.nextRun(); // an unknown time zone throws here
    return cron;
  } catch (err) {
    throw new WatchConfigError(`REFRESH_FULL_CRON "${expr}" (REFRESH_CRON_TIMEZONE ${config.refresh.cronTimezone}): ${(err as Error).message}`);
  }
}

/** The run_log record of a run that was due but did not start (another refresh held the lock). */
export function skippedEntry(config: RefreshConfig, trigger: RunTrigger, mode: RunMode, reason: string, at = new Date()): RunLogEntry {
  return {
    runId: `skipped-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`,
    batch: 0,
    status: 'skipped',
    mode,
    startedAt: at,
    finishedAt: at,
    asOf: at,
    rulesFile: config.batch.rulesFile,
    rulesVersion: '',
    paramsHash: '',
    params: {},
    bronzeInputs: [],
    rowCounts: {},
    quality: { checks: 0, passed: 0, skipped: 0, errors: [], warnings: [] },
    bonusCostEur: null,
    wellbeingCostEur: null,
    goldDb: config.batch.goldDb,
    reportFile: null,
    error: reason,
    trigger,
    attempt: 1,
    retryOf: null,
    completeThrough: null,
    published: null,
  };
}

/** Backoff before attempt `attempt + 1`, ms: min * 2^(attempt-1), capped (pure; what p-retry computes with factor 2, no jitter). */
export function retryDelayMs(attempt: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.max(0, attempt - 1));
}

/** A run that ended without swapping gold for a reason a retry can cure. */
class RunNotSwapped extends Error {
  constructor(readonly outcome: RefreshOutcome) {
    super(`refresh ${outcome.runId} ended ${outcome.status}: ${outcome.entry.error ?? ''}`);
  }
}

/** Outcome of one orchestrated run: the last attempt's, or `skipped` (lock held) or `interrupted`. */
export type OrchestratedOutcome = { status: 'success' | 'interrupted'; outcome: RefreshOutcome } | { status: 'skipped'; reason: string };

/**
 * Runs one refresh with retries: a failed attempt is retried after a capped exponential backoff
 * until one succeeds or `signal` aborts (an unreachable lake is retried too); a held lock ends it
 * as `skipped` (logged in run_log).
 * @throws ConfigError (not retried: the configuration needs fixing)
 */
export async function runWithRetries(
  config: RefreshConfig,
  run: { trigger: RunTrigger; full: boolean },
  settings: RunSettings & { signal: AbortSignal; completeness?: Tracker; refreshFn?: typeof refresh },
): Promise<OrchestratedOutcome> {
  const log = settings.logger;
  const doRefresh = settings.refreshFn ?? refresh;
  let retryOf: string | null = null;
  try {
    return await pRetry(
      async (attempt) => {
        try {
          const outcome = await doRefresh(config, { ...settings, full: run.full, trigger: run.trigger, attempt, retryOf });
          if (outcome.status === 'success' || outcome.status === 'interrupted') return { status: outcome.status, outcome };
          retryOf ??= outcome.runId;
          throw new RunNotSwapped(outcome);
        } catch (err) {
          if (err instanceof BatchLockedError) throw new AbortError(err);
          // A configuration problem (bad lake URL, missing bucket, denied access) needs a person, not a retry.
          if (err instanceof ConfigError) throw new AbortError(err);
          if (err instanceof RefreshFailedError) retryOf ??= err.runId;
          if (settings.signal.aborted) throw new AbortError(err as Error);
          throw err;
        }
      },
      {
        retries: Number.POSITIVE_INFINITY,
        factor: 2,
        minTimeout: config.refresh.retryMinMs,
        maxTimeout: config.refresh.retryMaxMs,
        randomize: false,
        signal: settings.signal,
        onFailedAttempt: ({ error, attemptNumber }) => {
          const delayMs = retryDelayMs(attemptNumber, config.refresh.retryMinMs, config.refresh.retryMaxMs);
          log.warn({ err: error, attempt: attemptNumber, retryOf, retryInMs: delayMs }, `refresh attempt ${attemptNumber} failed: retrying in ${(delayMs / 1000).toFixed(1)} s (the previous gold stays)`);
          settings.progress?.(`attempt ${attemptNumber} failed (${error.message}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
        },
      },
    );
  } catch (cause) {
    // p-retry rethrows an AbortError's original error: the BatchLockedError itself.
    if (cause instanceof BatchLockedError) {
      const entry = skippedEntry(config, run.trigger, run.full ? 'full' : 'incremental', cause.message);
      await mkdir(path.dirname(config.batch.runLogFile), { recursive: true });
      await appendFile(config.batch.runLogFile, encodeRunLogLine(entry));
      log.info({ trigger: run.trigger, reason: cause.message }, 'refresh skipped: another refresh holds the lock (logged in run_log; retried at the next poll)');
      return { status: 'skipped', reason: cause.message };
    }
    if (settings.signal.aborted) return { status: 'skipped', reason: `stopped (${String(settings.signal.reason)})` };
    throw cause;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

const sameOffsets = (a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

/**
 * Watch mode (see the module documentation). Returns when `signal` aborts.
 * @throws WatchConfigError for an invalid schedule (before anything runs)
 */
export async function watch(config: RefreshConfig, options: RunSettings & { signal: AbortSignal; tracker: Tracker; refreshFn?: typeof refresh }): Promise<void> {
  const { signal, tracker, logger: log } = options;
  const cron = fullSchedule(config);
  let nextFull = cron?.nextRun() ?? null;
  let seen: Map<string, number> | null = null; // offsets read by the last run that started
  let lastStart = 0;
  log.info(
    { minIntervalS: config.refresh.minIntervalMs / 1000, pollS: config.refresh.pollIntervalMs / 1000, fullCron: config.refresh.fullCron || null, nextFull: nextFull?.toISOString() ?? null, watermarkIntervalS: config.refresh.watermarkIntervalMs / 1000 },
    'refresh watch started',
  );
  options.progress?.(`watching bronze (poll ${config.refresh.pollIntervalMs / 1000} s, at most one run every ${config.refresh.minIntervalMs / 1000} s; full refresh: ${nextFull ? `next ${nextFull.toISOString()}` : 'none'})`);
  // Checkpoints are taken in their own loop: one waits up to REFRESH_CHECKPOINT_TIMEOUT_S for the
  // CDC slot to confirm (an idle CDC confirms at its heartbeat), which must not delay the polls.
  const checkpoints = (async () => {
    while (!signal.aborted) {
      await tracker.checkpoint().catch((err: unknown) => log.warn({ err }, 'refresh watch: cannot take a completeness checkpoint (PostgreSQL or Kafka unreachable); trying again'));
      await sleep(config.refresh.pollIntervalMs, signal);
    }
  })();
  while (!signal.aborted) {
    let offsets: Map<string, number> | null = null;
    try {
      offsets = await tracker.committed();
    } catch (err) {
      log.warn({ err }, 'refresh watch: cannot read the bronze offsets (Kafka unreachable); trying again');
    }
    const now = Date.now();
    let due: { trigger: RunTrigger; full: boolean } | null = null;
    if (nextFull && now >= nextFull.getTime()) due = { trigger: 'schedule', full: true };
    else if (offsets && (seen === null || !sameOffsets(offsets, seen)) && now - lastStart >= config.refresh.minIntervalMs) due = { trigger: 'bronze', full: false };
    else if (config.refresh.watermarkIntervalMs > 0 && now - lastStart >= config.refresh.watermarkIntervalMs) due = { trigger: 'watermark', full: false };
    if (due) {
      lastStart = now;
      const result = await runWithRetries(config, due, { ...options, completeness: tracker });
      if (result.status !== 'skipped') {
        // What this run read: offsets committed before it listed bronze.
        if (offsets) seen = offsets;
        if (due.full) nextFull = cron?.nextRun() ?? null;
        const e = result.outcome.entry;
        options.progress?.(
          `${due.trigger} run ${e.runId} ${e.status}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}: figures complete through ${e.completeThrough?.at.toISOString() ?? 'unknown'}${nextFull && due.full ? `; next full ${nextFull.toISOString()}` : ''}`,
        );
      }
      if (signal.aborted) break;
    }
    await sleep(config.refresh.pollIntervalMs, signal);
  }
  await checkpoints;
  log.info({ reason: String(signal.reason ?? 'stopped') }, 'refresh watch stopped');
}

/** Thrown when gold did not become complete through the target in time. */
export class CatchUpTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatchUpTimeoutError';
  }
}

/**
 * `--until-caught-up`: takes a completeness checkpoint now (every commit so far), waits until the
 * bronze writer has committed it on every partition, then runs refreshes (trigger `catch-up`,
 * retried as in watch mode; a held lock, e.g. a watch's run, is waited out) until one is complete
 * through it.
 * @returns the successful run's outcome (its `completeThrough.at` is at or after the checkpoint)
 * @throws CatchUpTimeoutError after `timeoutMs`, naming what was still awaited
 */
export async function refreshUntilCaughtUp(
  config: RefreshConfig,
  options: RunSettings & { signal: AbortSignal; tracker: Tracker; timeoutMs: number; full?: boolean; refreshFn?: typeof refresh },
): Promise<RefreshOutcome | null> {
  const { signal, tracker } = options;
  const deadline = Date.now() + options.timeoutMs;
  const left = () => deadline - Date.now();
  let target: Checkpoint | null = null;
  while (!target) {
    target = await tracker.checkpoint();
    if (target) break;
    if (left() <= 0) throw new CatchUpTimeoutError(`timed out: the CDC slot ${config.cdc.slotName} did not confirm the current WAL position (is the CDC service running?)`);
    if (signal.aborted) return null;
    await sleep(config.refresh.pollIntervalMs, signal);
  }
  options.progress?.(`waiting until gold is complete through ${target.at.toISOString()} (WAL ${target.lsn}, ${target.highWatermarks.size} topic-partitions)`);
  for (;;) {
    const committed = await tracker.committed();
    if (newestCovered([target], committed)) break;
    if (left() <= 0) {
      const behind = [...target.highWatermarks].filter(([tp, high]) => (committed.get(tp) ?? 0) < high).map(([tp, high]) => `${tp} at ${committed.get(tp) ?? 0} of ${high}`);
      throw new CatchUpTimeoutError(`timed out waiting for the bronze writer (group ${config.bronze.consumerGroup}): ${behind.join(', ')}`);
    }
    if (signal.aborted) return null;
    await sleep(config.refresh.pollIntervalMs, signal);
  }
  for (;;) {
    const result = await runWithRetries(config, { trigger: 'catch-up', full: options.full === true }, { ...options, completeness: tracker });
    if (result.status === 'interrupted' || signal.aborted) return null;
    if (result.status === 'success') {
      const through = result.outcome.entry.completeThrough;
      if (through && through.at >= target.at) return result.outcome;
    }
    if (left() <= 0) throw new CatchUpTimeoutError(`timed out: no refresh was complete through ${target.at.toISOString()} (${result.status === 'skipped' ? result.reason : 'the watermark lags'})`);
    await sleep(config.refresh.pollIntervalMs, signal);
  }
}
