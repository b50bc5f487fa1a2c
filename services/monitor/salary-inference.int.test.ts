/**
 * Issue 15's salary inference, run against /api/gold/dashboard over a gold built by the real batch
 * job (the monitor's fixture: 24 employees in 4 business units, business-unit-months holding 1 to 4
 * of the employees who reached the well-being threshold or earn the bonus).
 *
 * The attacker knows the public rules (a day off costs salary / 218, 5 days; the bonus is 5 % of
 * the salary) and the API. They ask for every business unit (and all) over every single month,
 * every period from the first month and every period up to the last, then look for a figure, or a
 * difference of two figures, computed from exactly one person; each gives a salary estimate. A
 * salary is recovered when an estimate lands within 1 EUR of an employee's true salary.
 *
 * Against the cells the dashboard served before (one business unit x one month of v_kpi_bu_month,
 * read here from gold), the attack recovers salaries; against the protected API, none.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../common/logger.ts';
import type { BatchSandbox } from '../batch/testing/batch-kit.ts';
import { Monitor } from './monitor.ts';
import { startServer } from './server.ts';
import { fixtureMonitorConfig, fixtureSandbox } from './testing/gold-fixture.ts';
import rules from '../../products/sport-rewards/rules.json' with { type: 'json' };

/** One figure the attacker saw: how many people it covers and the amount (EUR), by kind. */
interface Observation {
  kind: 'wellbeing' | 'bonus';
  /** What it was asked with, to difference like with like (same business unit, same kind). */
  scope: string;
  people: number;
  eur: number;
}

const salaryFrom = (o: { kind: Observation['kind']; eur: number }) =>
  o.kind === 'wellbeing' ? (o.eur * rules.wellbeing.workingDaysPerYear) / rules.wellbeing.extraDays : o.eur / rules.sportBonus.rate;

/** Salary estimates from figures covering one person, alone or as the difference of two. */
function estimates(observations: readonly Observation[]): number[] {
  const out: number[] = [];
  for (const o of observations) if (o.people === 1) out.push(salaryFrom(o));
  for (const a of observations)
    for (const b of observations)
      if (a.kind === b.kind && a.scope === b.scope && a.people - b.people === 1) out.push(salaryFrom({ kind: a.kind, eur: a.eur - b.eur }));
  return out;
}

/** The salaries an attacker recovered (within 1 EUR), distinct. */
function recovered(observations: readonly Observation[], salaries: readonly number[]): number[] {
  const hits = new Set<number>();
  for (const e of estimates(observations)) for (const s of salaries) if (Math.abs(e - s) <= 1) hits.add(s);
  return [...hits].sort((a, b) => a - b);
}

let sb: BatchSandbox;
let dir: string;
let monitor: Monitor;
let server: { port: number; close: () => Promise<void> };
let salaries: number[];
let months: string[];
let units: string[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'salary-inference-'));
  ({ sb } = await fixtureSandbox());
  const config = fixtureMonitorConfig(sb, dir);
  expect(config.monitor.minGroupSize).toBe(5);
  const logger = createLogger('salary-inference-test', process.env.LOG_LEVEL ?? 'warn');
  monitor = new Monitor(config, logger);
  server = await startServer(monitor, logger, '127.0.0.1', 0);
  salaries = (await sb.gold<{ s: number }>(`SELECT gross_annual_salary_eur::DOUBLE AS s FROM sport_bonus WHERE gross_annual_salary_eur IS NOT NULL`)).map((r) => r.s);
  months = (await sb.gold<{ m: string }>(`SELECT DISTINCT strftime(month, '%Y-%m') AS m FROM kpi_bu_month ORDER BY 1`)).map((r) => r.m);
  units = (await sb.gold<{ bu: string }>(`SELECT DISTINCT business_unit AS bu FROM dim_employee ORDER BY 1`)).map((r) => r.bu);
}, 180_000);

afterAll(async () => {
  await server?.close();
  await monitor?.stop();
  await sb?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('salary inference from the dashboard API', () => {
  it('recovers salaries from the business-unit x month cells served before the disclosure control', async () => {
    // The attack's yardstick: what `/api/gold/dashboard?bu=X&from=M&to=M` used to answer.
    const cells = await sb.gold<{ bu: string; month: string; people: number; eur: number }>(
      `SELECT business_unit AS bu, strftime(month, '%Y-%m') AS month, wellbeing_new_eligible_employees::INTEGER AS people, round(wellbeing_cost_eur, 2)::DOUBLE AS eur FROM v_kpi_bu_month`,
    );
    expect(cells.some((c) => c.people >= 1 && c.people < 5)).toBe(true); // the fixture has small cells
    const found = recovered(cells.map((c) => ({ kind: 'wellbeing', scope: c.bu, people: c.people, eur: c.eur })), salaries);
    expect(found.length).toBeGreaterThanOrEqual(3);
  });

  it('recovers no salary from the protected API, whatever periods and business units it is asked for', async () => {
    const headers = { authorization: `Bearer ${monitor.config.monitor.token}` };
    const periods = new Set<string>();
    for (let i = 0; i < months.length; i++) {
      periods.add(`${months[i]}|${months[i]}`);
      periods.add(`${months[0]}|${months[i]}`);
      periods.add(`${months[i]}|${months.at(-1)}`);
    }
    const observations: Observation[] = [];
    let requests = 0;
    for (const bu of ['', ...units])
      for (const period of periods) {
        const [from, to] = period.split('|') as [string, string];
        const res = await fetch(`http://127.0.0.1:${server.port}/api/gold/dashboard?${new URLSearchParams({ from, to, bu })}`, { headers });
        expect(res.status).toBe(200);
        requests++;
        const d = (await res.json()) as {
          summary: { bonus_eligible_employees: number | null; bonus_annual_eur: number | null };
          wellbeingByBu: { business_unit: string; employees_reaching_threshold: number; wellbeing_cost_eur: number }[];
        };
        for (const r of d.wellbeingByBu) observations.push({ kind: 'wellbeing', scope: r.business_unit, people: r.employees_reaching_threshold, eur: r.wellbeing_cost_eur });
        if (d.summary.bonus_eligible_employees !== null) observations.push({ kind: 'bonus', scope: bu, people: d.summary.bonus_eligible_employees, eur: d.summary.bonus_annual_eur! });
      }
    expect(requests).toBe((units.length + 1) * periods.size);
    expect(observations.length).toBeGreaterThan(requests);
    // No figure covers 1 to 4 people, and none of the differences the attacker tries isolates one.
    expect(observations.filter((o) => o.people > 0 && o.people < 5)).toEqual([]);
    expect(estimates(observations)).toEqual([]);
    expect(recovered(observations, salaries)).toEqual([]);
  }, 300_000);
});
