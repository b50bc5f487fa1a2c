import { describe, expect, it } from 'vitest';
import type { RunLogEntry } from '../common/contracts/run-log.ts';
import { bronzeInputRanges, insertRunLogSql } from './run-log.ts';

describe('run_log', () => {
  it('groups the files read into offset ranges per topic-partition', () => {
    const f = (topic: string, partition: number, first: number, last: number, rows: number) => ({ key: `${topic}/p${partition}-${first}`, topic, partition, firstOffset: first, lastOffset: last, rows });
    expect(bronzeInputRanges([f('t.a', 1, 100, 199, 90), f('t.a', 0, 0, 49, 50), f('t.a', 1, 0, 99, 100), f('s.b', 0, 7, 7, 1)])).toEqual([
      { topic: 's.b', partition: 0, firstOffset: 7, lastOffset: 7, events: 1, files: ['s.b/p0-7'] },
      { topic: 't.a', partition: 0, firstOffset: 0, lastOffset: 49, events: 50, files: ['t.a/p0-0'] },
      { topic: 't.a', partition: 1, firstOffset: 0, lastOffset: 199, events: 190, files: ['t.a/p1-0', 't.a/p1-100'] },
    ]);
  });

  it('writes one row with the parameters, inputs, counts and quality outcome', () => {
    const entry: RunLogEntry = {
      runId: 'r1', batch: 3, status: 'failed_quality', mode: 'full',
      startedAt: new Date('2026-01-01T00:00:00Z'), finishedAt: new Date('2026-01-01T00:00:02.5Z'), asOf: new Date('2026-01-01T00:00:00Z'),
      rulesFile: '/x/rules.json', rulesVersion: "v'1", paramsHash: 'abc', params: { a: 1 },
      bronzeInputs: [{ topic: 't', partition: 0, firstOffset: 0, lastOffset: 9, events: 10, files: ['k'] }],
      rowCounts: { 'silver.activities': 10 }, quality: { checks: 2, passed: 1, skipped: 0, errors: ['e'], warnings: [] },
      bonusCostEur: null, wellbeingCostEur: null, goldDb: '/x/gold.duckdb', reportFile: null, error: 'boom',
      trigger: 'bronze', attempt: 2, retryOf: 'r0', completeThrough: { at: new Date('2025-12-31T23:59:58Z'), lsn: '0/1A2B3C', partitions: 4 }, published: null,
    };
    const sql = insertRunLogSql('meta.run_log', entry).replace(/\s+/g, ' ');
    expect(sql).toContain(`VALUES ('r1', 3, 'failed_quality', 'full', TIMESTAMPTZ '2026-01-01T00:00:00.000Z', TIMESTAMPTZ '2026-01-01T00:00:02.500Z', 2.5,`);
    expect(sql).toContain(`'v''1', 'abc', '{"a":1}', 1, 10,`);
    expect(sql).toContain(`2, 1, 0, '{"checks":2,"passed":1,"skipped":0,"errors":["e"],"warnings":[]}', NULL, NULL, '/x/gold.duckdb', NULL, 'boom',`);
    expect(sql).toContain(`'bronze', 2, 'r0', TIMESTAMPTZ '2025-12-31T23:59:58.000Z', '{"at":"2025-12-31T23:59:58.000Z","lsn":"0/1A2B3C","partitions":4}', NULL)`);
  });
});
