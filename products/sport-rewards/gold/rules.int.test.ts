/**
 * The business rules on their edges (DOMAIN.md), through a real refresh on bronze written per
 * the contract (services/batch/testing/bronze-fixture.ts): sport bonus at exactly 15 km and at 15.001 km,
 * missing distance, missing salary; well-being days at 14 and 15 activities, including an
 * activity that belongs to the next year in local time; quarantine reasons; KPI figures.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../services/common/config.ts';
import { withViewsSection } from '../../../services/batch/docs.ts';
import { GOLD_VIEWS } from './views.ts';
import { activity, batchSandbox, commute, dailyActivities, employee, type BatchSandbox } from '../../../services/batch/testing/batch-kit.ts';
import type { RefreshOutcome } from '../../../services/batch/refresh.ts';

let sb: BatchSandbox;
let outcome: RefreshOutcome;

beforeAll(async () => {
  sb = await batchSandbox();
  const fx = sb.fixture;
  fx.snapshot('employees', employee(101));
  fx.snapshot('employees', employee(102, { business_unit: 'R&D' }));
  fx.snapshot('employees', employee(103));
  fx.snapshot('employees', employee(104, { commute_mode: 'Vélo/Trottinette/Autres', gross_annual_salary_eur: null }));
  fx.snapshot('employees', employee(105, { commute_mode: 'Vélo/Trottinette/Autres' }));
  fx.snapshot('employees', employee(106, { commute_mode: 'Transports en commun', gross_annual_salary_eur: 52000 }));
  fx.snapshot('employees', employee(107, { gross_annual_salary_eur: 36000 }));
  fx.snapshot('employees', employee(108, { business_unit: 'R&D', gross_annual_salary_eur: 65400 }));
  fx.snapshot('employees', employee(109, { business_unit: 'R&D', hire_date: '2026-05-01', commute_mode: 'Transports en commun' }));
  fx.snapshot('commute_distances', commute(101, 15_000));
  fx.snapshot('commute_distances', commute(102, 15_001));
  // 103: no commute row at all.
  fx.snapshot('commute_distances', commute(104, 25_000, { travel_mode: 'bicycling' }));
  fx.snapshot('commute_distances', commute(105, 25_001, { travel_mode: 'bicycling' }));
  fx.snapshot('commute_distances', commute(106, 2_000, { travel_mode: 'transit' }));
  fx.snapshot('commute_distances', commute(107, null)); // NOT_FOUND
  for (const a of dailyActivities(101, '2026-03-01', 15)) fx.insert('activities', a);
  for (const a of dailyActivities(102, '2026-03-01', 14)) fx.insert('activities', a);
  for (const a of dailyActivities(104, '2026-04-01', 15)) fx.insert('activities', a);
  // 108: 14 activities in 2026, plus one at 2025-12-31 23:30 UTC = 2026-01-01 00:30 in Paris.
  fx.insert('activities', activity(108, '2025-12-31T23:30:00Z', 5));
  for (const a of dailyActivities(108, '2026-02-01', 14)) fx.insert('activities', a);
  // 109: the threshold is crossed in January, and the first of the 15 is in December in UTC.
  fx.insert('activities', activity(109, '2025-12-31T23:30:00Z', 5));
  for (const a of dailyActivities(109, '2026-01-02', 14)) fx.insert('activities', a);
  // A sport without distance is a valid activity.
  fx.insert('activities', activity(106, '2026-05-04T18:00:00Z', null, { sport_type: 'Tennis' }));
  // Quarantine material.
  fx.insert('activities', activity(106, '2026-05-05T07:00:00Z', 10, { activity_id: 9001, distance_m: -500 }));
  fx.insert('activities', activity(106, '2026-05-06T07:00:00Z', 10, { activity_id: 9002, ended_at: new Date('2026-05-06T06:00:00Z') }));
  fx.insert('activities', activity(999, '2026-05-07T07:00:00Z', 10, { activity_id: 9003 }));
  fx.insert('activities', activity(106, '2026-05-08T07:00:00Z', 10, { activity_id: 9004, kmh: 40 }));
  fx.insert('activities', activity(106, '2026-07-05T07:00:00Z', 10, { activity_id: 9005 }));
  // Issue 14: counted in gold before (neither quarantined nor flagged).
  fx.insert('activities', activity(106, '1900-05-05T07:00:00Z', 10, { activity_id: 9006 }));
  fx.insert('activities', activity(106, '2026-05-09T07:00:00Z', 10, { activity_id: 9007, sport_type: '' }));
  fx.insert('activities', activity(106, '2026-05-10T07:00:00Z', 10, { activity_id: 9008, elapsed_seconds: 7200 }));
  await fx.flush();
  outcome = await sb.refresh();
});

afterAll(async () => {
  await sb?.close();
});

describe('sport bonus (prime sportive)', () => {
  it('decides each employee with the reason, the distance used and the amount', async () => {
    expect(outcome.status).toBe('success');
    const rows = await sb.gold(
      `SELECT employee_id, commute_distance_m, distance_limit_m, eligible, reason_code, bonus_amount_eur::VARCHAR AS amount FROM sport_bonus ORDER BY employee_id`,
    );
    expect(rows).toEqual([
      { employee_id: 101, commute_distance_m: 15000, distance_limit_m: 15000, eligible: true, reason_code: 'eligible', amount: '2000.00' },
      { employee_id: 102, commute_distance_m: 15001, distance_limit_m: 15000, eligible: false, reason_code: 'distance_above_limit', amount: '0.00' },
      { employee_id: 103, commute_distance_m: null, distance_limit_m: 15000, eligible: false, reason_code: 'distance_missing', amount: '0.00' },
      { employee_id: 104, commute_distance_m: 25000, distance_limit_m: 25000, eligible: true, reason_code: 'eligible_salary_missing', amount: null },
      { employee_id: 105, commute_distance_m: 25001, distance_limit_m: 25000, eligible: false, reason_code: 'distance_above_limit', amount: '0.00' },
      { employee_id: 106, commute_distance_m: 2000, distance_limit_m: null, eligible: false, reason_code: 'mode_not_eligible', amount: '0.00' },
      { employee_id: 107, commute_distance_m: null, distance_limit_m: 15000, eligible: false, reason_code: 'distance_missing', amount: '0.00' },
      { employee_id: 108, commute_distance_m: null, distance_limit_m: 15000, eligible: false, reason_code: 'distance_missing', amount: '0.00' },
      { employee_id: 109, commute_distance_m: null, distance_limit_m: null, eligible: false, reason_code: 'mode_not_eligible', amount: '0.00' },
    ]);
  });

  it('explains the decision in words and shows it in v_prime_sportive with units', async () => {
    const rows = await sb.gold(`SELECT employee_id, commute_distance_km, distance_limit_km, bonus_rate_pct, reason FROM v_prime_sportive WHERE employee_id IN (101, 102) ORDER BY 1`);
    expect(rows).toEqual([
      { employee_id: 101, commute_distance_km: 15, distance_limit_km: 15, bonus_rate_pct: 5, reason: 'Éligible : Marche/running, 15.000 km pour une limite de 15 km' },
      { employee_id: 102, commute_distance_km: 15.001, distance_limit_km: 15, bonus_rate_pct: 5, reason: 'Marche/running déclaré à 15.001 km, au-delà de la limite de 15 km' },
    ]);
  });

  it('reports the declaration beyond the limit and the missing salary as findings (warn)', async () => {
    const findings = await sb.gold(`SELECT finding_type, employee_id FROM quality_findings WHERE table_name = 'sport__public__employees' ORDER BY finding_type, employee_id`);
    expect(findings).toEqual([
      { finding_type: 'commute_distance_missing', employee_id: 103 },
      { finding_type: 'commute_distance_missing', employee_id: 107 },
      { finding_type: 'commute_distance_missing', employee_id: 108 },
      { finding_type: 'declared_commute_beyond_limit', employee_id: 102 },
      { finding_type: 'declared_commute_beyond_limit', employee_id: 105 },
      { finding_type: 'salary_missing_bonus', employee_id: 104 },
      { finding_type: 'salary_missing_wellbeing', employee_id: 104 },
    ]);
    const warned = outcome.results.filter((r) => r.status === 'fail').map((r) => `${r.severity} ${r.id}`);
    expect(warned).toEqual(
      expect.arrayContaining([
        'warn gold.sport_bonus.declared_commute_beyond_limit',
        'warn gold.sport_bonus.eligible_salary_missing',
        'warn gold.wellbeing_days.eligible_salary_missing',
        'warn silver.sport__public__employees.gross_annual_salary_eur.not_null',
      ]),
    );
    expect(warned.filter((w) => w.startsWith('error'))).toEqual([]);
    // Row tests of one relation are counted in one scan; a failing one still gets its count and sample.
    const beyond = outcome.results.find((r) => r.id === 'gold.sport_bonus.declared_commute_beyond_limit');
    expect(beyond).toMatchObject({ status: 'fail', failures: 2 });
    expect(JSON.parse(beyond!.sample!).map((row: { employee_id: number }) => row.employee_id).sort()).toEqual([102, 105]);
  });
});

describe('well-being days', () => {
  it('grants 5 days at 15 activities in the calendar year, not at 14, with cost = salary / 218 x 5', async () => {
    const rows = await sb.gold(
      `SELECT employee_id, activity_count::INTEGER AS n, eligible, wellbeing_days, strftime(threshold_reached_on, '%Y-%m-%d') AS reached, day_cost_eur::VARCHAR AS day_cost, wellbeing_cost_eur::VARCHAR AS cost
       FROM wellbeing_days WHERE year = 2026 AND employee_id IN (101, 102, 104, 108, 109) ORDER BY employee_id`,
    );
    expect(rows).toEqual([
      { employee_id: 101, n: 15, eligible: true, wellbeing_days: 5, reached: '2026-03-15', day_cost: '183.49', cost: '917.43' },
      { employee_id: 102, n: 14, eligible: false, wellbeing_days: 0, reached: null, day_cost: '183.49', cost: '0.00' },
      { employee_id: 104, n: 15, eligible: true, wellbeing_days: 5, reached: '2026-04-15', day_cost: null, cost: null },
      // The New Year's Eve run at 23:30 UTC is on 1 January in Paris: 15 activities in 2026.
      { employee_id: 108, n: 15, eligible: true, wellbeing_days: 5, reached: '2026-02-14', day_cost: '300.00', cost: '1500.00' },
      { employee_id: 109, n: 15, eligible: true, wellbeing_days: 5, reached: '2026-01-15', day_cost: '183.49', cost: '917.43' },
    ]);
    const none2025 = await sb.gold(`SELECT count(*)::INTEGER AS n FROM wellbeing_days WHERE year = 2025 AND activity_count > 0`);
    expect(none2025).toEqual([{ n: 0 }]);
  });
});

describe('quarantine', () => {
  it('keeps invalid activities out of gold, each with its rule and reason', async () => {
    const rows = await sb.silver(`SELECT record_key::VARCHAR AS k, rule, reason FROM silver.quarantine ORDER BY k`);
    expect(rows).toEqual([
      { k: '{"activity_id":9001}', rule: 'negative_distance', reason: 'distance -500 m is negative' },
      {
        k: '{"activity_id":9002}',
        rule: 'end_before_start',
        reason: 'ends at 2026-05-06 06:00:00 UTC, before its start 2026-05-06 07:00:00 UTC; elapsed time 3600 s, but it ends -3600 s after its start (tolerance 60 s)',
      },
      { k: '{"activity_id":9003}', rule: 'unknown_employee', reason: 'employee 999 is not a known (valid) employee' },
      { k: '{"activity_id":9004}', rule: 'impossible_speed', reason: 'average 40.0 km/h is above the 25.0 km/h limit for Runing' },
      {
        k: '{"activity_id":9005}',
        rule: 'future_date',
        reason: 'starts 2026-07-05 07:00:00 UTC, ends 2026-07-05 08:00:00 UTC: after the reference time 2026-06-30 12:00:00 UTC (+10 min)',
      },
      { k: '{"activity_id":9006}', rule: 'too_old', reason: 'starts 1900-05-05 07:00:00 UTC, before 2000-01-01' },
      { k: '{"activity_id":9007}', rule: 'empty_sport', reason: 'no sport type' },
      { k: '{"activity_id":9008}', rule: 'inconsistent_elapsed', reason: 'elapsed time 7200 s, but it ends 3600 s after its start (tolerance 60 s)' },
    ]);
    const silverCount = await sb.silver(`SELECT count(*)::INTEGER AS n FROM silver.sport__public__activities`);
    const goldCount = await sb.gold(`SELECT sum(activity_count)::INTEGER AS n FROM kpi_bu_month`);
    expect(silverCount).toEqual([{ n: 15 + 14 + 15 + 15 + 15 + 1 + 8 }]);
    expect(goldCount).toEqual([{ n: 15 + 14 + 15 + 15 + 15 + 1 }]);
  });
});

describe('KPIs by business unit and month', () => {
  it('gives headcount, adoption, activities, distance and costs', async () => {
    const rows = await sb.gold(
      `SELECT business_unit, strftime(month, '%Y-%m') AS month, headcount::INTEGER AS headcount, active_employees::INTEGER AS active, adoption_rate_pct,
         activity_count::INTEGER AS activities, distance_km, bonus_cost_eur::VARCHAR AS bonus, wellbeing_cost_eur::VARCHAR AS wellbeing
       FROM v_kpi_bu_month WHERE month IN (DATE '2026-03-01', DATE '2026-04-01') ORDER BY business_unit, month`,
    );
    expect(rows).toEqual([
      // R&D: 102 (14 activities in March) and 108.
      { business_unit: 'R&D', month: '2026-03', headcount: 2, active: 1, adoption_rate_pct: 50, activities: 14, distance_km: 112, bonus: '0.00', wellbeing: '0.00' },
      { business_unit: 'R&D', month: '2026-04', headcount: 2, active: 0, adoption_rate_pct: 0, activities: 0, distance_km: 0, bonus: '0.00', wellbeing: '0.00' },
      // Ventes: 101 eligible for the bonus (2000 / 12 a month), threshold reached in March; 104 in April without salary.
      { business_unit: 'Ventes', month: '2026-03', headcount: 6, active: 1, adoption_rate_pct: 16.67, activities: 15, distance_km: 120, bonus: '166.67', wellbeing: '917.43' },
      { business_unit: 'Ventes', month: '2026-04', headcount: 6, active: 1, adoption_rate_pct: 16.67, activities: 15, distance_km: 120, bonus: '166.67', wellbeing: '0.00' },
    ]);
    const bySport = await sb.gold(`SELECT sport_type, sum(activity_count)::INTEGER AS n, sum(distance_km) AS km FROM v_activities_by_sport GROUP BY ALL ORDER BY 1`);
    expect(bySport).toEqual([
      { sport_type: 'Runing', n: 74, km: 15 * 8 + 14 * 8 + 15 * 8 + (5 + 14 * 8) * 2 },
      { sport_type: 'Tennis', n: 1, km: 0 },
    ]);
  });
});

describe('Power BI views', () => {
  it('have exactly the columns docs/powerbi.md lists, and the page is up to date', async () => {
    const actual = await sb.gold<{ view_name: string; cols: string[] }>(
      `SELECT table_name AS view_name, list(column_name || ' ' || data_type ORDER BY column_index) AS cols FROM duckdb_columns() WHERE table_name LIKE 'v\\_%' ESCAPE '\\' GROUP BY ALL ORDER BY 1`,
    );
    expect(actual).toEqual(GOLD_VIEWS.map((v) => ({ view_name: v.name, cols: v.columns.map((c) => `${c.name} ${c.type}`) })).sort((a, b) => (a.view_name < b.view_name ? -1 : 1)));
    const doc = await readFile(path.join(REPO_ROOT, 'docs/powerbi.md'), 'utf8');
    expect(withViewsSection(doc), 'run `npx tsx services/batch/docs.ts --write`').toBe(doc);
  });
});
