/**
 * The seeded HR data set and the simulator against the real PostgreSQL: the rows asked for are
 * inserted, re-runs are idempotent, and the simulator produces inserts, updates and deletes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, REPO_ROOT } from '../../services/common/config.ts';
import { generateHrData } from '../../scripts/lib/hr-data.ts';
import { seedDatabase } from '../../scripts/lib/seed.ts';
import { loadHistory, runLive } from '../../scripts/lib/simulator.ts';

const config = loadConfig();
const run = promisify(execFile);

describe('seed and simulator', () => {
  let db: pg.Client;
  beforeAll(async () => {
    db = new pg.Client(pgConnection(config, 'admin'));
    await db.connect();
    await db.query('TRUNCATE activities, commute_distances, declared_sports, employees');
  });
  afterAll(() => db.end());

  it('seeds 160 employees and their declared sports, and a re-seed changes nothing', async () => {
    const data = generateHrData(2024);
    const first = await seedDatabase(config, data);
    expect(first.employeesChanged).toBe(160);
    const again = await seedDatabase(config, data);
    expect(again).toEqual({ employeesChanged: 0, sportsChanged: 0, sportsRemoved: 0 });
    const rows = (await db.query('SELECT employee_id, first_name, last_name, commute_mode, gross_annual_salary_eur FROM employees ORDER BY employee_id LIMIT 1')).rows;
    const e = data.employees[0]!;
    expect(rows[0]).toEqual({ employee_id: e.employee_id, first_name: e.first_name, last_name: e.last_name, commute_mode: e.commute_mode, gross_annual_salary_eur: e.gross_annual_salary_eur === null ? null : e.gross_annual_salary_eur.toFixed(2) });
    expect(Number((await db.query('SELECT count(*) FROM declared_sports')).rows[0].count)).toBe(data.declaredSports.length);
  });

  it('loads a 90-day history idempotently, with edits and deletes', async () => {
    const endDay = new Date(Date.UTC(2026, 5, 1));
    const first = await loadHistory(config, { days: 90, seed: 2024, editRatio: 0.05, deleteRatio: 0.02, endDay });
    expect(first.inserted).toBe(first.generated);
    expect(first.edited).toBeGreaterThan(0);
    expect(first.deleted).toBeGreaterThan(0);
    const count = async () => Number((await db.query(`SELECT count(*) FROM activities WHERE source = 'simulator-history'`)).rows[0].count);
    expect(await count()).toBe(first.generated - first.deleted);
    const second = await loadHistory(config, { days: 90, seed: 2024, editRatio: 0.05, deleteRatio: 0.02, endDay });
    expect(second).toEqual({ generated: first.generated, inserted: 0, edited: 0, deleted: 0 });
    expect(await count()).toBe(first.generated - first.deleted);
  });

  it('inserts exactly the live activities it was asked for, each ending about now', async () => {
    const before = Date.now();
    const ids = await runLive(config, { count: 5, ratePerSecond: 50, seed: 2024, editRatio: 0, deleteRatio: 0 });
    expect(ids).toHaveLength(5);
    const rows = (await db.query('SELECT activity_id, ended_at, source FROM activities WHERE activity_id = ANY($1::bigint[])', [ids])).rows;
    expect(rows).toHaveLength(5);
    for (const r of rows) {
      expect(r.source).toBe('simulator-live');
      expect((r.ended_at as Date).getTime()).toBeGreaterThanOrEqual(before - 1000);
    }
  });

  it('npm run simulate rejects a bad flag with a message naming it', async () => {
    const err = await run('npx', ['tsx', 'scripts/simulate.ts', '--rate', 'fast'], { cwd: REPO_ROOT }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toContain("option '--rate <rate>' argument 'fast' is invalid");
  });
});
