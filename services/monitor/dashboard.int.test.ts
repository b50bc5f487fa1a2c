/**
 * End to end: a gold built by the real batch job, the monitor serving it, and the dashboard driven
 * in headless Chromium (Debian's chromium through playwright-core). The charts must show the
 * figures of gold, recomputed here from gold's tables (not through the dashboard's SQL) under the
 * disclosure control the API reports (blocks of business units, whole years, rounding; the
 * control itself is proven by protect.test.ts and salary-inference.int.test.ts), for the default
 * period, a business unit and a shorter period. Screenshots go to test-artifacts/.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import type { BatchSandbox } from '../batch/testing/batch-kit.ts';
import { Monitor } from './monitor.ts';
import { startServer } from './server.ts';
import { fixtureMonitorConfig, fixtureSandbox } from './testing/gold-fixture.ts';

const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let sb: BatchSandbox;
let dir: string;
let monitor: Monitor;
let server: { port: number; close: () => Promise<void> };
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

type ChartData = Record<string, { labels: string[]; datasets: { label: string; data: (number | null)[] }[] }>;

/** What the charts hold right now. */
async function charts(): Promise<ChartData> {
  return page.evaluate(() => {
    const d = (globalThis as unknown as { dashboard: { charts: Record<string, { data: { labels: string[]; datasets: { label: string; data: (number | null)[] }[] } }> } }).dashboard;
    return Object.fromEntries(Object.entries(d.charts).map(([k, c]) => [k, { labels: [...c.data.labels], datasets: c.data.datasets.map((s) => ({ label: s.label, data: [...s.data] })) }]));
  });
}

/** Waits until the page shows the data of `filter` ("from|to|bu"). */
async function waitForFilter(filter: string): Promise<void> {
  await page.waitForSelector(`body[data-state="ready"][data-filter="${filter}"]`, { timeout: 30_000 });
}

const eur = new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'EUR', maximumFractionDigits: 0 });
const monthLabel = (m: string) => new Date(`${m}-01T00:00:00Z`).toLocaleDateString('en-GB', { month: 'short', year: 'numeric', timeZone: 'UTC' });

interface KpiRow { business_unit: string; month: string; bonus: number; wellbeing: number; activities: number; days: number }
interface Protection { minGroupSize: number; moneyStepEur: number; suppressed: string[]; blocks: { label: string; members: string[] }[] }

/** The protection the API applies to the data shown (blocks of business units, suppressed figures). */
async function protection(): Promise<Protection> {
  return page.evaluate(() => (globalThis as unknown as { dashboard: { data: { protection: Protection } } }).dashboard.data.protection);
}

const hundred = (x: number) => Math.round(x / 100) * 100;
const yearsOf = (from: string, to: string) => Array.from({ length: Number(to.slice(0, 4)) - Number(from.slice(0, 4)) + 1 }, (_, i) => Number(from.slice(0, 4)) + i);

/**
 * The dashboard's figures recomputed from gold's tables for a period and a BU ('' = all), under
 * the API's protection (products/sport-rewards/dashboard/protect.ts): activity figures for the
 * months and units asked; bonus and well-being figures for the whole years the period touches and
 * the blocks of units, amounts rounded to the step.
 */
