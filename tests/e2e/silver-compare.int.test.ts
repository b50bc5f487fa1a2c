/**
 * The comparator of the "silver equals source" test (tests/support/silver-compare.ts) on a real
 * PostgreSQL and an in-memory DuckDB holding the same values written by hand: it finds them
 * equal, and it reports exactly a rounded double, a NULLed NaN, a shifted timestamp, an interval
 * with months folded into days, a wrong column type, a missing and an extra row.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection } from '../../services/common/config.ts';
import { compareSilver, describeSourceTable } from '../support/silver-compare.ts';

const config = loadConfig();
let db: pg.Client;
let instance: DuckDBInstance;
let conn: DuckDBConnection;
const REF = { schema: 'compare_test', table: 'kinds', primaryKey: ['id'] };

const PG_ROWS = `
  (1, 32767, 1.5, 1, 1234567890123456789012.12345678, 'NaN', 12.5, true, 'héllo', '2026-03-15', '2026-03-15 10:30:00.123456', '2026-03-15 10:30:00.123456+01',
   '24:00:00', '12:00:00+05:30', '1 year 2 mons 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10', '{"b": 1, "a": [1]}', '{{1,2},{3,NULL}}', '{sad}', 'ok', '10.0.0.0/8'),
  (2, -1, 3.4e38, 0.75, -0.00000001, '-Infinity', 0, false, '', '0044-03-15 BC', '-infinity', 'infinity',
   '00:00:00', '00:00:00-12', '-1 mons +15 days -00:00:00.000001', '00000000-0000-0000-0000-000000000000', '\\x', '[]', '{}', '{}', 'sad', '::1'),
  (3, NULL, NULL, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;

const DUCK_ROWS = `
  (1, 32767, 1.5, 1, 1234567890123456789012.12345678, 'NaN', '$12.50', true, 'héllo', DATE '2026-03-15', TIMESTAMP '2026-03-15 10:30:00.123456', TIMESTAMPTZ '2026-03-15 09:30:00.123456+00',
   TIME '24:00:00', TIMETZ '12:00:00+05:30', INTERVAL '1 year 2 months 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00\\xFF\\x10'::BLOB, '{"b": 1, "a": [1]}', [[1,2],[3,NULL]], ['sad'], 'ok', '10.0.0.0/8'),
  (2, -1, 3.4e38, 0.75, -0.00000001, '-Infinity', '$0.00', false, '', DATE '0044-03-15 (BC)', '-infinity'::TIMESTAMP, 'infinity'::TIMESTAMPTZ,
   TIME '00:00:00', TIMETZ '00:00:00-12', INTERVAL '-1 month' + INTERVAL '15 days' - INTERVAL '1 microsecond', '00000000-0000-0000-0000-000000000000', ''::BLOB, '[]', [], [], 'sad', '::1/128'),
  (3, NULL, NULL, 'NaN'::DOUBLE, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;

async function duckTable(doubleType = 'DOUBLE', rows = DUCK_ROWS): Promise<void> {
  await conn.run(`CREATE OR REPLACE TABLE silver.kinds (id INTEGER, c_small SMALLINT, c_real FLOAT, c_double ${doubleType}, c_num DECIMAL(30,8), c_free VARCHAR, c_money VARCHAR,
    c_bool BOOLEAN, c_text VARCHAR, c_date DATE, c_ts TIMESTAMP, c_tstz TIMESTAMP WITH TIME ZONE, c_time TIME, c_timetz TIME WITH TIME ZONE, c_interval INTERVAL,
    c_uuid UUID, c_bytea BLOB, c_json JSON, c_matrix INTEGER[][], c_moods VARCHAR[], c_mood VARCHAR, c_cidr VARCHAR, _lsn BIGINT)`);
  await conn.run(`INSERT INTO silver.kinds SELECT *, 0 FROM (VALUES ${rows})`);
}

beforeAll(async () => {
  db = new pg.Client(pgConnection(config, 'admin'));
  await db.connect();
  await db.query('DROP SCHEMA IF EXISTS compare_test CASCADE');
  await db.query(`CREATE SCHEMA compare_test;
    CREATE TYPE compare_test.mood AS ENUM ('sad', 'ok');
    CREATE DOMAIN compare_test.tiny AS smallint CHECK (VALUE <> 0);
    CREATE TABLE compare_test.kinds (id int PRIMARY KEY, c_small compare_test.tiny, c_real real, c_double double precision, c_num numeric(30,8), c_free numeric,
      c_money money, c_bool boolean, c_text text, c_date date, c_ts timestamp, c_tstz timestamptz, c_time time, c_timetz timetz, c_interval interval, c_uuid uuid,
      c_bytea bytea, c_json json, c_matrix integer[][], c_moods compare_test.mood[], c_mood compare_test.mood, c_cidr cidr)`);
  await db.query(`INSERT INTO compare_test.kinds VALUES ${PG_ROWS}`);
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  await conn.run('CREATE SCHEMA silver');
});

afterAll(async () => {
  await db?.query('DROP SCHEMA IF EXISTS compare_test CASCADE');
  await db?.end();
  conn?.closeSync();
  instance?.closeSync();
});

describe('silver comparator', () => {
  it('derives the expected silver type of each column from the PostgreSQL catalog alone', async () => {
    const cols = await describeSourceTable(db, REF);
    expect(Object.fromEntries(cols.map((c) => [c.name, c.duckType]))).toEqual({
      id: 'INTEGER', c_small: 'SMALLINT', c_real: 'FLOAT', c_double: 'DOUBLE', c_num: 'DECIMAL(30,8)', c_free: 'VARCHAR', c_money: 'VARCHAR',
      c_bool: 'BOOLEAN', c_text: 'VARCHAR', c_date: 'DATE', c_ts: 'TIMESTAMP', c_tstz: 'TIMESTAMP WITH TIME ZONE', c_time: 'TIME',
      c_timetz: 'TIME WITH TIME ZONE', c_interval: 'INTERVAL', c_uuid: 'UUID', c_bytea: 'BLOB', c_json: 'JSON', c_matrix: 'INTEGER[][]',
      c_moods: 'VARCHAR[]', c_mood: 'VARCHAR', c_cidr: 'VARCHAR',
    });
  });

  it('finds equal tables equal', async () => {
    await duckTable();
    const result = await compareSilver(db, conn, REF, 'silver.kinds');
    expect(result.differences).toEqual([]);
    expect(result.rows).toBe(3);
  });

  it('reports each wrong value, a wrong type, a missing and an extra row', async () => {
    await duckTable('BIGINT', DUCK_ROWS.replace("TIMESTAMP '2026-03-15 10:30:00.123456'", "TIMESTAMP '2026-03-15 09:30:00.123456'")
      .replace("INTERVAL '1 year 2 months 3 days 04:05:06.789'", "INTERVAL '428 days 04:05:06.789'").replace("(3, NULL, NULL, 'NaN'::DOUBLE", '(3, NULL, NULL, NULL'));
    await conn.run(`UPDATE silver.kinds SET c_free = NULL WHERE id = 1; DELETE FROM silver.kinds WHERE id = 3;
      INSERT INTO silver.kinds (id) VALUES (4)`);
    const result = await compareSilver(db, conn, REF, 'silver.kinds');
    expect(result.differences).toEqual([
      'compare_test.kinds.c_double: type double precision should be DOUBLE in silver, is BIGINT',
      'compare_test.kinds id=1 c_free: source "NaN" silver NULL',
      'compare_test.kinds id=1 c_ts: source "1773570600123456" silver "1773567000123456"',
      'compare_test.kinds id=1 c_interval: source "14|3|14706789000" silver "0|428|14706789000"',
      'compare_test.kinds id=2 c_double: source "0.75" silver "1"',
      'compare_test.kinds id=3: missing in silver',
      'compare_test.kinds id=4: in silver, not in the source',
    ]);
  });

  it('compares a keyless table as a multiset: a lost duplicate is a difference', async () => {
    await db.query('CREATE TABLE compare_test.log (kind text, n int); INSERT INTO compare_test.log VALUES (\'a\', 1), (\'a\', 1), (\'b\', 2)');
    await conn.run("CREATE OR REPLACE TABLE silver.log (kind VARCHAR, n INTEGER); INSERT INTO silver.log VALUES ('a', 1), ('b', 2)");
    const result = await compareSilver(db, conn, { schema: 'compare_test', table: 'log', primaryKey: [] }, 'silver.log');
    expect(result.differences).toEqual(['compare_test.log row ["a","1"]: 2 in the source, 1 in silver']);
  });
});
