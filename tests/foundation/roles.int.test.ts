/**
 * One PostgreSQL role per job, created by the migrations (issue 15): each is tried against what
 * its job needs and against what it must not do. Every statement a role is allowed runs inside a
 * transaction that is rolled back, so the test leaves no row behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, type PgRole } from '../../services/common/config.ts';
import { LEGACY_APP_ROLE } from '../../scripts/lib/migrate.ts';
import { resolveBinaries } from '../../scripts/lib/stack.ts';
import { prepareSource } from '../../services/cdc/source-prep/prepare.ts';

const config = loadConfig();
const EMPLOYEE = 999_301;
let admin: pg.Client;

/** Runs `sql` as `role` in a transaction that is rolled back; resolves the SQLSTATE ('ok' when it ran). */
async function attempt(role: PgRole, sql: string): Promise<string> {
  const db = new pg.Client(pgConnection(config, role));
  await db.connect();
  try {
    await db.query('BEGIN');
    await db.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await db.query('ROLLBACK').catch(() => undefined);
    await db.end();
  }
}

const DENIED = '42501';
const SALARY = `SELECT gross_annual_salary_eur FROM employees WHERE employee_id = ${EMPLOYEE}`;
const ADDRESS = `SELECT home_address FROM employees WHERE employee_id = ${EMPLOYEE}`;
const BIRTH = `SELECT birth_date FROM employees WHERE employee_id = ${EMPLOYEE}`;
const NAME = `SELECT first_name, last_name FROM employees WHERE employee_id = ${EMPLOYEE}`;
const ALL_EMPLOYEE_COLUMNS = `SELECT * FROM employees WHERE employee_id = ${EMPLOYEE}`;
const INSERT_ACTIVITY = `INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m) VALUES (${EMPLOYEE}, 'Runing', now() - interval '1 hour', now(), 3600, 10000)`;
const EDIT_COMMENT = `UPDATE activities SET comment = 'x', updated_at = now() WHERE employee_id = ${EMPLOYEE}`;
const EDIT_DISTANCE = `UPDATE activities SET distance_m = 1 WHERE employee_id = ${EMPLOYEE}`;
const DELETE_ACTIVITY = `DELETE FROM activities WHERE employee_id = ${EMPLOYEE}`;
const WRITE_COMMUTE = `INSERT INTO commute_distances (employee_id, origin_address, destination_address, travel_mode, distance_m, duration_s, provider, status)
  VALUES (${EMPLOYEE}, 'a', 'b', 'walking', 1000, 600, 'offline', 'OK') ON CONFLICT (employee_id) DO UPDATE SET distance_m = EXCLUDED.distance_m`;
const WRITE_CACHE = `INSERT INTO commute_distance_cache (address_key, travel_mode, api, status, distance_m, duration_s) VALUES ('roles-test', 'walking', 'routes', 'OK', 1, 1)`;
const LEDGER_INSERT = `INSERT INTO slack_announcement_log (target, activity_id, attempt, status, source_topic, source_partition, source_offset) VALUES ('dry-run', -1, 1, 'claimed', 't', 0, 0)`;
const LEDGER_READ = 'SELECT count(*) FROM slack_announcement_log';
const LEDGER_UPDATE = `UPDATE slack_announcement_log SET reason = 'x' WHERE activity_id = -1`;
const LEDGER_DELETE = 'DELETE FROM slack_announcement_log WHERE activity_id = -1';
const LEDGER_VIEW = 'SELECT count(*) FROM slack_announcements';
const UPDATE_EMPLOYEE = `UPDATE employees SET business_unit = 'x' WHERE employee_id = ${EMPLOYEE}`;

beforeAll(async () => {
  admin = new pg.Client(pgConnection(config, 'admin'));
  await admin.connect();
  await admin.query('DELETE FROM employees WHERE employee_id = $1', [EMPLOYEE]);
  await admin.query(
    `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode)
     VALUES ($1, 'Roles', 'Test', '1990-01-01', 'IT', '2020-01-01', 40000, 'CDI', 25, '1 rue Test', '34000', 'Montpellier', 43.6, 3.87, 'Marche/running')`,
    [EMPLOYEE],
  );
});

afterAll(async () => {
  await admin?.query('DELETE FROM employees WHERE employee_id = $1', [EMPLOYEE]);
  await admin?.end();
});

