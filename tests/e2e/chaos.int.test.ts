/**
 * Issue 14's chaos test: the whole streaming pipeline as production runs it (the CDC service, the
 * bronze writer, the Slack notifier and the distance worker as child processes under the demo's
 * supervisor, which restarts a process that dies), a workload of 10,000 changes, and during it a
 * kill -9 of each service and a restart of each server (PostgreSQL fast shutdown, Kafka, MinIO
 * down 15 s).
 *
 * Afterwards:
 * - silver equals PostgreSQL, value for value and type for type, for the four sport tables
 *   (read independently: tests/support/silver-compare.ts);
 * - the (local) Slack received exactly one message per inserted activity, except where the notifier
 *   was killed between a post and its ledger write (the one window services/slack-notifier/README.md
 *   documents), which its ledger shows as an attempt left `claimed`;
 * - every service runs at the end without outside help: the only process exits are the four
 *   kill -9s; a server fault a service did not ride out by itself (an exit the supervisor had to
 *   restart) fails the test, with its cause in test-artifacts/chaos-logs.
 * The figures (changes, faults, losses, duplicates) are printed.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, REPO_ROOT, type Config } from '../../services/common/config.ts';
import { createLogger } from '../../services/common/logger.ts';
import { refresh } from '../../services/batch/refresh.ts';
import { confirmedFlushLsn, currentWalLsn, dropSlots, runId } from '../../services/cdc/testing/harness.ts';
import { startService, stopService } from '../../scripts/lib/stack.ts';
import { Supervisor, type ServiceSpec } from '../../scripts/lib/supervisor.ts';
import { connectTestBroker, waitUntil, type TestBroker } from '../support/debezium-events.ts';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.ts';
import { grantKafkaAccess, testAdmin, kafkaTarget } from '../support/kafka.ts';
import { compareSilver, SPORT_TABLES } from '../support/silver-compare.ts';
import { testPortBase } from '../support/test-env.ts';

const RUN = runId();
const PREFIX = `chaos${RUN}`;
const SLOT = `chaos_${RUN}`;
const FIRST_EMPLOYEE = 970_001;
const EMPLOYEES = 20;
const CHANGES = 10_000;
/** Changes per second the workload aims at: the faults (about 3 minutes, each kill waits for the service to be healthy again) fall inside it. */
const RATE = 45;
const logger = createLogger('chaos-test', process.env.LOG_LEVEL ?? 'warn');
const PORT_BASE = testPortBase();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let base: Config;
let config: Config;
let dir: string;
let env: Record<string, string>;
let slack: FakeSlack;
let broker: TestBroker;
let supervisor: Supervisor;
let stopping = false;
const exits: { name: string; code: number | null; signal: NodeJS.Signals | null }[] = [];

const SERVICES: ServiceSpec[] = [
  { name: 'cdc', entry: 'services/cdc/main.ts' },
  { name: 'bronze-writer', entry: 'services/bronze-writer/main.ts' },
  { name: 'slack-notifier', entry: 'services/slack-notifier/main.ts' },
  { name: 'distance-worker', entry: 'services/distance-worker/main.ts' },
];

/** An admin connection that reconnects after a server restart, each statement retried until it runs. */
class Writer {
  private client: pg.Client | null = null;
  reconnects = 0;

  async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<T>> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (!this.client) {
          const c = new pg.Client(pgConnection(base, 'admin'));
          c.on('error', () => undefined);
          await c.connect();
          this.client = c;
        }
        return await this.client.query<T>(sql, params);
      } catch (err) {
        if (attempt > 120) throw err;
        await this.client?.end().catch(() => undefined);
        this.client = null;
        this.reconnects++;
        await sleep(500);
      }
    }
  }

  async end(): Promise<void> {
    await this.client?.end().catch(() => undefined);
  }
}

