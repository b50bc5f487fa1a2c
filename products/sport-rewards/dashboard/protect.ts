/**
 * The dashboard's figures as the monitor serves them over HTTP: aggregated from gold's
 * fine-grained rows and protected against re-identification (issue 15; docs/security.md,
 * "Figures about people"). Pure: no I/O, deterministic.
 *
 * Two kinds of figures, two grains:
 * - **Activity figures** (activities, distance, hours, active employees, adoption) come from the
 *   activities the Slack bot announces one by one: they are served per month of the requested
 *   period.
 * - **Scheme figures** say who benefits from the sport bonus and the well-being days and what that
 *   costs, which is derived from salaries (bonus = rate x salary; a day off = salary / working
 *   days; DOMAIN.md). They are served only per **whole calendar year** (the years the requested
 *   period touches, `costYears`) and per **block** of business units, with amounts rounded to
 *   `moneyStepEur`. A month grain would let a reader difference two periods down to one person.
 *
 * Blocks come from {@link partitionGroups} (services/common/disclosure.ts) over every business
 * unit, with one figure per scheme population: current employees, currently eligible and not
 * eligible for the bonus, bonus-accruing employees per year (`bonus:<year>`), employees reaching
 * the well-being threshold per year (`wellbeing:<year>`). Every block holds 0 or at least k people
 * for each, and a figure whose company total is below k (typically `wellbeing:<this year>` in
 * January) is suppressed: its years are left out of the sums and listed in `protection.suppressed`.
 * Every served scheme figure is a sum of whole block-year cells, so no difference of served figures
 * isolates fewer than k people. The bonus decision reasons are shown as the same categories for
 * every block ({@link uniformCategories}), the others merged as `other`.
 *
 * A business-unit filter selects the block holding that unit (named in `protection.selection`).
 */
import { partitionGroups, roundMoney, uniformCategories, type Block, type GroupCounts } from '../../../services/common/disclosure.ts';

/** One row of v_kpi_bu_month (month as YYYY-MM). Counts in people, distance in km, money in EUR. */
export interface KpiCell {
  business_unit: string;
  month: string;
  year: number;
  headcount: number;
  active_employees: number;
  activity_count: number;
  distance_km: number;
  bonus_eligible_employees: number;
  bonus_cost_eur: number;
  wellbeing_new_eligible_employees: number;
  wellbeing_days: number;
  wellbeing_cost_eur: number;
}

/** One row of v_activities_by_sport (month as YYYY-MM). */
export interface SportCell {
  business_unit: string;
  month: string;
  sport_type: string;
  activity_count: number;
  distance_km: number;
  duration_h: number;
}

/** The current bonus decisions of v_prime_sportive, counted per business unit and reason. */
export interface DecisionCell {
  business_unit: string;
  reason_code: string;
  eligible: boolean;
  employees: number;
  /** Sum of the annual bonus amounts, EUR (0 when not eligible or the salary is missing). */
  bonus_eur: number;
}

/** Everything the dashboard is computed from (read once per request from gold's views). */
export interface DashboardCube {
  /** Current employees per business unit (v_employees). */
  employees: readonly { business_unit: string; employees: number }[];
  kpi: readonly KpiCell[];
  sports: readonly SportCell[];
  decisions: readonly DecisionCell[];
}

export interface DisclosureOptions {
  /** k: minimum people behind any scheme figure (MONITOR_MIN_GROUP_SIZE), >= 2. */
  minGroupSize: number;
  /** Rounding step of every amount, EUR (MONITOR_MONEY_ROUNDING_EUR), >= 1. */
  moneyStepEur: number;
}

/** A validated filter: months as YYYY-MM, `bu` '' for every business unit. */
export interface DashboardSelection {
  from: string;
  to: string;
  bu: string;
}

/** Thrown when the business-unit filter names no business unit of gold. */
export class UnknownBusinessUnitError extends Error {
  constructor(readonly bu: string) {
    super(`bu: no business unit "${bu}" in gold`);
    this.name = 'UnknownBusinessUnitError';
  }
}

/** Label of the category that holds the decision reasons too rare to be shown on their own. */
export const OTHER_REASON = 'other';

