/**
 * The sport-rewards data product's quarantine rules (the platform's quarantine,
 * services/batch/quarantine.ts, applies them to the tables the product binds): activities that
 * gold must not count, each with a readable reason.
 * - `negative_distance`, `end_before_start`;
 * - `unknown_employee`: not in the product's valid employees (employees are checked first);
 * - `impossible_speed`: average speed above the sport's limit (rules `quarantine.maxSpeedKmhBySport`,
 *   `defaultMaxSpeedKmh`), or a distance covered in no time;
 * - `future_date`: starts or ends after the run's reference time plus `futureToleranceMinutes`.
 */
import type { QuarantineRule } from '../../services/batch/quarantine.ts';
import type { Rules } from '../../services/batch/rules.ts';
import type { SilverTable } from '../../services/batch/silver.ts';
import { literal } from '../../services/batch/sql.ts';
import type { Binding } from './binding.ts';

/** Codes of the product's rules. */
export const PRODUCT_QUARANTINE_RULE_CODES = ['negative_distance', 'end_before_start', 'unknown_employee', 'impossible_speed', 'future_date'] as const;

/** SQL CASE giving the speed limit (km/h) of `sport_type`. */
export function speedLimitSql(rules: Rules): string {
  const q = rules.quarantine;
  const arms = Object.entries(q.maxSpeedKmhBySport).map(([sport, kmh]) => `WHEN ${literal(sport)} THEN ${kmh}`);
  return arms.length ? `(CASE sport_type ${arms.join(' ')} ELSE ${q.defaultMaxSpeedKmh} END)` : `${q.defaultMaxSpeedKmh}`;
}

/** The product's rules for `table` (only its activities have some) for a run whose reference time is `asOf`. */
export function productQuarantineRules(table: SilverTable, rules: Rules, asOf: Date, bind: Binding): QuarantineRule[] {
  const out: QuarantineRule[] = [];
  if (table.name !== bind.tables.activities) return [];
  {
    const elapsed = `coalesce(elapsed_seconds, epoch(ended_at - started_at))`;
    const limit = speedLimitSql(rules);
    const ref = `TIMESTAMPTZ ${literal(asOf.toISOString())}`;
    const latest = `(${ref} + INTERVAL ${Math.round(rules.quarantine.futureToleranceMinutes * 60)} SECOND)`;
    out.push(
      { code: 'negative_distance', predicate: 'distance_m < 0', reason: `printf('distance %d m is negative', distance_m)` },
      { code: 'end_before_start', predicate: 'ended_at < started_at', reason: `printf('ends at %s, before its start %s', CAST(ended_at AS VARCHAR), CAST(started_at AS VARCHAR))` },
      {
        code: 'unknown_employee',
        predicate: `employee_id NOT IN (SELECT employee_id FROM ${bind.rel('employees', '_valid')})`,
        reason: `printf('employee %d is not in silver.${bind.tables.employees} (or is quarantined)', employee_id)`,
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
