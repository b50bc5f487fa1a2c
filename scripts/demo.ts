/**
 * `npm run demo [-- --once]`: the main job, end to end, on real services.
 *
 *  1. installs the servers if they are missing, brings the local stack up;
 *  2. migrates and seeds the HR data set;
 *  3. loads 12 months of activity history (the operational database's past, which CDC's
 *     initial snapshot publishes as op "r": Slack is not flooded with last year's activities);
 *  4. starts every service (cdc, bronze-writer, slack-notifier, distance-worker, monitor, and
 *     the orchestrated refresh `refresh --watch`, which keeps gold fresh on its own) as supervised
 *     child processes, logs in .local/demo/logs; a service that dies (kill -9) is restarted, and
 *     at-least-once delivery plus idempotent sinks keep the figures the same;
 *  5. inserts a short burst of live activities (op "c": each announced once on Slack);
 *  6. waits until the distance worker and the Slack notifier have caught up, then until gold is
 *     complete through that moment (`npm run refresh -- --until-caught-up`: the completeness
 *     watermark, services/batch/watch.ts);
 *  7. prints a summary read from gold.duckdb.
 * With --once it then stops everything; otherwise the services keep running until Ctrl-C, then
 * shut down gracefully.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { KafkaAdmin } from '../services/common/kafka/index.ts';
import { createLogger } from '../services/common/logger.ts';
import pg from 'pg';
import { loadConfig, pgConnection, REPO_ROOT, type Config } from '../services/common/config.ts';
import { readConsumerLag, watchedGroups, type ConsumerService } from '../services/common/status/kafka-lag.ts';
import { waitFor } from './lib/catch-up.ts';
import { positiveInt, runMain } from './lib/cli.ts';
import { migrate } from './lib/migrate.ts';
import { generateHrData, seedDatabase, writeCsv } from './lib/seed.ts';
import { loadHistory, runLive } from './lib/simulator.ts';
import { MissingBinaryError, endpoints, resolveBinaries, stackDown, stackUp } from './lib/stack.ts';
import { Supervisor, type ServiceSpec } from './lib/supervisor.ts';
import { bundleService } from './build-services.ts';

const program = new Command('demo')
  .description('Run the whole pipeline end to end on the local stack')
  .option('--once', 'stop everything at the end (default: keep running until Ctrl-C)')
  .option('--live-count <n>', 'live activities to insert after the history', positiveInt, 15)
  .option('--history <days>', 'days of history to load', positiveInt, 365)
  .option('--timeout <s>', 'how long to wait for the pipeline to catch up, seconds', positiveInt, 300)
  .option('--keep-stack', 'leave PostgreSQL, Kafka and MinIO running when the demo stops')
  .showHelpAfterError();
program.parse();
const opts = program.opts<{ once?: boolean; liveCount: number; history: number; timeout: number; keepStack?: boolean }>();
// `npm run demo --once` (without `--`) hands the flag to npm, which exposes it as npm_config_once.
if (process.env.npm_config_once === 'true') opts.once = true;
const say = (line: string) => console.log(`[demo] ${line}`);

/** Environment every service of the demo runs with. */
function demoEnv(config: Config): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // The demo writes bronze to MinIO, unless LAKE_URL says otherwise.
    LAKE_URL: process.env.LAKE_URL ?? `s3://${config.s3.bucket}/`,
    // Small rotation age, so the last rows reach bronze in seconds rather than a minute.
    BRONZE_MAX_AGE_S: process.env.BRONZE_MAX_AGE_S ?? '3',
    // The refresh service runs at most every 5 s on new bronze objects (gold within ~15 s of a
    // commit: npm run bench -- freshness).
    REFRESH_MIN_INTERVAL_S: process.env.REFRESH_MIN_INTERVAL_S ?? '5',
    REFRESH_POLL_INTERVAL_S: process.env.REFRESH_POLL_INTERVAL_S ?? '1',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  };
}

const SERVICES: ServiceSpec[] = [
  { name: 'cdc', entry: 'services/cdc/main.ts' },
  // As `npm run bronze` runs it: the JavaScript bundle (built in step 4) and the same memory
  // settings (services/bronze-writer/README.md: RSS bounded under 300 MB).
  {
    name: 'bronze-writer',
    entry: 'dist/bronze-writer/main.js',
    nodeArgs: ['--enable-source-maps', '--max-semi-space-size=8', '--initial-old-space-size=40', '--max-old-space-size=256'],
    env: { MALLOC_ARENA_MAX: '2' },
  },
  { name: 'slack-notifier', entry: 'services/slack-notifier/main.ts' },
  { name: 'distance-worker', entry: 'services/distance-worker/main.ts' },
  { name: 'monitor', entry: 'services/monitor/main.ts' },
  { name: 'refresh', entry: 'services/batch/cli.ts', args: ['--watch'] },
];

