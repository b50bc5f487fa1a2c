import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { encodeQualityReport } from '../common/contracts/quality-report.ts';
import { encodeRunLogLine, type RunLogEntry } from '../common/contracts/run-log.ts';
import { runLogEntryFixture } from '../common/contracts/testing/fixtures.ts';
import { readBatchState, type BatchState, type QualityStatus } from '../common/status/batch-state.ts';
import type { AlertState, Condition } from '../common/contracts/alert-state.ts';
import { alertMessage, evaluateRules, formatDuration, stepAlerts, type Evaluation } from './alerts.ts';
import type { Snapshot } from './snapshot.ts';

const T = { lagThreshold: 1000, slotLagBytes: 1_000_000, forMs: 60_000 };

function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  const up = { up: true, latencyMs: 1, error: null };
  return {
    at: 0,
    dependencies: { postgres: up, kafka: up, lake: up },
    services: {
      cdc: { up: true, how: 'slot', detail: 'held' },
      'bronze-writer': { up: true, how: 'group', detail: '1 member' },
    },
    groups: [
      {
        groupId: 'bronze-writer',
        topics: ['sport.public.activities'],
        partitions: [{ topic: 'sport.public.activities', partition: 0, committed: 10, high: 10, low: 0, lag: 0 }],
        totalLag: 0,
        liveness: { groupId: 'bronze-writer', state: 'Stable', members: 1, live: true },
      },
    ],
    slot: { slotName: 'sport_cdc_slot', exists: true, active: true, activePid: 7, confirmedFlushLsn: '0/1', lagBytes: 100, walStatus: 'reserved' },
    deadLetters: [{ topic: 'sport.public.activities.dlq', messages: 0 }],
    topicMessages: [{ topic: 'sport.public.activities', messages: 10 }],
    cdc: null,
    batch: null,
    batchError: null,
    eventsPerSecond: null,
    ...over,
  };
}

function report(over: Partial<QualityStatus> = {}): QualityStatus {
  return { runId: 'r2', status: 'success', finishedAt: '2026-06-30T12:00:00Z', checks: 3, passed: 3, skipped: 0, failed: [], state: 'ok', results: [], params: {}, ...over };
}

function batch(over: Partial<BatchState> = {}): BatchState {
  return {
    runLogFile: 'x',
    lastRun: null,
    lastSuccess: null,
    runsByStatus: { success: 0, failed_quality: 0, failed: 0, interrupted: 0, skipped: 0 },
    quality: report(),
    gold: { file: 'g', exists: true, modifiedAt: null, sizeBytes: 1 },
    ...over,
  };
}

