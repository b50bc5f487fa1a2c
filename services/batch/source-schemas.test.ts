import { describe, expect, it } from 'vitest';
import { decodingFor, inferColumns, jsonStructure, knownTable, parseTopic, silverName } from './source-schemas.ts';
import { renderDebezium } from './testing/bronze-fixture.ts';

describe('decodingFor (Debezium JSON rendering -> DuckDB type)', () => {
  it.each([
    ['integer', 'BIGINT', 'INTEGER', 'TRY_CAST(v AS INTEGER)'],
    ['smallint', 'BIGINT', 'SMALLINT', 'TRY_CAST(v AS SMALLINT)'],
    ['bigint', 'BIGINT', 'BIGINT', 'v'],
    ['double precision', 'DOUBLE', 'DOUBLE', 'v'],
    ['numeric(12,2)', 'VARCHAR', 'DECIMAL(12,2)', 'TRY_CAST(v AS DECIMAL(12,2))'],
    ['numeric', 'VARCHAR', 'DOUBLE', 'TRY_CAST(v AS DOUBLE)'],
    ['text', 'VARCHAR', 'VARCHAR', 'v'],
    ['varchar(20)', 'VARCHAR', 'VARCHAR', 'v'],
    ['boolean', 'BOOLEAN', 'BOOLEAN', 'v'],
    ['date', 'BIGINT', 'DATE', "CAST(DATE '1970-01-01' + TRY_CAST(v AS INTEGER) AS DATE)"],
    ['timestamp', 'BIGINT', 'TIMESTAMP', 'make_timestamp(v)'],
    ['timestamptz', 'VARCHAR', 'TIMESTAMPTZ', 'TRY_CAST(v AS TIMESTAMPTZ)'],
    ['jsonb', 'VARCHAR', 'JSON', 'TRY_CAST(v AS JSON)'],
    ['bytea', 'VARCHAR', 'BLOB', 'TRY(from_base64(v))'],
    ['uuid', 'VARCHAR', 'UUID', 'TRY_CAST(v AS UUID)'],
    ['integer[]', 'JSON', 'JSON', 'v'],
    ['inferred:timestamptz', 'VARCHAR', 'TIMESTAMPTZ', 'TRY_CAST(v AS TIMESTAMPTZ)'],
    ['tsvector', 'JSON', 'JSON', 'v'],
  ])('%s is read as %s and typed %s', (pgType, jsonType, duckType, expr) => {
    const d = decodingFor(pgType);
    expect([d.jsonType, d.duckType, d.expr('v')]).toEqual([jsonType, duckType, expr]);
  });

  it('builds the from_json structure of a table as an SQL literal', () => {
    expect(jsonStructure(knownTable('public', 'declared_sports')!.columns)).toBe(`'{"employee_id":"BIGINT","sport":"VARCHAR","declared_at":"VARCHAR"}'`);
  });
});

describe('renderDebezium (fixture side of the contract)', () => {
  it('renders values as docs/contracts/change-events.md shows', () => {
    expect(renderDebezium('numeric(12,2)', 42000)).toBe('42000.00');
    expect(renderDebezium('date', '2024-01-01')).toBe(19723);
    expect(renderDebezium('timestamp', new Date('2024-01-01T00:00:00Z'))).toBe(1704067200000000);
    expect(renderDebezium('timestamptz', new Date('2024-01-01T08:30:00Z'))).toBe('2024-01-01T08:30:00.000000Z');
    expect(renderDebezium('integer', null)).toBeNull();
  });
});

describe('topics and names', () => {
  it('splits <prefix>.<schema>.<table>, prefixes with dots included', () => {
    expect(parseTopic('sport.public.activities')).toEqual({ prefix: 'sport', schema: 'public', table: 'activities' });
    expect(parseTopic('acme.prod.hr.employees')).toEqual({ prefix: 'acme.prod', schema: 'hr', table: 'employees' });
    expect(parseTopic('sport.public.activities.dlq')).toBeUndefined();
    expect(parseTopic('activities')).toBeUndefined();
  });

  it('names silver tables after the source table, with the schema outside public', () => {
    expect(silverName('public', 'activities')).toBe('activities');
    expect(silverName('hr', 'Employees-2')).toBe('hr__employees_2');
  });
});

describe('inferColumns (unregistered tables)', () => {
  it('types each column by the widest kind of value seen', () => {
    const cols = inferColumns([
      { id: 1, ratio: 1, name: 'a', at: '2024-01-01T08:30:00.000000Z', flag: true, tags: [1], mixed: 'x', empty: null },
      { id: 2, ratio: 2.5, name: 'b', at: '2024-01-02T08:30:00Z', flag: false, tags: [2], mixed: 3 },
    ]);
    expect(cols.map((c) => [c.name, c.pgType])).toEqual([
      ['id', 'inferred:bigint'],
      ['ratio', 'inferred:double'],
      ['name', 'inferred:varchar'],
      ['at', 'inferred:timestamptz'],
      ['flag', 'inferred:boolean'],
      ['tags', 'inferred:json'],
      ['mixed', 'inferred:json'],
      ['empty', 'inferred:varchar'],
    ]);
  });

  it('keeps the types chosen by earlier runs and appends new columns', () => {
    const known = [{ name: 'id', pgType: 'inferred:bigint', nullable: true }];
    expect(inferColumns([{ id: 'now a string', extra: 1.5 }], known).map((c) => [c.name, c.pgType])).toEqual([
      ['id', 'inferred:bigint'],
      ['extra', 'inferred:double'],
    ]);
  });
});