describe('roles created by the migrations, one per job', () => {
  it('the CDC role reads the published tables (salaries included: the sport product needs them) and writes nothing', async () => {
    expect(await attempt('cdc', SALARY)).toBe('ok');
    expect(await attempt('cdc', 'SELECT count(*) FROM activities, declared_sports, commute_distances')).toBe('ok');
    for (const sql of [INSERT_ACTIVITY, UPDATE_EMPLOYEE, LEDGER_READ, LEDGER_VIEW, 'SELECT count(*) FROM commute_distance_cache', 'SELECT count(*) FROM schema_migrations']) {
      expect({ sql, code: await attempt('cdc', sql) }).toEqual({ sql, code: DENIED });
    }
  });

  it('the simulator sees employee ids and declared sports, writes activities, and reads no salary, address, birth date or name', async () => {
    for (const sql of [`SELECT employee_id FROM employees`, 'SELECT employee_id, sport FROM declared_sports', INSERT_ACTIVITY, EDIT_COMMENT, DELETE_ACTIVITY, 'SELECT * FROM activities LIMIT 1']) {
      expect({ sql, code: await attempt('simulator', sql) }).toEqual({ sql, code: 'ok' });
    }
    for (const sql of [SALARY, ADDRESS, BIRTH, NAME, ALL_EMPLOYEE_COLUMNS, EDIT_DISTANCE, UPDATE_EMPLOYEE, WRITE_COMMUTE, LEDGER_READ, LEDGER_VIEW]) {
      expect({ sql, code: await attempt('simulator', sql) }).toEqual({ sql, code: DENIED });
    }
  });

  it('the distance worker reads the home address (its job) but no salary, birth date or name, and writes commute rows', async () => {
    expect(await attempt('distance', 'SELECT employee_id, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode FROM employees')).toBe('ok');
    for (const sql of [WRITE_COMMUTE, `DELETE FROM commute_distances WHERE employee_id = ${EMPLOYEE}`, WRITE_CACHE, 'SELECT * FROM commute_distance_cache LIMIT 1']) {
      expect({ sql, code: await attempt('distance', sql) }).toEqual({ sql, code: 'ok' });
    }
    for (const sql of [SALARY, BIRTH, NAME, ALL_EMPLOYEE_COLUMNS, INSERT_ACTIVITY, UPDATE_EMPLOYEE, LEDGER_READ, LEDGER_VIEW]) {
      expect({ sql, code: await attempt('distance', sql) }).toEqual({ sql, code: DENIED });
    }
  });

  it('the Slack notifier reads names only; its ledger is insert-only (no UPDATE, no DELETE)', async () => {
    for (const sql of [NAME, LEDGER_INSERT, LEDGER_READ]) {
      expect({ sql, code: await attempt('notifier', sql) }).toEqual({ sql, code: 'ok' });
    }
    for (const sql of [SALARY, ADDRESS, BIRTH, ALL_EMPLOYEE_COLUMNS, LEDGER_UPDATE, LEDGER_DELETE, 'TRUNCATE slack_announcement_log', INSERT_ACTIVITY, WRITE_COMMUTE]) {
      expect({ sql, code: await attempt('notifier', sql) }).toEqual({ sql, code: DENIED });
    }
  });

  it('the monitor reads the replication slot\'s state and lag, and no table', async () => {
    expect(await attempt('monitor', `SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots`)).toBe('ok');
    // Not even schema public is visible to it: every table is "undefined" (42P01).
    for (const sql of [SALARY, NAME, 'SELECT count(*) FROM activities', LEDGER_READ, INSERT_ACTIVITY]) {
      expect({ sql, code: await attempt('monitor', sql) }).toEqual({ sql, code: '42P01' });
    }
    expect(await attempt('monitor', "SELECT pg_create_logical_replication_slot('monitor_slot_test', 'pgoutput')")).toBe(DENIED);
  });

  it('the application role of earlier versions can no longer log in', async () => {
    const role = await admin.query('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [LEGACY_APP_ROLE]);
    expect(role.rows).toEqual([{ rolcanlogin: false }]);
    const grants = await admin.query(
      `SELECT count(*)::int AS n FROM information_schema.role_table_grants WHERE grantee = $1`, [LEGACY_APP_ROLE]);
    expect(grants.rows).toEqual([{ n: 0 }]);
  });
});

describe('the migrations and prepare-source agree', () => {
  it('prepare-source finds the migrated sport database prepared, with nothing to warn about on the local stack', async () => {
    const lines: string[] = [];
    const result = await prepareSource({ config, dryRun: true }, (l) => lines.push(l));
    // Tables other test files created and granted to the CDC role (CDC_ADMIN_SETUP) are revoked by
    // both (090_grants.sql on the next migrate): not a disagreement.
    expect(result.steps.map((s) => s.display).filter((sql) => !(sql.startsWith('REVOKE ALL ON ') && sql.endsWith(` FROM "${config.postgres.cdc.user}"`)))).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(lines[0]).toBe(`-- prepare-source: database ${config.postgres.database}, role ${config.postgres.cdc.user}, publication ${config.postgres.publication}, 4 table(s) (dry run)`);
  });
});

describe('the CDC role and replication (pg_hba.conf of the local stack)', () => {
  it('cannot take a physical base backup', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'basebackup-'));
    try {
      const bin = path.join(resolveBinaries(config, ['postgres']).pgBinDir, 'pg_basebackup');
      const res = spawnSync(bin, ['-h', config.postgres.host, '-p', String(config.postgres.port), '-U', config.postgres.cdc.user, '-D', path.join(dir, 'copy'), '-X', 'none', '--no-sync', '-w'], {
        encoding: 'utf8', env: { ...process.env, PGPASSWORD: config.postgres.cdc.password }, timeout: 60_000,
      });
      expect(res.status).not.toBe(0);
      expect(res.stderr).toContain(`pg_hba.conf rejects replication connection for host "127.0.0.1", user "${config.postgres.cdc.user}"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reaches its own database only, and streams from it logically', async () => {
    const other = new pg.Client({ ...pgConnection(config, 'cdc', 'postgres') });
    const err = await other.connect().then(() => null, (e: Error) => e);
    await other.end().catch(() => undefined);
    expect(err?.message).toBe(`pg_hba.conf rejects connection for host "127.0.0.1", user "${config.postgres.cdc.user}", database "postgres", no encryption`);
    const logical = new pg.Client({ ...pgConnection(config, 'cdc'), replication: 'database' } as pg.ClientConfig);
    await logical.connect();
    try {
      const res = await logical.query('IDENTIFY_SYSTEM');
      expect(res.rows[0].dbname).toBe(config.postgres.database);
    } finally {
      await logical.end();
    }
  });
});
