/**
 * Loads the HR data set (scripts/lib/hr-data.ts) into PostgreSQL and writes it as CSV under
 * data/. Idempotent: rows are upserted, and a row that is already identical is not touched, so a
 * re-run produces no change events.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { pgConnection, REPO_ROOT, type Config } from '../../services/common/config.ts';
import { generateHrData, toCsv, type Employee, type HrDataSet } from './hr-data.ts';

export const DATA_DIR = path.join(REPO_ROOT, 'data');

const EMPLOYEE_COLUMNS: (keyof Employee & string)[] = [
  'employee_id', 'last_name', 'first_name', 'birth_date', 'business_unit', 'hire_date', 'gross_annual_salary_eur',
  'contract_type', 'paid_leave_days', 'home_address', 'home_postcode', 'home_city', 'home_lat', 'home_lon', 'commute_mode',
];

/** Writes employees.csv and declared_sports.csv into `dir`; returns the file paths. */
export function writeCsv(data: HrDataSet, dir = DATA_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [path.join(dir, 'employees.csv'), path.join(dir, 'declared_sports.csv')];
  writeFileSync(files[0]!, toCsv(data.employees, EMPLOYEE_COLUMNS));
  writeFileSync(files[1]!, toCsv(data.declaredSports, ['employee_id', 'sport']));
  return files;
}

export interface SeedResult {
  employeesChanged: number;
  sportsChanged: number;
  sportsRemoved: number;
}

/**
 * Upserts the data set as the schema owner, in one transaction.
 * @returns how many rows were inserted or updated (identical rows are not counted).
 */
export async function seedDatabase(config: Config, data: HrDataSet): Promise<SeedResult> {
  const client = new pg.Client(pgConnection(config, 'admin'));
  await client.connect();
  try {
    await client.query('BEGIN');
    const cols = EMPLOYEE_COLUMNS;
    const updates = cols.filter((c) => c !== 'employee_id').map((c) => `${c} = EXCLUDED.${c}`).join(', ');
    const distinct = cols.filter((c) => c !== 'employee_id').map((c) => `employees.${c}`).join(', ');
    const excluded = cols.filter((c) => c !== 'employee_id').map((c) => `EXCLUDED.${c}`).join(', ');
    const emp = await client.query(
      `INSERT INTO employees (${cols.join(', ')})
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
         employee_id integer, last_name text, first_name text, birth_date date, business_unit text, hire_date date,
         gross_annual_salary_eur numeric, contract_type text, paid_leave_days smallint, home_address text, home_postcode text,
         home_city text, home_lat double precision, home_lon double precision, commute_mode text)
       ON CONFLICT (employee_id) DO UPDATE SET ${updates}, updated_at = now()
       WHERE (${distinct}) IS DISTINCT FROM (${excluded})`,
      [JSON.stringify(data.employees)],
    );
    const sports = await client.query(
      `INSERT INTO declared_sports (employee_id, sport)
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(employee_id integer, sport text)
       ON CONFLICT (employee_id) DO UPDATE SET sport = EXCLUDED.sport, declared_at = now()
       WHERE declared_sports.sport IS DISTINCT FROM EXCLUDED.sport`,
      [JSON.stringify(data.declaredSports)],
    );
    // An employee of the data set who no longer declares a sport loses the row.
    const removed = await client.query(
      `DELETE FROM declared_sports WHERE employee_id = ANY($1::int[]) AND NOT (employee_id = ANY($2::int[]))`,
      [data.employees.map((e) => e.employee_id), data.declaredSports.map((s) => s.employee_id)],
    );
    await client.query('COMMIT');
    return { employeesChanged: emp.rowCount ?? 0, sportsChanged: sports.rowCount ?? 0, sportsRemoved: removed.rowCount ?? 0 };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}

export { generateHrData };