/** `npm run refresh -- --until-caught-up`: returns once gold is complete through now (exit code). */
async function refreshUntilCaughtUp(env: NodeJS.ProcessEnv, timeoutS: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/batch/cli.ts'), '--until-caught-up', '--timeout', String(timeoutS)], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'ignore', 'inherit'], // progress lines (stderr) shown, JSON logs (stdout) not
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

interface Summary {
  employees: number;
  bonusEligible: number;
  bonusTotalEur: number;
  wellbeing: { year: number; eligible: number; days: number; costEur: number }[];
  findings: { severity: string; count: number }[];
  failedChecks: number;
}

/** Reads the summary figures from gold.duckdb, read-only. */
export async function readSummary(goldDb: string): Promise<Summary> {
  const instance = await DuckDBInstance.create(goldDb, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  try {
    const one = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJson();
    const [bonus] = await one(`SELECT count(*) AS employees, count(*) FILTER (WHERE eligible) AS eligible,
      coalesce(sum(bonus_amount_eur), 0) AS total FROM v_prime_sportive`);
    const wellbeing = await one(`SELECT year, count(*) FILTER (WHERE eligible) AS eligible, coalesce(sum(wellbeing_days), 0) AS days,
      coalesce(sum(wellbeing_cost_eur), 0) AS cost FROM v_wellbeing GROUP BY year ORDER BY year`);
    const findings = await one(`SELECT severity, count(*) AS n FROM v_quality_findings GROUP BY severity ORDER BY severity`);
    const [checks] = await one(`SELECT count(*) FILTER (WHERE status = 'fail') AS failed FROM v_quality_checks`);
    return {
      employees: Number(bonus!.employees),
      bonusEligible: Number(bonus!.eligible),
      bonusTotalEur: Number(bonus!.total),
      wellbeing: wellbeing.map((w) => ({ year: Number(w.year), eligible: Number(w.eligible), days: Number(w.days), costEur: Number(w.cost) })),
      findings: findings.map((f) => ({ severity: String(f.severity), count: Number(f.n) })),
      failedChecks: Number(checks!.failed),
    };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

const eur = (n: number) => `${n.toLocaleString('fr-FR', { maximumFractionDigits: 0 })} EUR`;

function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
}

await runMain('demo', async () => {
  const t0 = Date.now();
  const config = loadConfig();
  const env = demoEnv(config);

  try {
    resolveBinaries(config);
  } catch (err) {
    if (!(err instanceof MissingBinaryError)) throw err;
    say(`${err.message.split(' (')[0]}: installing the services first (bash scripts/install-services)`);
    const res = await new Promise<number>((resolve) =>
      spawn('bash', ['scripts/install-services'], { cwd: REPO_ROOT, stdio: 'inherit' }).once('exit', (c) => resolve(c ?? 1)),
    );
    if (res !== 0) throw new Error('scripts/install-services failed; see its output above');
  }

  say('1/7 starting PostgreSQL, Kafka and MinIO');
  await stackUp(config, (l) => say(`    ${l}`));
  say('2/7 migrating and seeding');
  const { applied } = await migrate(config);
  const data = generateHrData();
  writeCsv(data);
  const seeded = await seedDatabase(config, data);
  say(`    ${applied.length} migrations applied, ${data.employees.length} employees (${seeded.employeesChanged} changed)`);

  say(`3/7 loading ${opts.history} days of activity history`);
  const bar = new cliProgress.SingleBar({ format: '[demo]     {bar} {percentage}% | {value}/{total} activities', noTTYOutput: true, notTTYSchedule: 5000 }, cliProgress.Presets.shades_classic);
  let barStarted = false;
  const history = await loadHistory(config, { days: opts.history, seed: 2024, editRatio: 0.05, deleteRatio: 0.02 }, (done, total) => {
    if (!barStarted) {
      bar.start(total, 0);
      barStarted = true;
    }
    bar.update(done);
  });
  bar.stop();
  say(`    ${history.inserted} inserted (${history.generated - history.inserted} already there), ${history.edited} edited, ${history.deleted} deleted`);

  say('4/7 starting the services (logs in .local/demo/logs)');
  const slackLinesBefore = countLines(config.slack.dryRunFile);
  let stopping = false;
  const supervisor = new Supervisor(path.join(REPO_ROOT, '.local/demo/logs'), env, (name, code, signal) => {
    if (stopping) return;
    say(`    ${name} exited (${signal ?? `code ${code}`}); restarting it in 1 s`);
    setTimeout(() => {
      if (!stopping) supervisor.restart(name);
    }, 1000);
  });
  await bundleService('bronze-writer');
  for (const spec of SERVICES) {
    const s = supervisor.start(spec);
    say(`    ${spec.name}: pid ${s.child.pid}`);
  }

  const shutdown = async () => {
    stopping = true;
    say('stopping the services');
    const codes = await supervisor.stopAll();
    say(`    exit codes: ${Object.entries(codes).map(([n, c]) => `${n}=${c}`).join(', ')}`);
    if (!opts.keepStack) await stackDown(config, (l) => say(`    ${l}`));
  };

  const db = new pg.Client(pgConnection(config, 'admin'));
  await db.connect();
  const admin = KafkaAdmin.create(config, 'demo', createLogger('demo', 'silent'));
  try {
    const waitOptions = { timeoutMs: opts.timeout * 1000, say: (l: string) => say(`    ${l}`) };
    // Live inserts must come after the slot exists, or the snapshot would publish them as "r".
    await waitFor('the CDC replication slot', async () => (await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [config.cdc.slotName])).rowCount === 1, waitOptions);

    say(`5/7 inserting ${opts.liveCount} live activities`);
    const live = await runLive(config, { count: opts.liveCount, ratePerSecond: 2, seed: 2024, editRatio: 0.1, deleteRatio: 0.05 }, (e) => {
      if (e.kind === 'insert') say(`    + activity ${e.activity.activity_id}: employee ${e.activity.employee_id}, ${e.activity.sport_type}`);
      else if (e.kind === 'edit') say(`    ~ activity ${e.activityId}: comment edited`);
      else say(`    - activity ${e.activityId}: deleted`);
    });

    say('6/7 waiting for the pipeline to catch up');
    const lagOf = (service: ConsumerService) => async () => {
      const [lag] = await readConsumerLag(admin, watchedGroups(config).filter((g) => g.service === service));
      return { done: lag!.totalLag === 0 && lag!.topics.length > 0, detail: `lag ${lag!.totalLag}` };
    };
    await waitFor('the distance worker', lagOf('distance-worker'), waitOptions);
    await waitFor('the Slack notifier', lagOf('slack-notifier'), waitOptions);

    say('7/7 waiting until gold is complete through now (the refresh service runs on its own)');
    const code = await refreshUntilCaughtUp(env, opts.timeout);
    if (code !== 0) throw new Error(`the batch refresh exited with code ${code} (see the quality report under ${config.batch.reportDir})`);

    const s = await readSummary(config.batch.goldDb);
    const ep = endpoints(config);
    console.log('\nSummary');
    console.log(`  employees                  ${s.employees}`);
    console.log(`  sport bonus                ${s.bonusEligible} eligible employees, ${eur(s.bonusTotalEur)} a year`);
    for (const w of s.wellbeing) {
      console.log(`  well-being days ${w.year}       ${w.eligible} employees, ${w.days} days, ${eur(w.costEur)}`);
    }
    const slackPosted = config.slack.webhookUrl ? live.length : countLines(config.slack.dryRunFile) - slackLinesBefore;
    console.log(`  Slack messages             ${slackPosted} this run${config.slack.webhookUrl ? '' : ` (dry-run: ${path.relative(REPO_ROOT, config.slack.dryRunFile)})`}`);
    console.log(`  quality findings           ${s.findings.map((f) => `${f.count} ${f.severity}`).join(', ') || 'none'}; ${s.failedChecks} failed checks`);
    console.log(`  gold                       ${config.batch.goldDb}`);
    console.log(`  dashboard                  http://${config.monitor.host}:${config.monitor.port}/ (metrics /metrics, quality /api/quality; password: MONITOR_TOKEN, any user name)`);
    console.log(`  lake                       ${env.LAKE_URL} (MinIO console ${ep.minioConsole})`);
    console.log(`  wall time                  ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (err) {
    await admin.close().catch(() => undefined);
    await db.end().catch(() => undefined);
    await shutdown();
    throw err;
  }
  await admin.close();
  await db.end();

  if (opts.once) {
    await shutdown();
    return;
  }
  say('the services keep running; Ctrl-C stops them');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await shutdown();
});