const sum = <T>(rows: readonly T[], f: (r: T) => number) => rows.reduce((a, r) => a + f(r), 0);
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The fixed partition of business units for `cube` (see the module documentation). */
export function schemeBlocks(cube: DashboardCube, k: number) {
  const units = new Map<string, Record<string, number>>();
  const counts = (bu: string) => {
    let c = units.get(bu);
    if (!c) units.set(bu, (c = {}));
    return c;
  };
  const add = (bu: string, figure: string, n: number) => {
    const c = counts(bu);
    c[figure] = (c[figure] ?? 0) + n;
  };
  for (const e of cube.employees) add(e.business_unit, 'employees', e.employees);
  for (const d of cube.decisions) add(d.business_unit, d.eligible ? 'bonus_eligible' : 'bonus_not_eligible', d.employees);
  // Bonus accrues for the employees on staff: the population of a year is its largest month.
  const bonusYear = new Map<string, number>();
  for (const r of cube.kpi) {
    const key = `${r.business_unit}\u0000${r.year}`;
    bonusYear.set(key, Math.max(bonusYear.get(key) ?? 0, r.bonus_eligible_employees));
    add(r.business_unit, `wellbeing:${r.year}`, r.wellbeing_new_eligible_employees);
    counts(r.business_unit);
  }
  for (const [key, n] of bonusYear) {
    const [bu, year] = key.split('\u0000') as [string, string];
    add(bu, `bonus:${year}`, n);
  }
  const groups: GroupCounts[] = [...units].map(([key, c]) => ({ key, counts: c }));
  return partitionGroups(groups, k);
}

/** Calendar years touched by the period `from`..`to` (YYYY-MM), as numbers. */
export function yearsOf(from: string, to: string): number[] {
  const out: number[] = [];
  for (let y = Number(from.slice(0, 4)); y <= Number(to.slice(0, 4)); y++) out.push(y);
  return out;
}

/**
 * The dashboard's datasets for `filter`, protected (see the module documentation).
 * Money in EUR rounded to `moneyStepEur`, distances in km (0.1), hours (0.1), adoption in %.
 * @throws UnknownBusinessUnitError when `filter.bu` is not a business unit of `cube`.
 */