/** The workload: inserts, updates and deletes of activities, updates of employees; idempotent on retry. */
async function workload(db: Writer, progress: { done: number; inserted: Map<string, number> }): Promise<void> {
  const live: number[] = [];
  let rand = 2026;
  const next = () => {
    rand = (rand * 1103515245 + 12345) % 2147483648;
    return rand / 2147483648;
  };
  const started = Date.now();
  for (let n = 0; n < CHANGES; n++) {
    const r = next();
    if (n < 200 || r < 0.25 || live.length < 20) {
      const comment = `chaos ${RUN} #${n}`;
      // A retried INSERT must not insert twice: look for the comment first.
      const employee = FIRST_EMPLOYEE + Math.floor(next() * EMPLOYEES);
      const row = await db.query<{ activity_id: number }>(
        `WITH found AS (SELECT activity_id FROM activities WHERE comment = $2),
              ins AS (INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment)
                      SELECT $1, 'Runing', now() - interval '30 minutes', now(), 1800, 5000, $2 WHERE NOT EXISTS (SELECT 1 FROM found) RETURNING activity_id)
         SELECT activity_id FROM ins UNION ALL SELECT activity_id FROM found`,
        [employee, comment],
      );
      const id = Number(row.rows[0]!.activity_id);
      live.push(id);
      progress.inserted.set(comment, id);
    } else if (r < 0.8) {
      const id = live[Math.floor(next() * live.length)]!;
      await db.query(`UPDATE activities SET elapsed_seconds = 1700 + $2::int, distance_m = 4900 + $2::int WHERE activity_id = $1`, [id, n % 100]);
    } else if (r < 0.9) {
      const [id] = live.splice(Math.floor(next() * live.length), 1);
      await db.query('DELETE FROM activities WHERE activity_id = $1', [id]);
    } else {
      const employee = FIRST_EMPLOYEE + Math.floor(next() * EMPLOYEES);
      // A move (the distance worker computes the commute again) or another business unit.
      if (next() < 0.5) await db.query(`UPDATE employees SET home_lat = 43.55 + $2::float8 / 1000, home_lon = 3.85 + $2::float8 / 1000 WHERE employee_id = $1`, [employee, n % 100]);
      else await db.query(`UPDATE employees SET business_unit = (ARRAY['Marketing', 'R&D', 'Ventes', 'Support'])[1 + $2::int % 4] WHERE employee_id = $1`, [employee, n]);
    }
    progress.done = n + 1;
    const ahead = (n + 1) * (1000 / RATE) - (Date.now() - started);
    if (ahead > 0) await sleep(ahead);
  }
}

/** Where each service answers /healthz, and the state it reports once it works again. */
const HEALTH: Record<string, { port: () => number; state: string }> = {
  cdc: { port: () => PORT_BASE + 464, state: 'streaming' },
  'bronze-writer': { port: () => config.bronze.healthPort, state: 'running' },
  'slack-notifier': { port: () => config.slack.healthPort, state: 'running' },
  'distance-worker': { port: () => config.distance.healthPort, state: 'running' },
};

/**
 * kill -9 of one service; the supervisor starts it again after 1 s, and the next fault waits until
 * it is healthy again, so that each fault is seen on its own in the logs.
 */
async function killService(name: string): Promise<void> {
  const running = supervisor.get(name)!;
  const restarts = running.restarts;
  running.child.kill('SIGKILL');
  await waitUntil(`${name} restarted`, () => (supervisor.get(name)?.restarts ?? 0) > restarts && supervisor.isRunning(name), 30_000);
  const health = HEALTH[name]!;
  await waitUntil(`${name} healthy again`, async () => (await healthState(`http://127.0.0.1:${health.port()}/healthz`)) === health.state, 120_000);
}

async function logsTail(): Promise<string> {
  const parts: string[] = [];
  for (const s of SERVICES) {
    const text = await readFile(path.join(dir, 'logs', `${s.name}.log`), 'utf8').catch(() => '');
    parts.push(`--- ${s.name}\n${text.split('\n').slice(-15).join('\n')}`);
  }
  return parts.join('\n');
}

