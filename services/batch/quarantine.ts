/**
 * Quarantine: silver rows that gold must not use, each with the rule it breaks and a readable
 * reason (docs/architecture.md, "Bad input never stops a service": "an invalid row goes to a quarantine table with its rule and reason").
 * Pure: builds SQL from the rules file (rules.ts) and the run's reference time.
 *
 * Rules:
 * - every registered table: `missing_required_value` (a NOT NULL source column is NULL in silver,
 *   i.e. missing or malformed in the event);
 * - activities: `negative_distance`, `end_before_start`, `unknown_employee` (not in
 *   silver.employees), `impossible_speed` (average speed above the sport's limit,
 *   quarantine.maxSpeedKmhBySport / defaultMaxSpeedKmh, or a distance covered in no time),
 *   `future_date` (starts or ends after the reference time plus quarantine.futureToleranceMinutes).
 *   Employees are checked first ({@link quarantineOrder}), so an activity of a quarantined
 *   employee is quarantined as `unknown_employee` too.
 *
 * Quarantine is recomputed from the current silver state on every run, because whether a row is
 * valid can change (an unknown employee may arrive later, a row may be corrected or deleted).
 * Silver keeps quarantined rows (silver mirrors the source); `silver.<table>_valid` excludes them.
 */
import type { Rules } from './rules.ts';
import { decodingFor, ident, literal } from './source-schemas.ts';
import type { SilverTable } from './silver.ts';

/** One check: rows matching `predicate` break rule `code`; `reason` is an SQL text expression. */
export interface QuarantineRule {
  code: string;
  predicate: string;
  reason: string;
}

/** Tables in the order their quarantine must be rebuilt: employees before what refers to them. */
export function quarantineOrder<T extends { name: string }>(tables: readonly T[]): T[] {
  return [...tables].sort((a, b) => Number(b.name === 'employees') - Number(a.name === 'employees') || (a.name < b.name ? -1 : 1));
}

/** Every rule code, for accepted_values tests and documentation. */
export const QUARANTINE_RULE_CODES = [
  'missing_required_value',
  'negative_distance',
  'end_before_start',
  'unknown_employee',
  'impossible_speed',
  'future_date',
] as const;

/** SQL CASE giving the speed limit (km/h) of `sport_type`. */
export function speedLimitSql(rules: Rules): string {
  const q = rules.quarantine;
  const arms = Object.entries(q.maxSpeedKmhBySport).map(([sport, kmh]) => `WHEN ${literal(sport)} THEN ${kmh}`);
  return arms.length ? `(CASE sport_type ${arms.join(' ')} ELSE ${q.defaultMaxSpeedKmh} END)` : `${q.defaultMaxSpeedKmh}`;
}

/** The rules that apply to `table` for a run whose reference time is `asOf`. */
export function quarantineRules(table: SilverTable, rules: Rules, asOf: Date): QuarantineRule[] {
  const out: QuarantineRule[] = [];
  if (table.source.registered) {
    const required = table.source.columns.filter((c) => !c.nullable);
    if (required.length > 0) {
      const missing = required.map((c) => `CASE WHEN ${ident(c.name)} IS NULL THEN ${literal(c.name)} END`).join(', ');
      out.push({
        code: 'missing_required_value',
        predicate: required.map((c) => `${ident(c.name)} IS NULL`).join(' OR '),
        reason: `'required value missing or malformed: ' || array_to_string(list_filter([${missing}], x -> x IS NOT NULL), ', ')`,
      });
    }
  }
  if (table.name === 'activities' && table.source.registered) {
    const elapsed = `coalesce(elapsed_seconds, epoch(ended_at - started_at))`;
    const limit = speedLimitSql(rules);
    const ref = `TIMESTAMPTZ ${literal(asOf.toISOString())}`;
    const latest = `(${ref} + INTERVAL ${Math.round(rules.quarantine.futureToleranceMinutes * 60)} SECOND)`;
    out.push(
      { code: 'negative_distance', predicate: 'distance_m < 0', reason: `printf('distance %d m is negative', distance_m)` },
      { code: 'end_before_start', predicate: 'ended_at < started_at', reason: `printf('ends at %s, before its start %s', CAST(ended_at AS VARCHAR), CAST(started_at AS VARCHAR))` },
      {
        code: 'unknown_employee',
        predicate: 'employee_id NOT IN (SELECT employee_id FROM silver.employees_valid)',
        reason: `printf('employee %d is not in silver.employees (or is quarantined)', employee_id)`,
      },
      {
        code: 'impossible_speed',
        predicate: `distance_m > 0 AND (${elapsed} <= 0 OR distance_m * 3.6 / ${elapsed} > ${limit})`,
        reason: `CASE WHEN ${elapsed} <= 0 THEN printf('%d m covered in %d s', distance_m, CAST(${elapsed} AS BIGINT))
          ELSE printf('average %.1f km/h is above the %g km/h limit for %s', distance_m * 3.6 / ${elapsed}, CAST(${limit} AS DOUBLE), sport_type) END`,
      },
      {
        code: 'future_date',
        predicate: `started_at > ${latest} OR ended_at > ${latest}`,
        reason: `printf('starts %s / ends %s, after the run reference time %s', CAST(started_at AS VARCHAR), CAST(ended_at AS VARCHAR), CAST(${ref} AS VARCHAR))`,
      },
    );
  }
  return out;
}

