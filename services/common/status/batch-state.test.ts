import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { QualityReport } from '../contracts/quality-report.ts';
import { parseRunLogLine, type RunStatus } from '../contracts/run-log.ts';
import { batchRunOf, readRunLog, summarizeQualityReport, summarizeRuns } from './batch-state.ts';

const runLine = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    runId: 'r1',
    batch: 1,
    status: 'success',
    mode: 'full',
    startedAt: '2026-06-30T12:00:00.000Z',
    finishedAt: '2026-06-30T12:00:04.500Z',
    asOf: '2026-06-30T12:00:00.000Z',
    rulesFile: 'config/rules.json',
    rulesVersion: '2026-01',
    paramsHash: 'abc',
    params: { sportBonus: { rate: 0.05 } },
    bronzeInputs: [
      { topic: 't', partition: 0, firstOffset: 0, lastOffset: 9, events: 10, files: ['a', 'b'] },
      { topic: 't', partition: 1, firstOffset: 0, lastOffset: 4, events: 5, files: ['c'] },
    ],
    rowCounts: { 'silver.activities': 15 },
    quality: { checks: 10, passed: 9, skipped: 0, errors: [], warnings: ['gold.cost_drift'] },
    bonusCostEur: 12000.5,
    wellbeingCostEur: 3000,
    goldDb: '/x/gold.duckdb',
    reportFile: '/x/r1.json',
    error: null,
    ...over,
  });

const run = (over: Record<string, unknown> = {}) => batchRunOf(parseRunLogLine(runLine(over)));

describe('run_log', () => {
  it('keeps what the status needs from a run_log record', () => {
    expect(run()).toEqual({
      runId: 'r1',
      batch: 1,
      status: 'success',
      mode: 'full',
      startedAt: '2026-06-30T12:00:00.000Z',
      finishedAt: '2026-06-30T12:00:04.500Z',
      durationS: 4.5,
      rulesVersion: '2026-01',
      paramsHash: 'abc',
      bronzeFiles: 3,
      bronzeEvents: 15,
      rowCounts: { 'silver.activities': 15 },
      quality: { checks: 10, passed: 9, skipped: 0, errors: [], warnings: ['gold.cost_drift'] },
      bonusCostEur: 12000.5,
      wellbeingCostEur: 3000,
      reportFile: '/x/r1.json',
      error: null,
      trigger: 'manual',
      attempt: 1,
      completeThrough: null,
    });
  });

  it('summarizes runs: last run, last success, counts per status (interrupted included)', () => {
    const runs = [run(), run({ runId: 'r2', status: 'failed_quality' }), run({ runId: 'r3', status: 'failed' }), run({ runId: 'r4', status: 'interrupted' })];
    const s = summarizeRuns(runs);
    expect(s.lastRun?.runId).toBe('r4');
    expect(s.lastSuccess?.runId).toBe('r1');
    expect(s.runsByStatus).toEqual({ success: 1, failed_quality: 1, failed: 1, interrupted: 1, skipped: 0 });
    expect(summarizeRuns([])).toEqual({ lastRun: null, lastSuccess: null, runsByStatus: { success: 0, failed_quality: 0, failed: 0, interrupted: 0, skipped: 0 } });
  });

  it('reads the file line by line; a line the contract rejects is reported and skipped, not cast', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'run-log-'));
    const file = path.join(dir, 'run_log.jsonl');
    const bad = runLine({ runId: 'r2', status: 'paused' });
    await writeFile(file, `${runLine()}\n${bad}\n${runLine({ runId: 'r3', status: 'interrupted' })}\n`);
    const { runs, problems, nextOffset } = await readRunLog(file);
    expect(runs.map((r) => [r.runId, r.status])).toEqual([
      ['r1', 'success'],
      ['r3', 'interrupted'],
    ]);
    expect(problems).toEqual([{ offset: Buffer.byteLength(runLine()) + 1, problem: 'run_log record: status: Invalid option: expected one of "success"|"failed_quality"|"failed"|"interrupted"|"skipped"' }]);
    expect(nextOffset).toBe((await readFile(file)).length);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('quality report', () => {
  const result = (id: string, severity: 'error' | 'warn', status: 'pass' | 'fail' | 'skipped', observed: string | null = null) => ({
    id,
    model: 'gold',
    column: null,
    type: 'expression',
    severity,
    status,
    failures: status === 'fail' ? 2 : 0,
    description: `${id} holds`,
    observed,
    sample: null,
  });
  const report = (status: RunStatus, results: ReturnType<typeof result>[]): QualityReport => {
    const runLog = parseRunLogLine(runLine({ status, params: { quality: { freshnessMaxHours: 36 } } }));
    return { runId: 'r', status, finishedAt: new Date('2026-06-30T12:00:00Z'), summary: runLog.quality, results, runLog };
  };

  it('states ok, warn or error from the failed checks and the run status', () => {
    const ok = summarizeQualityReport(report('success', [result('a', 'error', 'pass'), result('b', 'warn', 'skipped')]));
    expect(ok).toMatchObject({ state: 'ok', checks: 2, passed: 1, skipped: 1, failed: [], params: { quality: { freshnessMaxHours: 36 } }, finishedAt: '2026-06-30T12:00:00.000Z' });
    const warn = summarizeQualityReport(report('success', [result('b', 'warn', 'fail', 'z 4.2')]));
    expect(warn.state).toBe('warn');
    expect(warn.failed).toEqual([{ id: 'b', type: 'expression', severity: 'warn', description: 'b holds', observed: 'z 4.2', failures: 2 }]);
    expect(summarizeQualityReport(report('failed_quality', [result('c', 'error', 'fail')])).state).toBe('error');
    expect(summarizeQualityReport(report('failed', [])).state).toBe('error');
    // Stopped on purpose (SIGTERM): not a failure; only its failed checks count.
    expect(summarizeQualityReport(report('interrupted', [result('a', 'error', 'pass')])).state).toBe('ok');
  });
});