beforeAll(async () => {
  base = loadConfig();
  dir = await mkdtemp(path.join(tmpdir(), 'chaos-'));
  slack = await startFakeSlack();
  env = {
    KAFKA_TOPIC_PREFIX: PREFIX,
    CDC_SLOT_NAME: SLOT,
    CDC_SNAPSHOT_MODE: 'initial',
    CDC_METRICS_PORT: String(PORT_BASE + 464),
    CDC_RETRY_MAX_BACKOFF_S: '2',
    BRONZE_CONSUMER_GROUP: `${PREFIX}-bronze`,
    SLACK_CONSUMER_GROUP: `${PREFIX}-slack`,
    DISTANCE_CONSUMER_GROUP: `${PREFIX}-distance`,
    LAKE_URL: `s3://${base.s3.bucket}/${PREFIX}/`,
    BRONZE_MAX_AGE_S: '2',
    SLACK_WEBHOOK_URL: slack.url,
    SLACK_RATE_PER_SECOND: '100',
    DISTANCE_PROVIDER: 'offline',
    GOOGLE_MAPS_API_KEY: '',
    BATCH_STATE_DIR: path.join(dir, 'state'),
    BATCH_GOLD_DB: path.join(dir, 'gold.duckdb'),
    BATCH_THREADS: '2',
    LOG_LEVEL: 'info',
  };
  config = loadConfig({ ...process.env, ...env });
  await grantKafkaAccess(env);
  broker = await connectTestBroker(config.kafka.brokers);
  const admin = new pg.Client(pgConnection(base, 'admin'));
  await admin.connect();
  try {
    await admin.query('DELETE FROM activities WHERE employee_id >= $1 AND employee_id < $2', [FIRST_EMPLOYEE, FIRST_EMPLOYEE + EMPLOYEES]);
    await admin.query('DELETE FROM employees WHERE employee_id >= $1 AND employee_id < $2', [FIRST_EMPLOYEE, FIRST_EMPLOYEE + EMPLOYEES]);
    for (let i = 0; i < EMPLOYEES; i++) {
      await admin.query(
        `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode)
         VALUES ($1, $2, 'Chaos', '1990-05-01', 'Marketing', '2020-09-01', 42000, 'CDI', 25, '12 rue de la Loge', '34000', 'Montpellier', 43.6108, 3.8767, 'Marche/running')`,
        [FIRST_EMPLOYEE + i, `Test${i}`],
      );
    }
  } finally {
    await admin.end();
  }
  supervisor = new Supervisor(path.join(dir, 'logs'), { ...process.env, ...env }, (name, code, signal) => {
    exits.push({ name, code, signal });
    setTimeout(() => {
      if (!stopping) supervisor.restart(name);
    }, 1000);
  });
  for (const spec of SERVICES) supervisor.start(spec);
  // The workload starts once the initial snapshot is over: rows committed before its consistent
  // point are snapshot reads (op "r"), which are rightly never announced.
  for (const [name, health] of Object.entries(HEALTH)) {
    await waitUntil(`${name} healthy`, async () => (await healthState(`http://127.0.0.1:${health.port()}/healthz`)) === health.state, 120_000);
  }
}, 240_000);

/** The `state` a service's /healthz reports, null when it does not answer. */
async function healthState(url: string): Promise<string | null> {
  try {
    const res = await fetch(url);
    const body = (await res.json()) as { state?: string; status?: string };
    return res.status === 200 ? (body.state ?? null) : null;
  } catch {
    return null;
  }
}

