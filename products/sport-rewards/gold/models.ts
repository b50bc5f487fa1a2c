/**
 * Gold models (../shared/DOMAIN.md, "Business rules" and "Indicators"), each declared with its
 * SQL, its documented columns (units in names and descriptions) and its quality tests, dbt style.
 * Built in this order into the gold database being prepared; `ctx.ref(name)` names an earlier
 * gold table. The Power BI views over these tables are in views.ts.
 *
 * Definitions:
 * - Local calendar: days, months and years of activities are those of `rules.timezone`.
 * - Activities: the bound activities' `_valid` view (quarantined rows excluded); business unit = the
 *   employee's current one.
 * - Sport bonus: employees whose commute mode is in `sportBonus.maxCommuteKmByMode` and whose
 *   home-to-office distance (the bound commute_distances, status OK) is <= the mode's limit get
 *   `rate` x gross annual salary. No distance -> not eligible (`distance_missing`); a distance over
 *   the limit -> not eligible and a quality finding; eligible without salary -> amount NULL.
 * - Well-being days: `extraDays` for each calendar year with >= `minActivitiesPerYear` activities;
 *   cost = gross annual salary / `workingDaysPerYear` x days. The cost is booked in the month the
 *   threshold was reached (date of the N-th activity).
 * - KPIs by business unit (current BU of the employee) and month: headcount = employees hired on
 *   or before the month's last day; adoption = employees with >= 1 activity in the month /
 *   headcount; bonus cost = annual bonus / 12 for each month of employment (accrual).
 */
import type { Rules } from '../../../services/batch/rules.ts';
import type { ModelColumn, ModelTest } from '../../../services/batch/quality.ts';
import { BONUS_REASON_CODES, FINDING_TYPES } from './constants.ts';
import { literal } from '../../../services/batch/sql.ts';
import type { Binding } from '../binding.ts';

export interface GoldContext {
  rules: Rules;
  /** Reference time of the run ("now" unless --as-of). */
  asOf: Date;
  runId: string;
  /** Relation of an already-built gold table, e.g. `gold_next.main.dim_employee`. */
  ref(name: string): string;
  /** The product's source tables (products/sport-rewards/binding.ts). */
  bind: Binding;
  /** Set by {@link stagingStatements}: true when local days come from the `g_tz` buckets. */
  tzBuckets?: boolean;
}

/**
 * SQL of the local day and month (DATE, first of the month) of `<alias>.started_at`, with the
 * join they need (see stagingStatements). With buckets, a bucket whose 15 minutes all fall on
 * one local day carries its day and month; any other bucket (an offset that is not a whole
 * number of quarter hours, so a local midnight can fall inside) leaves them NULL and they are
 * computed for the row from the bucket's offset.
 */
export function localDayMonth(ctx: GoldContext, alias: string): { join: string; day: string; month: string } {
  if (!ctx.tzBuckets) {
    const local = `timezone(${tz(ctx)}, ${alias}.started_at)`;
    return { join: '', day: `CAST(${local} AS DATE)`, month: `CAST(date_trunc('month', ${local}) AS DATE)` };
  }
  const z = `${alias}_tz`;
  const local = `make_timestamp(epoch_us(${alias}.started_at) + ${z}.off)`;
  return {
    join: `JOIN g_tz ${z} ON ${z}.bucket = epoch_us(${alias}.started_at) // ${TZ_BUCKET_US}`,
    day: `coalesce(${z}.day, CAST(${local} AS DATE))`,
    month: `coalesce(${z}.month, CAST(date_trunc('month', ${local}) AS DATE))`,
  };
}

export interface GoldModel {
  name: string;
  description: string;
  key: readonly string[];
  columns: readonly ModelColumn[];
  tests?: readonly ModelTest[];
  sql(ctx: GoldContext): string;
}

const money = (expr: string) => `CAST(round(${expr}, 2) AS DECIMAL(14,2))`;
const tz = (ctx: GoldContext) => literal(ctx.rules.timezone);

/** Width of the time buckets over which a zone's UTC offset is constant (tz transitions fall on quarter hours). */
export const TZ_BUCKET_US = 900_000_000;
/** Above this many buckets, local times are computed row by row instead. */
const MAX_TZ_BUCKETS = 5_000_000;

