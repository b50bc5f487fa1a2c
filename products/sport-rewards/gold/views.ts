/**
 * The views Power BI reads from gold.duckdb (docs/powerbi.md lists them from here; a unit test
 * keeps the two in step). Column names carry their unit (`_eur`, `_km`, `_h`, `_pct`); money
 * is rounded to the cent. The views leave out salaries and addresses: they are for any reader of
 * the report, while the gold tables behind them keep the salary for the rule checks.
 *
 * View SQL uses unqualified table names, so it binds to the tables of whatever file it is read
 * from (gold.duckdb after the swap, whatever its catalog name).
 */

export interface GoldView {
  name: string;
  description: string;
  /** Columns in order: meaning with unit, and DuckDB type (PostgreSQL's: services/batch/pg-publish.ts pgTypeOf). */
  columns: readonly { name: string; description: string; type: string }[];
  sql: string;
}

/**
 * The completeness watermark, last column of every view (services/batch/gold-build.ts adds it):
 * the figures include every source commit up to this time.
 */
export const WATERMARK_COLUMN = {
  name: 'figures_complete_through',
  description: 'figures complete through this time (UTC): every source change committed up to it is included; NULL when unknown',
  type: 'TIMESTAMP WITH TIME ZONE',
} as const;

const VIEWS: readonly GoldView[] = [
  {
    name: 'v_prime_sportive',
    description: 'Sport bonus per employee: eligibility, reason, distance used and amount.',
    columns: [
      { name: 'employee_id', description: 'HR employee id', type: 'INTEGER' },
      { name: 'employee_name', description: 'first and last name', type: 'VARCHAR' },
      { name: 'business_unit', description: 'business unit', type: 'VARCHAR' },
      { name: 'commute_mode', description: 'declared commute mode', type: 'VARCHAR' },
      { name: 'commute_distance_km', description: 'home-to-office distance used, km (NULL when unknown)', type: 'DOUBLE' },
      { name: 'distance_limit_km', description: 'limit of the commute mode, km (NULL when the mode does not qualify)', type: 'DOUBLE' },
      { name: 'distance_source', description: 'google | offline (NULL when unknown)', type: 'VARCHAR' },
      { name: 'eligible', description: 'bonus due (true/false)', type: 'BOOLEAN' },
      { name: 'reason_code', description: 'eligible | eligible_salary_missing | mode_not_eligible | distance_missing | distance_above_limit', type: 'VARCHAR' },
      { name: 'reason', description: 'decision in words (French)', type: 'VARCHAR' },
      { name: 'bonus_rate_pct', description: 'bonus as % of the gross annual salary', type: 'DOUBLE' },
      { name: 'bonus_amount_eur', description: 'annual bonus, EUR (0 when not eligible, NULL when the salary is missing)', type: 'DECIMAL(14,2)' },
    ],
    sql: `SELECT employee_id, employee_name, business_unit, commute_mode,
        round(commute_distance_m / 1000, 3) AS commute_distance_km, distance_limit_m / 1000 AS distance_limit_km, distance_source,
        eligible, reason_code, reason, bonus_rate * 100 AS bonus_rate_pct, bonus_amount_eur
      FROM sport_bonus`,
  },
  {
    name: 'v_wellbeing',
    description: 'Well-being days per employee and calendar year: activity count, eligibility, days and cost.',
    columns: [
      { name: 'employee_id', description: 'HR employee id', type: 'INTEGER' },
      { name: 'employee_name', description: 'first and last name', type: 'VARCHAR' },
      { name: 'business_unit', description: 'business unit', type: 'VARCHAR' },
      { name: 'year', description: 'calendar year', type: 'INTEGER' },
      { name: 'activity_count', description: 'valid activities in the year', type: 'BIGINT' },
      { name: 'activities_required', description: 'activities needed for the days', type: 'INTEGER' },
      { name: 'eligible', description: 'threshold reached (true/false)', type: 'BOOLEAN' },
      { name: 'wellbeing_days', description: 'extra days off granted, days', type: 'DOUBLE' },
      { name: 'threshold_reached_on', description: 'date the threshold was reached (NULL when not reached)', type: 'DATE' },
      { name: 'day_cost_eur', description: 'cost of one day off (salary / working days), EUR', type: 'DECIMAL(14,2)' },
      { name: 'wellbeing_cost_eur', description: 'cost of the days granted, EUR', type: 'DECIMAL(14,2)' },
    ],
    sql: `SELECT employee_id, employee_name, business_unit, year, activity_count, activities_required, eligible,
        wellbeing_days, threshold_reached_on, day_cost_eur, wellbeing_cost_eur
      FROM wellbeing_days`,
  },
  {
    name: 'v_kpi_bu_month',
    description: 'KPIs per business unit and month.',
    columns: [
      { name: 'month', description: 'first day of the month', type: 'DATE' },
      { name: 'year', description: 'calendar year', type: 'INTEGER' },
      { name: 'business_unit', description: 'business unit', type: 'VARCHAR' },
      { name: 'headcount', description: 'employees on staff at the month\'s end', type: 'BIGINT' },
      { name: 'active_employees', description: 'employees with at least one activity in the month', type: 'BIGINT' },
      { name: 'adoption_rate_pct', description: 'active_employees / headcount, %', type: 'DOUBLE' },
      { name: 'activity_count', description: 'activities', type: 'BIGINT' },
      { name: 'distance_km', description: 'distance, km', type: 'DOUBLE' },
      { name: 'duration_h', description: 'duration, hours', type: 'DOUBLE' },
      { name: 'bonus_eligible_employees', description: 'employees eligible for the sport bonus', type: 'BIGINT' },
      { name: 'bonus_cost_eur', description: 'sport bonus accrued in the month (annual / 12), EUR', type: 'DECIMAL(14,2)' },
      { name: 'wellbeing_new_eligible_employees', description: 'employees reaching the well-being threshold this month', type: 'BIGINT' },
      { name: 'wellbeing_days', description: 'well-being days granted this month, days', type: 'DOUBLE' },
      { name: 'wellbeing_cost_eur', description: 'cost of those days, EUR', type: 'DECIMAL(14,2)' },
      { name: 'total_cost_eur', description: 'bonus + well-being cost, EUR', type: 'DECIMAL(14,2)' },
    ],
    sql: `SELECT month, year, business_unit, headcount, active_employees, round(adoption_rate * 100, 2) AS adoption_rate_pct,
        activity_count, distance_km, duration_h, bonus_eligible_employees, bonus_cost_eur,
        wellbeing_new_eligible_employees, wellbeing_days, wellbeing_cost_eur, total_cost_eur
      FROM kpi_bu_month`,
  },
  {
    name: 'v_kpi_company_month',
    description: 'The same KPIs for the whole company, per month.',
    columns: [
      { name: 'month', description: 'first day of the month', type: 'DATE' },
      { name: 'year', description: 'calendar year', type: 'INTEGER' },
      { name: 'headcount', description: 'employees on staff at the month\'s end', type: 'HUGEINT' },
      { name: 'active_employees', description: 'employees with at least one activity in the month', type: 'HUGEINT' },
      { name: 'adoption_rate_pct', description: 'active_employees / headcount, %', type: 'DOUBLE' },
      { name: 'activity_count', description: 'activities', type: 'HUGEINT' },
      { name: 'distance_km', description: 'distance, km', type: 'DOUBLE' },
      { name: 'bonus_cost_eur', description: 'sport bonus accrued in the month, EUR', type: 'DECIMAL(38,2)' },
      { name: 'wellbeing_days', description: 'well-being days granted this month, days', type: 'DOUBLE' },
      { name: 'wellbeing_cost_eur', description: 'cost of those days, EUR', type: 'DECIMAL(38,2)' },
      { name: 'total_cost_eur', description: 'bonus + well-being cost, EUR', type: 'DECIMAL(38,2)' },
    ],
    sql: `SELECT month, year, sum(headcount) AS headcount, sum(active_employees) AS active_employees,
        CASE WHEN sum(headcount) > 0 THEN round(sum(active_employees) / sum(headcount) * 100, 2) END AS adoption_rate_pct,
        sum(activity_count) AS activity_count, round(sum(distance_km), 3) AS distance_km,
        sum(bonus_cost_eur) AS bonus_cost_eur, sum(wellbeing_days) AS wellbeing_days,
        sum(wellbeing_cost_eur) AS wellbeing_cost_eur, sum(total_cost_eur) AS total_cost_eur
      FROM kpi_bu_month GROUP BY month, year ORDER BY month`,
  },
  {
    name: 'v_cost_by_bu_year',
    description: 'Cost of the scheme per business unit and year: eligible population, bonus and well-being cost.',
    columns: [
      { name: 'business_unit', description: 'business unit', type: 'VARCHAR' },
      { name: 'year', description: 'calendar year', type: 'INTEGER' },
      { name: 'bonus_eligible_employees', description: 'employees eligible for the sport bonus (current decision)', type: 'BIGINT' },
      { name: 'bonus_cost_eur', description: 'sport bonus accrued over the year\'s months, EUR', type: 'DECIMAL(38,2)' },
      { name: 'wellbeing_eligible_employees', description: 'employees who earned well-being days that year', type: 'HUGEINT' },
      { name: 'wellbeing_days', description: 'well-being days granted, days', type: 'DOUBLE' },
      { name: 'wellbeing_cost_eur', description: 'cost of those days, EUR', type: 'DECIMAL(38,2)' },
      { name: 'total_cost_eur', description: 'bonus + well-being cost, EUR', type: 'DECIMAL(38,2)' },
    ],
    sql: `SELECT k.business_unit, k.year, max(k.bonus_eligible_employees) AS bonus_eligible_employees, sum(k.bonus_cost_eur) AS bonus_cost_eur,
        sum(k.wellbeing_new_eligible_employees) AS wellbeing_eligible_employees, sum(k.wellbeing_days) AS wellbeing_days,
        sum(k.wellbeing_cost_eur) AS wellbeing_cost_eur, sum(k.total_cost_eur) AS total_cost_eur
      FROM kpi_bu_month k GROUP BY k.business_unit, k.year ORDER BY k.business_unit, k.year`,
  },
  {
    name: 'v_activities_by_sport',
    description: 'Activities per sport, month and business unit.',
    columns: [
      { name: 'month', description: 'first day of the month', type: 'DATE' },
      { name: 'year', description: 'calendar year', type: 'INTEGER' },
      { name: 'business_unit', description: 'business unit', type: 'VARCHAR' },
      { name: 'sport_type', description: 'sport type', type: 'VARCHAR' },
      { name: 'activity_count', description: 'activities', type: 'BIGINT' },
      { name: 'distance_km', description: 'distance, km', type: 'DOUBLE' },
      { name: 'duration_h', description: 'duration, hours', type: 'DOUBLE' },
      { name: 'avg_speed_kmh', description: 'average speed over activities with a distance, km/h', type: 'DOUBLE' },
    ],
    sql: `SELECT month, year, business_unit, sport_type, activity_count, distance_km, duration_h, avg_speed_kmh FROM activities_by_sport`,
  },
  {
    name: 'v_employees',
    description: 'Employee dimension (no salary, no address) for filters and drill-through.',
    columns: [
      { name: 'employee_id', description: 'HR employee id', type: 'INTEGER' },
      { name: 'employee_name', description: 'first and last name', type: 'VARCHAR' },
      { name: 'business_unit', description: 'business unit', type: 'VARCHAR' },
      { name: 'contract_type', description: 'CDI or CDD', type: 'VARCHAR' },
      { name: 'hire_date', description: 'hire date', type: 'DATE' },
      { name: 'commute_mode', description: 'declared commute mode', type: 'VARCHAR' },
      { name: 'declared_sport', description: 'sport declared to HR', type: 'VARCHAR' },
    ],
    sql: `SELECT employee_id, employee_name, business_unit, contract_type, hire_date, commute_mode, declared_sport FROM dim_employee`,
  },
  {
    name: 'v_quality_findings',
    description: 'Row-level data-quality findings of the last successful run.',
    columns: [
      { name: 'finding_type', description: 'quarantined_row | declared_commute_beyond_limit | commute_distance_missing | salary_missing_bonus | salary_missing_wellbeing', type: 'VARCHAR' },
      { name: 'rule', description: 'rule code', type: 'VARCHAR' },
      { name: 'severity', description: 'warn | error', type: 'VARCHAR' },
      { name: 'table_name', description: 'silver table of the row', type: 'VARCHAR' },
      { name: 'record_key', description: 'primary key of the row (JSON)', type: 'VARCHAR' },
      { name: 'employee_id', description: 'employee concerned, when known', type: 'INTEGER' },
      { name: 'message', description: 'what is wrong', type: 'VARCHAR' },
    ],
    sql: `SELECT finding_type, rule, severity, table_name, record_key, employee_id, message FROM quality_findings`,
  },
  {
    name: 'v_quality_checks',
    description: 'Results of the quality suite for the run that built this gold.',
    columns: [
      { name: 'check_id', description: 'test id, e.g. gold.sport_bonus.employee_id.unique', type: 'VARCHAR' },
      { name: 'model', description: 'model tested', type: 'VARCHAR' },
      { name: 'test_type', description: 'not_null | unique | relationships | accepted_values | accepted_range | expression | reconciliation | freshness | volume_anomaly | cost_drift | ...', type: 'VARCHAR' },
      { name: 'severity', description: 'error (blocks the swap) | warn', type: 'VARCHAR' },
      { name: 'status', description: 'pass | fail | skipped', type: 'VARCHAR' },
      { name: 'failing_rows', description: 'rows failing (row tests), 1 for a failed metric check', type: 'BIGINT' },
      { name: 'description', description: 'what is checked', type: 'VARCHAR' },
      { name: 'observed', description: 'measured value and threshold (metric checks)', type: 'VARCHAR' },
    ],
    sql: `SELECT id AS check_id, model, type AS test_type, severity, status, failures AS failing_rows, description, observed FROM quality_results`,
  },
  {
    name: 'v_run_log',
    description: 'Batch runs: when, with which parameters, inputs, row counts and quality outcome.',
    columns: [
      { name: 'run_id', description: 'run id', type: 'VARCHAR' },
      { name: 'status', description: 'success | failed_quality | failed', type: 'VARCHAR' },
      { name: 'mode', description: 'incremental | full', type: 'VARCHAR' },
      { name: 'started_at', description: 'start time', type: 'TIMESTAMP WITH TIME ZONE' },
      { name: 'finished_at', description: 'end time', type: 'TIMESTAMP WITH TIME ZONE' },
      { name: 'duration_s', description: 'duration, seconds', type: 'DOUBLE' },
      { name: 'rules_version', description: 'version label of the rules file', type: 'VARCHAR' },
      { name: 'params_hash', description: 'sha256 of the rules (canonical JSON)', type: 'VARCHAR' },
      { name: 'bronze_files', description: 'bronze files read by the run', type: 'INTEGER' },
      { name: 'bronze_events', description: 'bronze events read by the run', type: 'BIGINT' },
      { name: 'quality_errors', description: 'failed error-level checks', type: 'INTEGER' },
      { name: 'quality_warnings', description: 'failed warn-level checks', type: 'INTEGER' },
      { name: 'bonus_cost_eur', description: 'total annual sport bonus at the end of the run, EUR', type: 'DECIMAL(14,2)' },
      { name: 'wellbeing_cost_eur', description: 'total well-being cost at the end of the run, EUR', type: 'DECIMAL(14,2)' },
    ],
    sql: `SELECT run_id, status, mode, started_at, finished_at, duration_s, rules_version, params_hash, bronze_files, bronze_events,
        quality_errors, quality_warnings, bonus_cost_eur, wellbeing_cost_eur
      FROM run_log ORDER BY started_at`,
  },
];

/** Every view, its columns ending with {@link WATERMARK_COLUMN}. */
export const GOLD_VIEWS: readonly GoldView[] = VIEWS.map((v) => ({ ...v, columns: [...v.columns, WATERMARK_COLUMN] }));
