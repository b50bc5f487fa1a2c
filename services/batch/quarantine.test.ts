import { describe, expect, it } from 'vitest';
import rulesFile from '../../config/rules.json' with { type: 'json' };
import { quarantineOrder, quarantineRules, quarantineStatements, speedLimitSql } from './quarantine.ts';
import { parseRules } from './rules.ts';
import { knownTable } from './source-schemas.ts';
import type { SilverTable } from './silver.ts';

const { rules } = parseRules(JSON.stringify(rulesFile));
const table = (name: string): SilverTable => ({ name, topic: `sport.public.${name}`, source: knownTable('public', name)!, history: false });
const asOf = new Date('2026-06-30T12:00:00Z');

describe('quarantine rules', () => {
  it('checks activities for every rule of the issue, plus required values', () => {
    expect(quarantineRules(table('activities'), rules, asOf).map((r) => r.code)).toEqual([
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
    const future = quarantineRules(table('activities'), rules, asOf).find((r) => r.code === 'future_date')!;
    expect(future.predicate).toBe("started_at > (TIMESTAMPTZ '2026-06-30T12:00:00.000Z' + INTERVAL 600 SECOND) OR ended_at > (TIMESTAMPTZ '2026-06-30T12:00:00.000Z' + INTERVAL 600 SECOND)");
  });

  it('checks employees before the tables that refer to them', () => {
    expect(quarantineOrder([table('activities'), table('commute_distances'), table('employees')]).map((t) => t.name)).toEqual(['employees', 'activities', 'commute_distances']);
  });

  it('rebuilds the quarantine of a table and its _valid view', () => {
    const sql = quarantineStatements(table('activities'), rules, asOf, 'run1').map((s) => s.replace(/\s+/g, ' '));
    expect(sql[0]).toMatch(/^CREATE OR REPLACE TABLE state\."activities__quarantined" AS SELECT "activity_id", list_filter/);
    expect(sql[1]).toBe("DELETE FROM silver.quarantine WHERE table_name = 'activities'");
    expect(sql[3]).toBe('CREATE OR REPLACE VIEW silver."activities_valid" AS SELECT * FROM silver."activities" ANTI JOIN state."activities__quarantined" USING ("activity_id")');
  });
});
