import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from './config.ts';
import type { QualityReport } from './contracts/quality-report.ts';
import { parseRunLogLine, type RunStatus } from './contracts/run-log.ts';
import {
  computeGroupLag,
  formatAge,
  formatBytes,
  formatPipelineStatus,
  groupLiveness,
  batchRunOf,
  partitionLag,
  readRunLog,
  retainedMessages,
  slotStatusFromRow,
  summarizeQualityReport,
  summarizeRuns,
  watchedGroups,
  type PipelineStatus,
} from './pipeline-status.ts';

describe('consumer lag', () => {
  it('is the high watermark minus the committed offset, or everything retained without a commit', () => {
    expect(partitionLag(40, { high: 100, low: 0 })).toBe(60);
    expect(partitionLag(100, { high: 100, low: 0 })).toBe(0);
    expect(partitionLag(null, { high: 100, low: 30 })).toBe(70);
    expect(partitionLag(-1, { high: 100, low: 30 })).toBe(70);
    // Records below the committed offset deleted by retention: counted from low, never negative.
    expect(partitionLag(10, { high: 100, low: 30 })).toBe(70);
    expect(partitionLag(120, { high: 100, low: 0 })).toBe(0);
  });

  it('sums a group over its topics and partitions, in topic and partition order', () => {
    const marks = new Map([
      ['sport.public.employees', [{ partition: 1, high: 10, low: 0 }, { partition: 0, high: 5, low: 0 }]],
      ['sport.public.activities', [{ partition: 0, high: 1000, low: 0 }]],
    ]);
    const lag = computeGroupLag(
      'bronze-writer',
      ['sport.public.employees', 'sport.public.activities'],
      [
        { topic: 'sport.public.activities', partitions: [{ partition: 0, offset: '990' }] },
        { topic: 'sport.public.employees', partitions: [{ partition: 0, offset: '5' }, { partition: 1, offset: '-1' }] },
      ],
      marks,
    );
    expect(lag).toEqual({
      groupId: 'bronze-writer',
      topics: ['sport.public.activities', 'sport.public.employees'],
      partitions: [
        { topic: 'sport.public.activities', partition: 0, committed: 990, high: 1000, low: 0, lag: 10 },
        { topic: 'sport.public.employees', partition: 0, committed: 5, high: 5, low: 0, lag: 0 },
        { topic: 'sport.public.employees', partition: 1, committed: null, high: 10, low: 0, lag: 10 },
      ],
      totalLag: 20,
    });
  });

  it('watches the three consumer groups of the config, each on its topics, never a dead-letter topic', () => {
    const config = loadConfig({ KAFKA_TOPIC_PREFIX: 'demo', SLACK_CONSUMER_GROUP: 'slack-x' });
    const all = ['demo.public.activities', 'demo.public.employees', 'demo.public.activities.dlq', 'other.public.activities', '__consumer_offsets'];
    const groups = watchedGroups(config);
    expect(groups.map((g) => [g.service, g.groupId, g.topics(all)])).toEqual([
      ['bronze-writer', 'bronze-writer', ['demo.public.activities', 'demo.public.employees']],
      ['slack-notifier', 'slack-x', ['demo.public.activities']],
      ['distance-worker', 'distance-worker', ['demo.public.employees']],
    ]);
    const explicit = watchedGroups(loadConfig({ KAFKA_TOPIC_PREFIX: 'demo', BRONZE_TOPICS: 'demo.public.employees' }));
    expect(explicit[0]!.topics(all)).toEqual(['demo.public.employees']);
  });

  it('calls a group live only with members outside Empty/Dead', () => {
    expect(groupLiveness({ groupId: 'g', state: 'Stable', members: [{}] })).toEqual({ groupId: 'g', state: 'Stable', members: 1, live: true });
    expect(groupLiveness({ groupId: 'g', state: 'PreparingRebalance', members: [{}, {}] }).live).toBe(true);
    expect(groupLiveness({ groupId: 'g', state: 'Empty', members: [] }).live).toBe(false);
    expect(groupLiveness({ groupId: 'g', state: 'Dead', members: [] }).live).toBe(false);
  });

  it('counts the messages a dead-letter topic retains', () => {
    expect(retainedMessages([{ partition: 0, high: 7, low: 2 }, { partition: 1, high: 3, low: 0 }])).toBe(8);
    expect(retainedMessages([])).toBe(0);
  });
});

