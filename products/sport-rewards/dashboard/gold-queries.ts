/**
 * The dashboard's figures, read from gold's Power BI views (services/batch/models/views.ts;
 * docs/powerbi.md), which carry no salary and no address. Filters: a period of months
 * (inclusive, local calendar of the batch rules) and one business unit or all.
 *
 * Figures and their definitions (units in the field names):
 * - summary: employees, bonus-eligible employees and their annual bonus (current decision,
 *   v_prime_sportive); over the period: activities, distance, bonus cost accrued (annual / 12 per
 *   month), well-being days and their cost, average monthly adoption (sum of active employees /
 *   sum of headcount), all from v_kpi_bu_month;
 * - costByBu: bonus and well-being cost per business unit over the period (v_kpi_bu_month);
 * - activitiesByMonth: activities, distance and active employees per month (v_kpi_bu_month);
 * - activitiesBySport: activities, distance and hours per sport over the period (v_activities_by_sport);
 * - eligibility: employees per bonus decision (reason_code of v_prime_sportive);
 * - wellbeingByBu: well-being days granted, employees reaching the threshold and cost per business
 *   unit over the period (v_kpi_bu_month: booked in the month the threshold was reached).
 */
import { z } from 'zod';
import type { DuckDBValue } from '@duckdb/node-api';

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

/** Bind parameters of the dashboard queries for `f`: first day of `from`, first day of `to`, BU (pure). */
export function filterParams(f: DashboardFilter): Record<string, DuckDBValue> {
  return { from_month: `${f.from}-01`, to_month: `${f.to}-01`, bu: f.bu };
}

/** The parameters `sql` refers to (`$name`), since DuckDB rejects unused named parameters (pure). */
export function paramsFor(sql: string, params: Record<string, DuckDBValue>): Record<string, DuckDBValue> {
  return Object.fromEntries(Object.entries(params).filter(([name]) => new RegExp(`\\$${name}\\b`).test(sql)));
}

const PERIOD = `month >= CAST($from_month AS DATE) AND month <= CAST($to_month AS DATE)`;
const BU = `($bu = '' OR business_unit = $bu)`;

/** SQL of each dashboard dataset (parameters: $from_month, $to_month, $bu). */
export const DASHBOARD_SQL = {
  summary: `SELECT
      (SELECT count(*)::INTEGER FROM v_employees WHERE ${BU}) AS employees,
      (SELECT count(*)::INTEGER FROM v_prime_sportive WHERE eligible AND ${BU}) AS bonus_eligible_employees,
      (SELECT round(coalesce(sum(bonus_amount_eur), 0)::DOUBLE, 2) FROM v_prime_sportive WHERE eligible AND ${BU}) AS bonus_annual_eur,
      coalesce(sum(activity_count), 0)::INTEGER AS activities,
      round(coalesce(sum(distance_km), 0)::DOUBLE, 1) AS distance_km,
      round(coalesce(sum(bonus_cost_eur), 0)::DOUBLE, 2) AS bonus_cost_eur,
      coalesce(sum(wellbeing_days), 0)::DOUBLE AS wellbeing_days,
      round(coalesce(sum(wellbeing_cost_eur), 0)::DOUBLE, 2) AS wellbeing_cost_eur,
      round(coalesce(sum(total_cost_eur), 0)::DOUBLE, 2) AS total_cost_eur,
      CASE WHEN sum(headcount) > 0 THEN round(sum(active_employees) / sum(headcount) * 100, 1)::DOUBLE END AS avg_adoption_pct
    FROM v_kpi_bu_month WHERE ${PERIOD} AND ${BU}`,
  costByBu: `SELECT business_unit,
      round(sum(bonus_cost_eur)::DOUBLE, 2) AS bonus_cost_eur,
      round(sum(wellbeing_cost_eur)::DOUBLE, 2) AS wellbeing_cost_eur,
      round(sum(total_cost_eur)::DOUBLE, 2) AS total_cost_eur
    FROM v_kpi_bu_month WHERE ${PERIOD} AND ${BU}
    GROUP BY business_unit ORDER BY total_cost_eur DESC, business_unit`,
  activitiesByMonth: `SELECT strftime(month, '%Y-%m') AS month,
      sum(activity_count)::INTEGER AS activities,
      round(sum(distance_km)::DOUBLE, 1) AS distance_km,
      sum(active_employees)::INTEGER AS active_employees
    FROM v_kpi_bu_month WHERE ${PERIOD} AND ${BU}
    GROUP BY month ORDER BY month`,
  activitiesBySport: `SELECT sport_type,
      sum(activity_count)::INTEGER AS activities,
      round(sum(distance_km)::DOUBLE, 1) AS distance_km,
      round(sum(duration_h)::DOUBLE, 1) AS duration_h
    FROM v_activities_by_sport WHERE ${PERIOD} AND ${BU}
    GROUP BY sport_type ORDER BY activities DESC, sport_type`,
  eligibility: `SELECT reason_code, count(*)::INTEGER AS employees
    FROM v_prime_sportive WHERE ${BU}
    GROUP BY reason_code ORDER BY employees DESC, reason_code`,
  wellbeingByBu: `SELECT business_unit,
      sum(wellbeing_days)::DOUBLE AS wellbeing_days,
      sum(wellbeing_new_eligible_employees)::INTEGER AS employees_reaching_threshold,
      round(sum(wellbeing_cost_eur)::DOUBLE, 2) AS wellbeing_cost_eur
    FROM v_kpi_bu_month WHERE ${PERIOD} AND ${BU}
    GROUP BY business_unit ORDER BY wellbeing_days DESC, business_unit`,
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
