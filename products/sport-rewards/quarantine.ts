/**
 * The sport-rewards data product's quarantine rules (the platform's quarantine,
 * services/batch/quarantine.ts, applies them to the tables the product binds): activities that
 * gold must not count, each with a readable reason. The rules themselves are defined once, in
 * activity-validity.ts, and compiled here to DuckDB SQL; the Slack notifier runs the same
 * definition in TypeScript, so it never announces an activity that the batch quarantines.
 * Employees are checked first (services/batch/quarantine.ts), so `unknown_employee` also covers
 * an activity of a quarantined employee.
 */
import type { QuarantineRule } from '../../services/batch/quarantine.ts';
import type { Rules } from '../../services/batch/rules.ts';
import type { SilverTable } from '../../services/batch/silver.ts';
import { ACTIVITY_RULE_CODES, activityRules, exprSql, textSql, type SqlContext } from './activity-validity.ts';
import type { Binding } from './binding.ts';

/** Codes of the product's rules. */
export const PRODUCT_QUARANTINE_RULE_CODES = ACTIVITY_RULE_CODES;

/** The SQL context of the product bound to a source: its valid employees. */
export function validityContext(bind: Binding): SqlContext {
  return { validEmployeeIds: `SELECT employee_id FROM ${bind.rel('employees', '_valid')}` };
}

/** The product's rules for `table` (only its activities have some) for a run whose reference time is `asOf`. */
export function productQuarantineRules(table: SilverTable, rules: Rules, asOf: Date, bind: Binding): QuarantineRule[] {
  if (table.name !== bind.tables.activities) return [];
  const ctx = validityContext(bind);
  return activityRules(rules, asOf).map((r) => ({ code: r.code, predicate: exprSql(r.predicate, rules, ctx), reason: textSql(r.reason, rules, ctx) }));
}
