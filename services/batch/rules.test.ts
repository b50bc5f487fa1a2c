import { describe, expect, it } from 'vitest';
import rulesFile from '../../products/sport-rewards/rules.json' with { type: 'json' };
import { canonicalJson, parseRules, RulesError } from './rules.ts';

const defaults = JSON.stringify(rulesFile);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form edits of the JSON document
function withChange(change: (r: Record<string, any>) => void): string {
  const r = JSON.parse(defaults);
  change(r);
  return JSON.stringify(r);
}

function issues(text: string): string[] {
  try {
    parseRules(text, 'rules.json');
  } catch (err) {
    expect(err).toBeInstanceOf(RulesError);
    return (err as RulesError).issues;
  }
  throw new Error('expected a RulesError');
}

describe('rules file', () => {
  it('accepts the versioned defaults of products/sport-rewards/rules.json (DOMAIN.md values)', () => {
    const { rules } = parseRules(defaults);
    expect(rules.sportBonus).toEqual({ rate: 0.05, maxCommuteKmByMode: { 'Marche/running': 15, 'Vélo/Trottinette/Autres': 25 } });
    expect(rules.wellbeing).toEqual({ minActivitiesPerYear: 15, extraDays: 5, workingDaysPerYear: 218 });
  });

  it('hashes the parameters, not their layout or comment', () => {
    const a = parseRules(defaults);
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(defaults)).reverse()), null, 4);
    const b = parseRules(withChange((r) => (r.$comment = 'another comment')));
    expect(parseRules(reordered).hash).toBe(a.hash);
    expect(b.hash).toBe(a.hash);
    expect(parseRules(withChange((r) => (r.sportBonus.rate = 0.06))).hash).not.toBe(a.hash);
    expect(a.canonical).not.toContain('$comment');
  });

  it('names each bad field with its JSON path and the rejected value', () => {
    expect(
      issues(
        withChange((r) => {
          r.sportBonus.rate = 5;
          r.wellbeing.workingDaysPerYear = 'x';
          r.timezone = 'Mars/Olympus';
          r.quarantine.maxSpeedKmhBySport.Runing = -3;
        }),
      ),
    ).toEqual([
      'timezone: expected an IANA time zone such as "Europe/Paris" (got "Mars/Olympus")',
      'sportBonus.rate: Too big: expected number to be <=1 (got 5)',
      'wellbeing.workingDaysPerYear: Invalid input: expected number, received string (got "x")',
      'quarantine.maxSpeedKmhBySport.Runing: Too small: expected number to be >0 (got -3)',
    ]);
  });

  it('rejects unknown keys, cross-field mistakes and invalid JSON', () => {
    expect(issues(withChange((r) => (r.sportbonus = {})))).toEqual(['(root): Unrecognized key: "sportbonus"']);
    expect(issues(withChange((r) => (r.quality.volume.minHistoryDays = 40)))).toEqual(['quality.volume.minHistoryDays: must not exceed trailingDays (got 40)']);
    expect(issues('{ "version": ')[0]).toMatch(/^\(file\): not valid JSON/);
  });

  it('canonicalJson sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}');
  });
});
