/**
 * The ONE definition of a valid activity of the sport-rewards data product (issue 14): the rules an
 * activity must pass to count in gold and to be announced on Slack. Each rule is written once, as
 * a small expression tree ({@link Expr}) with a reason template ({@link Text}), and compiled to:
 * - SQL for the batch's quarantine (products/sport-rewards/quarantine.ts -> services/batch/quarantine.ts),
 *   evaluated by DuckDB on the typed silver row;
 * - a TypeScript check for the Slack notifier ({@link compileActivityCheck}), evaluated on the
 *   change event's row (Debezium JSON rendering, decoded by {@link activityValuesFromEvent}).
 * The TypeScript evaluator follows SQL's semantics exactly (three-valued logic: a comparison with
 * NULL is NULL, `NULL AND false` is false, `NULL OR true` is true; a predicate that is NULL does
 * not break its rule; IEEE doubles for every arithmetic), and every number is a DOUBLE in the SQL
 * too, so both give the same verdicts and the same reasons on the same rows:
 * products/sport-rewards/activity-validity.test.ts holds them to it on DuckDB.
 *
 * Rules (parameters from the rules file's `quarantine` block, rules.json):
 * - `negative_distance`: distance_m < 0;
 * - `end_before_start`: ended_at < started_at;
 * - `inconsistent_elapsed`: elapsed_seconds differs from ended_at - started_at by more than
 *   `elapsedToleranceSeconds` (Strava's elapsed time is the span from start to end);
 * - `empty_sport`: sport_type NULL, empty or only blanks (space, tab, CR, LF);
 * - `unknown_employee`: the employee is not a (valid) employee of the product;
 * - `impossible_speed`: a distance covered in no time, or an average speed (distance over
 *   elapsed_seconds, or over ended_at - started_at when elapsed is NULL) above the sport's limit
 *   (`maxSpeedKmhBySport`, exact sport name, else `defaultMaxSpeedKmh`);
 * - `implausible_duration`: elapsed_seconds above `maxDurationHours`;
 * - `future_date`: starts or ends after the reference time plus `futureToleranceMinutes`
 *   (batch: the run's reference time; notifier: the commit time of the inserting transaction, so
 *   an activity the notifier finds valid is never "future" for a later batch run);
 * - `too_old`: starts before `notBefore` (a date, 00:00 UTC).
 * Every rule but `future_date` is independent of the reference time, and `future_date` can only
 * turn from broken to passed as time goes by: what the notifier announces, no later batch run
 * quarantines (apart from data changed after the announcement).
 */
import type { Rules } from '../../services/batch/rules.ts';
import { ident, literal } from '../../services/batch/sql.ts';

/** The columns of an activity the rules read (source table `activities`, DOMAIN.md). */
export type ActivityColumn = 'employee_id' | 'sport_type' | 'started_at' | 'ended_at' | 'elapsed_seconds' | 'distance_m';

/**
 * One activity as the rules see it. Timestamps in microseconds since the epoch (UTC), which is
 * what DuckDB's `epoch_us` gives for the silver TIMESTAMPTZ; null when absent or not a finite
 * time (`infinity`).
 */
export interface ActivityValues {
  employee_id: number | null;
  sport_type: string | null;
  started_at: number | null;
  ended_at: number | null;
  elapsed_seconds: number | null;
  distance_m: number | null;
}

/** Expression tree of the rules (numbers are doubles, timestamps are read as epoch seconds). */
export type Expr =
  | { k: 'num'; col: 'employee_id' | 'elapsed_seconds' | 'distance_m' }
  | { k: 'epoch'; col: 'started_at' | 'ended_at' }
  | { k: 'const'; v: number }
  | { k: 'arith'; op: '+' | '-' | '*' | '/'; a: Expr; b: Expr }
  | { k: 'abs'; a: Expr }
  | { k: 'coalesce'; args: Expr[] }
  | { k: 'speedLimit' }
  | { k: 'cmp'; op: '<' | '<=' | '>' | '>='; a: Expr; b: Expr }
  | { k: 'and' | 'or'; args: Expr[] }
  | { k: 'not'; a: Expr }
  | { k: 'isNull'; col: ActivityColumn }
  | { k: 'blank'; col: 'sport_type' }
  | { k: 'knownEmployee' };

