import { describe, expect, it } from 'vitest';
import type { QualityResult } from '../common/contracts/quality-report.ts';
import { combinedCountSql, compileModelTests, countingSql, driftVerdict, sampleSql, hasBlockingFailure, summarize, volumeVerdict, type TestedModel } from './quality.ts';

const model: TestedModel = {
  name: 'gold.sport_bonus',
  relation: 'gold_next.main."sport_bonus"',
  key: ['employee_id'],
  columns: [
    { name: 'employee_id', description: 'id', tests: [{ test: 'not_null' }, { test: 'unique' }, { test: 'relationships', to: 'silver.employees', field: 'employee_id', severity: 'warn' }] },
    { name: 'reason_code', description: 'code', tests: [{ test: 'accepted_values', values: ['eligible', "it's"] }] },
    { name: 'bonus_amount_eur', description: 'EUR', tests: [{ test: 'accepted_range', min: 0, where: 'eligible' }] },
  ],
  tests: [
    { test: 'expression', name: 'within_limit', description: 'd', failing: 'eligible AND d > l', show: ['d'] },
    { test: 'unique_combination', columns: ['a', 'b'], severity: 'warn' },
  ],
};

describe('compileModelTests (dbt-style generic tests)', () => {
  const tests = compileModelTests(model);

  it('gives each test a stable id, a severity (error by default) and the SQL of its failing rows', () => {
    expect(tests.map((t) => [t.id, t.type, t.severity])).toEqual([
      ['gold.sport_bonus.employee_id.not_null', 'not_null', 'error'],
      ['gold.sport_bonus.employee_id.unique', 'unique', 'error'],
      ['gold.sport_bonus.employee_id.relationships', 'relationships', 'warn'],
      ['gold.sport_bonus.reason_code.accepted_values', 'accepted_values', 'error'],
      ['gold.sport_bonus.bonus_amount_eur.accepted_range', 'accepted_range', 'error'],
      ['gold.sport_bonus.within_limit', 'expression', 'error'],
      ['gold.sport_bonus.a+b.unique_combination', 'unique_combination', 'warn'],
    ]);
    const sql = Object.fromEntries(tests.map((t) => [t.type, t.failingSql.replace(/\s+/g, ' ')]));
    expect(sql.not_null).toBe('SELECT "employee_id" FROM gold_next.main."sport_bonus" WHERE ("employee_id" IS NULL)');
    expect(sql.unique).toBe('SELECT "employee_id", count(*) AS occurrences FROM gold_next.main."sport_bonus" WHERE "employee_id" IS NOT NULL GROUP BY "employee_id" HAVING count(*) > 1');
    expect(sql.relationships).toBe(
      'SELECT c."employee_id" FROM gold_next.main."sport_bonus" c ANTI JOIN silver.employees p ON c."employee_id" = p."employee_id" WHERE (c."employee_id" IS NOT NULL)',
    );
    expect(sql.accepted_values).toBe(`SELECT "employee_id", "reason_code" FROM gold_next.main."sport_bonus" WHERE "reason_code" IS NOT NULL AND "reason_code" NOT IN ('eligible', 'it''s')`);
    expect(sql.accepted_range).toBe('SELECT "employee_id", "bonus_amount_eur" FROM gold_next.main."sport_bonus" WHERE ("bonus_amount_eur" < 0) AND (eligible)');
    expect(sql.expression).toBe('SELECT "employee_id", "d" FROM gold_next.main."sport_bonus" WHERE eligible AND d > l');
    expect(tests[1]!.uniqueOn).toEqual({ relation: 'gold_next.main."sport_bonus"', column: 'employee_id' });
  });

  it('marks the row tests, whose failures one scan of the relation can count together', () => {
    expect(tests.filter((t) => t.rowCheck).map((t) => t.type)).toEqual(['not_null', 'accepted_values', 'accepted_range', 'expression']);
    const rowTests = tests.filter((t) => t.rowCheck);
    expect(combinedCountSql(model.relation, rowTests).replace(/\s+/g, ' ')).toBe(
      'SELECT count(*) FILTER (WHERE ("employee_id" IS NULL)) AS f0, ' +
        `count(*) FILTER (WHERE "reason_code" IS NOT NULL AND "reason_code" NOT IN ('eligible', 'it''s')) AS f1, ` +
        'count(*) FILTER (WHERE ("bonus_amount_eur" < 0) AND (eligible)) AS f2, ' +
        'count(*) FILTER (WHERE (eligible AND d > l)) AS f3 FROM gold_next.main."sport_bonus" ' +
        `WHERE (("employee_id" IS NULL)) OR ("reason_code" IS NOT NULL AND "reason_code" NOT IN ('eligible', 'it''s')) OR (("bonus_amount_eur" < 0) AND (eligible)) OR ((eligible AND d > l))`,
    );
  });

  it('counts failing rows and samples five', () => {
    expect(countingSql(tests[0]!).replace(/\s+/g, ' ')).toBe('SELECT count(*) AS failures FROM (SELECT "employee_id" FROM gold_next.main."sport_bonus" WHERE ("employee_id" IS NULL))');
    expect(sampleSql(tests[0]!).replace(/\s+/g, ' ')).toBe(
      'SELECT CAST(to_json(list(f)) AS VARCHAR) AS sample FROM (SELECT * FROM (SELECT "employee_id" FROM gold_next.main."sport_bonus" WHERE ("employee_id" IS NULL)) LIMIT 5) f',
    );
  });
});

