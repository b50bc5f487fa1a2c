/**
 * `npm run demo [-- --once]`: the main job on real services, from a fresh clone.
 *
 * Today it runs the steps that exist: install the servers if missing, bring the local stack up,
 * migrate, seed the HR data set, simulate 12 months of history and a short live burst, then print
 * a summary. The CDC, bronze, Slack, distance and batch steps join as their services land (see
 * the README's roadmap).
 */
import { spawnSync } from 'node:child_process';
import { Command } from 'commander';
import pg from 'pg';
import { loadConfig, pgConnection, REPO_ROOT } from '../services/common/config.ts';
import { runMain } from './lib/cli.ts';
import { migrate } from './lib/migrate.ts';
import { generateHrData, seedDatabase, writeCsv } from './lib/seed.ts';
import { loadHistory, runLive } from './lib/simulator.ts';
import { MissingBinaryError, endpoints, resolveBinaries, stackDown, stackUp } from './lib/stack.ts';

const program = new Command('demo')
  .description('Run the pipeline end to end on the local stack')
  .option('--once', 'stop the stack at the end')
  .option('--live-count <n>', 'live activities to insert after the history', (v) => Number(v), 10)
  .showHelpAfterError();
program.parse();
const opts = program.opts<{ once?: boolean; liveCount: number }>();
const say = (line: string) => console.log(`[demo] ${line}`);

await runMain('demo', async () => {
  const t0 = Date.now();
  const config = loadConfig();
  try {
    resolveBinaries(config);
  } catch (err) {
    if (!(err instanceof MissingBinaryError)) throw err;
    say(`${err.message.split('.')[0]}: installing the services first`);
    const res = spawnSync('bash', ['scripts/install-services'], { cwd: REPO_ROOT, stdio: 'inherit' });
    if (res.status !== 0) throw new Error('scripts/install-services failed; see its output above');
  }
  say('starting the stack');
  await stackUp(config, (l) => say(`  ${l}`));
  const { applied } = await migrate(config);
  say(`migrations: ${applied.length} applied`);
  const data = generateHrData();
  writeCsv(data);
  const seeded = await seedDatabase(config, data);
  say(`seed: ${data.employees.length} employees (${seeded.employeesChanged} changed)`);
  const history = await loadHistory(config, { days: 365, seed: 2024, editRatio: 0.05, deleteRatio: 0.02 });
  say(`history: ${history.inserted} activities inserted (${history.generated} generated), ${history.edited} edited, ${history.deleted} deleted`);
  const live = await runLive(config, { count: opts.liveCount, ratePerSecond: 5, seed: 2024, editRatio: 0.1, deleteRatio: 0.05 });
  say(`live: ${live.length} activities inserted`);

  const db = new pg.Client(pgConnection(config, 'admin'));
  await db.connect();
  const counts = (await db.query(`SELECT (SELECT count(*) FROM employees) AS employees, (SELECT count(*) FROM activities) AS activities,
    (SELECT count(*) FROM declared_sports) AS declared_sports`)).rows[0];
  await db.end();
  const ep = endpoints(config);
  console.log('\nSummary');
  console.log(`  employees          ${counts.employees}`);
  console.log(`  declared sports    ${counts.declared_sports}`);
  console.log(`  activities         ${counts.activities}`);
  console.log(`  PostgreSQL         ${ep.postgres}`);
  console.log(`  Kafka              ${ep.kafka}`);
  console.log(`  S3 (MinIO)         ${ep.s3}, console ${ep.minioConsole}`);
  console.log(`  wall time          ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (opts.once) {
    await stackDown(config, (l) => say(`  ${l}`));
  } else {
    say('the stack keeps running; stop it with `npm run stack -- down`');
  }
});
