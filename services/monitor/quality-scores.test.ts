import { describe, expect, it } from 'vitest';
import type { BatchRun, QualityStatus } from '../common/status/batch-state.ts';
import { agingScore, anomalyScore, completenessScore, freshnessScore, ruleNumber } from './quality-scores.ts';

const params = { quality: { freshnessMaxHours: 36, volume: { trailingDays: 28, minHistoryDays: 7, maxZScore: 3 }, costDriftMaxPct: 20 } };
type Result = QualityStatus['results'][number];
const result = (type: string, status: Result['status'], observed: string | null): Result => ({ id: `x.${type}`, type, severity: 'warn', status, observed, failures: status === 'fail' ? 1 : 0, description: type });
const report = (results: Result[]): QualityStatus => ({ runId: 'r', status: 'success', finishedAt: '2026-06-30T12:00:00.000Z', checks: results.length, passed: 0, skipped: 0, failed: [], state: 'ok', results, params });
const now = Date.parse('2026-06-30T12:00:00Z');

describe('freshness', () => {
  it('is 1 within the limit, falling linearly to 0 at twice the limit', () => {
    expect(agingScore(10, 36)).toBe(1);
    expect(agingScore(36, 36)).toBe(1);
    expect(agingScore(45, 36)).toBe(0.75);
    expect(agingScore(72, 36)).toBe(0);
    expect(agingScore(100, 36)).toBe(0);
  });

  it('ages the newest event the batch measured to now, and reports the last refresh', () => {
    const r = report([result('freshness', 'pass', 'newest event 2026-06-28T18:00:00.000Z, 2.0 h before 2026-06-28T20:00:00.000Z (limit 36 h)')]);
    const lastSuccess = { finishedAt: '2026-06-30T11:30:00.000Z' } as BatchRun;
    expect(freshnessScore(r, lastSuccess, now)).toEqual({
      score: 0.8333,
      status: 'warn',
      newestEventAt: '2026-06-28T18:00:00.000Z',
      eventAgeHours: 42,
      limitHours: 36,
      lastRefreshAt: '2026-06-30T11:30:00.000Z',
      refreshAgeHours: 0.5,
    });
    expect(freshnessScore(null, null, now)).toMatchObject({ score: null, status: 'unknown', limitHours: 36, refreshAgeHours: null });
    expect(freshnessScore(report([result('freshness', 'skipped', 'no event yet')]), null, now).status).toBe('unknown');
  });
});

describe('completeness', () => {
  it('takes the worse of valid rows and known commute distances', () => {
    const counts = { 'silver.employees': 160, 'silver.activities': 3840, 'silver.employees_history': 170, 'silver.quarantine': 40, 'gold.sport_bonus': 160 };
    expect(completenessScore(counts, { qualifyingEmployees: 50, withDistance: 49 })).toEqual({
      score: 0.98,
      status: 'warn',
      rows: { silver: 4000, quarantined: 40, score: 0.99 },
      commuteDistances: { qualifyingEmployees: 50, withDistance: 49, score: 0.98 },
    });
    expect(completenessScore({ 'silver.activities': 10, 'silver.quarantine': 0 }, { qualifyingEmployees: 0, withDistance: 0 })).toMatchObject({ score: 1, status: 'ok' });
    expect(completenessScore(null, null)).toMatchObject({ score: null, status: 'unknown' });
  });
});

describe('anomaly', () => {
  it('scores the volume z-score and the cost drift against their thresholds', () => {
    const a = anomalyScore(
      report([
        result('volume_anomaly', 'pass', '2026-06-29: 12 activities; mean 10.0, stddev 2.0, z 1.50'),
        result('cost_drift', 'pass', 'total 110.00 EUR vs 100.00 EUR in run r1: +10.0 %'),
      ]),
    );
    expect(a).toEqual({
      score: 0.5,
      status: 'ok',
      volume: { status: 'pass', z: 1.5, maxZScore: 3, score: 0.5, observed: '2026-06-29: 12 activities; mean 10.0, stddev 2.0, z 1.50' },
      costDrift: { status: 'pass', pct: 10, maxPct: 20, score: 0.5, observed: 'total 110.00 EUR vs 100.00 EUR in run r1: +10.0 %' },
    });
  });

  it('caps at 1 on a failed check, and is unknown when the checks were skipped', () => {
    const failed = anomalyScore(report([result('volume_anomaly', 'fail', '2026-06-29: 90 activities; mean 10.0, stddev 0.0, z inf'), result('cost_drift', 'fail', 'total 50.00 EUR vs 100.00 EUR in run r1: -50.0 %')]));
    expect(failed).toMatchObject({ score: 1, status: 'warn', volume: { z: null, score: 1 }, costDrift: { pct: -50, score: 1 } });
    const skipped = anomalyScore(report([result('volume_anomaly', 'skipped', 'fewer than 7 days with activities'), result('cost_drift', 'skipped', 'no previous successful run; total 1.00 EUR')]));
    expect(skipped).toMatchObject({ score: null, status: 'unknown', volume: { status: 'skipped' }, costDrift: { status: 'skipped' } });
    expect(anomalyScore(null).status).toBe('unknown');
  });

  it('reads thresholds from the rules of the run, with the documented defaults', () => {
    expect(ruleNumber(params, 'quality.volume.maxZScore', 9)).toBe(3);
    expect(ruleNumber(params, 'quality.nothing', 9)).toBe(9);
    expect(ruleNumber(null, 'quality.costDriftMaxPct', 20)).toBe(20);
  });
});