/** SELECT of the first and last 15-minute bucket (µs since epoch / TZ_BUCKET_US) of all silver activities (valid ones lie within). */
export const bucketRangeSql = (bind: Binding) =>
  `SELECT epoch_us(min(started_at)) // ${TZ_BUCKET_US} AS lo, epoch_us(max(started_at)) // ${TZ_BUCKET_US} AS hi FROM ${bind.rel('activities')}`;

/**
 * Temporary tables every model reads instead of scanning silver again:
 * - `g_activities`: valid activities with their local day and month. Every valid activity
 *   has a valid employee (quarantine rule `unknown_employee`, rebuilt in the same run just
 *   before gold), so no join with employees is needed here; the models that report a business
 *   unit join employees and would drop any activity without one. Local day and month come from
 *   the activity's 15-minute UTC bucket in `g_tz` (one ICU conversion per bucket instead of per
 *   row, and no date arithmetic per row; exact, since zone offsets only change on quarter hours
 *   and a bucket that could straddle a local midnight falls back to the row's local time, see
 *   {@link localDayMonth});
 * - `g_emp_month` (activities per employee and local month, with the employee's business unit),
 *   `g_by_sport` (counts, distances and durations per month, business unit and sport: the
 *   distance and duration totals of a business unit and month are summed from here rather than
 *   per employee, which would cost a third more on the 1.2M-group aggregation) and `g_daily`
 *   (per local day).
 * (Measured: materializing g_activities once and aggregating it three times beats one GROUPING
 * SETS pass over the unmaterialized join, and the threshold dates need its rows again anyway.
 * The business unit is joined to the 1.2M employee-months of g_emp_month, and to g_by_sport's
 * input, rather than stored as a string on each of the 10M rows; with the employee join gone
 * from g_activities, staging 10M activities takes about a quarter less CPU.)
 * @param buckets result of {@link BUCKET_RANGE_SQL}; null (no activity) or a huge span: row by row.
 */
export function stagingStatements(ctx: GoldContext, buckets: { lo: number | null; hi: number | null } | null): string[] {
  const useBuckets = buckets?.lo != null && buckets.hi != null && buckets.hi - buckets.lo < MAX_TZ_BUCKETS;
  ctx.tzBuckets = useBuckets;
  const local = localDayMonth(ctx, 'a');
  return [
    useBuckets
      ? `CREATE OR REPLACE TEMP TABLE g_tz AS
          SELECT bucket, off,
            CASE WHEN off % ${TZ_BUCKET_US} = 0 THEN CAST(make_timestamp(bucket * ${TZ_BUCKET_US} + off) AS DATE) END AS day,
            CASE WHEN off % ${TZ_BUCKET_US} = 0 THEN CAST(date_trunc('month', make_timestamp(bucket * ${TZ_BUCKET_US} + off)) AS DATE) END AS month
          FROM (
            SELECT range AS bucket, epoch_us(timezone(${tz(ctx)}, make_timestamptz(range * ${TZ_BUCKET_US}))) - range * ${TZ_BUCKET_US} AS off
            FROM range(${buckets!.lo}, ${buckets!.hi} + 1)
          )`
      : `CREATE OR REPLACE TEMP TABLE g_tz AS SELECT 0::BIGINT AS bucket, 0::BIGINT AS off, NULL::DATE AS day, NULL::DATE AS month`,
    `CREATE OR REPLACE TEMP TABLE g_activities AS
      SELECT a.employee_id, a.sport_type, ${local.day} AS day, ${local.month} AS month, a.distance_m,
        CAST(coalesce(a.elapsed_seconds, epoch(a.ended_at - a.started_at)) AS BIGINT) AS duration_s
      FROM ${ctx.bind.rel('activities', '_valid')} a
      ${local.join}`,
    `CREATE OR REPLACE TEMP TABLE g_emp_month AS
      SELECT m.employee_id, e.business_unit, m.month, m.activity_count
      FROM (SELECT employee_id, month, count(*) AS activity_count FROM g_activities GROUP BY ALL) m
      JOIN ${ctx.bind.rel('employees', '_valid')} e USING (employee_id)`,
    `CREATE OR REPLACE TEMP TABLE g_by_sport AS
      SELECT a.month, e.business_unit, a.sport_type, count(*) AS activity_count, sum(a.distance_m) AS distance_m, sum(a.duration_s) AS duration_s,
        sum(a.duration_s) FILTER (WHERE a.distance_m IS NOT NULL) AS duration_with_distance_s
      FROM g_activities a JOIN ${ctx.bind.rel('employees', '_valid')} e USING (employee_id) GROUP BY ALL`,
    `CREATE OR REPLACE TEMP TABLE g_daily AS SELECT day, count(*) AS activity_count FROM g_activities GROUP BY ALL`,
  ];
}