describe('replication slot', () => {
  it('reads the lag in bytes and whether the slot is held', () => {
    expect(slotStatusFromRow('s', { active: true, active_pid: 42, confirmed_flush_lsn: '0/16B3748', wal_status: 'reserved', lag_bytes: '1048576' })).toEqual({
      slotName: 's',
      exists: true,
      active: true,
      activePid: 42,
      confirmedFlushLsn: '0/16B3748',
      lagBytes: 1048576,
      walStatus: 'reserved',
    });
    expect(slotStatusFromRow('s', undefined)).toEqual({ slotName: 's', exists: false, active: false, activePid: null, confirmedFlushLsn: null, lagBytes: null, walStatus: null });
    expect(slotStatusFromRow('s', { active: false, active_pid: null, confirmed_flush_lsn: null, wal_status: 'lost', lag_bytes: null }).lagBytes).toBeNull();
  });
});

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

describe('formatting', () => {
  it('formats bytes and ages', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(64 * 1024 * 1024)).toBe('64.0 MiB');
    const now = new Date('2026-06-30T12:00:00Z');
    expect(formatAge('2026-06-30T11:59:18Z', now)).toBe('42 s');
    expect(formatAge('2026-06-30T11:55:00Z', now)).toBe('5 min');
    expect(formatAge('2026-06-30T08:48:00Z', now)).toBe('3.2 h');
    expect(formatAge('2026-06-28T12:00:00Z', now)).toBe('2.0 d');
  });

  it('prints the status for a terminal, with unreachable parts named', () => {
    const status: PipelineStatus = {
      checkedAt: '2026-06-30T12:00:00.000Z',
      kafka: {
        error: null,
        groups: [
          {
            groupId: 'bronze-writer',
            service: 'bronze-writer',
            topics: ['sport.public.activities'],
            partitions: [{ topic: 'sport.public.activities', partition: 0, committed: 90, high: 1290, low: 0, lag: 1200 }],
            totalLag: 1200,
            liveness: { groupId: 'bronze-writer', state: 'Empty', members: 0, live: false },
          },
        ],
        deadLetters: [{ topic: 'sport.public.activities.dlq', messages: 2 }],
      },
      replicationSlot: { slotName: 'sport_cdc_slot', error: 'connect ECONNREFUSED 127.0.0.1:5432' },
      batch: {
        runLogFile: 'x',
        lastRun: run(),
        lastSuccess: run(),
        runsByStatus: { success: 1, failed_quality: 0, failed: 0, interrupted: 0, skipped: 0 },
        quality: null,
        gold: { file: 'data/gold.duckdb', exists: false, modifiedAt: null, sizeBytes: null },
      },
    };
    expect(formatPipelineStatus(status)).toEqual([
      'Consumer groups (lag = messages not yet consumed)',
      '  bronze-writer            lag      1,200   no live member (Empty)',
      '    sport.public.activities[0]  committed 90  high 1290  lag 1,200',
      'Dead-letter topics',
      '  sport.public.activities.dlq              2 message(s)',
      'Replication slot',
      '  sport_cdc_slot: PostgreSQL unreachable: connect ECONNREFUSED 127.0.0.1:5432',
      'Batch',
      '  last refresh       r1 success (full), finished 2026-06-30T12:00:04.500Z (0 s ago), 4.5 s',
      '  last success       r1 success (full), finished 2026-06-30T12:00:04.500Z (0 s ago), 4.5 s',
      '  costs              bonus 12000.5 EUR, well-being 3000 EUR',
      '  quality            no report yet',
      '  gold               data/gold.duckdb (not built yet)',
    ]);
  });
});
