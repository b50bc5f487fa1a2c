/**
 * The orchestrated refresh on the real stack (issue 17): PostgreSQL -> CDC -> Kafka -> bronze
 * writer -> MinIO, and `npm run refresh -- --watch` as a child process (so it can be SIGKILLed).
 * - activities inserted at 1/s for a minute all reach gold (gold.duckdb and the PostgreSQL-served
 *   gold, read as the BI role) without anyone running a command, and gold's completeness watermark
 *   passes the last commit;
 * - a run that fails its quality suite is retried (attempt 2, retryOf), the monitor's rules raise
 *   quality_error, the previous gold stays; once the cause is gone the next attempt succeeds;
 * - kill -9 during a run: the restarted service's next run completes, no lock or aside file is
 *   left behind, and the published gold equals gold.duckdb.
 * No timing is asserted: commit-to-gold latency is `npm run bench -- freshness`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, REPO_ROOT, type Config } from '../common/config.ts';
import { MANIFEST_ROOT } from '../common/contracts/bronze-object.ts';
import { openLake, type LakeStorage } from '../common/lake-storage.ts';
import { createLogger } from '../common/logger.ts';
import { readBatchState, readRunLog } from '../common/status/batch-state.ts';
import { evaluateRules } from '../monitor/alerts.ts';
import type { Snapshot } from '../monitor/snapshot.ts';
import { adminClient, dropSlots, runId, startCdc, type InProcessCdc } from '../cdc/testing/harness.ts';
import { BronzeWriter } from '../bronze-writer/writer.ts';
import { waitUntil } from '../../tests/support/debezium-events.ts';
import { generateHrData } from '../../scripts/lib/hr-data.ts';
import { grantKafkaAccess } from '../../tests/support/kafka.ts';

const RUN = runId();
const PREFIX = `wat${RUN}`;
const SLOT = `wat_${RUN}`;
const SCHEMA = `gold_watch_${RUN}`;
const FIRST_ID = 880_001;
const COUNT = 4;
const ids = Array.from({ length: COUNT }, (_, i) => FIRST_ID + i);
const logger = createLogger('refresh-watch-test', process.env.LOG_LEVEL ?? 'warn');

let dir: string;
let env: NodeJS.ProcessEnv;
let config: Config;
let admin: pg.Client;
let cdc: InProcessCdc;
let writer: BronzeWriter;
let lake: LakeStorage;
let watcher: Watcher | null = null;

/** `npm run refresh -- --watch` as a child process, its stderr kept. */
class Watcher {
  readonly child: ChildProcess;
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor() {
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/batch/cli.ts'), '--watch'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => this.stderr.push(...d.split('\n').filter(Boolean)));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

async function cleanup(): Promise<void> {
  await admin.query('DELETE FROM activities WHERE employee_id = ANY($1::int[])', [ids]);
  await admin.query('DELETE FROM employees WHERE employee_id = ANY($1::int[])', [ids]);
}

/** Valid activities of the test's employees per employee in the source (this calendar year). */
async function sourceCounts(): Promise<Record<string, number>> {
  const res = await admin.query<{ employee_id: number; n: string }>(
    `SELECT employee_id, count(*) AS n FROM activities WHERE employee_id = ANY($1::int[]) AND date_part('year', started_at AT TIME ZONE 'UTC') = date_part('year', now() AT TIME ZONE 'UTC') GROUP BY 1 ORDER BY 1`,
    [ids],
  );
  return Object.fromEntries(res.rows.map((r) => [String(r.employee_id), Number(r.n)]));
}

/** Activity counts of the test's employees in the PostgreSQL-served gold, read as the BI role, and its watermark. */
async function servedGold(): Promise<{ counts: Record<string, number>; completeThrough: Date | null; runId: string | null }> {
  const bi = new pg.Client(pgConnection(config, 'biReader', config.goldPg.database));
  await bi.connect();
  try {
    const exists = await bi.query(`SELECT 1 FROM information_schema.views WHERE table_schema = $1 AND table_name = 'v_wellbeing'`, [SCHEMA]);
    if (exists.rowCount === 0) return { counts: {}, completeThrough: null, runId: null };
    const year = new Date().getUTCFullYear();
    const rows = await bi.query<{ employee_id: number; activity_count: string }>(`SELECT employee_id, activity_count FROM "${SCHEMA}".v_wellbeing WHERE employee_id = ANY($1::int[]) AND year = $2 ORDER BY 1`, [ids, year]);
    const wm = await bi.query<{ at: Date | null; run_id: string | null }>(`SELECT max(figures_complete_through) AS at, max(run_id) AS run_id FROM "${SCHEMA}".v_run_log WHERE status = 'success'`);
    return { counts: Object.fromEntries(rows.rows.map((r) => [String(r.employee_id), Number(r.activity_count)])), completeThrough: wm.rows[0]?.at ?? null, runId: wm.rows[0]?.run_id ?? null };
  } finally {
    await bi.end();
  }
}

/** The same counts in gold.duckdb. */
async function duckGold(): Promise<Record<string, number>> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    await conn.run(`ATTACH '${config.batch.goldDb}' AS g (READ_ONLY)`);
    const rows = (await conn.runAndReadAll(`SELECT employee_id, activity_count FROM g.main.v_wellbeing WHERE employee_id IN (${ids.join(',')}) AND year = ${new Date().getUTCFullYear()} ORDER BY 1`)).getRowObjectsJson();
    return Object.fromEntries(rows.map((r) => [String(r.employee_id), Number(r.activity_count)]));
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

async function insertActivity(employeeId: number): Promise<Date> {
  const res = await admin.query<{ at: Date }>(
    `INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment, source)
     VALUES ($1, 'Runing', now() - interval '2 hours', now() - interval '1 hour', 3600, 10000, 'watch test', 'test') RETURNING clock_timestamp() AS at`,
    [employeeId],
  );
  return res.rows[0]!.at;
}

/**
 * Waits until both golds hold exactly the source's counts and the served watermark is at or past
 * `committed` (a run publishes into PostgreSQL just before it swaps gold.duckdb in).
 */
async function goldCaughtUp(committed: Date, timeoutMs = 180_000): Promise<void> {
  const want = await sourceCounts();
  await waitUntil(
    `gold to reflect every activity committed up to ${committed.toISOString()}`,
    async () => {
      const served = await servedGold();
      if (served.completeThrough === null || served.completeThrough < committed || JSON.stringify(served.counts) !== JSON.stringify(want)) return false;
      return JSON.stringify(await duckGold()) === JSON.stringify(want);
    },
    timeoutMs,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'refresh-watch-'));
  const base = loadConfig();
  admin = await adminClient(base);
  await cleanup();
  const hr = generateHrData(11, COUNT, FIRST_ID);
  for (const e of hr.employees) {
    await admin.query(
      `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type,
         paid_leave_days, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [e.employee_id, e.last_name, e.first_name, e.birth_date, e.business_unit, e.hire_date, e.gross_annual_salary_eur, e.contract_type, e.paid_leave_days,
        e.home_address, e.home_postcode, e.home_city, e.home_lat, e.home_lon, e.commute_mode],
    );
  }
  cdc = await startCdc({ KAFKA_TOPIC_PREFIX: PREFIX, CDC_SLOT_NAME: SLOT, CDC_SNAPSHOT_MODE: 'initial' });
  const rules = JSON.parse(await readFile(path.join(REPO_ROOT, 'products/sport-rewards/rules.json'), 'utf8'));
  const rulesFile = path.join(dir, 'rules.json');
  await writeFile(rulesFile, JSON.stringify({ ...rules, source: { namespace: PREFIX, schema: 'public' } }));
  env = {
    ...process.env,
    KAFKA_TOPIC_PREFIX: PREFIX,
    CDC_SLOT_NAME: SLOT,
    LAKE_URL: `s3://${base.s3.bucket}/${PREFIX}/`,
    BRONZE_CONSUMER_GROUP: `${PREFIX}-bronze`,
    BRONZE_TOPICS: ['employees', 'declared_sports', 'activities', 'commute_distances'].map((t) => `${PREFIX}.public.${t}`).join(','),
    BRONZE_MAX_AGE_S: '1',
    BATCH_STATE_DIR: path.join(dir, 'state'),
    BATCH_GOLD_DB: path.join(dir, 'gold.duckdb'),
    BATCH_RULES_FILE: rulesFile,
    BATCH_THREADS: '2',
    GOLD_PG_ENABLED: 'true',
    GOLD_PG_SCHEMA: SCHEMA,
    REFRESH_MIN_INTERVAL_S: '3',
    REFRESH_POLL_INTERVAL_S: '1',
    REFRESH_FULL_CRON: 'off',
    REFRESH_RETRY_MIN_BACKOFF_S: '8',
    REFRESH_RETRY_MAX_BACKOFF_S: '16',
    REFRESH_WATERMARK_INTERVAL_S: '20',
    LOG_LEVEL: 'warn',
  };
  config = loadConfig(env);
  // The refresh children read the bronze group's offsets as the monitor's Kafka principal: its ACLs for this namespace.
  await grantKafkaAccess(env);
  lake = openLake(config);
  writer = new BronzeWriter({ config, logger });
  await writer.start();
}, 180_000);

afterAll(async () => {
  await watcher?.stop();
  await writer?.stop();
  await cdc?.stop();
  lake?.close();
  if (admin) {
    await dropSlots(admin, [SLOT]);
    await cleanup();
    await admin.query(`SELECT 1`);
    await admin.end();
  }
  const db = new pg.Client(pgConnection(loadConfig(), 'admin', loadConfig().goldPg.database));
  await db.connect().catch(() => undefined);
  await db.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE; DROP SCHEMA IF EXISTS "${SCHEMA}_store" CASCADE`).catch(() => undefined);
  await db.end().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm run refresh -- --watch', () => {
  it('reflects activities inserted at 1/s for a minute in gold (DuckDB and PostgreSQL), with nobody running a command', async () => {
    watcher = new Watcher();
    let last = new Date(0);
    for (let i = 0; i < 60; i++) {
      last = await insertActivity(ids[i % COUNT]!);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await goldCaughtUp(last);
    expect(Object.values(await sourceCounts()).reduce((a, b) => a + b, 0)).toBe(60);
    const { runs } = await readRunLog(config.batch.runLogFile);
    expect(runs.length).toBeGreaterThan(1);
    expect(new Set(runs.map((r) => r.trigger))).not.toContain('manual');
    expect(runs.filter((r) => r.trigger === 'bronze' && r.status === 'success').length).toBeGreaterThan(1);
    expect(runs.every((r) => r.status === 'success')).toBe(true);
  }, 360_000);

  it('retries a run whose quality suite fails, raises quality_error, keeps the previous gold, then succeeds', async () => {
    const before = await servedGold();
    // Hold the watch still while a bronze object with a wrong manifest (a truncated upload) lands.
    watcher!.child.kill('SIGSTOP');
    let corrupted: { key: string; original: Buffer } | null = null;
    try {
      const manifestsBefore = new Set(await manifests());
      await insertActivity(ids[0]!);
      await waitUntil('a new bronze object of the activities', async () => (await manifests()).some((k) => !manifestsBefore.has(k) && k.includes('.public.activities/')), 60_000);
      const key = (await manifests()).find((k) => !manifestsBefore.has(k) && k.includes('.public.activities/'))!;
      const original = await lake.get(key);
      const m = JSON.parse(original.toString()) as { rows: number };
      await lake.put(key, Buffer.from(JSON.stringify({ ...m, rows: m.rows + 5 })));
      corrupted = { key, original };
    } finally {
      watcher!.child.kill('SIGCONT');
    }
    // Between the failed attempt and its retry (REFRESH_RETRY_MIN_BACKOFF_S): alerted, previous gold kept.
    await waitUntil('the failed run in run_log', async () => (await readRunLog(config.batch.runLogFile)).runs.some((r) => r.status === 'failed_quality'), 120_000);
    const state = await readBatchState(config);
    const snapshot = { at: Date.now(), dependencies: { postgres: { up: true, latencyMs: 1, error: null }, kafka: { up: true, latencyMs: 1, error: null }, lake: { up: true, latencyMs: 1, error: null } }, services: {}, groups: [], slot: null, deadLetters: [], topicMessages: [], cdc: null, batch: state, batchError: null, eventsPerSecond: null } as Snapshot;
    expect(evaluateRules(snapshot, config.alerts).active.map((c) => c.summary)).toContainEqual(expect.stringMatching(/^quality error, gold not refreshed: refresh \S+ ended failed_quality: error-level quality checks failed: bronze.files.rows_match_manifest/));
    expect((await servedGold()).runId).toBe(before.runId);
    await lake.put(corrupted!.key, corrupted!.original);

    // The retry: attempt 2 of the same run (retryOf), gold refreshed again.
    await waitUntil('a retry of the failed run', async () => (await readRunLog(config.batch.runLogFile)).runs.some((r) => r.attempt >= 2), 120_000);
    const committed = await insertActivity(ids[1]!);
    await goldCaughtUp(committed);
    const lines = (await readFile(config.batch.runLogFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { runId: string; status: string; attempt: number; retryOf: string | null; quality: { errors: string[] } });
    const firstFailed = lines.find((l) => l.status === 'failed_quality')!;
    expect(firstFailed).toMatchObject({ attempt: 1, retryOf: null, quality: { errors: ['bronze.files.rows_match_manifest'] } });
    const retries = lines.filter((l) => l.retryOf === firstFailed.runId);
    expect(retries.map((l) => l.attempt)).toEqual(retries.map((_, i) => i + 2));
    expect(retries.at(-1)!.status).toBe('success');
  }, 360_000);

  it('after kill -9 during a run, the restarted service completes the next run; no lock or half-built gold is left', async () => {
    await waitUntil('a run to start', async () => {
      const mark = watcher!.stderr.length;
      await insertActivity(ids[2]!);
      await waitUntil('the silver step', () => watcher!.stderr.slice(mark).some((l) => l.includes('▶ silver') || l.includes('▶ reading')), 30_000).catch(() => undefined);
      return watcher!.stderr.slice(mark).some((l) => l.includes('▶ silver') || l.includes('▶ reading'));
    }, 120_000);
    watcher!.child.kill('SIGKILL');
    expect((await watcher!.exited).signal).toBe('SIGKILL');

    watcher = new Watcher();
    const committed = await insertActivity(ids[3]!);
    await goldCaughtUp(committed);
    // No aside gold file, no lock: a one-off refresh runs at once (it would exit 2 on a held lock).
    expect((await readdir(path.dirname(config.batch.goldDb))).filter((f) => f.includes('.next') || f.includes('aside') || f.endsWith('.wal'))).toEqual([]);
    await watcher.stop();
    watcher = null;
    const once = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/batch/cli.ts')], { cwd: REPO_ROOT, env, stdio: 'ignore' });
    expect(await new Promise((r) => once.once('exit', r))).toBe(0);
    expect(await duckGold()).toEqual((await servedGold()).counts);
    expect(existsSync(config.batch.silverDb)).toBe(true);
  }, 360_000);
});

async function manifests(): Promise<string[]> {
  const out: string[] = [];
  for await (const o of lake.list(MANIFEST_ROOT)) out.push(o.key);
  return out;
}