const dimEmployee: GoldModel = {
  name: 'dim_employee',
  description: 'Employees (current state), without salary or address: the dimension Power BI filters by.',
  key: ['employee_id'],
  columns: [
    { name: 'employee_id', description: 'HR employee id', tests: [{ test: 'not_null' }, { test: 'unique' }] },
    { name: 'first_name', description: 'first name' },
    { name: 'last_name', description: 'last name' },
    { name: 'employee_name', description: 'first and last name' },
    { name: 'business_unit', description: 'business unit (BU)', tests: [{ test: 'not_null' }] },
    { name: 'contract_type', description: 'CDI or CDD' },
    { name: 'hire_date', description: 'hire date', tests: [{ test: 'not_null' }] },
    { name: 'commute_mode', description: 'commute mode as HR records it' },
    { name: 'declared_sport', description: 'sport declared to HR, NULL when none' },
  ],
  sql: (ctx) => `SELECT e.employee_id, e.first_name, e.last_name, e.first_name || ' ' || e.last_name AS employee_name,
      e.business_unit, e.contract_type, e.hire_date, e.commute_mode, d.sport AS declared_sport
    FROM ${ctx.bind.rel('employees', '_valid')} e LEFT JOIN ${ctx.bind.rel('declared_sports', '_valid')} d USING (employee_id)
    ORDER BY e.employee_id`,
};

