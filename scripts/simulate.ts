/**
 * `npm run simulate -- [--history 12mo] [--live --rate 2/s --count 20]`
 *
 * --history bulk-loads a deterministic history of activities that follows each employee's
 * habits and declared sport (with a progress bar); --live inserts activities one by one as a
 * Strava webhook would. Both sometimes edit a comment or delete an activity, so CDC sees
 * inserts, updates and deletes. Without any mode flag, it runs --live with the defaults.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../services/common/config.ts';
import { positiveInt, runMain } from './lib/cli.ts';
import { loadHistory, parsePeriod, parseRate, runLive, SimulatorError } from './lib/simulator.ts';

const wrap = <T>(parse: (v: string) => T) => (value: string): T => {
  try {
    return parse(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message.replace(/^--\w+: /, ''));
  }
};
const ratio = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be a number between 0 and 1 (got "${value}")`);
  return n;
};
const program = new Command('simulate')
  .description('Generate Strava-like activities in the source database')
  .addOption(new Option('--history <period>', 'bulk-load this much history, e.g. 12mo, 90d, 8w, 1y').argParser(wrap(parsePeriod)))
  .option('--live', 'insert activities one by one, as a Strava webhook would')
  .addOption(new Option('--rate <rate>', 'live insert rate, e.g. 2/s, 30/min').argParser(wrap(parseRate)).default(1, '1/s'))
  .option('--count <n>', 'number of live activities to insert', positiveInt, 20)
  .option('--seed <n>', 'PRNG seed (the HR data set seed)', positiveInt, 2024)
  .option('--edit-ratio <r>', 'share of activities whose comment gets edited', ratio('--edit-ratio'), 0.05)
  .option('--delete-ratio <r>', 'share of activities that get deleted', ratio('--delete-ratio'), 0.02)
  .showHelpAfterError()
  .allowExcessArguments(false);
program.parse();
const opts = program.opts<{ history?: number; live?: boolean; rate: number; count: number; seed: number; editRatio: number; deleteRatio: number }>();

await runMain('simulate', async () => {
  const config = loadConfig();
  if (opts.history === undefined && !opts.live) opts.live = true;
  if (opts.history !== undefined) {
    const bar = new cliProgress.SingleBar(
      { format: '[simulate] history {bar} {percentage}% | {value}/{total} activities | {duration_formatted}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 5000 },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    const result = await loadHistory(config, { days: opts.history, seed: opts.seed, editRatio: opts.editRatio, deleteRatio: opts.deleteRatio }, (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    });
    bar.stop();
    console.log(
      `[simulate] history of ${opts.history} days: ${result.generated} activities generated, ${result.inserted} inserted ` +
        `(${result.generated - result.inserted} were already there), ${result.edited} comments edited, ${result.deleted} deleted`,
    );
  }
  if (opts.live) {
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let edits = 0;
    let deletes = 0;
    const ids = await runLive(config, { count: opts.count, ratePerSecond: opts.rate, seed: opts.seed, editRatio: opts.editRatio, deleteRatio: opts.deleteRatio, signal: controller.signal }, (e) => {
      if (e.kind === 'insert') {
        const a = e.activity;
        const dist = a.distance_m === null ? '' : ` ${(a.distance_m / 1000).toFixed(1)} km`;
        console.log(`[simulate] + activity ${a.activity_id}: employee ${a.employee_id} ${a.sport_type}${dist} in ${Math.round(a.elapsed_seconds / 60)} min`);
      } else if (e.kind === 'edit') {
        edits++;
        console.log(`[simulate] ~ activity ${e.activityId}: comment edited`);
      } else {
        deletes++;
        console.log(`[simulate] - activity ${e.activityId}: deleted`);
      }
    });
    console.log(`[simulate] live: ${ids.length} activities inserted, ${edits} edited, ${deletes} deleted${controller.signal.aborted ? ' (stopped early)' : ''}`);
  }
});

export { SimulatorError };
