/**
 * `npm run refresh [-- --full] [--as-of <ISO time>] [--rules <file>] [--accept-drift]`: one batch run, bronze ->
 * silver -> gold (services/batch/README.md).
 * `npm run refresh -- --watch`: the orchestrated refresh service (services/batch/watch.ts): runs on
 * new bronze objects, on REFRESH_FULL_CRON, retried on failure, until SIGTERM/SIGINT (exit 0).
 * `npm run refresh -- --until-caught-up [--timeout <s>]`: refreshes until gold is complete through
 * the moment the command started (the completeness watermark), exit 1 on timeout.
 *
 * Runs under the service runtime (services/common/runtime.ts). Exit codes: 0 success (warnings
 * may have been reported), or stopped cleanly by SIGTERM/SIGINT (the run is logged as interrupted,
 * gold and silver are as before); 1 an error-level quality check failed (gold was not swapped: the
 * previous gold stays; e.g. a rules change moving the bonus total beyond
 * `quality.rulesChangeMaxBonusDriftPct` without `--accept-drift`) or the run failed; 2 bad configuration or rules file, or a lake whose bucket does not exist or refuses access (nothing was
 * touched); 1 also when the lake's S3 endpoint is unreachable (one line, nothing touched),
 * or another refresh is running.
 * Logs are JSON lines (pino) on stdout; progress lines go to stderr.
 */
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../common/config.ts';
import { LakeUnreachableError } from '../common/lake-storage.ts';
import { redactUrl } from '../common/logger.ts';
import { EXIT, runService, type ServiceDefinition } from '../common/runtime.ts';
import { RULES_CHANGE_DRIFT_CHECK } from './checks.ts';
import { BatchLockedError, refresh, type RefreshOutcome } from './refresh.ts';
import { RulesError } from './rules.ts';
import { CompletenessTracker } from './watermark.ts';
import { CatchUpTimeoutError, fullSchedule, refreshUntilCaughtUp, watch, WatchConfigError } from './watch.ts';

function parseAsOf(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError(`expected an ISO-8601 time, got "${value}"`);
  return d;
}

