import { describe, expect, it } from 'vitest';
import rulesFile from '../../products/sport-rewards/rules.json' with { type: 'json' };
import { quarantineOrder, quarantineRules, quarantineStatements } from './quarantine.ts';
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
      'missing_required_value', 'negative_distance', 'end_before_start', 'inconsistent_elapsed', 'empty_sport', 'unknown_employee', 'impossible_speed',
      'implausible_duration', 'future_date', 'too_old',
    ]);
    expect(quarantineRules(table('employees'), rules, asOf).map((r) => r.code)).toEqual(['missing_required_value']);
  });

  it('takes speed limits per sport from the rules, with the default for other sports', () => {
    const speed = quarantineRules(table('activities'), rules, asOf, b).find((r) => r.code === 'impossible_speed')!;
    expect(speed.predicate).toContain(
      `(CASE "sport_type" WHEN 'Runing' THEN CAST('25' AS DOUBLE) WHEN 'Marche' THEN CAST('10' AS DOUBLE) WHEN 'Randonnée' THEN CAST('10' AS DOUBLE) WHEN 'Natation' THEN CAST('8' AS DOUBLE) WHEN 'Triathlon' THEN CAST('45' AS DOUBLE) WHEN 'Vélo' THEN CAST('70' AS DOUBLE) ELSE CAST('60' AS DOUBLE) END)`,
    );
  });

  it('dates the future from the run reference time plus the tolerance', () => {
    const future = quarantineRules(table('activities'), rules, asOf, b).find((r) => r.code === 'future_date')!;
    // 2026-06-30T12:00:00Z + 600 s, in epoch seconds.
    expect(future.predicate).toBe(`((epoch("started_at") > CAST('${Date.parse('2026-06-30T12:10:00Z') / 1000}' AS DOUBLE)) OR (epoch("ended_at") > CAST('${Date.parse('2026-06-30T12:10:00Z') / 1000}' AS DOUBLE)))`);
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