afterAll(async () => {
  stopping = true;
  await supervisor?.stopAll(30_000);
  await broker?.close();
  await slack?.close();
  // A server the test stopped is running again whatever happened.
  for (const server of ['postgres', 'kafka', 'minio'] as const) await startService(base, server).catch(() => undefined);
  const admin = new pg.Client(pgConnection(base, 'admin'));
  await admin.connect();
  await dropSlots(admin, [SLOT]);
  await admin.query('DELETE FROM activities WHERE employee_id >= $1 AND employee_id < $2', [FIRST_EMPLOYEE, FIRST_EMPLOYEE + EMPLOYEES]);
  await admin.query('DELETE FROM commute_distances WHERE employee_id >= $1 AND employee_id < $2', [FIRST_EMPLOYEE, FIRST_EMPLOYEE + EMPLOYEES]);
  await admin.query('DELETE FROM employees WHERE employee_id >= $1 AND employee_id < $2', [FIRST_EMPLOYEE, FIRST_EMPLOYEE + EMPLOYEES]);
  await admin.end();
  // The services' logs stay with the test artifacts (CI keeps them).
  if (dir) await cp(path.join(dir, 'logs'), path.join(REPO_ROOT, 'test-artifacts', 'chaos-logs'), { recursive: true }).catch(() => undefined);
  const ka = testAdmin(kafkaTarget(base.kafka.brokers));
  await ka.deleteTopics((await ka.listTopics()).filter((t) => t.startsWith(`${PREFIX}.`))).catch(() => undefined);
  await ka.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 180_000);

describe('chaos: 10,000 changes, a kill -9 of each service and a restart of each server', () => {
  it('loses nothing: silver equals PostgreSQL, one Slack message per insert, every service up at the end', async () => {
    const progress = { done: 0, inserted: new Map<string, number>() };
    const db = new Writer();
    const say = (line: string) => console.log(`[chaos] ${line} (${progress.done} changes done)`);
    const running = workload(db, progress);
    const faults: string[] = [];
    const fault = async (what: string, act: () => Promise<void>) => {
      await sleep(8_000);
      say(what);
      await act();
      faults.push(what);
    };
    try {
      await fault('kill -9 cdc', () => killService('cdc'));
      await fault('kill -9 bronze-writer', () => killService('bronze-writer'));
      await fault('kill -9 slack-notifier', () => killService('slack-notifier'));
      await fault('kill -9 distance-worker', () => killService('distance-worker'));
      await fault('PostgreSQL restart (fast shutdown)', async () => {
        await stopService(base, 'postgres');
        await sleep(3_000);
        await startService(base, 'postgres');
      });
      await fault('Kafka restart', async () => {
        await stopService(base, 'kafka');
        await sleep(3_000);
        await startService(base, 'kafka');
      });
      await fault('MinIO down 15 s', async () => {
        await stopService(base, 'minio');
        await sleep(15_000);
        await startService(base, 'minio');
      });
      await running;
    } finally {
      await running.catch(() => undefined);
      await db.end();
    }
    say(`workload done: ${CHANGES} changes, ${progress.inserted.size} activity inserts, ${db.reconnects} workload reconnects; faults: ${faults.join(', ')}`);

    // Caught up: the slot confirmed the workload, every group committed to the end of its topics.
    const admin = new pg.Client(pgConnection(base, 'admin'));
    await admin.connect();
    try {
      const target = await currentWalLsn(admin);
      await waitUntil('the CDC slot to confirm the workload', async () => ((await confirmedFlushLsn(admin, SLOT)) ?? 0n) >= target, 180_000).catch(async (err) => {
        throw new Error(`${(err as Error).message}\n${await logsTail()}`);
      });
      for (const t of SPORT_TABLES) await broker.waitForGroupCaughtUp(config.bronze.consumerGroup, `${PREFIX}.${t.schema}.${t.table}`, 180_000);
      await broker.waitForGroupCaughtUp(config.slack.consumerGroup, `${PREFIX}.public.activities`, 180_000);
      await broker.waitForGroupCaughtUp(config.distance.consumerGroup, `${PREFIX}.public.employees`, 180_000);
      // The distance worker's last commute rows are changes too: the slot and bronze again.
      const again = await currentWalLsn(admin);
      await waitUntil('the CDC slot to confirm the commute rows', async () => ((await confirmedFlushLsn(admin, SLOT)) ?? 0n) >= again, 120_000);
      await broker.waitForGroupCaughtUp(config.bronze.consumerGroup, `${PREFIX}.public.commute_distances`, 120_000);

      // Every service up at the end (restarted by the supervisor where it died).
      for (const s of SERVICES) expect(supervisor.isRunning(s.name), s.name).toBe(true);

      // Slack: one message per inserted activity (by its unique comment); a second one only where
      // the notifier was killed between the post and its ledger write (an attempt left "claimed").
      // Posts are rate-limited (100/s): wait until they stop coming.
      let seen = -1;
      await waitUntil('the Slack posts to settle', async () => {
        const now = slack.accepted().length;
        const settled = now === seen;
        seen = now;
        await sleep(5_000);
        return settled;
      }, 300_000);
      const perComment = new Map<string, number>();
      for (const r of slack.accepted()) {
        const comment = /« (chaos [^»]+) »/.exec(r.payload.text ?? '')?.[1];
        if (comment?.startsWith(`chaos ${RUN} `)) perComment.set(comment, (perComment.get(comment) ?? 0) + 1);
      }
      const missing = [...progress.inserted.keys()].filter((c) => !perComment.has(c));
      const duplicated = [...perComment].filter(([, n]) => n > 1).map(([c]) => c);
      // Attempts the ledger shows claimed and never finished, followed by another attempt.
      const interruptedIds = new Set(
        (
          await admin.query<{ activity_id: string }>(
            `SELECT DISTINCT l.activity_id::text FROM slack_announcement_log l
             WHERE l.activity_id = ANY($1::bigint[]) AND l.status = 'claimed'
               AND NOT EXISTS (SELECT 1 FROM slack_announcement_log o WHERE o.target = l.target AND o.activity_id = l.activity_id AND o.attempt = l.attempt AND o.status <> 'claimed')
               AND l.attempt < (SELECT max(m.attempt) FROM slack_announcement_log m WHERE m.target = l.target AND m.activity_id = l.activity_id)`,
            [[...progress.inserted.values()]],
          )
        ).rows.map((r) => Number(r.activity_id)),
      );
      const interrupted = [...progress.inserted].filter(([, id]) => interruptedIds.has(id)).map(([c]) => c);
      say(`Slack: ${perComment.size} activities announced, ${missing.length} missing, ${duplicated.length} posted twice (${interrupted.length} attempts interrupted by the kill)`);
      expect(missing.slice(0, 10).map((c) => `${c} (activity ${progress.inserted.get(c)})`)).toEqual([]);
      expect(duplicated.filter((c) => !interrupted.includes(c))).toEqual([]);
      expect(duplicated.length).toBeLessThanOrEqual(1);
      expect(slack.violations).toEqual([]);

      // Silver equals PostgreSQL.
      const run = await refresh(config, { logger, asOf: new Date() });
      expect(['success', 'failed_quality']).toContain(run.status);
      const instance = await DuckDBInstance.create(':memory:');
      const conn = await instance.connect();
      try {
        await conn.run(`ATTACH '${config.batch.silverDb}' AS sdb (READ_ONLY); USE sdb`);
        const results = [];
        for (const t of SPORT_TABLES) results.push(await compareSilver(admin, conn, t, `silver.${PREFIX}__${t.schema}__${t.table}`));
        say(`silver: ${results.map((r) => `${r.table} ${r.rows} rows, ${r.differences.length} differences`).join('; ')}`);
        expect(results.flatMap((r) => r.differences)).toEqual([]);
        expect(results.find((r) => r.table === 'public.activities')!.rows).toBeGreaterThan(0);
        // Only the four kill -9s ended a process: every server fault was ridden out by the service
        // itself (the causes of any other exit are in test-artifacts/chaos-logs).
        const unexpected = exits.filter((e) => e.signal !== 'SIGKILL').map((e) => `${e.name} exited ${e.code}`);
        say(`process exits: ${exits.length} (${exits.filter((e) => e.signal === 'SIGKILL').length} kill -9${unexpected.length ? `; not ridden out: ${unexpected.join(', ')}` : ''})`);
        expect(exits.filter((e) => e.signal === 'SIGKILL').map((e) => e.name).sort()).toEqual(SERVICES.map((s) => s.name).sort());
        expect(unexpected).toEqual([]);
      } finally {
        conn.closeSync();
        instance.closeSync();
      }
    } finally {
      await admin.end();
    }
  }, 900_000);
});
