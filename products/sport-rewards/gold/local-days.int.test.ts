/**
 * Gold staging's local days and months (gold/models.ts, stagingStatements) against DuckDB's own
 * ICU conversion row by row, in an in-memory database: the 15-minute bucket table must give the
 * same day and month as `timezone(zone, started_at)` around midnights, month ends, daylight-saving
 * changes, and for an offset that is not a whole number of quarter hours (Monrovia, -0:44:30
 * until 1972), where buckets straddle local midnights and rows fall back to their own local time.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketRangeSql, stagingStatements, type GoldContext } from './models.ts';
import { bind } from '../binding.ts';
import { loadRules } from '../../../services/batch/rules.ts';
import { REPO_ROOT } from '../../../services/common/config.ts';
import path from 'node:path';

let instance: DuckDBInstance;
let conn: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  await conn.run(`CREATE SCHEMA silver;
    CREATE TABLE silver.sport__public__activities (employee_id INTEGER, sport_type VARCHAR, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ, elapsed_seconds INTEGER, distance_m INTEGER);
    CREATE VIEW silver.sport__public__activities_valid AS SELECT * FROM silver.sport__public__activities;
    CREATE TABLE silver.sport__public__employees_valid AS SELECT 1 AS employee_id, 'Ventes' AS business_unit;`);
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

/** Rows of (started_at, staged day, staged month, ICU day, ICU month) that disagree. */
async function mismatches(zone: string, starts: string): Promise<unknown[]> {
  await conn.run(`DELETE FROM silver.sport__public__activities;
    INSERT INTO silver.sport__public__activities SELECT 1, 'Runing', s, s + INTERVAL 1 HOUR, 3600, 10000 FROM (${starts}) t(s);`);
  const rules = (await loadRules(path.join(REPO_ROOT, 'products/sport-rewards/rules.json'))).rules;
  const ctx: GoldContext = { rules: { ...rules, timezone: zone }, asOf: new Date('2026-06-30T12:00:00Z'), runId: 't', ref: (n) => n, bind: bind(rules) };
  const buckets = (await conn.runAndReadAll(bucketRangeSql(bind(rules)))).getRowObjectsJS()[0] as { lo: bigint; hi: bigint };
  for (const sql of stagingStatements(ctx, { lo: Number(buckets.lo), hi: Number(buckets.hi) })) await conn.run(sql);
  expect(ctx.tzBuckets).toBe(true);
  const staged = await conn.runAndReadAll(`SELECT count(*) AS n FROM g_activities`);
  expect(Number(staged.getRowObjectsJS()[0]!.n)).toBeGreaterThan(0);
  const reader = await conn.runAndReadAll(`
    WITH expected AS (
      SELECT CAST(timezone('${zone}', started_at) AS DATE) AS day, CAST(date_trunc('month', timezone('${zone}', started_at)) AS DATE) AS month, count(*) AS n
      FROM silver.sport__public__activities GROUP BY ALL),
    actual AS (SELECT day, month, count(*) AS n FROM g_activities GROUP BY ALL)
    SELECT * FROM ((FROM expected EXCEPT ALL FROM actual) UNION ALL (FROM actual EXCEPT ALL FROM expected))`);
  return reader.getRowObjectsJson();
}

describe('local day and month of an activity', () => {
  it('match the zone row by row around Paris midnights, month ends and daylight-saving changes', async () => {
    // Every 7 minutes from 2025-10-25 to 2025-11-02 (DST ends 10-26) and across 2026-03-28..04-01 (DST starts 03-29).
    const starts = `SELECT unnest(generate_series(TIMESTAMPTZ '2025-10-25 00:00:00+00', TIMESTAMPTZ '2025-11-02 00:00:00+00', INTERVAL 7 MINUTE))
      UNION ALL SELECT unnest(generate_series(TIMESTAMPTZ '2026-03-28 00:00:00+00', TIMESTAMPTZ '2026-04-01 00:00:00+00', INTERVAL 7 MINUTE))`;
    expect(await mismatches('Europe/Paris', starts)).toEqual([]);
  });

  it('match the zone where the offset is not a whole number of quarter hours (buckets straddle midnight)', async () => {
    const starts = `SELECT unnest(generate_series(TIMESTAMPTZ '1971-03-30 00:00:00+00', TIMESTAMPTZ '1971-04-01 12:00:00+00', INTERVAL 13 SECOND))`;
    expect(await mismatches('Africa/Monrovia', starts)).toEqual([]);
  });
});
