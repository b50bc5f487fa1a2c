import { describe, expect, it } from 'vitest';
import {
  chunkQuery, classifyRows, estimateQuery, fullXid, keysQuery, maxKeyQuery, parsePgSnapshot, planRows, predicateProblem, rowHold, xidsToAsk,
} from './incremental-snapshot-query.ts';

const table = { schema: 'public', table: 'activities', relkind: 'r', primaryKey: ['activity_id'], columns: [{ name: 'activity_id', typeOid: 20, typeMod: -1 }, { name: 'note', typeOid: 25, typeMod: -1 }] };
const composite = { schema: 'sales', table: 'order_lines', relkind: 'p', primaryKey: ['order_id', 'line'], columns: [{ name: 'order_id', typeOid: 23, typeMod: -1 }, { name: 'line', typeOid: 23, typeMod: -1 }] };

describe('--where predicate checks', () => {
  it('accepts one expression, with quotes, parentheses and dollar quotes', () => {
    for (const ok of ["started_at >= '2024-06-01'", "note = 'it''s; -- fine'", '"odd;name" = 1', '(a = 1 OR b IN (1, 2)) AND c IS NOT NULL', "x = $$a;b$$", "x = $t$--$t$", "x = E'\\';'"]) {
      expect(predicateProblem(ok), ok).toBeNull();
    }
  });

  it('refuses what could end or extend the statement', () => {
    expect(predicateProblem('true; DELETE FROM t')).toMatch(/";" would end the statement/);
    expect(predicateProblem('true -- hidden')).toMatch(/comments/);
    expect(predicateProblem('true /* x */')).toMatch(/comments/);
    expect(predicateProblem('id) OR (true')).toMatch(/unbalanced parentheses: a "\)"/);
    expect(predicateProblem('(id = 1')).toMatch(/"\(" is not closed/);
    expect(predicateProblem("note = 'open")).toMatch(/unterminated string literal/);
    expect(predicateProblem('x = $$open')).toMatch(/unterminated dollar-quoted/);
    expect(predicateProblem('  ')).toMatch(/empty/);
    expect(predicateProblem('x'.repeat(4001))).toMatch(/longer than 4000/);
  });
});

describe('chunk SQL (identifiers quoted, values bound)', () => {
  it('reads a range of keys in key order, with xmax, through ONLY for a plain table', () => {
    expect(chunkQuery(table, { after: ['10'], max: ['99'], where: null, limit: 500 })).toEqual({
      text: 'SELECT "activity_id", "note", xmax::text FROM ONLY "public"."activities" WHERE ("activity_id") > ($1) AND ("activity_id") <= ($2) ORDER BY "activity_id" LIMIT 500',
      values: ['10', '99'],
    });
    expect(chunkQuery(composite, { after: null, max: ['7', '3'], where: 'line > 1', limit: 10 })).toEqual({
      text: 'SELECT "order_id", "line", xmax::text FROM "sales"."order_lines" WHERE ("order_id", "line") <= ($1, $2) AND (line > 1) ORDER BY "order_id", "line" LIMIT 10',
      values: ['7', '3'],
    });
  });

  it('reads deferred keys again, the greatest key and the estimate', () => {
    expect(keysQuery(composite, [['1', '2'], ['3', '4']], null)).toEqual({
      text: 'SELECT "order_id", "line", xmax::text FROM "sales"."order_lines" WHERE ("order_id", "line") IN (($1, $2), ($3, $4)) ORDER BY "order_id", "line"',
      values: ['1', '2', '3', '4'],
    });
    expect(maxKeyQuery(composite, null)).toBe('SELECT "order_id", "line" FROM "sales"."order_lines" WHERE true ORDER BY "order_id" DESC, "line" DESC LIMIT 1');
    expect(estimateQuery(table, 'note IS NULL')).toBe('EXPLAIN (FORMAT JSON) SELECT 1 FROM ONLY "public"."activities" WHERE true AND (note IS NULL)');
    expect(planRows([{ Plan: { 'Plan Rows': 1234 } }])).toBe(1234);
    expect(planRows(null)).toBeNull();
  });
});

describe('rows held by unfinished transactions', () => {
  const snapshot = parsePgSnapshot('4294967290:4294967300:4294967295,4294967298');

  it('parses pg_current_snapshot() and widens 32-bit ids around the snapshot (wraparound included)', () => {
    expect(snapshot).toEqual({ xmin: 4294967290n, xmax: 4294967300n, xip: new Set([4294967295n, 4294967298n]) });
    expect(fullXid(2, 4294967300n)).toBe(4294967298n); // 2^32 + 2: the epoch rolled over
    expect(fullXid(4294967295, 4294967300n)).toBe(4294967295n);
    expect(fullXid(100, 5000n)).toBe(100n);
    expect(() => parsePgSnapshot('nope')).toThrow('not a pg_snapshot');
  });

  it('free without xmax or below xmin; held when running at the snapshot or after it; asked in between', () => {
    expect(rowHold(0, snapshot)).toBe('free');
    expect(rowHold(4294967280, snapshot)).toBe('free');
    expect(rowHold(4294967295, snapshot)).toBe('held');
    expect(rowHold(2, snapshot)).toBe('held'); // 2^32 + 2, in the xip list
    expect(rowHold(5, snapshot)).toBe('held'); // 2^32 + 5 >= xmax: began after the snapshot
    expect(rowHold(4294967292, snapshot)).toBe('ask');
    const rows = [{ x: 0 }, { x: 4294967295 }, { x: 4294967292 }, { x: 4294967293 }];
    expect(xidsToAsk(rows, (r) => r.x, snapshot)).toEqual([4294967292n, 4294967293n]);
    expect(classifyRows(rows, (r) => r.x, snapshot, new Set([4294967293n]))).toEqual({ rows: [{ x: 0 }, { x: 4294967292 }], held: [{ x: 4294967295 }, { x: 4294967293 }] });
  });
});
