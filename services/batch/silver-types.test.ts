import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/config.ts';
import { decimalFor, parseTypeName, silverColumnType, TYPE_MAPPING_ROWS, typeMappingMarkdown } from './silver-types.ts';
import type { SchemaColumn } from './table-schema.ts';

const col = (pgType: string, extra: Partial<SchemaColumn> = {}): SchemaColumn => ({
  name: 'c', position: 1, attnum: 1, typeOid: 0, typeMod: -1, pgType, nullable: true, keyPosition: null, identity: true, category: 'base',
  baseType: null, baseTypeOid: null, baseCategory: null, enumLabels: null, arrayDimensions: null, ...extra,
});
const iso = { decimal: 'string', time: 'adaptive', interval: 'iso8601', binary: 'base64', unavailableValue: '__debezium_unavailable_value' } as const;

let instance: DuckDBInstance;
beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
});
afterAll(() => instance?.closeSync());

/** Decodes one rendered member (JSON text of the member value) with the mapping of `column`. */
async function decode(column: SchemaColumn, member: string, rendering: typeof iso | { [k in keyof typeof iso]: string } = iso): Promise<unknown> {
  const t = silverColumnType(column, rendering as typeof iso);
  const conn = await instance.connect();
  try {
    const structure = JSON.stringify({ v: t.jsonType });
    const sql = `SELECT CAST(v AS VARCHAR) AS v, typeof(v) AS t FROM (SELECT ${t.expr('r.v')} AS v FROM (SELECT from_json('{"v":${member.replaceAll("'", "''")}}', '${structure}') AS r))`;
    const row = (await conn.runAndReadAll(sql)).getRowObjectsJson()[0] as { v: unknown; t: string };
    return { value: row.v, type: row.t };
  } finally {
    conn.closeSync();
  }
}

