import { describe, expect, it } from 'vitest';
import type { MapperWarning, OutgoingEvent } from './change-mapper.ts';
import { countByTopicOp, WarningThrottle } from './event-dispatcher.ts';
import { progressPercent, snapshotQuery, SnapshotRowMarker } from './snapshot-source.ts';

const ev = (topic: string, op: OutgoingEvent['op']): OutgoingEvent => ({ topic, op, key: null, value: null, lsn: 0n });

describe('event dispatch helpers', () => {
  it('counts acknowledged events by topic and op', () => {
    const counts = countByTopicOp([ev('a', 'c'), ev('a', 'c'), ev('b', 'd'), ev('b', 'tombstone'), ev('a', 'c')]);
    expect(Object.fromEntries(counts)).toEqual({ 'a|c': 3, 'b|d': 1, 'b|tombstone': 1 });
    expect(countByTopicOp([]).size).toBe(0);
  });

  it('logs a warning at its first occurrence and every 1000th, per kind, table and column', () => {
    const t = new WarningThrottle();
    const w: MapperWarning = { kind: 'unknown_type', schema: 'public', table: 't', column: 'c', reason: 'x' };
    const logged: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const r = t.record(w);
      if (r.log) logged.push(r.occurrences);
    }
    expect(logged).toEqual([1, 1000, 2000]);
    expect(t.record({ ...w, column: 'd' })).toEqual({ occurrences: 1, log: true });
  });
});

describe('snapshot helpers', () => {
  it('marks rows as Debezium does: first, first/last of each table, "last" only on the very last row', () => {
    const out: string[] = [];
    const m = new SnapshotRowMarker<string>((row, flag) => out.push(`${row}:${flag}`));
    m.finish(); // no row at all: nothing
    const table = (first: boolean, rows: string[]) => {
      m.beginTable(first);
      for (const r of rows) m.push(r);
      m.endTable();
    };
    table(true, ['a', 'b', 'c']);
    table(false, []);
    table(false, ['d']);
    table(false, ['e', 'f', 'g']);
    m.finish();
    expect(out).toEqual(['a:first', 'b:true', 'c:last_in_data_collection', 'd:last_in_data_collection', 'e:first_in_data_collection', 'f:true', 'g:last']);
  });

  it('reads published columns with quoted identifiers; ONLY for plain tables', () => {
    const columns = [{ name: 'id', typeOid: 23, typeMod: -1 }, { name: 'we"ird', typeOid: 25, typeMod: -1 }];
    expect(snapshotQuery({ schema: 'public', table: 'my table', relkind: 'r', columns }, 'c1')).toBe('DECLARE c1 NO SCROLL CURSOR FOR SELECT "id", "we""ird" FROM ONLY "public"."my table"');
    expect(snapshotQuery({ schema: 's', table: 'p', relkind: 'p', columns }, 'c1')).toBe('DECLARE c1 NO SCROLL CURSOR FOR SELECT "id", "we""ird" FROM "s"."p"');
  });

  it('progress percent is capped at 100 and null without an estimate', () => {
    expect([progressPercent(50, 200), progressPercent(300, 200), progressPercent(5, 0)]).toEqual([25, 100, null]);
  });
});
