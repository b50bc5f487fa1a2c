/**
 * Quarantine: silver rows that gold must not use, each with the rule it breaks and a readable
 * reason (docs/architecture.md, "Bad input never stops a service": "an invalid row goes to a quarantine table with its rule and reason").
 * Pure: builds SQL from the rules file (rules.ts) and the run's reference time.
 *
 * Rules:
 * - every table of every source (the platform's rule): `missing_required_value` (a NOT NULL source
 *   column is NULL in silver: a value silver could not decode or resolve, see `_missing`);
 * - the sport-rewards data product's activities (products/sport-rewards/binding.ts): `negative_distance`,
 *   `end_before_start`, `unknown_employee` (not in the product's employees), `impossible_speed`
 *   (average speed above the sport's limit,
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
import type { Binding } from '../../products/sport-rewards/binding.ts';
import { PRODUCT_QUARANTINE_RULE_CODES, productQuarantineRules } from '../../products/sport-rewards/quarantine.ts';
import { ident, literal } from './sql.ts';
import type { SilverTable } from './silver.ts';

/** One check: rows matching `predicate` break rule `code`; `reason` is an SQL text expression. */
export interface QuarantineRule {
  code: string;
  predicate: string;
  reason: string;
}

/** Tables in the order their quarantine must be rebuilt: the product's employees before what refers to them. */
export function quarantineOrder<T extends { name: string }>(tables: readonly T[], bind?: Binding): T[] {
  const first = (t: T) => Number(bind !== undefined && t.name === bind.tables.employees);
  return [...tables].sort((a, b) => first(b) - first(a) || (a.name < b.name ? -1 : 1));
}

/** Every rule code (the platform's, then the data product's), for accepted_values tests and documentation. */
export const QUARANTINE_RULE_CODES = ['missing_required_value', ...PRODUCT_QUARANTINE_RULE_CODES] as const;

/**
 * The rules that apply to `table` for a run whose reference time is `asOf`.
 * @param bind the sport-rewards product's binding when the product runs (its activity rules apply
 *   to the activities it binds), undefined otherwise
 */
export function quarantineRules(table: SilverTable, rules: Rules, asOf: Date, bind?: Binding): QuarantineRule[] {
  const out: QuarantineRule[] = [];
  {
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
  // The data product's own rules for the tables it binds (products/sport-rewards/quarantine.ts).
  if (bind) out.push(...productQuarantineRules(table, rules, asOf, bind));
  return out;
}

/**
 * Statements that rebuild the quarantine of `table`:
 * `state.<table>__quarantined` (typed keys and rule codes), its rows in `silver.quarantine`
 * (generic: table, key as JSON, first rule, every rule, reasons, the row as JSON), and the
 * `silver.<table>_valid` view. `silver.quarantine` must exist (see {@link QUARANTINE_DDL}).
 */
export function quarantineStatements(table: SilverTable, rules: Rules, asOf: Date, runId: string, bind?: Binding): string[] {
  const checks = quarantineRules(table, rules, asOf, bind);
  const pk = table.source.primaryKey;
  const keysTable = `state.${ident(`${table.name}__quarantined`)}`;
  const pkCols = pk.map(ident).join(', ');
  const pkTypes = table.source.columns.filter((c) => pk.includes(c.name)).map((c) => `${ident(c.name)} ${c.duckType}`);
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
