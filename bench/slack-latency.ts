/**
 * `npm run bench -- slack-latency [--count 60] [--rate 1]`
 *
 * Commit -> Slack post latency through the whole path: PostgreSQL -> CDC service (child process,
 * `services/cdc/main.ts`) -> Kafka -> Slack notifier (child process, `services/slack-notifier/main.ts`,
 * default pacing: SLACK_RATE_PER_SECOND / SLACK_BURST from the environment) -> local HTTP server
 * playing Slack. Activities are inserted one per transaction at `--rate` per second; latency =
 * time the local Slack server received the post - time the INSERT's COMMIT returned.
 *
 * Baseline measured in the same run: a bare kafkajs consumer on the activities topic, i.e.
 * commit -> event readable from the broker (CDC + broker share of the latency).
 * Target (issue 5): p99 <= 1.5 s at one activity per second.
 *
 * Uses the stack of the environment (`npm run stack -- up` + `npm run db:migrate`), or with
 * TEST_STACK_PORT_BASE set, starts/uses the test stack on those ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Command } from 'commander';
import { createConsumer, KafkaAdmin } from '../services/common/kafka/index.ts';
import { createLogger } from '../services/common/logger.ts';
import pg from 'pg';
import { loadConfig, pgConnection, REPO_ROOT } from '../services/common/config.ts';
import { CdcChild, dropSlots } from '../services/cdc/testing/harness.ts';
import { migrate } from '../scripts/lib/migrate.ts';
import { ensureKafkaAccess, stackUp } from '../scripts/lib/stack.ts';
import { startFakeSlack } from '../tests/support/fake-slack.ts';
import { testEnv } from '../tests/support/test-env.ts';

const opts = new Command('bench slack-latency')
  .option('--count <n>', 'activities to insert', (v) => Number(v), 60)
  .option('--rate <perSecond>', 'insert rate (activities per second)', (v) => Number(v), 1)
  .parse(process.argv)
  .opts<{ count: number; rate: number }>();

const portBase = process.env.TEST_STACK_PORT_BASE;
if (portBase) Object.assign(process.env, testEnv(Number(portBase)));
const config = loadConfig(process.env);
if (portBase) {
  await stackUp(config, (l) => console.log(`[stack] ${l}`));
  await migrate(config);
}

const run = `${Date.now().toString(36)}`;
const prefix = `benchslack${run}`;
const slot = `benchslack_${run}`;
const topic = `${prefix}.public.activities`;
const EMPLOYEE = 999_901;
const say = (line: string) => console.log(`[slack-latency] ${line}`);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s.at(-1) ?? Number.NaN };
}

const admin = new pg.Client(pgConnection(config, 'admin'));
await admin.connect();
const app = new pg.Client(pgConnection(config, 'simulator'));
await app.connect();
await admin.query(
  `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, commute_mode)
   VALUES ($1, 'Banc', 'Essai', '1990-01-01', 'R&D', '2020-01-01', 40000, 'CDI', 25, '1 rue du Banc', '34000', 'Montpellier', 'Marche/running')
   ON CONFLICT (employee_id) DO NOTHING`,
  [EMPLOYEE],
);

const slack = await startFakeSlack();
const children: ChildProcess[] = [];
// The children authenticate as the CDC and notifier principals: their ACLs for this run's namespace.
await ensureKafkaAccess(loadConfig({ ...process.env, KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, SLACK_CONSUMER_GROUP: `${prefix}-notifier` }));
const cdc = new CdcChild({ KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_SNAPSHOT_MODE: 'never' });
children.push(cdc.child);
let notifier: ChildProcess | null = null;
let notifierExit: Promise<number | null> = Promise.resolve(null);

try {
  await cdc.waitStreaming();
  say(`CDC streaming (prefix ${prefix})`);

  const seenByBaseline = new Map<string, number>();
  const baseline = createConsumer(config, 'bench-baseline', createLogger('bench-baseline', 'warn'), { groupId: `${prefix}-baseline`, maxWaitTime: 100 });
  const baselineStream = await baseline.consume({ topics: [topic], mode: 'earliest' });
  baselineStream.on('data', (message) => {
    const token = /"comment":"(bench-[^"]+)"/.exec(message.value?.toString() ?? '')?.[1];
    if (token && /"op":"c"/.test(message.value?.toString() ?? '')) seenByBaseline.set(token, Date.now());
  });

  notifier = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/slack-notifier/main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, KAFKA_TOPIC_PREFIX: prefix, SLACK_WEBHOOK_URL: slack.url, SLACK_CONSUMER_GROUP: `${prefix}-notifier`, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(notifier);
  const child = notifier;
  notifierExit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const kAdmin = KafkaAdmin.create(config, 'bench-baseline', createLogger('bench-baseline', 'warn'));
  for (let i = 0; ; i++) {
    const [group] = await kAdmin.describeGroups([`${prefix}-notifier`]);
    if (group?.state === 'Stable' && group.members.length > 0) break;
    if (i > 600) throw new Error('notifier did not join its group within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  await kAdmin.close();
  say(`notifier consuming; inserting ${opts.count} activities at ${opts.rate}/s`);

  const committedAt = new Map<string, number>();
  const interval = 1000 / opts.rate;
  const t0 = Date.now();
  for (let i = 0; i < opts.count; i++) {
    const due = t0 + i * interval;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const token = `bench-${run}-${i}`;
    await app.query(
      `INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment, source)
       VALUES ($1, 'Runing', now() - interval '46 minutes', now(), 2760, 10800, $2, 'bench')`,
      [EMPLOYEE, token],
    );
    committedAt.set(token, Date.now());
  }
  await slack.waitForAccepted(opts.count, 60_000 + opts.count * 2_000);
  await new Promise((r) => setTimeout(r, 500));

  const slackLatency: number[] = [];
  for (const post of slack.accepted()) {
    const token = /« (bench-[^ ]+) »/.exec(String(post.payload.text))?.[1];
    const at = token ? committedAt.get(token) : undefined;
    if (at !== undefined) slackLatency.push(post.atMs - at);
  }
  const baselineLatency = [...seenByBaseline.entries()].map(([token, at]) => at - (committedAt.get(token) ?? at));
  await baselineStream.close();
  await baseline.close(true);

  const whole = summary(slackLatency);
  const base = summary(baselineLatency);
  const duplicates = slack.accepted().length - new Set(slack.accepted().map((p) => p.payload.text)).size;
  say(`posts: ${slack.accepted().length}/${opts.count}, duplicates: ${duplicates}, payload violations: ${slack.violations.length}`);
  say(`baseline (commit -> event readable from Kafka): p50 ${base.p50} ms, p95 ${base.p95} ms, p99 ${base.p99} ms, max ${base.max} ms (n=${base.n})`);
  say(`whole path (commit -> Slack post):             p50 ${whole.p50} ms, p95 ${whole.p95} ms, p99 ${whole.p99} ms, max ${whole.max} ms (n=${whole.n})`);
  say(`ratio whole/baseline: p50 x${(whole.p50 / base.p50).toFixed(2)}, p99 x${(whole.p99 / base.p99).toFixed(2)}`);
  say(`target p99 <= 1500 ms at 1 activity/s: ${whole.p99 <= 1500 ? 'MET' : 'NOT MET'}`);
} finally {
  notifier?.kill('SIGTERM');
  const code = await notifierExit;
  say(`notifier exit code after SIGTERM: ${code}`);
  cdc.kill('SIGTERM');
  await cdc.exited;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await dropSlots(admin, [slot]);
  await admin.query(`DELETE FROM activities WHERE employee_id = $1 AND source = 'bench'`, [EMPLOYEE]);
  await admin.query('DELETE FROM employees WHERE employee_id = $1 AND NOT EXISTS (SELECT 1 FROM activities WHERE employee_id = $1)', [EMPLOYEE]);
  await slack.close();
  await app.end();
  await admin.end();
}