describe('silver column types from the schema document', () => {
  it('maps each PostgreSQL type to its DuckDB type, never from values', () => {
    const t = (pgType: string, extra: Partial<SchemaColumn> = {}) => silverColumnType(col(pgType, extra), iso).duckType;
    expect(t('smallint')).toBe('SMALLINT');
    expect(t('integer')).toBe('INTEGER');
    expect(t('bigint')).toBe('BIGINT');
    expect(t('real')).toBe('FLOAT');
    expect(t('double precision')).toBe('DOUBLE');
    expect(t('numeric(12,2)')).toBe('DECIMAL(12,2)');
    expect(t('numeric(30,8)')).toBe('DECIMAL(30,8)');
    expect(t('numeric(45,5)')).toBe('VARCHAR');
    expect(t('numeric')).toBe('VARCHAR');
    expect(t('date')).toBe('DATE');
    expect(t('timestamp without time zone')).toBe('TIMESTAMP');
    expect(t('timestamp(3) without time zone')).toBe('TIMESTAMP');
    expect(t('timestamp with time zone')).toBe('TIMESTAMPTZ');
    expect(t('time without time zone')).toBe('TIME');
    expect(t('time with time zone')).toBe('TIMETZ');
    expect(t('interval')).toBe('INTERVAL');
    expect(t('uuid')).toBe('UUID');
    expect(t('bytea')).toBe('BLOB');
    expect(t('json')).toBe('JSON');
    expect(t('jsonb')).toBe('JSON');
    expect(t('integer[]', { category: 'array', baseType: 'integer' })).toBe('INTEGER[]');
    expect(t('integer[]', { category: 'array', baseType: 'integer', arrayDimensions: 2 })).toBe('INTEGER[][]');
    expect(t('shop.mood[]', { category: 'array', baseType: 'shop.mood', enumLabels: ['sad', 'ok'] })).toBe('VARCHAR[]');
    expect(t('shop.mood', { category: 'enum', enumLabels: ['sad', 'ok'] })).toBe('VARCHAR');
    expect(t('shop.positive_int', { category: 'domain', baseType: 'integer' })).toBe('INTEGER');
    expect(t('shop.amounts', { category: 'domain', baseType: 'numeric(6,2)[]' })).toBe('DECIMAL(6,2)[]');
    for (const other of ['money', 'point', 'tsvector', 'int4range', 'inet', 'xml', 'public.hstore']) expect(t(other)).toBe('VARCHAR');
  });

  it('widens numeric scales outside 0..p to the DECIMAL that holds every value', () => {
    expect(decimalFor(5, -2)).toBe('DECIMAL(7,0)');
    expect(decimalFor(3, 5)).toBe('DECIMAL(5,5)');
    expect(decimalFor(38, 0)).toBe('DECIMAL(38,0)');
    expect(decimalFor(39, 2)).toBeUndefined();
    expect(parseTypeName('timestamp(3) with time zone')).toEqual({ name: 'timestamp with time zone', mods: [3] });
  });

  it('decodes the rendered values exactly, NaN, infinities and intervals included', { timeout: 30_000 }, async () => {
    expect(await decode(col('double precision'), '"NaN"')).toEqual({ value: 'nan', type: 'DOUBLE' });
    expect(await decode(col('double precision'), '0.75')).toEqual({ value: '0.75', type: 'DOUBLE' });
    expect(await decode(col('double precision'), '1e300')).toEqual({ value: '1e+300', type: 'DOUBLE' });
    expect(await decode(col('double precision'), '"-Infinity"')).toEqual({ value: '-inf', type: 'DOUBLE' });
    expect(await decode(col('real'), '3.4e38')).toEqual({ value: '3.4e+38', type: 'FLOAT' });
    expect(await decode(col('numeric(30,8)'), '"1234567890123456789012.12345678"')).toEqual({ value: '1234567890123456789012.12345678', type: 'DECIMAL(30,8)' });
    expect(await decode(col('numeric'), '"NaN"')).toEqual({ value: 'NaN', type: 'VARCHAR' });
    // Debezium 3.6.1's renderings of the special values (what the CDC service sends) back to PostgreSQL's.
    expect(await decode(col('numeric'), '"NAN"')).toEqual({ value: 'NaN', type: 'VARCHAR' });
    expect(await decode(col('numeric'), '"POSITIVE_INFINITY"')).toEqual({ value: 'Infinity', type: 'VARCHAR' });
    expect(await decode(col('numeric'), '"NEGATIVE_INFINITY"')).toEqual({ value: '-Infinity', type: 'VARCHAR' });
    expect(await decode(col('date'), '-2147472692')).toEqual({ value: 'infinity', type: 'DATE' });
    expect(await decode(col('date'), '-2147472691')).toEqual({ value: '-infinity', type: 'DATE' });
    expect(await decode(col('timestamp without time zone'), '9223372036825200000')).toEqual({ value: 'infinity', type: 'TIMESTAMP' });
    expect(await decode(col('timestamp(3) without time zone'), '-9223372036832400')).toEqual({ value: '-infinity', type: 'TIMESTAMP' });
    expect(await decode(col('timestamp with time zone'), '"infinity"')).toEqual({ value: 'infinity', type: 'TIMESTAMP WITH TIME ZONE' });
    expect(await decode(col('date'), '19723')).toEqual({ value: '2024-01-01', type: 'DATE' });
    expect(await decode(col('date'), '"infinity"')).toEqual({ value: 'infinity', type: 'DATE' });
    expect(await decode(col('timestamp without time zone'), '1704097800123456')).toEqual({ value: '2024-01-01 08:30:00.123456', type: 'TIMESTAMP' });
    expect(await decode(col('timestamp(3) without time zone'), '1704097800123')).toEqual({ value: '2024-01-01 08:30:00.123', type: 'TIMESTAMP' });
    expect(await decode(col('timestamp without time zone'), '"-infinity"')).toEqual({ value: '-infinity', type: 'TIMESTAMP' });
    expect(await decode(col('timestamp with time zone'), '"2024-01-01T08:30:00.000000Z"')).toEqual({ value: '2024-01-01 08:30:00+00', type: 'TIMESTAMP WITH TIME ZONE' });
    expect(await decode(col('time without time zone'), '30600123456')).toEqual({ value: '08:30:00.123456', type: 'TIME' });
    expect(await decode(col('time without time zone'), '86400000000')).toEqual({ value: '24:00:00', type: 'TIME' });
    expect(await decode(col('time with time zone'), '"06:30:00Z"')).toEqual({ value: '06:30:00+00', type: 'TIME WITH TIME ZONE' });
    expect(await decode(col('interval'), '"P1Y2M3DT4H5M6.78S"')).toEqual({ value: '1 year 2 months 3 days 04:05:06.78', type: 'INTERVAL' });
    expect(await decode(col('interval'), '"P-1Y-2M3DT-4H-5M-6.78S"')).toEqual({ value: '-1 year -2 months 3 days -04:05:06.78', type: 'INTERVAL' });
    expect(await decode(col('interval'), '"P0Y0M0DT0H0M1.003690999S"')).toEqual({ value: '00:00:01.003691', type: 'INTERVAL' });
    expect(await decode(col('interval'), '37091106500000', { ...iso, interval: 'numeric' })).toMatchObject({ type: 'INTERVAL' });
    expect(await decode(col('uuid'), '"1b4e28ba-2fa1-11d2-883f-0016d3cca427"')).toEqual({ value: '1b4e28ba-2fa1-11d2-883f-0016d3cca427', type: 'UUID' });
    expect(await decode(col('bytea'), '"AAH/"')).toEqual({ value: '\\x00\\x01\\xFF', type: 'BLOB' });
    expect(await decode(col('jsonb'), '"{\\"a\\": 1}"')).toEqual({ value: '{"a": 1}', type: 'JSON' });
    expect(await decode(col('integer[]', { category: 'array', baseType: 'integer' }), '[1,null,3]')).toEqual({ value: '[1, NULL, 3]', type: 'INTEGER[]' });
    expect(await decode(col('integer[]', { category: 'array', baseType: 'integer', arrayDimensions: 2 }), '[[1,2],[3,4]]')).toEqual({ value: '[[1, 2], [3, 4]]', type: 'INTEGER[][]' });
    expect(await decode(col('date[]', { category: 'array', baseType: 'date' }), '[19723,"infinity"]')).toEqual({ value: '[2024-01-01, infinity]', type: 'DATE[]' });
  });

  it('keeps the mapping table of docs/contracts/silver-types.md in step with the code', () => {
    for (const row of TYPE_MAPPING_ROWS) {
      const expected = silverColumnType(col(row.example, row.column), row.numericInterval ? { ...iso, interval: 'numeric' } : iso).duckType.replace(/\(.*$/, '');
      expect(row.duckdb, row.postgres).toContain(expected);
    }
    const doc = readFileSync(path.join(REPO_ROOT, 'docs/contracts/silver-types.md'), 'utf8');
    expect(doc).toContain(typeMappingMarkdown());
  });
});