describe('metric verdicts', () => {
  it('volume: flags a day beyond maxZScore standard deviations of the trailing mean', () => {
    const baseline = [100, 110, 90, 105, 95, 100, 100];
    expect(volumeVerdict(101, baseline, 7, { minHistoryDays: 7, maxZScore: 3 }).status).toBe('pass');
    const low = volumeVerdict(40, baseline, 7, { minHistoryDays: 7, maxZScore: 3 });
    expect(low.status).toBe('fail');
    expect(low.mean).toBe(100);
    expect(low.z).toBeCloseTo(-9.295, 3); // sample stddev 6.455
    expect(volumeVerdict(40, baseline, 6, { minHistoryDays: 7, maxZScore: 3 }).status).toBe('skipped');
    expect(volumeVerdict(5, [5, 5, 5], 3, { minHistoryDays: 2, maxZScore: 3 })).toMatchObject({ status: 'pass', z: 0 });
    expect(volumeVerdict(6, [5, 5, 5], 3, { minHistoryDays: 2, maxZScore: 3 })).toMatchObject({ status: 'fail', z: null });
  });

  it('cost drift: percent change against the previous successful run', () => {
    expect(driftVerdict(120, 100, 20)).toEqual({ status: 'pass', pct: 20 });
    expect(driftVerdict(121, 100, 20).status).toBe('fail');
    expect(driftVerdict(70, 100, 20)).toEqual({ status: 'fail', pct: -30 });
    expect(driftVerdict(5, null, 20)).toEqual({ status: 'skipped', pct: null });
    expect(driftVerdict(5, 0, 20)).toEqual({ status: 'fail', pct: null });
  });
});

describe('outcome', () => {
  const r = (id: string, severity: 'error' | 'warn', status: 'pass' | 'fail' | 'skipped'): QualityResult => ({
    id, model: 'm', column: null, type: 't', severity, status, failures: status === 'fail' ? 1 : 0, description: '', observed: null, sample: null,
  });

  it('only a failed error-level check blocks the swap', () => {
    expect(hasBlockingFailure([r('a', 'warn', 'fail'), r('b', 'error', 'pass'), r('c', 'error', 'skipped')])).toBe(false);
    expect(hasBlockingFailure([r('a', 'warn', 'fail'), r('b', 'error', 'fail')])).toBe(true);
    expect(summarize([r('a', 'warn', 'fail'), r('b', 'error', 'fail'), r('c', 'error', 'pass'), r('d', 'warn', 'skipped')])).toEqual({
      checks: 4, passed: 1, skipped: 1, errors: ['b'], warnings: ['a'],
    });
  });
});
