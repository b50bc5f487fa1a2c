import { describe, expect, it } from 'vitest';
import rulesFile from '../../products/sport-rewards/rules.json' with { type: 'json' };
import { parseRules } from '../batch/rules.ts';
import { decideActivityMessage } from './decide.ts';

const { rules } = parseRules(JSON.stringify(rulesFile));

const row = { activity_id: 42, employee_id: 7, sport_type: 'Runing', started_at: '2024-05-02T07:00:00.000000Z', ended_at: '2024-05-02T07:46:00.000000Z', elapsed_seconds: 2760, distance_m: 10800, comment: 'Belle sortie !', source: 'simulator' };
const envelope = (op: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    before: op === 'c' || op === 'r' ? null : row,
    after: op === 'd' ? null : row,
    source: { version: '0.1.0', connector: 'postgresql', name: 'sport', ts_ms: 1_714_633_560_000, snapshot: op === 'r' ? 'true' : 'false', db: 'sport', schema: 'public', table: 'activities', txId: 900, lsn: 123456, xmin: null },
    op,
    ts_ms: 1_714_633_560_120,
    ...extra,
  });

describe('decideActivityMessage', () => {
  it('announces an insert', () => {
    expect(decideActivityMessage(Buffer.from(envelope('c')))).toEqual({
      kind: 'announce',
      activity: { activity_id: 42, employee_id: 7, sport_type: 'Runing', elapsed_seconds: 2760, distance_m: 10800, comment: 'Belle sortie !' },
      committedAtMs: 1_714_633_560_000,
      lsn: 123456,
    });
  });
  it('skips snapshot reads, updates, deletes, truncates and tombstones', () => {
    expect(decideActivityMessage(envelope('r'))).toEqual({ kind: 'skip', reason: 'snapshot' });
    expect(decideActivityMessage(envelope('u'))).toEqual({ kind: 'skip', reason: 'update' });
    expect(decideActivityMessage(envelope('d'))).toEqual({ kind: 'skip', reason: 'delete' });
    expect(decideActivityMessage(JSON.stringify({ before: null, after: null, source: { ts_ms: 1 }, op: 't', ts_ms: 1 }))).toEqual({ kind: 'skip', reason: 'truncate' });
    expect(decideActivityMessage(null)).toEqual({ kind: 'skip', reason: 'tombstone' });
  });
  it('skips an insert of an activity that ended long before the commit (an import), within the limit announces', () => {
    // The row ended at 2024-05-02T07:46:00Z; move its commit time around the 24 h limit.
    const committed = (iso: string) => {
      const e = JSON.parse(envelope('c'));
      e.source.ts_ms = Date.parse(iso);
      return JSON.stringify(e);
    };
    const day = 24 * 3_600_000;
    expect(decideActivityMessage(committed('2024-05-03T07:46:00Z'), { maxActivityAgeMs: day })).toMatchObject({ kind: 'announce' });
    expect(decideActivityMessage(committed('2024-05-03T07:46:01Z'), { maxActivityAgeMs: day })).toEqual({ kind: 'skip', reason: 'imported_past_activity' });
    expect(decideActivityMessage(committed('2025-05-03T07:46:01Z'), { maxActivityAgeMs: 0 })).toMatchObject({ kind: 'announce' });
    expect(decideActivityMessage(committed('2025-05-03T07:46:01Z'))).toMatchObject({ kind: 'announce' });
  });
  it('dead-letters undecodable messages and rows missing what the message needs', () => {
    expect(decideActivityMessage('{nope')).toMatchObject({ kind: 'dead-letter', reason: 'invalid_json' });
    expect(decideActivityMessage('{"op":"x"}')).toMatchObject({ kind: 'dead-letter', reason: 'invalid_envelope' });
    const bad = JSON.parse(envelope('c'));
    bad.after.elapsed_seconds = -1;
    delete bad.after.sport_type;
    expect(decideActivityMessage(JSON.stringify(bad))).toEqual({
      kind: 'dead-letter',
      reason: 'invalid_activity',
      detail: expect.stringMatching(/sport_type: .*; elapsed_seconds: /),
    });
  });

  it('never announces an activity the batch quarantines: skipped with the rules it breaks (issue 14)', () => {
    // Commit at 2024-05-02T08:00Z; each row as the CDC renders it.
    const insert = (after: Record<string, unknown>) => {
      const e = JSON.parse(envelope('c'));
      e.after = { ...row, ...after };
      e.source.ts_ms = Date.parse('2024-05-02T08:00:00Z');
      return JSON.stringify(e);
    };
    const codes = (after: Record<string, unknown>) => {
      const d = decideActivityMessage(insert(after), { rules });
      return d.kind === 'skip' && d.reason === 'invalid_activity' ? d.broken.map((b) => b.code) : d.kind;
    };
    expect(codes({})).toBe('announce');
    // "50 km de course à pied en 30 min", "5 km à vélo en 0 s"
    expect(codes({ started_at: '2024-05-02T07:16:00Z', elapsed_seconds: 1800, distance_m: 50_000 })).toEqual(['impossible_speed']);
    expect(codes({ sport_type: 'Vélo', started_at: '2024-05-02T07:46:00Z', elapsed_seconds: 0, distance_m: 5_000 })).toEqual(['impossible_speed']);
    // a 27,777-hour activity; a future date
    expect(codes({ started_at: new Date(Date.parse('2024-05-02T07:46:00Z') - 27_777 * 3_600_000).toISOString(), elapsed_seconds: 27_777 * 3600 })).toEqual(['implausible_duration']);
    expect(codes({ started_at: '2024-05-03T07:00:00Z', ended_at: '2024-05-03T07:46:00Z' })).toEqual(['future_date']);
    // the 1900-dated activity, an empty sport, an elapsed time inconsistent with start and end
    expect(codes({ started_at: '1900-05-02T07:00:00Z', ended_at: '1900-05-02T07:46:00Z' })).toEqual(['too_old']);
    expect(codes({ sport_type: '' })).toEqual(['empty_sport']);
    expect(codes({ elapsed_seconds: 5000 })).toEqual(['inconsistent_elapsed']);
    expect(decideActivityMessage(insert({ distance_m: -10 }), { rules })).toEqual({
      kind: 'skip',
      reason: 'invalid_activity',
      broken: [{ code: 'negative_distance', reason: 'distance -10 m is negative' }],
    });
  });
});
