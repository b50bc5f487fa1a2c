/**
 * Gold served from PostgreSQL (services/batch/pg-publish.ts, docs/powerbi.md "PostgreSQL route"),
 * read as a BI tool reads it: a real ODBC client (unixODBC + the PostgreSQL ODBC driver through
 * pyodbc, tests/support/odbc.ts) logged in as the read-only BI role.
 * - the catalog functions (SQLTables, SQLColumns) list every gold view, with the documented
 *   column types and the column comments (units); the figures equal gold.duckdb's;
 * - the BI role cannot write anything, nor read the store schema (salaries);
 * - a reader querying in a loop during ten refreshes never sees a half-published set.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOLD_VIEWS } from '../../products/sport-rewards/gold/views.ts';
import { readGoldOverOdbc, formatOdbcType, type OdbcRead } from '../../tests/support/odbc.ts';
import { activity, batchSandbox, commute, dailyActivities, employee, type BatchSandbox } from './testing/batch-kit.ts';
import type { RefreshOutcome } from './refresh.ts';
import { pgTypeOf, schemaNames } from './pg-publish.ts';

const SCHEMA = 'gold_odbc_test';

let sb: BatchSandbox;
let outcome: RefreshOutcome;
let odbc: OdbcRead;

/** One canonical text per value, equal for DuckDB's JSON rows and pyodbc's rows. */
function canonical(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
    const ts = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(\.\d+)?)(Z|[+-]\d\d(:?\d\d)?)?$/.exec(value);
    if (ts) {
      const zone = ts[4] === undefined ? 'Z' : ts[4] === 'Z' ? 'Z' : ts[4].length === 3 ? `${ts[4]}:00` : ts[4];
      return new Date(`${ts[1]}T${ts[2]}${zone}`).toISOString();
    }
    return value;
  }
  return JSON.stringify(value);
}
const canonicalRows = (rows: Record<string, unknown>[]) =>
  rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, canonical(v)])))).sort();

beforeAll(async () => {
  sb = await batchSandbox({ GOLD_PG_ENABLED: 'true', GOLD_PG_SCHEMA: SCHEMA });
  const fx = sb.fixture;
  fx.snapshot('employees', employee(101));
  fx.snapshot('employees', employee(102, { business_unit: 'R&D' }));
  fx.snapshot('employees', employee(103, { commute_mode: 'Vélo/Trottinette/Autres', gross_annual_salary_eur: 61250.5 }));
  fx.snapshot('employees', employee(104, { commute_mode: 'Transports en commun', gross_annual_salary_eur: null }));
  fx.snapshot('commute_distances', commute(101, 12_345));
  fx.snapshot('commute_distances', commute(102, 15_001));
  fx.snapshot('commute_distances', commute(103, 20_000, { travel_mode: 'bicycling' }));
  for (const a of dailyActivities(101, '2026-03-01', 16)) fx.insert('activities', a);
  for (const a of dailyActivities(103, '2026-04-10', 3, 21.5)) fx.insert('activities', a);
  fx.insert('activities', activity(104, '2026-05-04T18:00:00Z', null, { sport_type: 'Tennis', comment: 'double, "avec" virgule\net retour' }));
  await fx.flush();
  outcome = await sb.refresh();
  const c = sb.config;
  odbc = await readGoldOverOdbc({
    host: c.postgres.host,
    port: c.postgres.port,
    database: c.goldPg.database,
    user: c.postgres.biReader.user,
    password: c.postgres.biReader.password,
    schema: SCHEMA,
    store: schemaNames(SCHEMA).store,
  });
});

afterAll(async () => {
  await sb?.close();
});