export function protectedDashboard(cube: DashboardCube, filter: DashboardSelection, options: DisclosureOptions) {
  const k = options.minGroupSize;
  const money = (x: number) => roundMoney(x, options.moneyStepEur);
  const partition = schemeBlocks(cube, k);
  let selection: Block | null = null;
  if (filter.bu !== '') {
    selection = partition.blockOf.get(filter.bu) ?? null;
    if (!selection) throw new UnknownBusinessUnitError(filter.bu);
  }
  const inSelection = (bu: string) => selection === null || selection.members.includes(bu);
  const blocks = selection === null ? partition.blocks : [selection];
  const inBlock = (b: Block) => (bu: string) => b.members.includes(bu);
  const ok = (figure: string) => !partition.suppressed.has(figure);

  // Activity figures: the requested months, the selected units.
  const kpiPeriod = cube.kpi.filter((r) => r.month >= filter.from && r.month <= filter.to && inSelection(r.business_unit));
  const months = [...new Set(kpiPeriod.map((r) => r.month))].sort();
  const activitiesByMonth = months.map((m) => {
    const rows = kpiPeriod.filter((r) => r.month === m);
    return { month: m, activities: sum(rows, (r) => r.activity_count), distance_km: round(sum(rows, (r) => r.distance_km), 1), active_employees: sum(rows, (r) => r.active_employees) };
  });
  const bySport = new Map<string, { activities: number; distance_km: number; duration_h: number }>();
  for (const r of cube.sports) {
    if (r.month < filter.from || r.month > filter.to || !inSelection(r.business_unit)) continue;
    const s = bySport.get(r.sport_type) ?? { activities: 0, distance_km: 0, duration_h: 0 };
    s.activities += r.activity_count;
    s.distance_km += r.distance_km;
    s.duration_h += r.duration_h;
    bySport.set(r.sport_type, s);
  }
  const activitiesBySport = [...bySport]
    .map(([sport_type, s]) => ({ sport_type, activities: s.activities, distance_km: round(s.distance_km, 1), duration_h: round(s.duration_h, 1) }))
    .sort((a, b) => b.activities - a.activities || (a.sport_type < b.sport_type ? -1 : 1));
  const headcount = sum(kpiPeriod, (r) => r.headcount);

  // Scheme figures: whole years, whole blocks; suppressed years left out.
  const years = yearsOf(filter.from, filter.to);
  const bonusYears = years.filter((y) => ok(`bonus:${y}`));
  const wellbeingYears = years.filter((y) => ok(`wellbeing:${y}`));
  const schemeOf = (member: (bu: string) => boolean) => {
    const bonusRows = cube.kpi.filter((r) => bonusYears.includes(r.year) && member(r.business_unit));
    const wbRows = cube.kpi.filter((r) => wellbeingYears.includes(r.year) && member(r.business_unit));
    const bonus = sum(bonusRows, (r) => r.bonus_cost_eur);
    const wellbeing = sum(wbRows, (r) => r.wellbeing_cost_eur);
    return {
      bonus_cost_eur: money(bonus)!,
      wellbeing_cost_eur: money(wellbeing)!,
      total_cost_eur: money(bonus + wellbeing)!,
      wellbeing_days: sum(wbRows, (r) => r.wellbeing_days),
      employees_reaching_threshold: sum(wbRows, (r) => r.wellbeing_new_eligible_employees),
    };
  };
  const selected = schemeOf(inSelection);
  const costByBu = blocks
    .map((b) => ({ business_unit: b.label, ...schemeOf(inBlock(b)) }))
    .map(({ business_unit, bonus_cost_eur, wellbeing_cost_eur, total_cost_eur }) => ({ business_unit, bonus_cost_eur, wellbeing_cost_eur, total_cost_eur }))
    .sort((a, b) => b.total_cost_eur - a.total_cost_eur || (a.business_unit < b.business_unit ? -1 : 1));
  const wellbeingByBu = blocks
    .map((b) => {
      const s = schemeOf(inBlock(b));
      return { business_unit: b.label, wellbeing_days: s.wellbeing_days, employees_reaching_threshold: s.employees_reaching_threshold, wellbeing_cost_eur: s.wellbeing_cost_eur };
    })
    .sort((a, b) => b.wellbeing_days - a.wellbeing_days || (a.business_unit < b.business_unit ? -1 : 1));

  // Current bonus decisions: whole blocks, uniform reason categories.
  const table = new Map<string, Map<string, number>>();
  for (const b of partition.blocks) table.set(b.label, new Map());
  for (const d of cube.decisions) {
    const row = table.get(partition.blockOf.get(d.business_unit)?.label ?? '');
    if (row) row.set(d.reason_code, (row.get(d.reason_code) ?? 0) + d.employees);
  }
  const { shown } = uniformCategories(table, k);
  const decisions = cube.decisions.filter((d) => inSelection(d.business_unit));
  const reasons = new Map<string, number>();
  for (const d of decisions) {
    const reason = shown.includes(d.reason_code) ? d.reason_code : OTHER_REASON;
    reasons.set(reason, (reasons.get(reason) ?? 0) + d.employees);
  }
  const eligibility = [...reasons].map(([reason_code, employees]) => ({ reason_code, employees })).sort((a, b) => b.employees - a.employees || (a.reason_code < b.reason_code ? -1 : 1));
  const bonusNow = ok('bonus_eligible');
  const eligible = decisions.filter((d) => d.eligible);

  const summary = {
    employees: ok('employees') ? sum(cube.employees.filter((e) => inSelection(e.business_unit)), (e) => e.employees) : null,
    bonus_eligible_employees: bonusNow ? sum(eligible, (d) => d.employees) : null,
    bonus_annual_eur: bonusNow ? money(sum(eligible, (d) => d.bonus_eur)) : null,
    activities: sum(kpiPeriod, (r) => r.activity_count),
    distance_km: round(sum(kpiPeriod, (r) => r.distance_km), 1),
    bonus_cost_eur: selected.bonus_cost_eur,
    wellbeing_days: selected.wellbeing_days,
    wellbeing_cost_eur: selected.wellbeing_cost_eur,
    total_cost_eur: selected.total_cost_eur,
    avg_adoption_pct: headcount > 0 ? round((sum(kpiPeriod, (r) => r.active_employees) / headcount) * 100, 1) : null,
  };
  return {
    protection: {
      minGroupSize: k,
      moneyStepEur: options.moneyStepEur,
      /** Years the scheme figures cover (whole calendar years touched by the period). */
      costYears: { bonus: bonusYears, wellbeing: wellbeingYears },
      suppressed: [...partition.suppressed].sort(),
      blocks: partition.blocks.map((b) => ({ label: b.label, members: b.members })),
      selection: selection ? { label: selection.label, members: selection.members } : null,
    },
    summary,
    costByBu,
    activitiesByMonth,
    activitiesBySport,
    eligibility,
    wellbeingByBu,
  };
}

export type ProtectedDashboard = ReturnType<typeof protectedDashboard>;