/**
 * Statements that rebuild the quarantine of `table`:
 * `state.<table>__quarantined` (typed keys and rule codes), its rows in `silver.quarantine`
 * (generic: table, key as JSON, first rule, every rule, reasons, the row as JSON), and the
 * `silver.<table>_valid` view. `silver.quarantine` must exist (see {@link QUARANTINE_DDL}).
 */
export function quarantineStatements(table: SilverTable, rules: Rules, asOf: Date, runId: string): string[] {
  const checks = quarantineRules(table, rules, asOf);
  const pk = table.source.primaryKey;
  const keysTable = `state.${ident(`${table.name}__quarantined`)}`;
  const pkCols = pk.map(ident).join(', ');
  const pkTypes = table.source.columns.filter((c) => pk.includes(c.name)).map((c) => `${ident(c.name)} ${decodingFor(c.pgType).duckType}`);
  const statements: string[] = [];
  if (checks.length === 0 || pk.length === 0) {
    statements.push(`DROP TABLE IF EXISTS ${keysTable}`);
    if (pk.length > 0) statements.push(`CREATE TABLE ${keysTable} (${pkTypes.join(', ')}, rules VARCHAR[], reasons VARCHAR[], record JSON)`);
  } else {
    const codes = checks.map((c) => `CASE WHEN ${c.predicate} THEN ${literal(c.code)} END`).join(',\n        ');
    const reasons = checks.map((c) => `CASE WHEN ${c.predicate} THEN ${c.reason} END`).join(',\n        ');
    // One pass: the WHERE keeps the few failing rows, and only those get their rules, reasons and JSON.
    // A predicate that is NULL (a NULL operand) counts as not broken: WHERE drops NULL like false,
    // and NULL OR true is true. The predicates are left bare so DuckDB can push `distance_m > 0`
    // and the like into the scan (wrapping each in coalesce(..., false) doubled this pass's CPU).
    statements.push(`CREATE OR REPLACE TABLE ${keysTable} AS
      SELECT ${pkCols},
        list_filter([${codes}], x -> x IS NOT NULL) AS rules,
        list_filter([${reasons}], x -> x IS NOT NULL) AS reasons,
        to_json(s) AS record
      FROM silver.${ident(table.name)} s
      WHERE ${checks.map((c) => `(${c.predicate})`).join('\n         OR ')}`);
  }
  statements.push(`DELETE FROM silver.quarantine WHERE table_name = ${literal(table.name)}`);
  if (pk.length > 0) {
    const keyJson = `to_json(struct_pack(${pk.map((k) => `${ident(k)} := ${ident(k)}`).join(', ')}))`;
    statements.push(`INSERT INTO silver.quarantine
      SELECT ${literal(table.name)}, ${keyJson}, rules[1], rules, array_to_string(reasons, '; '), record, now(), ${literal(runId)}
      FROM ${keysTable}`);
    statements.push(`CREATE OR REPLACE VIEW silver.${ident(`${table.name}_valid`)} AS
      SELECT * FROM silver.${ident(table.name)} ANTI JOIN ${keysTable} USING (${pkCols})`);
  }
  return statements;
}

/** The generic quarantine table of the silver database. */
export const QUARANTINE_DDL = `CREATE TABLE IF NOT EXISTS silver.quarantine (
  table_name VARCHAR, record_key JSON, rule VARCHAR, rules VARCHAR[], reason VARCHAR, record JSON,
  detected_at TIMESTAMPTZ, run_id VARCHAR)`;