async function expected(from: string, to: string, bu: string, p: Protection) {
  expect(p.moneyStepEur).toBe(100);
  const all = await sb.gold<KpiRow>(
    `SELECT business_unit, strftime(month, '%Y-%m') AS month, bonus_cost_eur::DOUBLE AS bonus, wellbeing_cost_eur::DOUBLE AS wellbeing,
       activity_count::INTEGER AS activities, wellbeing_days::DOUBLE AS days FROM kpi_bu_month`,
  );
  const blocks = bu ? p.blocks.filter((b) => b.members.includes(bu)) : p.blocks;
  expect(blocks.length).toBeGreaterThan(0);
  const members = blocks.flatMap((b) => b.members);
  const kpi = all.filter((r) => r.month >= from && r.month <= to && members.includes(r.business_unit));
  const years = yearsOf(from, to);
  const bonusYears = years.filter((y) => !p.suppressed.includes(`bonus:${y}`));
  const wbYears = years.filter((y) => !p.suppressed.includes(`wellbeing:${y}`));
  const inYears = (ys: number[]) => (r: KpiRow) => ys.includes(Number(r.month.slice(0, 4)));
  const sum = <K extends keyof KpiRow>(rows: KpiRow[], k: K) => rows.reduce((s, r) => s + (r[k] as number), 0);
  const scheme = (units: string[]) => {
    const rows = all.filter((r) => units.includes(r.business_unit));
    const bonus = sum(rows.filter(inYears(bonusYears)), 'bonus');
    const wellbeing = sum(rows.filter(inYears(wbYears)), 'wellbeing');
    return { bonus: hundred(bonus), wellbeing: hundred(wellbeing), total: hundred(bonus + wellbeing), days: sum(rows.filter(inYears(wbYears)), 'days') };
  };
  const costByBu = blocks.map((b) => ({ bu: b.label, ...scheme(b.members) })).sort((a, b) => b.total - a.total || (a.bu < b.bu ? -1 : 1));
  const months = [...new Set(kpi.map((r) => r.month))].sort();
  const sports = (await sb.gold<{ sport_type: string; month: string; business_unit: string; n: number }>(
    `SELECT sport_type, strftime(month, '%Y-%m') AS month, business_unit, activity_count::INTEGER AS n FROM activities_by_sport`,
  )).filter((r) => r.month >= from && r.month <= to && members.includes(r.business_unit));
  const bySport = new Map<string, number>();
  for (const r of sports) bySport.set(r.sport_type, (bySport.get(r.sport_type) ?? 0) + r.n);
  const sportRows = [...bySport].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  // Well-being days from the per-employee table (booked in the month the threshold was reached).
  const wb = (await sb.gold<{ business_unit: string; reached: string; days: number }>(
    `SELECT business_unit, strftime(threshold_reached_on, '%Y-%m') AS reached, wellbeing_days::DOUBLE AS days FROM wellbeing_days WHERE eligible`,
  )).filter((r) => wbYears.includes(Number(r.reached.slice(0, 4))));
  const wbByBu = new Map(blocks.map((b) => [b.label, wb.filter((r) => b.members.includes(r.business_unit)).reduce((a, r) => a + r.days, 0)] as const).filter(([, d]) => d !== 0));
  const eligibility = new Map(
    (await sb.gold<{ business_unit: string; reason_code: string; n: number }>(`SELECT business_unit, reason_code, count(*)::INTEGER AS n FROM sport_bonus GROUP BY ALL`))
      .filter((r) => members.includes(r.business_unit))
      .reduce((m, r) => m.set(r.reason_code, (m.get(r.reason_code) ?? 0) + r.n), new Map<string, number>()),
  );
  // Activities straight from silver's valid activities, by local month, as a cross-check of gold.
  const silverActivities = (await sb.silver<{ n: number; bu: string }>(
    `SELECT count(*)::INTEGER AS n, e.business_unit AS bu FROM silver.sport__public__activities_valid a JOIN silver.sport__public__employees_valid e USING (employee_id)
     WHERE strftime(timezone('Europe/Paris', a.started_at), '%Y-%m') BETWEEN '${from}' AND '${to}' GROUP BY ALL`,
  )).filter((r) => members.includes(r.bu));
  const company = scheme(members);
  return {
    costByBu,
    months,
    activitiesByMonth: months.map((m) => sum(kpi.filter((r) => r.month === m), 'activities')),
    sportRows,
    wbByBu,
    eligibility,
    totals: { bonus: company.bonus, activities: sum(kpi, 'activities'), wellbeingDays: company.days, silverActivities: silverActivities.reduce((a, r) => a + r.n, 0) },
  };
}