/** A reason template: literal text and formatted values (NULL values print as nothing). */
export type Text = (
  | string
  | { fmt: 'int' | 'dec1'; e: Expr }
  | { fmt: 'time'; col: 'started_at' | 'ended_at' }
  | { fmt: 'text'; col: 'sport_type' }
  | { if: Expr; then: Text; else: Text }
)[];

/** One rule: a predicate (true = broken) and the reason shown for a broken row. */
export interface ValidityRule {
  code: ActivityRuleCode;
  predicate: Expr;
  reason: Text;
}

/** Codes of the rules, in the order they are checked (the first broken one is a row's `rule`). */
export const ACTIVITY_RULE_CODES = [
  'negative_distance',
  'end_before_start',
  'inconsistent_elapsed',
  'empty_sport',
  'unknown_employee',
  'impossible_speed',
  'implausible_duration',
  'future_date',
  'too_old',
] as const;
export type ActivityRuleCode = (typeof ACTIVITY_RULE_CODES)[number];

// ---------------------------------------------------------------------------------------------
// The rules

const num = (col: 'employee_id' | 'elapsed_seconds' | 'distance_m'): Expr => ({ k: 'num', col });
const epoch = (col: 'started_at' | 'ended_at'): Expr => ({ k: 'epoch', col });
const c = (v: number): Expr => ({ k: 'const', v });
const arith = (op: '+' | '-' | '*' | '/', a: Expr, b: Expr): Expr => ({ k: 'arith', op, a, b });
const cmp = (op: '<' | '<=' | '>' | '>=', a: Expr, b: Expr): Expr => ({ k: 'cmp', op, a, b });
const or = (...args: Expr[]): Expr => ({ k: 'or', args });
const and = (...args: Expr[]): Expr => ({ k: 'and', args });
const int = (e: Expr) => ({ fmt: 'int' as const, e });
const dec1 = (e: Expr) => ({ fmt: 'dec1' as const, e });
const time = (col: 'started_at' | 'ended_at') => ({ fmt: 'time' as const, col });

/** Seconds from start to end. */
const span = arith('-', epoch('ended_at'), epoch('started_at'));
/** The elapsed time the speed is computed on: elapsed_seconds, else the span. */
const elapsed: Expr = { k: 'coalesce', args: [num('elapsed_seconds'), span] };
const speedKmh = arith('/', arith('*', num('distance_m'), c(3.6)), elapsed);

