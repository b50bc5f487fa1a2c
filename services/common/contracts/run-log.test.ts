import { describe, expect, it } from 'vitest';
import { ContractError } from './contract-error.ts';
import { encodeRunLogLine, parseRunLogLine, RUN_STATUSES, type RunLogEntry } from './run-log.ts';
import { runLogEntryFixture } from './testing/fixtures.ts';

const entry: RunLogEntry = runLogEntryFixture({
  status: 'interrupted',
  mode: 'incremental',
  params: { bonus: { rate: 0.05 } },
  bronzeInputs: [{ topic: 't', partition: 0, firstOffset: 0, lastOffset: 9, events: 10, files: ['k'] }],
  rowCounts: { 'silver.activities': 10 },
  error: 'interrupted by SIGTERM',
});

describe('run_log record contract', () => {
  it('writes one JSON line with ISO times and reads it back unchanged, for every status', () => {
    for (const status of RUN_STATUSES) {
      const line = encodeRunLogLine({ ...entry, status });
      expect(line.endsWith('}\n')).toBe(true);
      expect(JSON.parse(line)).toMatchObject({ status, startedAt: '2026-06-30T12:00:00.000Z', finishedAt: '2026-06-30T12:00:04.500Z', params: { bonus: { rate: 0.05 } } });
      expect(parseRunLogLine(line)).toEqual({ ...entry, status });
    }
  });

  it('rejects an unknown status, a missing field or a wrong type instead of casting', () => {
    const json = JSON.parse(encodeRunLogLine(entry)) as Record<string, unknown>;
    const problems = (value: unknown) => {
      try {
        parseRunLogLine(JSON.stringify(value));
      } catch (err) {
        return (err as ContractError).issues;
      }
      return [];
    };
    expect(problems({ ...json, status: 'paused' })).toEqual(['status: Invalid option: expected one of "success"|"failed_quality"|"failed"|"interrupted"|"skipped"']);
    expect(problems({ ...json, finishedAt: undefined })).toEqual(['finishedAt: Invalid input: expected string, received undefined']);
    expect(problems({ ...json, batch: '3' })).toEqual(['batch: Invalid input: expected number, received string']);
    expect(() => parseRunLogLine('{')).toThrow(ContractError);
  });

  it('refuses to write what it could not read back', () => {
    expect(() => encodeRunLogLine({ ...entry, status: 'paused' as RunLogEntry['status'] })).toThrow('status: Invalid option');
  });
});
