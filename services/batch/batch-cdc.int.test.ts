/**
 * End to end on the real stack: PostgreSQL -> CDC service (snapshot, then streaming) -> Kafka ->
 * bronze writer -> MinIO -> refresh. After a workload with inserts, updates (one changing a
 * primary key), deletes (one cascading) in several transactions, silver equals the PostgreSQL
 * source tables exactly, compared row by row and column by column; again after a second,
 * incremental round.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, type Config } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { adminClient, confirmedFlushLsn, currentWalLsn, dropSlots, runId, startCdc, type InProcessCdc } from '../cdc/testing/harness.ts';
import { BronzeWriter } from '../bronze-writer/writer.ts';
import { connectTestBroker, waitUntil, type TestBroker } from '../../tests/support/debezium-events.ts';
import { generateHrData } from '../../scripts/lib/hr-data.ts';
import { generateHistory } from '../../scripts/lib/activity-sim.ts';
import { refresh } from './refresh.ts';
import { canonicalSelect, rel, sportTable } from './testing/batch-kit.ts';
import { readFile, writeFile } from 'node:fs/promises';
import { REPO_ROOT } from '../common/config.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const RUN = runId();
const PREFIX = `bat${RUN}`;
const SLOT = `bat_${RUN}`;
const FIRST_ID = 870_001;
const COUNT = 24;
const logger = createLogger('batch-cdc-test', process.env.LOG_LEVEL ?? 'warn');
const TABLES = ['employees', 'declared_sports', 'activities', 'commute_distances'];
let rulesFile: string;

let cdc: InProcessCdc;
let config: Config;
let admin: pg.Client;
let broker: TestBroker;
let dir: string;

const ids = Array.from({ length: COUNT }, (_, i) => FIRST_ID + i);

async function cleanup(db: pg.Client): Promise<void> {
  await db.query('DELETE FROM activities WHERE employee_id = ANY($1::int[])', [ids]);
  await db.query('DELETE FROM employees WHERE employee_id = ANY($1::int[])', [ids]);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'batch-cdc-'));
  const base = loadConfig();
  admin = await adminClient(base);
  await cleanup(admin);
  // Rows present before the CDC service starts arrive as its snapshot (op r).
  const hr = generateHrData(7, COUNT, FIRST_ID);
  for (const e of hr.employees) {
    await admin.query(
      `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type,
         paid_leave_days, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [e.employee_id, e.last_name, e.first_name, e.birth_date, e.business_unit, e.hire_date, e.gross_annual_salary_eur, e.contract_type, e.paid_leave_days,
        e.home_address, e.home_postcode, e.home_city, e.home_lat, e.home_lon, e.commute_mode],
    );
  }
  for (const s of hr.declaredSports) await admin.query('INSERT INTO declared_sports (employee_id, sport) VALUES ($1, $2)', [s.employee_id, s.sport]);
  for (const e of hr.employees.slice(0, 12)) {
    await admin.query(
      `INSERT INTO commute_distances (employee_id, origin_address, destination_address, travel_mode, distance_m, duration_s, provider, status)
       VALUES ($1, $2, '1362 Av. des Platanes, 34970 Lattes, France', 'walking', $3, $4, 'offline', 'OK')`,
      [e.employee_id, `${e.home_address}, ${e.home_postcode} ${e.home_city}, France`, 1000 + (e.employee_id % 20) * 900, 900 + (e.employee_id % 20) * 600],
    );
  }
  const history = generateHistory(hr.habits, { seed: 7, endDay: new Date(Date.UTC(2026, 5, 1)), days: 45 });
  for (const a of history) {
    await admin.query(
      `INSERT INTO activities (activity_id, employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment, source)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [a.activity_id, a.employee_id, a.sport_type, a.started_at, a.ended_at, a.elapsed_seconds, a.distance_m, a.comment, a.source],
    );
  }
  cdc = await startCdc({ KAFKA_TOPIC_PREFIX: PREFIX, CDC_SLOT_NAME: SLOT, CDC_SNAPSHOT_MODE: 'initial' });
  config = loadConfig({
    ...process.env,
    KAFKA_TOPIC_PREFIX: PREFIX,
    LAKE_URL: `s3://${base.s3.bucket}/${PREFIX}/`,
    BRONZE_CONSUMER_GROUP: `${PREFIX}-bronze`,
    BRONZE_TOPICS: ['employees', 'declared_sports', 'activities', 'commute_distances'].map((t) => `${PREFIX}.public.${t}`).join(','),
    BRONZE_MAX_AGE_S: '1',
    BRONZE_MAX_ROWS: '400',
    BATCH_STATE_DIR: path.join(dir, 'state'),
    BATCH_GOLD_DB: path.join(dir, 'gold.duckdb'),
    BATCH_RECONCILE_SOURCE: 'true',
    BATCH_THREADS: '2',
  });
  broker = await connectTestBroker(config.kafka.brokers);
  // The sport-rewards product binds to this test's namespace.
  const rules = JSON.parse(await readFile(path.join(REPO_ROOT, 'products/sport-rewards/rules.json'), 'utf8'));
  rulesFile = path.join(dir, 'rules.json');
  await writeFile(rulesFile, JSON.stringify({ ...rules, source: { namespace: PREFIX, schema: 'public' } }));
}, 180_000);

afterAll(async () => {
  await broker?.close();
  await cdc?.stop();
  if (admin) {
    await dropSlots(admin, [SLOT]);
    await cleanup(admin);
    await admin.end();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Waits until CDC confirmed the current WAL position and the bronze writer stored every event. */