/** "2026-06-30 12:00:00 UTC": how reasons print a reference time. */
export function formatUtc(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Parses the `notBefore` date of the rules ("YYYY-MM-DD", 00:00 UTC). */
function notBeforeEpoch(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / 1000;
}

/**
 * The product's rules for a reference time `asOf` (epoch seconds), with their parameters.
 * @param asOf the batch run's reference time, or the notifier's commit time.
 */
export function activityRules(rules: Rules, asOf: Date): ValidityRule[] {
  const q = rules.quarantine;
  const latest = asOf.getTime() / 1000 + q.futureToleranceMinutes * 60;
  const notBefore = notBeforeEpoch(q.notBefore);
  return [
    { code: 'negative_distance', predicate: cmp('<', num('distance_m'), c(0)), reason: ['distance ', int(num('distance_m')), ' m is negative'] },
    { code: 'end_before_start', predicate: cmp('<', epoch('ended_at'), epoch('started_at')), reason: ['ends at ', time('ended_at'), ', before its start ', time('started_at')] },
    {
      code: 'inconsistent_elapsed',
      predicate: cmp('>', { k: 'abs', a: arith('-', num('elapsed_seconds'), span) }, c(q.elapsedToleranceSeconds)),
      reason: ['elapsed time ', int(num('elapsed_seconds')), ' s, but it ends ', int(span), ` s after its start (tolerance ${q.elapsedToleranceSeconds} s)`],
    },
    { code: 'empty_sport', predicate: { k: 'blank', col: 'sport_type' }, reason: ['no sport type'] },
    { code: 'unknown_employee', predicate: { k: 'not', a: { k: 'knownEmployee' } }, reason: ['employee ', int(num('employee_id')), ' is not a known (valid) employee'] },
    {
      code: 'impossible_speed',
      predicate: and(cmp('>', num('distance_m'), c(0)), or(cmp('<=', elapsed, c(0)), cmp('>', speedKmh, { k: 'speedLimit' }))),
      reason: [
        {
          if: cmp('<=', elapsed, c(0)),
          then: [int(num('distance_m')), ' m covered in ', int(elapsed), ' s'],
          else: ['average ', dec1(speedKmh), ' km/h is above the ', dec1({ k: 'speedLimit' }), ' km/h limit for ', { fmt: 'text', col: 'sport_type' }],
        },
      ],
    },
    {
      code: 'implausible_duration',
      predicate: cmp('>', num('elapsed_seconds'), c(q.maxDurationHours * 3600)),
      reason: ['lasts ', dec1(arith('/', num('elapsed_seconds'), c(3600))), ` h, more than the ${q.maxDurationHours} h an activity may last`],
    },
    {
      code: 'future_date',
      predicate: or(cmp('>', epoch('started_at'), c(latest)), cmp('>', epoch('ended_at'), c(latest))),
      reason: ['starts ', time('started_at'), ', ends ', time('ended_at'), `: after the reference time ${formatUtc(asOf)} (+${q.futureToleranceMinutes} min)`],
    },
    { code: 'too_old', predicate: cmp('<', epoch('started_at'), c(notBefore)), reason: ['starts ', time('started_at'), `, before ${q.notBefore}`] },
  ];
}

// ---------------------------------------------------------------------------------------------
// SQL (DuckDB)

/** What the SQL of a rule refers to outside the row. */
export interface SqlContext {
  /** SQL of the set of valid employee ids, e.g. `SELECT employee_id FROM silver."..._valid"`. */
  validEmployeeIds: string;
}

/** A number as a DOUBLE literal (`CAST(3.6 AS DOUBLE)`: a bare 3.6 is a DECIMAL in DuckDB). */
function doubleSql(v: number): string {
  if (Number.isNaN(v)) return `CAST('NaN' AS DOUBLE)`;
  if (!Number.isFinite(v)) return `CAST('${v > 0 ? 'inf' : '-inf'}' AS DOUBLE)`;
  return `CAST(${literal(String(v))} AS DOUBLE)`;
}

function speedLimitCaseSql(rules: Rules): string {
  const q = rules.quarantine;
  const arms = Object.entries(q.maxSpeedKmhBySport).map(([sport, kmh]) => `WHEN ${literal(sport)} THEN ${doubleSql(kmh)}`);
  return arms.length ? `(CASE ${ident('sport_type')} ${arms.join(' ')} ELSE ${doubleSql(q.defaultMaxSpeedKmh)} END)` : doubleSql(q.defaultMaxSpeedKmh);
}

const BLANKS_SQL = `' ' || chr(9) || chr(10) || chr(13)`;

/** SQL of an expression over the silver columns of the activity (bare column names). */
export function exprSql(e: Expr, rules: Rules, ctx: SqlContext): string {
  const sql = (x: Expr) => exprSql(x, rules, ctx);
  switch (e.k) {
    case 'num':
      return `CAST(${ident(e.col)} AS DOUBLE)`;
    case 'epoch':
      return `epoch(${ident(e.col)})`;
    case 'const':
      return doubleSql(e.v);
    case 'arith':
      return `(${sql(e.a)} ${e.op} ${sql(e.b)})`;
    case 'abs':
      return `abs(${sql(e.a)})`;
    case 'coalesce':
      return `coalesce(${e.args.map(sql).join(', ')})`;
    case 'speedLimit':
      return speedLimitCaseSql(rules);
    case 'cmp':
      return `(${sql(e.a)} ${e.op} ${sql(e.b)})`;
    case 'and':
    case 'or':
      return `(${e.args.map(sql).join(` ${e.k.toUpperCase()} `)})`;
    case 'not':
      return `(NOT ${sql(e.a)})`;
    case 'isNull':
      return `(${ident(e.col)} IS NULL)`;
    case 'blank':
      return `(${ident(e.col)} IS NULL OR trim(${ident(e.col)}, ${BLANKS_SQL}) = '')`;
    case 'knownEmployee':
      return `(${ident('employee_id')} IN (${ctx.validEmployeeIds}))`;
  }
}

/** SQL VARCHAR expression of a reason template. */
export function textSql(t: Text, rules: Rules, ctx: SqlContext): string {
  const parts = t.map((p) => {
    if (typeof p === 'string') return literal(p);
    if ('if' in p) return `(CASE WHEN ${exprSql(p.if, rules, ctx)} THEN ${textSql(p.then, rules, ctx)} ELSE ${textSql(p.else, rules, ctx)} END)`;
    switch (p.fmt) {
      case 'int':
        return `CAST(TRY_CAST(round(${exprSql(p.e, rules, ctx)}) AS BIGINT) AS VARCHAR)`;
      case 'dec1':
        return `printf('%.1f', round(${exprSql(p.e, rules, ctx)}, 1))`;
      case 'time':
        return `(strftime(make_timestamp(epoch_us(${ident(p.col)})), '%Y-%m-%d %H:%M:%S') || ' UTC')`;
      case 'text':
        return `CAST(${ident(p.col)} AS VARCHAR)`;
    }
  });
  return parts.length === 1 ? `coalesce(${parts[0]}, '')` : `concat(${parts.join(', ')})`;
}

// ---------------------------------------------------------------------------------------------
// TypeScript (SQL semantics)

type Value = number | boolean | null;

/** Inputs of the TypeScript check besides the row. */
export interface CheckContext {
  /** Whether the employee is a known employee; null/undefined = not known here (the rule is not checked). */
  employeeKnown?: boolean | null;
}

/** Rounds half away from zero, as DuckDB's round(). */
function roundHalfAway(x: number, digits = 0): number {
  const f = 10 ** digits;
  return (Math.sign(x) * Math.round(Math.abs(x) * f)) / f;
}

function evaluate(e: Expr, row: ActivityValues, rules: Rules, ctx: CheckContext): Value {
  const ev = (x: Expr) => evaluate(x, row, rules, ctx);
  switch (e.k) {
    case 'num':
      return row[e.col];
    case 'epoch': {
      const us = row[e.col];
      return us === null ? null : us / 1e6;
    }
    case 'const':
      return e.v;
    case 'arith': {
      const a = ev(e.a) as number | null;
      const b = ev(e.b) as number | null;
      if (a === null || b === null) return null;
      return e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : a / b;
    }
    case 'abs': {
      const a = ev(e.a) as number | null;
      return a === null ? null : Math.abs(a);
    }
    case 'coalesce':
      for (const arg of e.args) {
        const v = ev(arg);
        if (v !== null) return v;
      }
      return null;
    case 'speedLimit': {
      const q = rules.quarantine;
      const sport = row.sport_type;
      return sport !== null && Object.hasOwn(q.maxSpeedKmhBySport, sport) ? (q.maxSpeedKmhBySport[sport] as number) : q.defaultMaxSpeedKmh;
    }
    case 'cmp': {
      const a = ev(e.a) as number | null;
      const b = ev(e.b) as number | null;
      if (a === null || b === null) return null;
      // DuckDB orders NaN above every number and equal to itself (JS comparisons with NaN are false).
      const order = Number.isNaN(a) || Number.isNaN(b) ? (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : -1) : a < b ? -1 : a > b ? 1 : 0;
      return e.op === '<' ? order < 0 : e.op === '<=' ? order <= 0 : e.op === '>' ? order > 0 : order >= 0;
    }
    case 'and': {
      let unknown = false;
      for (const arg of e.args) {
        const v = ev(arg);
        if (v === false) return false;
        if (v === null) unknown = true;
      }
      return unknown ? null : true;
    }
    case 'or': {
      let unknown = false;
      for (const arg of e.args) {
        const v = ev(arg);
        if (v === true) return true;
        if (v === null) unknown = true;
      }
      return unknown ? null : false;
    }
    case 'not': {
      const a = ev(e.a);
      return a === null ? null : !a;
    }
    case 'isNull':
      return row[e.col] === null;
    case 'blank': {
      const s = row[e.col];
      return s === null || s.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '') === '';
    }
    case 'knownEmployee':
      return row.employee_id === null ? null : (ctx.employeeKnown ?? null);
  }
}

