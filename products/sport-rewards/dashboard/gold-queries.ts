/**
 * What the dashboard reads from gold's Power BI views (products/sport-rewards/gold/views.ts;
 * docs/powerbi.md, no salary and no address in them): the filters it offers, the build shown, and
 * the fine-grained rows its figures are computed from. The figures themselves, and how they are
 * protected before the monitor serves them, are protect.ts's. Filters: a period of months
 * (inclusive, local calendar of the batch rules) and one business unit or all.
 */
import { z } from 'zod';

const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'expected YYYY-MM');

/** Dashboard filters, validated. `bu` empty = every business unit. */
export const dashboardFilterSchema = z.object({
  from: month,
  to: month,
  bu: z.string().max(200).default(''),
});

export type DashboardFilter = z.infer<typeof dashboardFilterSchema>;

/** Thrown on an invalid filter; `message` names the parameter. */
export class FilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

/**
 * Validates query parameters (`from`, `to` as YYYY-MM, `bu`), filling a missing period with
 * `defaults` (pure).
 * @throws FilterError naming the parameter, e.g. `from: expected YYYY-MM`.
 */
export function parseDashboardFilter(query: URLSearchParams, defaults: { from: string; to: string }): DashboardFilter {
  const parsed = dashboardFilterSchema.safeParse({
    from: query.get('from') || defaults.from,
    to: query.get('to') || defaults.to,
    bu: query.get('bu') ?? '',
  });
  if (!parsed.success) throw new FilterError(parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; '));
  if (parsed.data.from > parsed.data.to) throw new FilterError(`from: ${parsed.data.from} is after to (${parsed.data.to})`);
  return parsed.data;
}

const BU = `coalesce(business_unit, '(none)') AS business_unit`;

/**
 * The fine-grained rows the dashboard is computed from (no parameters; gold holds a few thousand
 * of them): protect.ts aggregates and protects them. Counts are INTEGER, amounts DOUBLE (EUR).
 */
export const DASHBOARD_CUBE_SQL = {
  employees: `SELECT ${BU}, count(*)::INTEGER AS employees FROM v_employees GROUP BY ALL`,
  kpi: `SELECT ${BU}, strftime(month, '%Y-%m') AS month, year::INTEGER AS year, headcount::INTEGER AS headcount,
      active_employees::INTEGER AS active_employees, activity_count::INTEGER AS activity_count, coalesce(distance_km, 0)::DOUBLE AS distance_km,
      bonus_eligible_employees::INTEGER AS bonus_eligible_employees, coalesce(bonus_cost_eur, 0)::DOUBLE AS bonus_cost_eur,
      wellbeing_new_eligible_employees::INTEGER AS wellbeing_new_eligible_employees, coalesce(wellbeing_days, 0)::DOUBLE AS wellbeing_days,
      coalesce(wellbeing_cost_eur, 0)::DOUBLE AS wellbeing_cost_eur
    FROM v_kpi_bu_month`,
  sports: `SELECT ${BU}, strftime(month, '%Y-%m') AS month, sport_type, activity_count::INTEGER AS activity_count,
      coalesce(distance_km, 0)::DOUBLE AS distance_km, coalesce(duration_h, 0)::DOUBLE AS duration_h
    FROM v_activities_by_sport`,
  decisions: `SELECT ${BU}, reason_code, coalesce(eligible, false) AS eligible, count(*)::INTEGER AS employees,
      coalesce(sum(bonus_amount_eur) FILTER (WHERE eligible), 0)::DOUBLE AS bonus_eur
    FROM v_prime_sportive GROUP BY ALL`,
} as const;

/** What the filters offer, and which gold build is shown. */
export const GOLD_META_SQL = {
  build: `SELECT run_id, strftime(built_at, '%Y-%m-%dT%H:%M:%SZ') AS built_at, rules_version, strftime(as_of, '%Y-%m-%dT%H:%M:%SZ') AS as_of,
    strftime(complete_through, '%Y-%m-%dT%H:%M:%SZ') AS complete_through FROM build_info`,
  months: `SELECT DISTINCT strftime(month, '%Y-%m') AS month FROM v_kpi_bu_month ORDER BY month`,
  businessUnits: `SELECT DISTINCT business_unit FROM v_employees WHERE business_unit IS NOT NULL ORDER BY business_unit`,
} as const;

/** Default period (pure): the last 12 months available (all of them when fewer). */
export function defaultPeriod(months: readonly string[]): { from: string; to: string } | null {
  if (months.length === 0) return null;
  return { from: months[Math.max(0, months.length - 12)]!, to: months.at(-1)! };
}

/** The counts /api/quality needs from gold: commute distances known for qualifying employees, findings. */
export const QUALITY_SQL = {
  commute: `SELECT count(*) FILTER (WHERE distance_limit_km IS NOT NULL)::INTEGER AS qualifying,
      count(*) FILTER (WHERE distance_limit_km IS NOT NULL AND commute_distance_km IS NOT NULL)::INTEGER AS with_distance
    FROM v_prime_sportive`,
  findingsByType: `SELECT finding_type, severity, count(*)::INTEGER AS findings FROM v_quality_findings GROUP BY ALL ORDER BY findings DESC, finding_type`,
  recentFindings: `SELECT finding_type, rule, severity, table_name, record_key, employee_id, message FROM v_quality_findings
    ORDER BY CASE severity WHEN 'error' THEN 0 ELSE 1 END, finding_type, employee_id NULLS LAST, record_key LIMIT CAST($limit AS INTEGER)`,
} as const;