describe('alert rules', () => {
  it('finds nothing on a healthy pipeline', () => {
    expect(evaluateRules(snapshot({ batch: batch() }), T)).toEqual({ active: [], heldRules: [], heldKeys: [] });
  });

  it('names each condition with its labels and figures', () => {
    const s = snapshot({
      dependencies: { postgres: { up: false, latencyMs: null, error: 'connect ECONNREFUSED' }, kafka: { up: true, latencyMs: 1, error: null }, lake: { up: true, latencyMs: 1, error: null } },
      services: { 'slack-notifier': { up: false, how: 'group', detail: 'group slack-notifier has no live member (Empty)' }, cdc: { up: null, how: 'slot', detail: 'PostgreSQL unreachable' } },
      groups: [
        {
          groupId: 'slack-notifier',
          topics: ['a'],
          partitions: [
            { topic: 'a', partition: 0, committed: 0, high: 700, low: 0, lag: 700 },
            { topic: 'a', partition: 1, committed: 0, high: 1000, low: 0, lag: 1000 },
          ],
          totalLag: 1700,
          liveness: null,
        },
      ],
      slot: null,
      deadLetters: [
        { topic: 'sport.public.activities.dlq', messages: 3 },
        { topic: 'sport.public.employees.dlq', messages: 0 },
      ],
    });
    const e = evaluateRules(s, T);
    expect(e.active.map((c) => [c.key, c.severity, c.summary])).toEqual([
      ['dependency_down:postgres', 'critical', 'postgres is unreachable: connect ECONNREFUSED'],
      ['service_down:slack-notifier', 'critical', 'slack-notifier is down: group slack-notifier has no live member (Empty)'],
      ['consumer_lag:slack-notifier', 'warning', 'consumer group slack-notifier is 1,700 messages behind (threshold 1,000); most on a[1]: 1,000'],
      ['dlq_not_empty:sport.public.activities.dlq', 'warning', 'dead-letter topic sport.public.activities.dlq holds 3 message(s)'],
    ]);
    expect(e.heldKeys).toEqual(['service_down:cdc']);
    expect(e.heldRules).toEqual(['replication_slot_lag', 'quality_error', 'volume_anomaly', 'cost_drift', 'gold_stale']);
  });

  it('flags a slot retaining too much WAL, lag exactly at the threshold is fine', () => {
    const slot = { slotName: 's', exists: true, active: false, activePid: null, confirmedFlushLsn: '0/1', lagBytes: 2_000_000, walStatus: 'reserved' };
    expect(evaluateRules(snapshot({ slot }), T).active.map((c) => c.summary)).toEqual(['replication slot s retains 2,000,000 bytes of WAL (threshold 1,000,000), and no process holds it']);
    expect(evaluateRules(snapshot({ slot: { ...slot, lagBytes: 1_000_000 } }), T).active).toEqual([]);
    const atThreshold = snapshot();
    atThreshold.groups[0]!.totalLag = 1000;
    expect(evaluateRules(atThreshold, T).active).toEqual([]);
  });

  it('holds the lag alert of a group whose offsets could not be read', () => {
    const s = snapshot({ batch: batch() });
    s.groups[0] = { ...s.groups[0]!, lagUnknown: true, error: 'The coordinator is loading', totalLag: 0, partitions: [] };
    expect(evaluateRules(s, T)).toEqual({ active: [], heldRules: [], heldKeys: ['consumer_lag:bronze-writer'] });
  });

  it('holds lag and DLQ alerts while Kafka is unreachable', () => {
    const s = snapshot({ dependencies: { postgres: { up: true, latencyMs: 1, error: null }, kafka: { up: false, latencyMs: null, error: 'timeout' }, lake: { up: true, latencyMs: 1, error: null } }, groups: [], deadLetters: null });
    const e = evaluateRules(s, T);
    expect(e.active.map((c) => c.key)).toEqual(['dependency_down:kafka']);
    expect(e.heldRules).toEqual(['consumer_lag', 'dlq_not_empty', 'quality_error', 'volume_anomaly', 'cost_drift', 'gold_stale']);
  });

  it('reports a failed refresh, a failed error check, a volume anomaly and a cost drift from the batch', () => {
    const failedRun = { runId: 'r3', status: 'failed_quality' as const, error: 'error-level quality checks failed: bronze.files.rows_match_manifest' };
    const b = batch({
      lastRun: { ...failedRun, batch: 3, mode: 'incremental', startedAt: 'x', finishedAt: 'x', durationS: 1, rulesVersion: 'v', paramsHash: 'h', bronzeFiles: 1, bronzeEvents: 1, rowCounts: {}, quality: { checks: 1, passed: 0, skipped: 0, errors: [], warnings: [] }, bonusCostEur: null, wellbeingCostEur: null, reportFile: null, trigger: 'bronze', attempt: 1, completeThrough: null },
      quality: report({
        runId: 'r3',
        status: 'failed_quality',
        state: 'error',
        results: [
          { id: 'gold.daily_activity_volume', type: 'volume_anomaly', severity: 'warn', status: 'fail', observed: '2026-06-29: 90 activities; mean 10.0, stddev 2.0, z 40.00', failures: 1, description: 'd' },
          { id: 'gold.cost_drift', type: 'cost_drift', severity: 'warn', status: 'fail', observed: 'total 120.00 EUR vs 100.00 EUR in run r2: +20.0 %', failures: 1, description: 'd' },
        ],
      }),
    });
    expect(evaluateRules(snapshot({ batch: b }), T).active.map((c) => [c.key, c.summary])).toEqual([
      ['quality_error', 'quality error, gold not refreshed: refresh r3 ended failed_quality: error-level quality checks failed: bronze.files.rows_match_manifest'],
      ['volume_anomaly', 'abnormal activity volume (run r3): 2026-06-29: 90 activities; mean 10.0, stddev 2.0, z 40.00'],
      ['cost_drift', 'cost drift (run r3): total 120.00 EUR vs 100.00 EUR in run r2: +20.0 %'],
    ]);
    const skipped = batch({ quality: report({ results: [{ id: 'v', type: 'volume_anomaly', severity: 'warn', status: 'skipped', observed: null, failures: 0, description: 'd' }] }) });
    expect(evaluateRules(snapshot({ batch: skipped }), T).active).toEqual([]);
  });
});

