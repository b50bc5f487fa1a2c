import { describe, expect, it } from 'vitest';
import { protectedDashboard, schemeBlocks, UnknownBusinessUnitError, yearsOf, type DashboardCube, type KpiCell } from './protect.ts';

/**
 * Four business units: Big (12 people, 6 eligible), Mid (9, 5 eligible), Tiny (2, 1 eligible) and
 * Solo (1, eligible), over 2025-01..2026-03. Each eligible employee earns about 1,000 EUR of bonus a
 * year; well-being: in Big 5 people reach the threshold in 2025 (one a month from March), in Mid 4
 * (April to July), in Solo its one employee in 2025-06; in 2026 two people in Big (below k
 * company-wide). A day off costs 41,000 / 218 EUR.
 */
function cube(): DashboardCube {
  const units = { Big: { staff: 12, eligible: 6 }, Mid: { staff: 9, eligible: 5 }, Tiny: { staff: 2, eligible: 1 }, Solo: { staff: 1, eligible: 1 } };
  const months = [...Array.from({ length: 12 }, (_, i) => `2025-${String(i + 1).padStart(2, '0')}`), '2026-01', '2026-02', '2026-03'];
  const kpi: KpiCell[] = [];
  for (const [bu, u] of Object.entries(units)) {
    const annualBonus = u.eligible * 1000 + bu.length;
    for (const month of months) {
      const year = Number(month.slice(0, 4));
      let reach = 0;
      if (bu === 'Big' && year === 2025 && month >= '2025-03' && month <= '2025-07') reach = 1;
      if (bu === 'Mid' && month >= '2025-04' && month <= '2025-07') reach = 1;
      if (bu === 'Solo' && month === '2025-06') reach = 1;
      if (bu === 'Big' && month === '2026-02') reach = 2;
      kpi.push({
        business_unit: bu,
        month,
        year,
        headcount: u.staff,
        active_employees: Math.min(u.staff, 3),
        activity_count: 7,
        distance_km: 12.5,
        bonus_eligible_employees: u.eligible,
        bonus_cost_eur: annualBonus / 12,
        wellbeing_new_eligible_employees: reach,
        wellbeing_days: reach * 5,
        wellbeing_cost_eur: reach * 5 * (41_000 / 218),
      });
    }
  }
  return {
    employees: Object.entries(units).map(([business_unit, u]) => ({ business_unit, employees: u.staff })),
    kpi,
    sports: kpi.map((r) => ({ business_unit: r.business_unit, month: r.month, sport_type: 'Runing', activity_count: r.activity_count, distance_km: r.distance_km, duration_h: 1.5 })),
    decisions: Object.entries(units).flatMap(([business_unit, u]) => [
      { business_unit, reason_code: 'eligible', eligible: true, employees: u.eligible, bonus_eur: u.eligible * 1000 + business_unit.length },
      ...(u.staff > u.eligible ? [{ business_unit, reason_code: 'mode_not_eligible', eligible: false, employees: u.staff - u.eligible, bonus_eur: 0 }] : []),
    ]),
  };
}

const options = { minGroupSize: 5, moneyStepEur: 100 };

describe('schemeBlocks', () => {
  it('merges the units too small for some scheme figure and suppresses figures too small company-wide', () => {
    const p = schemeBlocks(cube(), 5);
    // Tiny, Solo and Mid are each short of some figure (Solo's one well-being employee, Mid's 4);
    // together they are not. Big is short of nothing that is not suppressed.
    expect(p.blocks.map((b) => b.label)).toEqual(['Big', 'Mid + Solo + Tiny']);
    // 2026's well-being: 2 people in the whole company.
    expect([...p.suppressed]).toEqual(['wellbeing:2026']);
    for (const b of p.blocks) for (const [figure, n] of Object.entries(b.counts)) if (!p.suppressed.has(figure)) expect(n === 0 || n >= 5, `${b.label} ${figure}=${n}`).toBe(true);
  });
});