const program = new Command()
  .name('refresh')
  .description('Batch job: bronze -> silver (current state, history, quarantine) -> gold (rules, KPIs, quality), swapped in atomically')
  .option('--full', 'rebuild silver and gold from all of bronze (backfill), e.g. after a parameter change', false)
  .option('--as-of <time>', 'reference time for future dates, freshness and volume checks (ISO-8601; default now)', parseAsOf)
  .option('--rules <file>', 'rules file (default BATCH_RULES_FILE, products/sport-rewards/rules.json)')
  .option('--lake <url>', 'lake URL (default LAKE_URL)')
  .option('--accept-drift', 'accept a rules change that moves the sport bonus total more than quality.rulesChangeMaxBonusDriftPct (otherwise the previous gold stays)', false)
  .option('--watch', 'keep running: refresh on new bronze objects (REFRESH_MIN_INTERVAL_S), fully on REFRESH_FULL_CRON, retry failed runs; stop with Ctrl-C', false)
  .option('--until-caught-up', 'refresh until gold is complete through now (every source commit so far is in gold), then exit', false)
  .option('--timeout <seconds>', 'with --until-caught-up: give up (exit 1) after this many seconds', parseSeconds, 600)
  .parse();

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got "${value}"`);
  return n;
}

const opts = program.opts<{ full: boolean; asOf?: Date; rules?: string; lake?: string; acceptDrift: boolean; watch: boolean; untilCaughtUp: boolean; timeout: number }>();
if (opts.watch && opts.untilCaughtUp) program.error('--watch and --until-caught-up are exclusive: the watch keeps gold caught up on its own');

const refreshTask: ServiceDefinition<'refresh'> = {
  name: 'batch',
  config: 'refresh',
  isConfigurationError: (err) => err instanceof RulesError || err instanceof BatchLockedError || err instanceof ConfigError || err instanceof WatchConfigError,
  describe: (config) => ({
    full: opts.full,
    mode: opts.watch ? 'watch' : opts.untilCaughtUp ? 'until-caught-up' : 'once',
    lake: redactUrl(opts.lake ?? config.lakeUrl),
    goldDb: config.batch.goldDb,
    ...(opts.watch ? { minIntervalS: config.refresh.minIntervalMs / 1000, fullCron: config.refresh.fullCron, cronTimezone: config.refresh.cronTimezone } : {}),
  }),
  async start({ config, logger, signal }) {
    // SIGTERM/SIGINT: interrupt the running statement, roll back, log the run, exit 0 (a clean stop).
    signal.addEventListener('abort', () => process.stderr.write(`[refresh] ${String(signal.reason)}: stopping (silver rolls back, gold stays as it was)\n`), { once: true });
    const settings = { signal, asOf: opts.asOf, rulesFile: opts.rules, lakeUrl: opts.lake, acceptDrift: opts.acceptDrift, logger, progress: (line: string) => process.stderr.write(`[refresh] ${line}\n`) };
    if (opts.watch || opts.untilCaughtUp) {
      if (opts.watch) fullSchedule(config); // an invalid schedule is a configuration error (exit 2) before anything runs
      const tracker = new CompletenessTracker(config, logger);
      const job: Promise<RefreshOutcome | null | void> = opts.watch ? watch(config, { ...settings, tracker }) : refreshUntilCaughtUp(config, { ...settings, tracker, full: opts.full, timeoutMs: opts.timeout * 1000 });
      const finished = job
        .then(
          (outcome) => {
            if (outcome) process.stderr.write(`[refresh] caught up: run ${outcome.runId}, figures complete through ${outcome.entry.completeThrough?.at.toISOString() ?? '?'}\n`);
            return EXIT.ok;
          },
          (err: unknown) => {
            if (err instanceof WatchConfigError || err instanceof RulesError || err instanceof ConfigError) {
              console.error(err.message);
              return EXIT.configuration;
            }
            if (err instanceof CatchUpTimeoutError) console.error(err.message);
            else logger.error({ err }, 'refresh failed');
            return EXIT.runtime;
          },
        )
        .finally(() => tracker.close());
      return { stop: async () => void (await finished), crashed: new Promise<Error>(() => undefined), finished };
    }
    const finished = refresh(config, { ...settings, full: opts.full }).then(
      (outcome) => {
        const q = outcome.entry.quality;
        logger.info(
          { runId: outcome.runId, status: outcome.status, dataProducts: outcome.products, checks: q.checks, errors: q.errors, warnings: q.warnings, rowCounts: outcome.entry.rowCounts, report: outcome.reportFile },
          outcome.status === 'success' ? 'refresh finished: gold swapped in' : 'refresh finished without swapping gold',
        );
        const drift = outcome.results.find((r) => r.id === RULES_CHANGE_DRIFT_CHECK);
        if (drift?.status === 'fail') process.stderr.write(`[refresh] the rules changed and ${drift.observed}\n`);
        const products = outcome.products.map((p) => `${p.name} ${p.status === 'ran' ? `ran on ${p.source}` : `skipped (${p.reason})`}`).join('; ');
        process.stderr.write(`[refresh] data products: ${products || 'none'}\n`);
        process.stderr.write(
          `[refresh] ${outcome.status === 'success' ? 'gold updated' : 'gold NOT updated (previous gold kept)'}: ${q.checks} checks, ${q.errors.length} errors, ${q.warnings.length} warnings; report ${outcome.reportFile}\n`,
        );
        return outcome.status === 'success' || outcome.status === 'interrupted' ? EXIT.ok : EXIT.runtime;
      },
      (err: unknown) => {
        if (err instanceof RulesError || err instanceof BatchLockedError || err instanceof ConfigError) {
          console.error(err.message);
          return EXIT.configuration;
        }
        if (err instanceof LakeUnreachableError) {
          // Transient: one clear line, no stack; run it again when the lake is back.
          logger.error({ err: { message: err.message, cause: String(err.cause) } }, 'refresh failed: the lake is unreachable');
          console.error(`refresh: ${err.message}`);
          return EXIT.runtime;
        }
        logger.error({ err }, 'refresh failed');
        return EXIT.runtime;
      },
    );
    return { stop: async () => void (await finished), crashed: new Promise<Error>(() => undefined), finished };
  },
};

await runService(refreshTask);