describe('gold_stale', () => {
  const success = (completeThrough: string | null, finishedAt = '2026-06-30T12:00:00.000Z') => ({
    runId: 'r5', batch: 5, status: 'success' as const, mode: 'incremental' as const, startedAt: finishedAt, finishedAt, durationS: 1, rulesVersion: 'v', paramsHash: 'h',
    bronzeFiles: 1, bronzeEvents: 1, rowCounts: {}, quality: { checks: 1, passed: 1, skipped: 0, errors: [], warnings: [] }, bonusCostEur: 1, wellbeingCostEur: 1, reportFile: null, error: null,
    trigger: 'bronze' as const, attempt: 1, completeThrough,
  });
  const at = Date.parse('2026-06-30T12:20:00.000Z');
  const stale = { ...T, goldMaxAgeMs: 900_000 };

  it("fires when the last success's figures are complete through a time older than ALERT_GOLD_MAX_AGE_S, naming it", () => {
    const b = batch({ lastSuccess: success('2026-06-30T12:04:00.000Z'), lastRun: success('2026-06-30T12:04:00.000Z') });
    expect(evaluateRules(snapshot({ at, batch: b }), stale).active.map((c) => [c.key, c.severity, c.summary])).toEqual([
      ['gold_stale', 'warning', 'gold is stale: figures complete through 2026-06-30T12:04:00.000Z, 16 min ago (threshold 15 min); last refresh r5 success'],
    ]);
    // 14 minutes old: fine; the rule switched off (0): silent.
    expect(evaluateRules(snapshot({ at, batch: batch({ lastSuccess: success('2026-06-30T12:06:00.000Z') }) }), stale).active).toEqual([]);
    expect(evaluateRules(snapshot({ at, batch: b }), { ...T, goldMaxAgeMs: 0 }).active).toEqual([]);
  });

  it('without a watermark, judges by when the run finished; with no successful run yet, says nothing', () => {
    const b = batch({ lastSuccess: success(null, '2026-06-30T11:00:00.000Z') });
    expect(evaluateRules(snapshot({ at, batch: b }), stale).active.map((c) => c.summary)).toEqual(['gold is stale: built 2026-06-30T11:00:00.000Z (no completeness watermark), 1 h 20 min ago (threshold 15 min); last refresh -']);
    expect(evaluateRules(snapshot({ at, batch: batch() }), stale).active).toEqual([]);
  });
});