const sportBonus: GoldModel = {
  name: 'sport_bonus',
  description: 'Sport bonus (prime sportive) per employee: the decision, why, the distance used and the amount.',
  key: ['employee_id'],
  columns: [
    { name: 'employee_id', description: 'HR employee id', tests: [{ test: 'not_null' }, { test: 'unique' }, { test: 'relationships', to: '@employees', field: 'employee_id' }] },
    { name: 'employee_name', description: 'first and last name' },
    { name: 'business_unit', description: 'business unit' },
    { name: 'commute_mode', description: 'declared commute mode' },
    { name: 'commute_distance_m', description: 'home-to-office distance used, metres (commute_distances, status OK); NULL when unknown' },
    { name: 'distance_source', description: 'who computed the distance: google | offline; NULL when unknown' },
    { name: 'distance_limit_m', description: 'the commute mode\'s limit in metres; NULL when the mode does not qualify' },
    { name: 'eligible', description: 'true when the bonus is due', tests: [{ test: 'not_null' }] },
    { name: 'reason_code', description: `decision code: ${BONUS_REASON_CODES.join(' | ')}`, tests: [{ test: 'not_null' }, { test: 'accepted_values', values: BONUS_REASON_CODES }] },
    { name: 'reason', description: 'decision in words (French)', tests: [{ test: 'not_null' }] },
    { name: 'gross_annual_salary_eur', description: 'gross annual salary, EUR (HR-confidential: not in the views)' },
    { name: 'bonus_rate', description: 'share of the salary paid (0.05 = 5 %)' },
    {
      name: 'bonus_amount_eur',
      description: 'annual bonus, EUR; 0 when not eligible; NULL when eligible but the salary is missing',
      tests: [{ test: 'accepted_range', min: 0 }, { test: 'not_null', where: "reason_code <> 'eligible_salary_missing'" }],
    },
  ],
  tests: [
    {
      test: 'expression',
      name: 'eligible_within_distance_limit',
      description: 'an eligible employee has a known distance within the limit of the commute mode',
      failing: 'eligible AND (commute_distance_m IS NULL OR distance_limit_m IS NULL OR commute_distance_m > distance_limit_m)',
      show: ['commute_mode', 'commute_distance_m', 'distance_limit_m'],
    },
    {
      test: 'expression',
      name: 'amount_is_rate_times_salary',
      description: 'bonus_amount_eur = bonus_rate x gross_annual_salary_eur (to the cent) for eligible employees, 0 otherwise',
      failing: `(eligible AND gross_annual_salary_eur IS NOT NULL AND abs(bonus_amount_eur - CAST(gross_annual_salary_eur AS DOUBLE) * bonus_rate) > 0.0051)
        OR (NOT eligible AND bonus_amount_eur <> 0)`,
      show: ['eligible', 'bonus_amount_eur'],
    },
    {
      test: 'expression',
      name: 'declared_commute_beyond_limit',
      description: 'finding: declared active commute over the distance limit (not eligible)',
      failing: "reason_code = 'distance_above_limit'",
      severity: 'warn',
      show: ['commute_mode', 'commute_distance_m', 'distance_limit_m'],
    },
    {
      test: 'expression',
      name: 'active_commute_distance_missing',
      description: 'finding: active commute declared but no home-to-office distance known yet',
      failing: "reason_code = 'distance_missing'",
      severity: 'warn',
      show: ['commute_mode'],
    },
    {
      test: 'expression',
      name: 'eligible_salary_missing',
      description: 'finding: eligible employee without salary, bonus cannot be computed',
      failing: "reason_code = 'eligible_salary_missing'",
      severity: 'warn',
    },
  ],
  sql: (ctx) => {
    const limits = Object.entries(ctx.rules.sportBonus.maxCommuteKmByMode).map(([mode, km]) => `(${literal(mode)}, ${km * 1000})`);
    return `WITH limits(mode, limit_m) AS (VALUES ${limits.join(', ')}),
      decided AS (
        SELECT e.employee_id, e.first_name || ' ' || e.last_name AS employee_name, e.business_unit, e.commute_mode,
          CASE WHEN d.status = 'OK' THEN d.distance_m END AS commute_distance_m,
          CASE WHEN d.status = 'OK' THEN d.provider END AS distance_source,
          l.limit_m AS distance_limit_m,
          e.gross_annual_salary_eur,
          ${ctx.rules.sportBonus.rate}::DOUBLE AS bonus_rate,
          CASE WHEN l.limit_m IS NULL THEN 'mode_not_eligible'
               WHEN d.status IS DISTINCT FROM 'OK' OR d.distance_m IS NULL THEN 'distance_missing'
               WHEN d.distance_m > l.limit_m THEN 'distance_above_limit'
               WHEN e.gross_annual_salary_eur IS NULL THEN 'eligible_salary_missing'
               ELSE 'eligible' END AS reason_code
        FROM ${ctx.bind.rel('employees', '_valid')} e
        LEFT JOIN limits l ON l.mode = e.commute_mode
        LEFT JOIN ${ctx.bind.rel('commute_distances', '_valid')} d USING (employee_id)
      )
      SELECT employee_id, employee_name, business_unit, commute_mode, commute_distance_m, distance_source, distance_limit_m,
        reason_code IN ('eligible', 'eligible_salary_missing') AS eligible,
        reason_code,
        CASE reason_code
          WHEN 'eligible' THEN printf('Éligible : %s, %.3f km pour une limite de %g km', commute_mode, commute_distance_m / 1000, distance_limit_m / 1000)
          WHEN 'eligible_salary_missing' THEN 'Éligible, mais salaire absent : montant non calculable'
          WHEN 'mode_not_eligible' THEN printf('Mode de déplacement « %s » non éligible', commute_mode)
          WHEN 'distance_missing' THEN printf('%s déclaré, distance domicile-travail inconnue', commute_mode)
          ELSE printf('%s déclaré à %.3f km, au-delà de la limite de %g km', commute_mode, commute_distance_m / 1000, distance_limit_m / 1000)
        END AS reason,
        gross_annual_salary_eur, bonus_rate,
        CASE WHEN reason_code = 'eligible' THEN ${money('CAST(gross_annual_salary_eur AS DOUBLE) * bonus_rate')}
             WHEN reason_code = 'eligible_salary_missing' THEN NULL
             ELSE CAST(0 AS DECIMAL(14,2)) END AS bonus_amount_eur
      FROM decided ORDER BY employee_id`;
  },
};