async function bronzeCaughtUp(): Promise<void> {
  const target = await currentWalLsn(admin);
  await waitUntil('CDC to confirm the workload', async () => ((await confirmedFlushLsn(admin, SLOT)) ?? 0n) >= target, 60_000);
  const writer = new BronzeWriter({ config, logger });
  await writer.start();
  try {
    for (const t of TABLES) await broker.waitForGroupCaughtUp(config.bronze.consumerGroup, `${PREFIX}.public.${t}`, 60_000);
  } finally {
    await writer.stop();
  }
}

/** Every source table, canonical text, ordered by key: PostgreSQL side and silver side. */
async function compare(): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    await conn.run(`ATTACH '${config.batch.silverDb}' AS sdb (READ_ONLY); USE sdb`);
    for (const name of TABLES) {
      const t = sportTable(name);
      const order = t.primaryKey.map((k) => `s.${k}`).join(', ');
      const source = (await admin.query(`SELECT ${canonicalSelect(t, 'postgres')} FROM public.${name} s ORDER BY ${order}`)).rows;
      const silver = (await conn.runAndReadAll(`SELECT ${canonicalSelect(t, 'duckdb')} FROM ${rel(name, '', PREFIX)} s ORDER BY ${order}`)).getRowObjectsJson();
      expect(source.length, `${name} has rows`).toBeGreaterThan(0);
      expect({ table: name, rows: silver }).toEqual({ table: name, rows: source });
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

describe('silver against PostgreSQL through the CDC service and the bronze writer', () => {
  it('equals the source tables row by row after a workload with updates and deletes, then after an incremental round', async () => {
    const app = new pg.Client(pgConnection(config, 'admin')); // test fixture writes, incl. a primary-key change no job role may make
    await app.connect();
    try {
      // Round 1: streamed changes on top of the snapshot.
      await admin.query('BEGIN');
      await admin.query(`UPDATE employees SET gross_annual_salary_eur = gross_annual_salary_eur + 1234.56, business_unit = 'R&D' WHERE employee_id = $1`, [FIRST_ID]);
      await admin.query(`UPDATE employees SET home_address = '40 rue de l''Aiguillerie', home_city = 'Montpellier' WHERE employee_id = $1`, [FIRST_ID + 1]);
      await admin.query(`UPDATE declared_sports SET sport = 'Escalade' WHERE employee_id = $1`, [FIRST_ID + 2]);
      await admin.query('COMMIT');
      const inserted = await app.query<{ activity_id: string }>(
        `INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment)
         SELECT $1, 'Runing', t, t + interval '50 minutes', 3000, 10000 + g * 10, CASE WHEN g % 2 = 0 THEN 'Sortie « test » n°' || g END
         FROM generate_series(1, 30) g, LATERAL (SELECT timestamptz '2026-06-02 06:30:00+00' + g * interval '1 day' AS t) x
         RETURNING activity_id::text`,
        [FIRST_ID + 3],
      );
      const newIds = inserted.rows.map((r) => r.activity_id);
      await app.query(`UPDATE activities SET comment = 'modifié', updated_at = now() WHERE activity_id = ANY($1::bigint[])`, [newIds.slice(0, 5)]);
      await app.query(`DELETE FROM activities WHERE activity_id = ANY($1::bigint[])`, [newIds.slice(5, 8)]);
      await app.query(`UPDATE activities SET activity_id = activity_id + 5000000 WHERE activity_id = $1`, [newIds[9]]); // primary key change
      await app.query(`UPDATE commute_distances SET distance_m = distance_m + 250, computed_at = now() WHERE employee_id = $1`, [FIRST_ID + 4]);
      // An employee leaves: their activities, then the employee (declared sport and commute row cascade).
      await admin.query('DELETE FROM activities WHERE employee_id = $1', [FIRST_ID + 5]);
      await admin.query('DELETE FROM employees WHERE employee_id = $1', [FIRST_ID + 5]);
      await bronzeCaughtUp();

      const first = await refresh(config, { logger, rulesFile, asOf: new Date('2026-07-15T00:00:00Z') });
      expect(first.status, JSON.stringify(first.entry.quality)).toBe('success');
      expect(first.results.filter((r) => r.id.endsWith('count_matches_source')).map((r) => r.status)).toEqual(['pass', 'pass', 'pass', 'pass']);
      await compare();

      // Round 2: more changes, read incrementally.
      await admin.query(`UPDATE employees SET gross_annual_salary_eur = NULL WHERE employee_id = $1`, [FIRST_ID + 6]);
      await app.query(`DELETE FROM activities WHERE activity_id = ANY($1::bigint[])`, [newIds.slice(10, 12)]);
      await app.query(`UPDATE activities SET distance_m = NULL, sport_type = 'Tennis' WHERE activity_id = $1`, [newIds[12]]);
      await admin.query(`DELETE FROM declared_sports WHERE employee_id = $1`, [FIRST_ID + 7]);
      await bronzeCaughtUp();
      const second = await refresh(config, { logger, rulesFile, asOf: new Date('2026-07-15T00:00:00Z') });
      expect(second.status).toBe('success');
      expect(second.entry.mode).toBe('incremental');
      expect(second.entry.bronzeInputs.length).toBeGreaterThan(0);
      await compare();

      const history = await (async () => {
        const instance = await DuckDBInstance.create(':memory:');
        const conn = await instance.connect();
        await conn.run(`ATTACH '${config.batch.silverDb}' AS sdb (READ_ONLY); USE sdb`);
        const rows = (await conn.runAndReadAll(`SELECT employee_id, change_op, is_current FROM ${rel('employees', '_history', PREFIX)} WHERE employee_id IN (${FIRST_ID}, ${FIRST_ID + 5}) ORDER BY employee_id, valid_from, _lsn`)).getRowObjectsJson();
        conn.closeSync();
        instance.closeSync();
        return rows;
      })();
      expect(history).toEqual([
        { employee_id: FIRST_ID, change_op: 'r', is_current: false },
        { employee_id: FIRST_ID, change_op: 'u', is_current: true },
        { employee_id: FIRST_ID + 5, change_op: 'r', is_current: false },
      ]);
    } finally {
      await app.end();
    }
  });
});