function formatText(t: Text, row: ActivityValues, rules: Rules, ctx: CheckContext): string {
  return t
    .map((p) => {
      if (typeof p === 'string') return p;
      if ('if' in p) return formatText(evaluate(p.if, row, rules, ctx) === true ? p.then : p.else, row, rules, ctx);
      switch (p.fmt) {
        case 'int': {
          const v = evaluate(p.e, row, rules, ctx) as number | null;
          if (v === null || !Number.isFinite(v)) return '';
          const r = roundHalfAway(v);
          return Math.abs(r) < 2 ** 63 ? (Object.is(r, -0) ? '0' : BigInt(r).toString()) : '';
        }
        case 'dec1': {
          const v = evaluate(p.e, row, rules, ctx) as number | null;
          if (v === null) return '';
          if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
          return roundHalfAway(v, 1).toFixed(1);
        }
        case 'time': {
          const us = row[p.col];
          return us === null ? '' : formatUtc(new Date(Math.floor(us / 1000)));
        }
        case 'text':
          return row[p.col] ?? '';
      }
    })
    .join('');
}

/** A rule an activity breaks, with its reason. */
export interface BrokenRule {
  code: ActivityRuleCode;
  reason: string;
}

/**
 * Checks one activity against every rule (TypeScript, same semantics as the SQL).
 * @returns the broken rules in {@link ACTIVITY_RULE_CODES} order; empty = valid.
 */
