import { describe, expect, it } from 'vitest';
import { encodeSnapshotState, parseSnapshotState, snapshotPercent, snapshotStateTopic, stateKey, type TableSnapshotState } from './snapshot-state.ts';

const table: TableSnapshotState = {
  format: 1, kind: 'table', slot: 'sport_cdc_slot', table: 'public.activities', id: 'r1', trigger: 'signal', status: 'running', reason: null,
  where: null, chunkRows: 4096, requestedAt: '2026-12-05T03:00:00.000Z', requestedBy: 'lakehouse-cli@host', startedAt: '2026-12-05T03:00:01.000Z',
  updatedAt: '2026-12-05T03:00:02.000Z', finishedAt: null, primaryKey: ['activity_id'], maxKey: ['90000'], lastKey: ['4096'], scanDone: false,
  deferredKeys: [['17']], chunks: 1, rows: 4095, supersededRows: 0, estimatedRows: 9000,
};

describe('incremental snapshot state contract', () => {
  it('reads back what it writes; keys per kind; the topic is internal', () => {
    expect(parseSnapshotState(encodeSnapshotState(table))).toEqual(table);
    const refusal = { format: 1 as const, kind: 'refusal' as const, slot: 's', id: 'r2', table: 'public.t', reason: 'no primary key', at: '2026-12-05T03:00:00.000Z' };
    expect(parseSnapshotState(encodeSnapshotState(refusal))).toEqual(refusal);
    expect([stateKey(table), stateKey(refusal), stateKey({ format: 1, kind: 'captured', slot: 's', tables: [], at: refusal.at })]).toEqual(['table:public.activities', 'refusal:r2', 'captured']);
    expect(snapshotStateTopic('sport', 'sport_cdc_slot')).toBe('__cdc_snapshots.sport.sport_cdc_slot');
  });

  it('refuses an unknown status or a missing field', () => {
    expect(() => parseSnapshotState(JSON.stringify({ ...table, status: 'paused' }))).toThrow('incremental snapshot state: status: Invalid option');
    const { rows: _rows, ...withoutRows } = table;
    expect(() => parseSnapshotState(JSON.stringify(withoutRows))).toThrow('rows');
  });

  it('percent of the estimate, 100 only when done', () => {
    expect(snapshotPercent(table)).toBe(45);
    expect(snapshotPercent({ ...table, rows: 9999 })).toBe(99);
    expect(snapshotPercent({ ...table, status: 'done' })).toBe(100);
    expect(snapshotPercent({ ...table, estimatedRows: null })).toBeNull();
  });
});