describe('gold published into PostgreSQL, read through ODBC as the BI role', () => {
  it('the refresh published it and says so in run_log', () => {
    expect(outcome.status).toBe('success');
    expect(outcome.entry.published).toMatchObject({ database: sb.config.goldPg.database, schema: SCHEMA, relations: expect.any(Number) });
    expect(outcome.entry.published!.rows).toBeGreaterThan(0);
    expect(odbc.driver).toMatch(/psqlodbc/i);
  });

  it('SQLTables lists every gold view, and nothing else', () => {
    expect(odbc.tables.map((t) => `${t.name}:${t.type}`).sort()).toEqual(GOLD_VIEWS.map((v) => `${v.name}:VIEW`).sort());
  });

  it('SQLColumns gives every documented column with its documented type; each column carries its comment (meaning, unit)', () => {
    for (const view of GOLD_VIEWS) {
      const cols = odbc.columns[view.name]!;
      expect(cols.map((c) => c.name), view.name).toEqual(view.columns.map((c) => c.name));
      expect(cols.map((c) => `${c.name} ${formatOdbcType(c)}`), view.name).toEqual(view.columns.map((c) => `${c.name} ${pgTypeOf(c.type)}`));
      expect(odbc.comments[view.name], view.name).toEqual(Object.fromEntries(view.columns.map((c) => [c.name, c.description])));
    }
  });

  it('every figure equals gold.duckdb', async () => {
    for (const view of GOLD_VIEWS) {
      const duck = await sb.gold<Record<string, unknown>>(`SELECT * FROM ${view.name}`);
      expect(canonicalRows(odbc.rows[view.name]!), view.name).toEqual(canonicalRows(duck));
    }
    expect(odbc.rows.v_prime_sportive!.length).toBe(4);
    // The watermark column is there (NULL here: the sandbox has no CDC to establish one).
    expect(odbc.rows.v_prime_sportive![0]).toHaveProperty('figures_complete_through', null);
  });

  it('the BI role cannot write, create, or read the rows behind the views (salaries)', () => {
    expect(Object.keys(odbc.writes).sort()).toEqual(['create_schema', 'create_table', 'create_temp_table', 'delete_view', 'read_store', 'read_write_session']);
    for (const [what, result] of Object.entries(odbc.writes)) expect(result, what).toMatch(/permission denied|read-only transaction/);
  });
});

describe('atomic publication', () => {
  it('a reader querying in a loop during ten refreshes sees, in every query, the figures of exactly one run', async () => {
    const c = sb.config;
    const expected = new Map<string, number>();
    // The newest run is the last to finish (run ids sort by the second they started in only).
    const record = async () => {
      const [row] = await sb.gold<{ run_id: string; n: number }>(
        `SELECT (SELECT run_id FROM v_run_log WHERE status = 'success' ORDER BY finished_at DESC LIMIT 1) AS run_id, (SELECT sum(activity_count)::INTEGER FROM v_kpi_company_month) AS n`,
      );
      expected.set(row!.run_id, row!.n);
    };
    await record();
    const reader = new pg.Client({ host: c.postgres.host, port: c.postgres.port, database: c.goldPg.database, user: c.postgres.biReader.user, password: c.postgres.biReader.password });
    await reader.connect();
    const seen: { runId: string; n: number }[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const { rows } = await reader.query<{ run_id: string; n: number }>(
          `SELECT (SELECT run_id FROM ${SCHEMA}.v_run_log WHERE status = 'success' ORDER BY finished_at DESC LIMIT 1) AS run_id, (SELECT sum(activity_count)::int FROM ${SCHEMA}.v_kpi_company_month) AS n`,
        );
        seen.push({ runId: rows[0]!.run_id, n: rows[0]!.n });
      }
    })();
    try {
      for (let i = 0; i < 10; i++) {
        // Each run adds activities, so each run's total differs from every other's.
        for (const a of dailyActivities(102, `2026-0${1 + (i % 6)}-0${1 + Math.floor(i / 6)}`, i + 1)) sb.fixture.insert('activities', a);
        await sb.fixture.flush();
        const run = await sb.refresh();
        expect(run.status).toBe('success');
        await record();
      }
    } finally {
      stop = true;
      await loop;
      await reader.end();
    }
    expect(expected.size).toBe(11);
    expect(new Set(expected.values()).size).toBe(11);
    const mixed = seen.filter((s) => expected.get(s.runId) !== s.n);
    expect(mixed, 'queries that saw a total of another run than the one that built the set').toEqual([]);
    // The reader saw several runs' sets, so it did read through swaps.
    expect(new Set(seen.map((s) => s.runId)).size).toBeGreaterThan(3);
  });
});