export function checkActivity(row: ActivityValues, rules: Rules, asOf: Date, ctx: CheckContext = {}): BrokenRule[] {
  const out: BrokenRule[] = [];
  for (const rule of activityRules(rules, asOf)) {
    if (evaluate(rule.predicate, row, rules, ctx) === true) out.push({ code: rule.code, reason: formatText(rule.reason, row, rules, ctx) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Change events (Debezium JSON rendering of the activities row)

/**
 * Microseconds since the epoch of a Debezium ZonedTimestamp ("2026-06-30T12:00:00.123456Z", UTC,
 * 0-9 fraction digits); null for null, "infinity"/"-infinity" or anything else.
 */
export function zonedTimestampMicros(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const m = /^([+-]?\d{4,6}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(ms)) return null;
  const micros = Number((m[2] ?? '').padEnd(9, '0').slice(0, 6));
  return ms * 1000 + micros;
}

/** The rule inputs of an `activities` row as the change event renders it (`after`). */
export function activityValuesFromEvent(after: Record<string, unknown>): ActivityValues {
  const n = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    employee_id: n(after.employee_id),
    sport_type: typeof after.sport_type === 'string' ? after.sport_type : null,
    started_at: zonedTimestampMicros(after.started_at),
    ended_at: zonedTimestampMicros(after.ended_at),
    elapsed_seconds: n(after.elapsed_seconds),
    distance_m: n(after.distance_m),
  };
}