describe('protectedDashboard', () => {
  it('serves scheme figures per whole year and block, rounded, and activity figures per month', () => {
    const d = protectedDashboard(cube(), { from: '2025-11', to: '2026-02', bu: '' }, options);
    expect(d.protection.costYears).toEqual({ bonus: [2025, 2026], wellbeing: [2025] });
    expect(d.protection.suppressed).toEqual(['wellbeing:2026']);
    expect(d.protection.selection).toBeNull();
    // Activities: the 4 months x 4 units.
    expect(d.summary.activities).toBe(4 * 4 * 7);
    expect(d.activitiesByMonth.map((r) => r.month)).toEqual(['2025-11', '2025-12', '2026-01', '2026-02']);
    expect(d.activitiesBySport).toEqual([{ sport_type: 'Runing', activities: 112, distance_km: 200, duration_h: 24 }]);
    // Bonus: 12 + 3 months of every unit's annual bonus / 12, rounded to 100 EUR.
    const annual = { Big: 6003, Mid: 5003, Tiny: 1004, Solo: 1004 };
    const bonus = (units: (keyof typeof annual)[]) => (units.reduce((a, u) => a + annual[u], 0) * 15) / 12;
    const hundred = (x: number) => Math.round(x / 100) * 100;
    const wellbeing = (5 * 5 * 41_000) / 218; // 5 people x 5 days in each block
    expect(d.costByBu).toEqual([
      { business_unit: 'Mid + Solo + Tiny', bonus_cost_eur: hundred(bonus(['Mid', 'Solo', 'Tiny'])), wellbeing_cost_eur: hundred(wellbeing), total_cost_eur: hundred(bonus(['Mid', 'Solo', 'Tiny']) + wellbeing) },
      { business_unit: 'Big', bonus_cost_eur: hundred(bonus(['Big'])), wellbeing_cost_eur: hundred(wellbeing), total_cost_eur: hundred(bonus(['Big']) + wellbeing) },
    ]);
    expect(d.costByBu.map((r) => r.bonus_cost_eur)).toEqual([8800, 7500]);
    expect(d.summary.bonus_cost_eur).toBe(16_300);
    expect(d.summary.wellbeing_days).toBe(50);
    expect(d.summary.bonus_eligible_employees).toBe(13);
    expect(d.summary.bonus_annual_eur).toBe(13_000);
    expect(d.wellbeingByBu).toEqual([
      { business_unit: 'Big', wellbeing_days: 25, employees_reaching_threshold: 5, wellbeing_cost_eur: 4700 },
      { business_unit: 'Mid + Solo + Tiny', wellbeing_days: 25, employees_reaching_threshold: 5, wellbeing_cost_eur: 4700 },
    ]);
  });

  it('answers a business-unit filter with the block holding it', () => {
    const d = protectedDashboard(cube(), { from: '2025-06', to: '2025-06', bu: 'Solo' }, options);
    expect(d.protection.selection).toEqual({ label: 'Mid + Solo + Tiny', members: ['Mid', 'Solo', 'Tiny'] });
    expect(d.summary.employees).toBe(12);
    expect(d.summary.activities).toBe(21);
    expect(d.costByBu.map((r) => r.business_unit)).toEqual(['Mid + Solo + Tiny']);
    expect(() => protectedDashboard(cube(), { from: '2025-06', to: '2025-06', bu: 'Nope' }, options)).toThrow(new UnknownBusinessUnitError('Nope'));
  });

  it('shows the same decision reasons for every block, the rare ones as "other"', () => {
    const c = cube();
    c.decisions = [...c.decisions, { business_unit: 'Big', reason_code: 'distance_missing', eligible: false, employees: 1, bonus_eur: 0 }];
    c.employees = c.employees.map((e) => (e.business_unit === 'Big' ? { ...e, employees: 11 } : e));
    const all = protectedDashboard(c, { from: '2025-01', to: '2025-12', bu: '' }, options);
    // distance_missing (1 person) cannot be shown; "other" would then hold 1 in Big, so the smaller
    // of the other reasons joins it, for every block alike.
    expect(all.eligibility).toEqual([
      { reason_code: 'eligible', employees: 13 },
      { reason_code: 'other', employees: 12 },
    ]);
    const big = protectedDashboard(c, { from: '2025-01', to: '2025-12', bu: 'Big' }, options);
    expect(big.eligibility).toEqual([{ reason_code: 'other', employees: 7 }, { reason_code: 'eligible', employees: 6 }]);
  });

  it('lets no two served figures differ by fewer than k people: every period and unit, differenced', () => {
    const c = cube();
    const months = [...new Set(c.kpi.map((r) => r.month))].sort();
    const units = ['', ...c.employees.map((e) => e.business_unit)];
    // The people behind each served figure, as the response declares them (block members, years),
    // checked against the count it serves; then every pair of nested sets is differenced.
    const reached = c.kpi.flatMap((r) => Array.from({ length: r.wellbeing_new_eligible_employees }, (_, n) => ({ id: `${r.business_unit}:${r.month}:${n}`, bu: r.business_unit, year: r.year })));
    const eligible = c.decisions.filter((d) => d.eligible).flatMap((d) => Array.from({ length: d.employees }, (_, n) => ({ id: `${d.business_unit}:e${n}`, bu: d.business_unit })));
    const served = new Map<string, { people: string[]; cost: number }>();
    const serve = (people: string[], cost: number) => served.set(`${people.join(',')}|${cost}`, { people, cost });
    for (const bu of units)
      for (let i = 0; i < months.length; i++)
        for (let j = i; j < months.length; j++) {
          const d = protectedDashboard(c, { from: months[i]!, to: months[j]!, bu }, options);
          for (const r of d.wellbeingByBu) {
            const members = d.protection.blocks.find((b) => b.label === r.business_unit)!.members;
            const people = reached.filter((p) => members.includes(p.bu) && d.protection.costYears.wellbeing.includes(p.year)).map((p) => p.id);
            expect(r.employees_reaching_threshold).toBe(people.length);
            serve(people, r.wellbeing_cost_eur);
          }
          const members = d.protection.selection?.members ?? c.employees.map((e) => e.business_unit);
          const people = eligible.filter((p) => members.includes(p.bu)).map((p) => p.id);
          expect(d.summary.bonus_eligible_employees).toBe(people.length);
          serve(people, d.summary.bonus_annual_eur!);
        }
    const cells = [...served.values()];
    expect(cells.length).toBeGreaterThan(4);
    for (const s of cells) expect(s.people.length === 0 || s.people.length >= 5, `a served figure covers ${s.people.length} people`).toBe(true);
    const isolating = cells.flatMap((a) =>
      cells.filter((b) => b.people.length < a.people.length && b.people.every((p) => a.people.includes(p)) && a.people.length - b.people.length < 5).map((b) => `${a.people.length} - ${b.people.length}`),
    );
    expect(isolating).toEqual([]);
    // Solo's employee alone reached the threshold in 2025-06 (5 days at 41,000 / 218): no cost nor
    // difference of costs comes within 1 EUR of it.
    const soloCost = (5 * 41_000) / 218;
    for (const a of cells) for (const b of cells) expect(Math.abs(Math.abs(a.cost - b.cost) - soloCost)).toBeGreaterThan(1);
  });
});

describe('yearsOf', () => {
  it('lists the calendar years a period touches', () => {
    expect(yearsOf('2024-11', '2026-02')).toEqual([2024, 2025, 2026]);
    expect(yearsOf('2025-03', '2025-03')).toEqual([2025]);
  });
});
