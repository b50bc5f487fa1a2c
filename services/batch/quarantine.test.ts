import { describe, expect, it } from 'vitest';
import rulesFile from '../../products/sport-rewards/rules.json' with { type: 'json' };
import { quarantineOrder, quarantineRules, quarantineStatements } from './quarantine.ts';
import { speedLimitSql } from '../../products/sport-rewards/quarantine.ts';
import { parseRules } from './rules.ts';
import { silverColumn, type SilverTable } from './silver.ts';
import { sportTable } from './testing/batch-kit.ts';
import { bind } from '../../products/sport-rewards/binding.ts';

const { rules } = parseRules(JSON.stringify(rulesFile));
const b = bind(rules);
const table = (name: string): SilverTable => {
  const doc = sportTable(name);
  const columns = doc.columns.map((c) => silverColumn(c, doc));
  return {
    name: `sport__public__${name}`,
    topic: `sport.public.${name}`,
    source: { source: 'sport', schema: 'public', table: name, primaryKey: doc.primaryKey, columns, replicaIdentity: 'full', generatedColumns: [], schemaId: doc.schemaId },
    stateColumns: columns,
    history: false,
  };
};
const asOf = new Date('2026-06-30T12:00:00Z');

describe('quarantine rules', () => {
  it('checks the product\'s activities for every rule of the issue, plus required values; other tables for required values only', () => {
    expect(quarantineRules(table('activities'), rules, asOf).map((r) => r.code)).toEqual(['missing_required_value']);
    expect(quarantineRules(table('activities'), rules, asOf, b).map((r) => r.code)).toEqual([
      'missing_required_value', 'negative_distance', 'end_before_start', 'unknown_employee', 'impossible_speed', 'future_date',
    ]);
    expect(quarantineRules(table('employees'), rules, asOf).map((r) => r.code)).toEqual(['missing_required_value']);
  });

  it('takes speed limits per sport from the rules, with the default for other sports', () => {
    expect(speedLimitSql(rules)).toBe(
      "(CASE sport_type WHEN 'Runing' THEN 25 WHEN 'Marche' THEN 10 WHEN 'Randonnée' THEN 10 WHEN 'Natation' THEN 8 WHEN 'Triathlon' THEN 45 WHEN 'Vélo' THEN 70 ELSE 60 END)",
    );
  });

  it('dates the future from the run reference time plus the tolerance', () => {
    const future = quarantineRules(table('activities'), rules, asOf, b).find((r) => r.code === 'future_date')!;
    expect(future.predicate).toBe("started_at > (TIMESTAMPTZ '2026-06-30T12:00:00.000Z' + INTERVAL 600 SECOND) OR ended_at > (TIMESTAMPTZ '2026-06-30T12:00:00.000Z' + INTERVAL 600 SECOND)");
  });

  it('checks employees before the tables that refer to them', () => {
    expect(quarantineOrder([table('activities'), table('commute_distances'), table('employees')], b).map((t) => t.name)).toEqual([
      'sport__public__employees',
      'sport__public__activities',
      'sport__public__commute_distances',
    ]);
  });

  it('rebuilds the quarantine of a table and its _valid view', () => {
    const sql = quarantineStatements(table('activities'), rules, asOf, 'run1', b).map((s) => s.replace(/\s+/g, ' '));
    expect(sql[0]).toMatch(/^CREATE OR REPLACE TABLE state\."sport__public__activities__quarantined" AS SELECT "activity_id", list_filter/);
    expect(sql[1]).toBe("DELETE FROM silver.quarantine WHERE table_name = 'sport__public__activities'");
    expect(sql[3]).toBe(
      'CREATE OR REPLACE VIEW silver."sport__public__activities_valid" AS SELECT * FROM silver."sport__public__activities" ANTI JOIN state."sport__public__activities__quarantined" USING ("activity_id")',
    );
  });
});