const wellbeingDays: GoldModel = {
  name: 'wellbeing_days',
  description: 'Well-being days (journées bien-être) per employee and calendar year: activities, eligibility and cost.',
  key: ['employee_id', 'year'],
  columns: [
    { name: 'employee_id', description: 'HR employee id', tests: [{ test: 'not_null' }, { test: 'relationships', to: '@employees', field: 'employee_id' }] },
    { name: 'employee_name', description: 'first and last name' },
    { name: 'business_unit', description: 'business unit' },
    { name: 'year', description: 'calendar year (local time)', tests: [{ test: 'not_null' }] },
    { name: 'activity_count', description: 'valid activities recorded in the year', tests: [{ test: 'not_null' }, { test: 'accepted_range', min: 0 }] },
    { name: 'activities_required', description: 'activities needed in the year (rules: wellbeing.minActivitiesPerYear)' },
    { name: 'eligible', description: 'activity_count >= activities_required', tests: [{ test: 'not_null' }] },
    { name: 'wellbeing_days', description: 'extra days off granted (days)', tests: [{ test: 'accepted_range', min: 0 }] },
    { name: 'threshold_reached_on', description: 'local date of the activity that reached the threshold; NULL when not reached' },
    { name: 'gross_annual_salary_eur', description: 'gross annual salary, EUR (HR-confidential: not in the views)' },
    { name: 'working_days_per_year', description: 'divisor of the salary giving a day\'s cost (rules)' },
    { name: 'day_cost_eur', description: 'cost of one day off = salary / working days, EUR' },
    { name: 'wellbeing_cost_eur', description: 'cost of the days granted, EUR; NULL when eligible but the salary is missing', tests: [{ test: 'accepted_range', min: 0 }] },
  ],
  tests: [
    { test: 'unique_combination', columns: ['employee_id', 'year'] },
    {
      test: 'expression',
      name: 'eligible_iff_threshold',
      description: 'eligible exactly when activity_count >= activities_required, with the days granted accordingly',
      failing: 'eligible <> (activity_count >= activities_required) OR (eligible AND threshold_reached_on IS NULL)',
      show: ['activity_count', 'eligible'],
    },
    {
      test: 'expression',
      name: 'cost_is_days_times_day_cost',
      description: 'wellbeing_cost_eur = gross_annual_salary_eur / working_days_per_year x wellbeing_days (to the cent)',
      failing: 'gross_annual_salary_eur IS NOT NULL AND abs(wellbeing_cost_eur - CAST(gross_annual_salary_eur AS DOUBLE) / working_days_per_year * wellbeing_days) > 0.0051',
      show: ['wellbeing_days', 'wellbeing_cost_eur'],
    },
    {
      test: 'expression',
      name: 'eligible_salary_missing',
      description: 'finding: eligible for well-being days without salary, cost cannot be computed',
      failing: 'eligible AND gross_annual_salary_eur IS NULL',
      severity: 'warn',
    },
  ],
  sql: (ctx) => {
    const w = ctx.rules.wellbeing;
    const asOfYear = `year(timezone(${tz(ctx)}, TIMESTAMPTZ ${literal(ctx.asOf.toISOString())}))`;
    return `WITH per_year AS (
        SELECT employee_id, year(month) AS year, sum(activity_count) AS activity_count
        FROM g_emp_month GROUP BY ALL
      ),
      reached AS (
        -- Date of the N-th activity, looked for only in the month where the running count crosses N.
        SELECT employee_id, year, month, ${w.minActivitiesPerYear} - n_before AS nth FROM (
          SELECT employee_id, year(month) AS year, month,
            coalesce(sum(n) OVER (PARTITION BY employee_id, year(month) ORDER BY month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS n_before,
            n_before + n AS n_through
          FROM (SELECT employee_id, month, activity_count AS n FROM g_emp_month)
        ) WHERE n_before < ${w.minActivitiesPerYear} AND n_through >= ${w.minActivitiesPerYear}
      ),
      reached_on AS (
        -- The N-th day in day order is the day of the N-th activity in time order (the local day
        -- only grows with the local time), so the activities' days are all this needs.
        SELECT r.employee_id, r.year, list(a.day ORDER BY a.day)[CAST(any_value(r.nth) AS BIGINT)] AS threshold_reached_on
        FROM reached r JOIN g_activities a ON a.employee_id = r.employee_id AND a.month = r.month
        GROUP BY r.employee_id, r.year
      ),
      years AS (
        SELECT range AS year FROM range(
          coalesce((SELECT min(year) FROM per_year), ${asOfYear}),
          greatest(coalesce((SELECT max(year) FROM per_year), ${asOfYear}), ${asOfYear}) + 1)
      ),
      grid AS (
        SELECT e.employee_id, e.first_name || ' ' || e.last_name AS employee_name, e.business_unit, e.gross_annual_salary_eur, y.year
        FROM ${ctx.bind.rel('employees', '_valid')} e JOIN years y ON y.year >= year(e.hire_date)
      )
      SELECT g.employee_id, g.employee_name, g.business_unit, CAST(g.year AS INTEGER) AS year,
        coalesce(p.activity_count, 0)::BIGINT AS activity_count,
        ${w.minActivitiesPerYear} AS activities_required,
        coalesce(p.activity_count, 0) >= ${w.minActivitiesPerYear} AS eligible,
        CASE WHEN coalesce(p.activity_count, 0) >= ${w.minActivitiesPerYear} THEN ${w.extraDays} ELSE 0 END::DOUBLE AS wellbeing_days,
        r.threshold_reached_on,
        g.gross_annual_salary_eur,
        ${w.workingDaysPerYear}::DOUBLE AS working_days_per_year,
        ${money(`CAST(g.gross_annual_salary_eur AS DOUBLE) / ${w.workingDaysPerYear}`)} AS day_cost_eur,
        CASE WHEN coalesce(p.activity_count, 0) >= ${w.minActivitiesPerYear}
          THEN ${money(`CAST(g.gross_annual_salary_eur AS DOUBLE) / ${w.workingDaysPerYear} * ${w.extraDays}`)}
          ELSE CAST(0 AS DECIMAL(14,2)) END AS wellbeing_cost_eur
      FROM grid g
      LEFT JOIN per_year p ON p.employee_id = g.employee_id AND p.year = g.year
      LEFT JOIN reached_on r ON r.employee_id = g.employee_id AND r.year = g.year
      ORDER BY g.employee_id, g.year`;
  },
};

