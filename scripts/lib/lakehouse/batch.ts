/**
 * `lakehouse refresh` and `lakehouse backfill`: one run of the batch job (services/batch/cli.ts,
 * the same entry point as `npm run refresh`), as a child process with the terminal's stdio, so
 * the batch keeps one implementation and its own exit codes: 0 gold swapped in (or stopped by a
 * signal, run logged `interrupted`), 1 an error-level quality check failed or the run failed,
 * 2 bad configuration or rules file, or another refresh is running (services/batch/README.md).
 *
 * The child runs in its own process group and this process forwards SIGINT/SIGTERM to it, so
 * Ctrl-C reaches the batch exactly once (a second one stops it at once, as the batch documents).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Command } from 'commander';
import { REPO_ROOT } from '../../../services/common/config.ts';
import type { CommandContext } from './program.ts';

/** The batch job's entry point, relative to the repository root. */
export const BATCH_ENTRY = 'services/batch/cli.ts';

interface BatchOptions {
  asOf?: string;
  rules?: string;
  acceptDrift?: boolean;
}

/** The batch CLI's arguments for `opts`, with `--full` for a backfill (pure). */
export function batchArgs(opts: BatchOptions, full: boolean): string[] {
  return [...(full ? ['--full'] : []), ...(opts.asOf ? ['--as-of', opts.asOf] : []), ...(opts.rules ? ['--rules', opts.rules] : []), ...(opts.acceptDrift ? ['--accept-drift'] : [])];
}

/** Runs the batch job with `args`; resolves its exit code (1 when killed by a signal it did not handle). */
export function runBatch(args: string[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, BATCH_ENTRY), ...args], { cwd: REPO_ROOT, stdio: 'inherit', detached: true });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

export function registerBatch(program: Command, ctx: CommandContext): void {
  const exitCodes = '\nExit codes (the batch job\'s): 0 gold swapped in, or stopped by SIGINT/SIGTERM (gold unchanged);\n1 an error-level quality check failed (previous gold kept) or the run failed; 2 bad configuration or\nrules file, or another refresh is running.';
  program
    .command('refresh')
    .description('run the batch job incrementally: new bronze files -> silver -> gold, quality suite, atomic swap')
    .option('--as-of <time>', 'reference time (ISO-8601) for freshness and future-date checks (default now)')
    .option('--rules <file>', 'rules file (default BATCH_RULES_FILE, products/sport-rewards/rules.json)')
    .option('--accept-drift', 'accept a rules change that moves the sport bonus total more than quality.rulesChangeMaxBonusDriftPct')
    .addHelpText('after', exitCodes)
    .action(async (opts: BatchOptions) => {
      await ctx.run('refresh', () => runBatch(batchArgs(opts, false)));
    });

  program
    .command('backfill')
    .description('rebuild silver and gold from all of bronze, e.g. after a rule or parameter change (= npm run refresh -- --full)')
    .option('--rules <file>', 'rules file (default BATCH_RULES_FILE, products/sport-rewards/rules.json)')
    .option('--as-of <time>', 'reference time (ISO-8601) for freshness and future-date checks (default now)')
    .option('--accept-drift', 'accept a rules change that moves the sport bonus total more than quality.rulesChangeMaxBonusDriftPct')
    .addHelpText('after', exitCodes)
    .action(async (opts: BatchOptions) => {
      await ctx.run('backfill', () => runBatch(batchArgs(opts, true)));
    });
}