async function expectChartsToShowGold(from: string, to: string, bu: string): Promise<void> {
  const c = await charts();
  const p = await protection();
  const e = await expected(from, to, bu, p);
  // Guard against comparing two empty charts.
  expect(e.months.length * e.sportRows.length * e.costByBu.length * e.totals.activities).toBeGreaterThan(0);
  expect(c.costByBu!.labels).toEqual(e.costByBu.map((r) => r.bu));
  expect(c.costByBu!.datasets.map((d) => d.label)).toEqual(['Sport bonus', 'Well-being days']);
  expect(c.costByBu!.datasets[0]!.data).toEqual(e.costByBu.map((r) => r.bonus));
  expect(c.costByBu!.datasets[1]!.data).toEqual(e.costByBu.map((r) => r.wellbeing));

  expect(c.activitiesByMonth!.labels).toEqual(e.months.map(monthLabel));
  expect(c.activitiesByMonth!.datasets[0]!.data).toEqual(e.activitiesByMonth);
  expect(e.totals.activities).toBe(e.totals.silverActivities);

  expect(c.activitiesBySport!.labels).toEqual(e.sportRows.map(([s]) => s));
  expect(c.activitiesBySport!.datasets[0]!.data).toEqual(e.sportRows.map(([, n]) => n));

  const shownWellbeing = Object.fromEntries(c.wellbeingByBu!.labels.map((l, i) => [l, c.wellbeingByBu!.datasets[0]!.data[i]]));
  expect(Object.fromEntries(Object.entries(shownWellbeing).filter(([, v]) => v !== 0))).toEqual(Object.fromEntries(e.wbByBu));

  // Decisions: each reason shown on its own has gold's count; "other" holds the rest.
  const labels: Record<string, string> = { eligible: 'Eligible', eligible_salary_missing: 'Eligible, salary missing', mode_not_eligible: 'Commute mode not eligible', distance_missing: 'Distance unknown', distance_above_limit: 'Declared beyond the limit' };
  const shown = Object.fromEntries(c.eligibility!.labels.map((l, i) => [l, c.eligibility!.datasets[0]!.data[i]]));
  let rest = 0;
  for (const [reason, n] of e.eligibility) {
    if (labels[reason]! in shown) expect(shown[labels[reason]!], reason).toBe(n);
    else rest += n;
  }
  expect(shown['Other reasons (grouped)'] ?? 0).toBe(rest);

  expect(await page.textContent('#kpi-bonus')).toBe(eur.format(e.totals.bonus));
  expect(Number(await page.getAttribute('#kpi-bonus', 'data-value'))).toBe(e.totals.bonus);
  expect(Number(await page.getAttribute('#kpi-activities', 'data-value'))).toBe(e.totals.activities);
  expect(Number(await page.getAttribute('#kpi-wellbeing-days', 'data-value'))).toBe(e.totals.wellbeingDays);
  expect(await page.textContent('#protection-info')).toMatch(new RegExp(`^Costs and well-being: whole calendar years, business units grouped so that each figure covers at least ${p.minGroupSize} people`));
  // The completeness watermark leads the build line (this sandbox has no CDC: none established).
  expect(await page.textContent('#build-info')).toMatch(/^Figures complete through: unknown \(no watermark yet\) · gold built \d/);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: run scripts/install-services (or apt-get install -y chromium), or set CHROMIUM_PATH`);
  dir = await mkdtemp(path.join(tmpdir(), 'dashboard-test-'));
  ({ sb } = await fixtureSandbox());
  // k = 2: business units stay apart where they can, so the chart of blocks has several bars.
  const config = fixtureMonitorConfig(sb, dir, { MONITOR_MIN_GROUP_SIZE: '2' });
  const logger = createLogger('dashboard-test', process.env.LOG_LEVEL ?? 'warn');
  monitor = new Monitor(config, logger);
  server = await startServer(monitor, logger, '127.0.0.1', 0);
  await monitor.start();
  await mkdir(ARTIFACTS, { recursive: true });
  context = await chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 1000 },
    // The monitor asks for MONITOR_TOKEN (basic auth, any user name): the browser answers its challenge.
    httpCredentials: { username: 'dashboard-test', password: config.monitor.token },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text());
  });
}, 180_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  await monitor?.stop();
  await sb?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dashboard in headless Chromium', () => {
  it('shows the gold figures for the default period, then for a business unit and a shorter period', async () => {
    const months = (await sb.gold<{ m: string }>(`SELECT DISTINCT strftime(month, '%Y-%m') AS m FROM kpi_bu_month ORDER BY 1`)).map((r) => r.m);
    const last = months.at(-1)!;
    const first12 = months[Math.max(0, months.length - 12)]!;
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await waitForFilter(`${first12}|${last}|`);
    await page.waitForFunction("document.querySelector('#health-quality').textContent !== '–'");
    await expectChartsToShowGold(first12, last, '');
    expect(await page.textContent('#health-quality')).toBe('WARN');
    expect(await page.textContent('#health-services')).toBe('cdcbronze-writerslack-notifierdistance-worker');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    await page.selectOption('#filter-bu', 'R&D');
    await waitForFilter(`${first12}|${last}|R&D`);
    await expectChartsToShowGold(first12, last, 'R&D');
    expect(page.url()).toContain('bu=R%26D');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-rnd.png'), fullPage: true });

    await page.click('button[data-preset="3"]');
    const from3 = months[months.length - 3]!;
    await waitForFilter(`${from3}|${last}|R&D`);
    await expectChartsToShowGold(from3, last, 'R&D');
    expect((await charts()).activitiesByMonth!.labels).toHaveLength(3);

    // A bookmarked filter opens as it was left.
    await page.goto(`http://127.0.0.1:${server.port}/?from=${months[0]}&to=${months[5]}&bu=Ventes`);
    await waitForFilter(`${months[0]}|${months[5]}|Ventes`);
    await expectChartsToShowGold(months[0]!, months[5]!, 'Ventes');
    expect(pageErrors).toEqual([]);
  });

  it('answers a bad filter with the parameter named', async () => {
    const headers = { authorization: `Bearer ${monitor.config.monitor.token}` };
    const res = await fetch(`http://127.0.0.1:${server.port}/api/gold/dashboard?from=2026-13&to=2026-01`, { headers });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'from: expected YYYY-MM' });
    const reversed = await fetch(`http://127.0.0.1:${server.port}/api/gold/dashboard?from=2026-05&to=2026-01`, { headers });
    expect(reversed.status).toBe(400);
    expect(await reversed.json()).toEqual({ error: 'from: 2026-05 is after to (2026-01)' });
    const unknown = await fetch(`http://127.0.0.1:${server.port}/api/gold/dashboard?bu=Nope`, { headers });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({ error: 'bu: no business unit "Nope" in gold' });
  });
});