const kpiBuMonth: GoldModel = {
  name: 'kpi_bu_month',
  description: 'KPIs per business unit and month: headcount, adoption, activities, distance, bonus and well-being cost.',
  key: ['business_unit', 'month'],
  columns: [
    { name: 'business_unit', description: 'business unit', tests: [{ test: 'not_null' }] },
    { name: 'month', description: 'first day of the month (local calendar)', tests: [{ test: 'not_null' }] },
    { name: 'year', description: 'calendar year' },
    { name: 'headcount', description: 'employees hired on or before the month\'s last day', tests: [{ test: 'accepted_range', min: 0 }] },
    { name: 'active_employees', description: 'employees with at least one valid activity in the month' },
    { name: 'adoption_rate', description: 'active_employees / headcount (0-1); NULL when headcount is 0', tests: [{ test: 'accepted_range', min: 0, max: 1, severity: 'warn' }] },
    { name: 'activity_count', description: 'valid activities', tests: [{ test: 'accepted_range', min: 0 }] },
    { name: 'distance_km', description: 'distance of those activities, km' },
    { name: 'duration_h', description: 'duration of those activities, hours' },
    { name: 'bonus_eligible_employees', description: 'employees of the headcount eligible for the sport bonus' },
    { name: 'bonus_cost_eur', description: 'sport bonus accrued in the month (annual bonus / 12), EUR', tests: [{ test: 'accepted_range', min: 0 }] },
    { name: 'wellbeing_new_eligible_employees', description: 'employees who reached the well-being threshold this month' },
    { name: 'wellbeing_days', description: 'well-being days granted this month (days)' },
    { name: 'wellbeing_cost_eur', description: 'cost of those days, EUR', tests: [{ test: 'accepted_range', min: 0 }] },
    { name: 'total_cost_eur', description: 'bonus_cost_eur + wellbeing_cost_eur, EUR' },
  ],
  tests: [
    { test: 'unique_combination', columns: ['business_unit', 'month'] },
    {
      test: 'expression',
      name: 'active_within_headcount',
      description: 'active employees do not exceed headcount (activities before the hire date otherwise)',
      failing: 'active_employees > headcount',
      severity: 'warn',
      show: ['headcount', 'active_employees'],
    },
  ],
  sql: (ctx) => {
    const asOfMonth = `CAST(date_trunc('month', timezone(${tz(ctx)}, TIMESTAMPTZ ${literal(ctx.asOf.toISOString())})) AS DATE)`;
    return `WITH bounds AS (
        SELECT min(month) AS first_month, greatest(max(month), ${asOfMonth}) AS last_month FROM g_emp_month
      ),
      months AS (SELECT CAST(unnest(generate_series(first_month, last_month, INTERVAL 1 MONTH)) AS DATE) AS month FROM bounds WHERE first_month IS NOT NULL),
      grid AS (SELECT b.business_unit, m.month FROM (SELECT DISTINCT business_unit FROM ${ctx.ref('dim_employee')}) b CROSS JOIN months m),
      staff AS (
        SELECT g.business_unit, g.month, count(e.employee_id) AS headcount,
          count(e.employee_id) FILTER (WHERE b.eligible) AS bonus_eligible_employees,
          coalesce(sum(CAST(b.bonus_amount_eur AS DOUBLE)) FILTER (WHERE b.eligible), 0) / 12 AS bonus_cost_eur
        FROM grid g
        LEFT JOIN ${ctx.ref('dim_employee')} e ON e.business_unit = g.business_unit AND e.hire_date <= last_day(g.month)
        LEFT JOIN ${ctx.ref('sport_bonus')} b ON b.employee_id = e.employee_id
        GROUP BY ALL
      ),
      act AS (
        SELECT c.business_unit, c.month, c.activity_count, c.active_employees, t.distance_m, t.duration_s
        FROM (SELECT business_unit, month, sum(activity_count) AS activity_count, count(*) AS active_employees FROM g_emp_month GROUP BY ALL) c
        LEFT JOIN (SELECT business_unit, month, sum(distance_m) AS distance_m, sum(duration_s) AS duration_s FROM g_by_sport GROUP BY ALL) t
          USING (business_unit, month)
      ),
      wb AS (
        SELECT business_unit, CAST(date_trunc('month', threshold_reached_on) AS DATE) AS month, count(*) AS new_eligible,
          sum(wellbeing_days) AS days, sum(CAST(wellbeing_cost_eur AS DOUBLE)) AS cost
        FROM ${ctx.ref('wellbeing_days')} WHERE eligible GROUP BY ALL
      )
      SELECT s.business_unit, s.month, CAST(year(s.month) AS INTEGER) AS year, s.headcount,
        coalesce(a.active_employees, 0) AS active_employees,
        CASE WHEN s.headcount > 0 THEN round(coalesce(a.active_employees, 0) / s.headcount, 4) END AS adoption_rate,
        coalesce(a.activity_count, 0)::BIGINT AS activity_count,
        round(coalesce(a.distance_m, 0) / 1000, 3) AS distance_km,
        round(coalesce(a.duration_s, 0) / 3600, 2) AS duration_h,
        s.bonus_eligible_employees,
        ${money('s.bonus_cost_eur')} AS bonus_cost_eur,
        coalesce(w.new_eligible, 0) AS wellbeing_new_eligible_employees,
        coalesce(w.days, 0) AS wellbeing_days,
        ${money('coalesce(w.cost, 0)')} AS wellbeing_cost_eur,
        ${money('s.bonus_cost_eur + coalesce(w.cost, 0)')} AS total_cost_eur
      FROM staff s
      LEFT JOIN act a USING (business_unit, month)
      LEFT JOIN wb w USING (business_unit, month)
      ORDER BY s.business_unit, s.month`;
  },
};

