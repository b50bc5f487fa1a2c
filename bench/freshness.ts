/**
 * `npm run bench -- freshness [--count 120] [--rate 1] [--min-interval 5] [--bronze-max-age 3]`
 *
 * Commit -> gold latency through the whole pipeline (issue 17): PostgreSQL -> CDC service (child
 * process) -> Kafka -> bronze writer (child process) -> MinIO -> the refresh service
 * (`services/batch/cli.ts --watch`, child process) -> gold, served from PostgreSQL and in
 * gold.duckdb. Activities of one bench employee are inserted one per transaction at `--rate` per
 * second; an activity is in gold once the employee's `activity_count` of the year in
 * `v_wellbeing` reaches its rank. Both golds are polled every 100 ms (the PostgreSQL views as the
 * read-only BI role, gold.duckdb opened read-only per poll), so a latency carries up to 100 ms of
 * polling (more when a poll is slow). Latency = first poll that sees the activity - the time its
 * COMMIT returned.
 *
 * Settings are the demo's unless overridden: BRONZE_MAX_AGE_S=3 (--bronze-max-age),
 * REFRESH_MIN_INTERVAL_S=5 (--min-interval), REFRESH_POLL_INTERVAL_S=1, CDC heartbeat 1 s.
 * Target (issue 17): p99 <= 30 s with the demo's settings at 1 activity/s.
 *
 * Uses the stack of the environment (`npm run stack -- up` + `npm run db:migrate`), or with
 * TEST_STACK_PORT_BASE set, starts/uses the test stack on those ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Command } from 'commander';
import pg from 'pg';
import { loadConfig, pgConnection, REPO_ROOT } from '../services/common/config.ts';
import { CdcChild, dropSlots } from '../services/cdc/testing/harness.ts';
import { migrate } from '../scripts/lib/migrate.ts';
import { ensureKafkaAccess, stackUp } from '../scripts/lib/stack.ts';
import { testEnv } from '../tests/support/test-env.ts';

const opts = new Command('bench freshness')
  .description('commit -> gold latency (PostgreSQL-served and gold.duckdb) at a steady insert rate through the whole pipeline')
  .option('--count <n>', 'activities to insert', (v) => Number(v), 120)
  .option('--rate <perSecond>', 'insert rate (activities per second)', (v) => Number(v), 1)
  .option('--min-interval <s>', 'REFRESH_MIN_INTERVAL_S of the refresh service (the demo: 5)', '5')
  .option('--bronze-max-age <s>', 'BRONZE_MAX_AGE_S of the bronze writer (the demo: 3)', '3')
  .parse(process.argv)
  .opts<{ count: number; rate: number; minInterval: string; bronzeMaxAge: string }>();

const portBase = process.env.TEST_STACK_PORT_BASE;
if (portBase) Object.assign(process.env, testEnv(Number(portBase)));
const base = loadConfig(process.env);
if (portBase) {
  await stackUp(base, (l) => console.log(`[stack] ${l}`));
  await migrate(base);
}

const run = Date.now().toString(36);
const prefix = `benchfresh${run}`;
const slot = `benchfresh_${run}`;
const schema = `gold_bench_${run}`;
const EMPLOYEE = 999_902;
const say = (line: string) => console.log(`[freshness] ${line}`);
const dir = await mkdtemp(path.join(tmpdir(), 'bench-freshness-'));

const settings: Record<string, string> = {
  KAFKA_TOPIC_PREFIX: prefix,
  CDC_SLOT_NAME: slot,
  LAKE_URL: `s3://${base.s3.bucket}/${prefix}/`,
  BRONZE_CONSUMER_GROUP: `${prefix}-bronze`,
  BRONZE_MAX_AGE_S: opts.bronzeMaxAge,
  BATCH_STATE_DIR: path.join(dir, 'state'),
  BATCH_GOLD_DB: path.join(dir, 'gold.duckdb'),
  BATCH_RULES_FILE: path.join(dir, 'rules.json'),
  GOLD_PG_ENABLED: 'true',
  GOLD_PG_SCHEMA: schema,
  REFRESH_MIN_INTERVAL_S: opts.minInterval,
  REFRESH_POLL_INTERVAL_S: '1',
  REFRESH_FULL_CRON: 'off',
  LOG_LEVEL: 'warn',
};
const env = { ...process.env, ...settings };
const config = loadConfig(env);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), min: s[0] ?? Number.NaN, max: s.at(-1) ?? Number.NaN };
}
const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const admin = new pg.Client(pgConnection(config, 'admin'));
await admin.connect();
const app = new pg.Client(pgConnection(config, 'simulator'));
await app.connect();
const bi = new pg.Client(pgConnection(config, 'biReader', config.goldPg.database));
await bi.connect();
await admin.query(
  `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, commute_mode)
   VALUES ($1, 'Banc', 'Fraîcheur', '1990-01-01', 'R&D', '2020-01-01', 40000, 'CDI', 25, '1 rue du Banc', '34000', 'Montpellier', 'Marche/running')
   ON CONFLICT (employee_id) DO NOTHING`,
  [EMPLOYEE],
);
await admin.query(`DELETE FROM activities WHERE employee_id = $1`, [EMPLOYEE]);
const rules = JSON.parse(await readFile(path.join(REPO_ROOT, 'products/sport-rewards/rules.json'), 'utf8')) as Record<string, unknown>;
await writeFile(settings.BATCH_RULES_FILE!, JSON.stringify({ ...rules, source: { namespace: prefix, schema: 'public' } }));

// The children authenticate as the CDC, bronze writer and monitor principals (the refresh reads the
// bronze group's offsets as the monitor): their ACLs for this run's namespace.
await ensureKafkaAccess(config);
const children: ChildProcess[] = [];
function service(name: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    for (const line of d.split('\n')) if (/error|failed|skipped/i.test(line)) console.log(`[${name}] ${line}`);
  });
  children.push(child);
  return child;
}

const year = new Date().getUTCFullYear();
async function servedCount(): Promise<number> {
  try {
    const res = await bi.query<{ n: string }>(`SELECT activity_count AS n FROM "${schema}".v_wellbeing WHERE employee_id = $1 AND year = $2`, [EMPLOYEE, year]);
    return Number(res.rows[0]?.n ?? 0);
  } catch {
    return 0; // not published yet
  }
}
async function duckCount(): Promise<number> {
  if (!existsSync(config.batch.goldDb)) return 0;
  try {
    const instance = await DuckDBInstance.create(config.batch.goldDb, { access_mode: 'READ_ONLY' });
    const conn = await instance.connect();
    try {
      const rows = (await conn.runAndReadAll(`SELECT activity_count AS n FROM v_wellbeing WHERE employee_id = ${EMPLOYEE} AND year = ${year}`)).getRowObjectsJson();
      return Number(rows[0]?.n ?? 0);
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  } catch {
    return 0; // between a rename and the next open, or not built yet
  }
}

// No snapshot (the shared database may be large): the bench employee reaches silver as an update.
const cdc = new CdcChild({ ...settings, LOG_LEVEL: 'info', CDC_SNAPSHOT_MODE: 'never', CDC_HEARTBEAT_INTERVAL_S: '1' }); // info: its "streaming changes" line
children.push(cdc.child);
try {
  await cdc.waitStreaming();
  await admin.query(`UPDATE employees SET paid_leave_days = paid_leave_days WHERE employee_id = $1`, [EMPLOYEE]);
  service('bronze-writer', ['services/bronze-writer/main.ts']);
  service('refresh', ['services/batch/cli.ts', '--watch']);
  say(`pipeline up (prefix ${prefix}); waiting for the first gold (snapshot)`);
  for (let i = 0; !(await bi.query(`SELECT 1 FROM information_schema.views WHERE table_schema = $1`, [schema])).rowCount; i++) {
    if (i > 1200) throw new Error('no gold published within 4 minutes');
    await new Promise((r) => setTimeout(r, 200));
  }
  const loadBefore = loadavg();
  say(`inserting ${opts.count} activities at ${opts.rate}/s; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
  const committedAt: number[] = [];
  const seen = { pg: [] as number[], duck: [] as number[] };
  let stop = false;
  const poll = async (which: 'pg' | 'duck', count: () => Promise<number>) => {
    while (!stop) {
      const n = await count();
      const at = Date.now();
      for (let i = seen[which].length; i < Math.min(n, committedAt.length); i++) seen[which].push(at - committedAt[i]!);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const pollers = [poll('pg', servedCount), poll('duck', duckCount)];
  const interval = 1000 / opts.rate;
  const t0 = Date.now();
  for (let i = 0; i < opts.count; i++) {
    const due = t0 + i * interval;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    await app.query(
      `INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment, source)
       VALUES ($1, 'Runing', now() - interval '46 minutes', now(), 2760, 10800, 'bench freshness', 'bench')`,
      [EMPLOYEE],
    );
    committedAt.push(Date.now());
  }
  const deadline = Date.now() + 180_000;
  while ((seen.pg.length < opts.count || seen.duck.length < opts.count) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  stop = true;
  await Promise.all(pollers);
  const loadAfter = loadavg();
  const pgS = summary(seen.pg);
  const duckS = summary(seen.duck);
  const used = { BRONZE_MAX_AGE_S: opts.bronzeMaxAge, REFRESH_MIN_INTERVAL_S: opts.minInterval, REFRESH_POLL_INTERVAL_S: '1', CDC_HEARTBEAT_INTERVAL_S: '1', BATCH_THREADS: String(config.batch.threads ?? 'default') };
  say(`settings: ${Object.entries(used).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  say(`PostgreSQL-served gold: n=${pgS.n}/${opts.count} p50 ${fmt(pgS.p50)} p99 ${fmt(pgS.p99)} (min ${fmt(pgS.min)}, max ${fmt(pgS.max)})`);
  say(`gold.duckdb:            n=${duckS.n}/${opts.count} p50 ${fmt(duckS.p50)} p99 ${fmt(duckS.p99)} (min ${fmt(duckS.min)}, max ${fmt(duckS.max)})`);
  say(`target p99 <= 30 s: PostgreSQL ${pgS.p99 <= 30_000 && pgS.n === opts.count ? 'MET' : 'NOT MET'}, gold.duckdb ${duckS.p99 <= 30_000 && duckS.n === opts.count ? 'MET' : 'NOT MET'}`);
  const runs = (await readFile(config.batch.runLogFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { status: string; startedAt: string; finishedAt: string; trigger: string });
  const d = summary(runs.filter((r) => r.status === 'success').map((r) => Date.parse(r.finishedAt) - Date.parse(r.startedAt)));
  say(`refresh runs: ${runs.length} (${runs.filter((r) => r.status !== 'success').length} not successful), duration p50 ${fmt(d.p50)} max ${fmt(d.max)}`);
  say(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  const others = children.filter((c) => c !== cdc.child && c.exitCode === null && c.signalCode === null);
  for (const c of others) c.kill('SIGTERM');
  await Promise.all(others.map((c) => new Promise((r) => c.once('exit', r))));
  cdc.kill('SIGTERM');
  await cdc.exited;
  await dropSlots(admin, [slot]);
  await admin.query(`DELETE FROM activities WHERE employee_id = $1`, [EMPLOYEE]);
  const analytics = new pg.Client(pgConnection(config, 'admin', config.goldPg.database));
  await analytics.connect();
  await analytics.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await analytics.query(`DROP SCHEMA IF EXISTS "${schema}_store" CASCADE`);
  await analytics.end();
  await bi.end();
  await app.end();
  await admin.end();
  await rm(dir, { recursive: true, force: true });
}