describe('an interrupted refresh (SIGTERM: rolled back on purpose, exit 0)', () => {
  it('raises no quality_error and is counted under runsByStatus.interrupted, read from the batch files', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'monitor-interrupted-'));
    const entry = (runId: string, status: RunLogEntry['status']): RunLogEntry =>
      runLogEntryFixture({
        runId,
        status,
        goldDb: path.join(dir, 'gold.duckdb'),
        reportFile: path.join(dir, 'reports', `${runId}.json`),
        error: status === 'interrupted' ? 'interrupted (SIGTERM): gold and silver left as they were' : null,
      });
    const ok = entry('r1', 'success');
    const stopped = entry('r2', 'interrupted');
    await writeFile(path.join(dir, 'run_log.jsonl'), encodeRunLogLine(ok) + encodeRunLogLine(stopped));
    await mkdir(path.join(dir, 'reports'));
    await writeFile(path.join(dir, 'reports', 'latest.json'), encodeQualityReport({ runId: 'r2', status: 'interrupted', finishedAt: stopped.finishedAt, summary: stopped.quality, results: [], runLog: stopped }));
    const config = loadConfig({ BATCH_STATE_DIR: dir, BATCH_GOLD_DB: path.join(dir, 'gold.duckdb') });

    const state = await readBatchState(config);
    expect(state.runsByStatus).toEqual({ success: 1, failed_quality: 0, failed: 0, interrupted: 1, skipped: 0 });
    expect(state.lastRun).toMatchObject({ runId: 'r2', status: 'interrupted' });
    expect(state.lastSuccess).toMatchObject({ runId: 'r1' });
    expect(state.quality).toMatchObject({ runId: 'r2', status: 'interrupted', state: 'ok' });
    expect(evaluateRules(snapshot({ batch: state }), T).active).toEqual([]);

    // The same file with a failed last run does raise it.
    await writeFile(path.join(dir, 'run_log.jsonl'), encodeRunLogLine(ok) + encodeRunLogLine({ ...stopped, status: 'failed', error: 'boom' }));
    const failed = await readBatchState(config);
    expect(evaluateRules(snapshot({ batch: failed }), T).active.map((c) => c.key)).toEqual(['quality_error']);
    await rm(dir, { recursive: true, force: true });
  });
});

const cond = (key: string, rule: Condition['rule'] = 'dlq_not_empty', summary = key): Condition => ({ key, rule, severity: 'warning', summary, labels: {} });
const ev = (active: Condition[], held: Partial<Evaluation> = {}): Evaluation => ({ active, heldRules: [], heldKeys: [], ...held });