const activitiesBySport: GoldModel = {
  name: 'activities_by_sport',
  description: 'Valid activities per sport type, local month and business unit.',
  key: ['month', 'business_unit', 'sport_type'],
  columns: [
    { name: 'month', description: 'first day of the month (local calendar)', tests: [{ test: 'not_null' }] },
    { name: 'year', description: 'calendar year' },
    { name: 'business_unit', description: 'business unit of the employee', tests: [{ test: 'not_null' }] },
    { name: 'sport_type', description: 'sport type as recorded', tests: [{ test: 'not_null' }] },
    { name: 'activity_count', description: 'activities', tests: [{ test: 'accepted_range', min: 1 }] },
    { name: 'distance_km', description: 'total distance, km (0 for sports without distance)' },
    { name: 'duration_h', description: 'total duration, hours' },
    { name: 'avg_speed_kmh', description: 'distance_km / duration_h over activities with a distance; NULL otherwise' },
  ],
  tests: [{ test: 'unique_combination', columns: ['month', 'business_unit', 'sport_type'] }],
  sql: () => `SELECT month, CAST(year(month) AS INTEGER) AS year, business_unit, sport_type,
      activity_count,
      round(coalesce(distance_m, 0) / 1000, 3) AS distance_km,
      round(duration_s / 3600, 2) AS duration_h,
      CASE WHEN distance_m > 0 THEN round(distance_m / 1000 / (duration_with_distance_s / 3600), 2) END AS avg_speed_kmh
    FROM g_by_sport
    ORDER BY month, business_unit, sport_type`,
};