describe('alert state machine', () => {
  it('fires once per incident and resolves once, with a new incident firing again', () => {
    let state: AlertState = {};
    const sent: string[] = [];
    const run = (e: Evaluation, now: number) => {
      const r = stepAlerts(state, e, now, 60_000);
      state = r.state;
      sent.push(...r.transitions.map((t) => `${t.kind} ${t.condition.key} @${t.at} since ${t.since}`));
    };
    run(ev([cond('dlq_not_empty:a', 'dlq_not_empty', '1 message')]), 1000);
    run(ev([cond('dlq_not_empty:a', 'dlq_not_empty', '2 messages')]), 2000);
    run(ev([cond('dlq_not_empty:a', 'dlq_not_empty', '5 messages')]), 3000);
    expect(state['dlq_not_empty:a']).toEqual({ condition: cond('dlq_not_empty:a', 'dlq_not_empty', '5 messages'), state: 'firing', since: 1000, firedAt: 1000 });
    run(ev([]), 4000);
    run(ev([]), 5000);
    run(ev([cond('dlq_not_empty:a')]), 6000);
    expect(sent).toEqual(['firing dlq_not_empty:a @1000 since 1000', 'resolved dlq_not_empty:a @4000 since 1000', 'firing dlq_not_empty:a @6000 since 6000']);
  });

  it('waits for the hold time before firing service_down, and forgets a blip silently', () => {
    const down = cond('service_down:cdc', 'service_down');
    let r = stepAlerts({}, ev([down]), 0, 60_000);
    expect(r.transitions).toEqual([]);
    expect(r.state['service_down:cdc']?.state).toBe('pending');
    r = stepAlerts(r.state, ev([]), 30_000, 60_000);
    expect(r).toEqual({ state: {}, transitions: [] });

    r = stepAlerts({}, ev([down]), 100_000, 60_000);
    r = stepAlerts(r.state, ev([down]), 159_999, 60_000);
    expect(r.transitions).toEqual([]);
    r = stepAlerts(r.state, ev([down]), 160_000, 60_000);
    expect(r.transitions).toEqual([{ kind: 'firing', condition: down, since: 100_000, at: 160_000 }]);
    r = stepAlerts(r.state, ev([down]), 175_000, 60_000);
    expect(r.transitions).toEqual([]);
    r = stepAlerts(r.state, ev([]), 190_000, 60_000);
    expect(r.transitions).toEqual([{ kind: 'resolved', condition: down, since: 100_000, at: 190_000 }]);
    expect(r.state).toEqual({});
  });

  it('fires at once with a zero hold time', () => {
    const r = stepAlerts({}, ev([cond('consumer_lag:g', 'consumer_lag')]), 5, 0);
    expect(r.transitions.map((t) => t.kind)).toEqual(['firing']);
  });

  it('neither resolves nor drops alerts whose rule or key could not be evaluated', () => {
    const firing = stepAlerts({}, ev([cond('dlq_not_empty:a'), cond('service_down:cdc', 'service_down')]), 0, 0).state;
    const r = stepAlerts(firing, ev([], { heldRules: ['dlq_not_empty'], heldKeys: ['service_down:cdc'] }), 10, 0);
    expect(r).toEqual({ state: firing, transitions: [] });
    const after = stepAlerts(r.state, ev([]), 20, 0);
    expect(after.transitions.map((t) => `${t.kind} ${t.condition.key}`)).toEqual(['resolved dlq_not_empty:a', 'resolved service_down:cdc']);
  });

  it('survives a JSON round trip (the state is persisted across restarts)', () => {
    const state = stepAlerts({}, ev([cond('dlq_not_empty:a')]), 0, 0).state;
    const restored = JSON.parse(JSON.stringify(state)) as AlertState;
    expect(stepAlerts(restored, ev([cond('dlq_not_empty:a')]), 100, 0).transitions).toEqual([]);
  });
});

describe('alert messages', () => {
  it('are Slack-compatible, with the rule, labels and incident times', () => {
    const c: Condition = { key: 'consumer_lag:g', rule: 'consumer_lag', severity: 'warning', summary: 'consumer group g is 5 messages behind (threshold 3)', labels: { group: 'g' } };
    const since = Date.parse('2026-06-30T12:00:00Z');
    expect(alertMessage({ kind: 'firing', condition: c, since, at: since }, 'sport-lakehouse')).toEqual({
      text: ':warning: FIRING [warning] consumer_lag (group=g): consumer group g is 5 messages behind (threshold 3)',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: ':warning: FIRING [warning] consumer_lag (group=g): consumer group g is 5 messages behind (threshold 3)' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'sport-lakehouse monitor · incident started 2026-06-30T12:00:00.000Z' }] },
      ],
    });
    expect(alertMessage({ kind: 'resolved', condition: { ...c, severity: 'critical' }, since, at: since + 185_000 }, 'x').text).toBe(
      ':white_check_mark: RESOLVED consumer_lag (group=g) after 3 min: was "consumer group g is 5 messages behind (threshold 3)"',
    );
    expect(alertMessage({ kind: 'firing', condition: { ...c, severity: 'critical', labels: {} }, since, at: since }, 'x').text).toMatch(/^:red_circle: FIRING \[critical\] consumer_lag: /);
  });

  it('formats durations', () => {
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(12 * 60_000)).toBe('12 min');
    expect(formatDuration(3 * 3_600_000 + 5 * 60_000)).toBe('3 h 05 min');
  });
});