const qualityFindings: GoldModel = {
  name: 'quality_findings',
  description: 'Row-level data-quality findings: quarantined rows and the business findings of the rules.',
  key: ['finding_type', 'table_name', 'record_key'],
  columns: [
    { name: 'finding_type', description: `kind: ${FINDING_TYPES.join(' | ')}`, tests: [{ test: 'accepted_values', values: FINDING_TYPES }] },
    { name: 'rule', description: 'quarantine rule or business rule code', tests: [{ test: 'not_null' }] },
    { name: 'severity', description: 'warn (reported) for every row finding', tests: [{ test: 'accepted_values', values: ['warn', 'error'] }] },
    { name: 'table_name', description: 'silver table of the row' },
    { name: 'record_key', description: 'primary key of the row, JSON' },
    { name: 'employee_id', description: 'employee concerned, when known' },
    { name: 'message', description: 'what is wrong, in words', tests: [{ test: 'not_null' }] },
    { name: 'run_id', description: 'run that found it' },
  ],
  sql: (ctx) => `SELECT 'quarantined_row' AS finding_type, q.rule, 'warn' AS severity, q.table_name, CAST(q.record_key AS VARCHAR) AS record_key,
        TRY_CAST(json_extract(q.record, '$.employee_id') AS INTEGER) AS employee_id, q.reason AS message, ${literal(ctx.runId)} AS run_id
      FROM silver.quarantine q
    UNION ALL
    SELECT CASE reason_code WHEN 'distance_above_limit' THEN 'declared_commute_beyond_limit'
                            WHEN 'distance_missing' THEN 'commute_distance_missing'
                            ELSE 'salary_missing_bonus' END,
        reason_code, 'warn', ${literal(ctx.bind.tables.employees)}, to_json(struct_pack(employee_id := employee_id))::VARCHAR, employee_id, reason, ${literal(ctx.runId)}
      FROM ${ctx.ref('sport_bonus')} WHERE reason_code IN ('distance_above_limit', 'distance_missing', 'eligible_salary_missing')
    UNION ALL
    SELECT 'salary_missing_wellbeing', 'wellbeing_salary_missing', 'warn', ${literal(ctx.bind.tables.employees)}, to_json(struct_pack(employee_id := employee_id))::VARCHAR, employee_id,
        printf('Éligible aux journées bien-être %d sans salaire : coût non calculable', CAST(year AS BIGINT)), ${literal(ctx.runId)}
      FROM ${ctx.ref('wellbeing_days')} WHERE eligible AND gross_annual_salary_eur IS NULL`,
};

/** Gold models in build order. */
export const GOLD_MODELS: readonly GoldModel[] = [dimEmployee, sportBonus, wellbeingDays, kpiBuMonth, activitiesBySport, qualityFindings];
