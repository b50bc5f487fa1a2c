/**
 * The second test source (tests/fixtures/shop-source) loads on the real PostgreSQL and holds what
 * issue 13's tests need: several schemas, every common type with NULLs, NaN, infinities, BC dates,
 * a 30-digit numeric, out-of-line 20 KB text and 8 KB bytea, a composite key, a keyless table with
 * duplicates, a partitioned table, an enum, a domain, a table named like a sport table; and its
 * mixed workload runs to the expected end state.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/common/config.ts';
import { createShopSource, SHOP_TABLES, type ShopSource } from '../support/shop-source.ts';

const config = loadConfig();
let shop: ShopSource;
let db: pg.Client;

beforeAll(async () => {
  shop = await createShopSource(config, 'shop_fixture_test');
  db = await shop.admin();
}, 120_000);

afterAll(async () => {
  await db?.end();
  await shop?.close();
});

const rows = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => (await db.query<T>(sql, params)).rows;

describe('shop source fixture', () => {
  it('has the captured tables in four schemas, with their keys', async () => {
    for (const t of SHOP_TABLES) {
      const pk = await rows<{ attname: string }>(
        `SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.ord`,
        [`${t.schema}.${t.table}`],
      );
      expect({ table: `${t.schema}.${t.table}`, pk: pk.map((r) => r.attname) }).toEqual({ table: `${t.schema}.${t.table}`, pk: t.primaryKey });
    }
    expect(new Set(SHOP_TABLES.map((t) => t.schema))).toEqual(new Set(['catalog', 'sales', 'ops', 'hr']));
    const kind = await rows<{ relkind: string; parts: string }>(
      `SELECT c.relkind::text, (SELECT count(*) FROM pg_inherits WHERE inhparent = c.oid)::text AS parts FROM pg_class c WHERE c.oid = 'sales.orders'::regclass`,
    );
    expect(kind).toEqual([{ relkind: 'p', parts: '3' }]);
  });

  it('has a column of every common type in catalog.all_types', async () => {
    const types = (await rows<{ t: string }>(
      `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'catalog.all_types'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    )).map((r) => r.t);
    const expected = [
      'smallint', 'integer', 'bigint', 'real', 'double precision', 'numeric(30,8)', 'numeric(45,5)', 'numeric', 'money', 'boolean', 'text',
      'character varying(40)', 'character(5)', 'date', 'timestamp without time zone', 'timestamp(3) without time zone', 'timestamp with time zone',
      'time without time zone', 'time with time zone', 'interval', 'uuid', 'bytea', 'json', 'jsonb', 'integer[]', 'text[]', 'catalog.mood[]',
      'inet', 'cidr', 'macaddr', 'point', 'int4range', 'tstzrange', 'numrange', 'tsvector', 'xml', 'catalog.mood', 'catalog.positive_int', 'catalog.email',
    ];
    for (const t of expected) expect(types, t).toContain(t);
    const hstore = await rows('SELECT 1 FROM pg_available_extensions WHERE name = $1', ['hstore']);
    if (hstore.length > 0) expect(types).toContain('hstore');
  });

  it('holds NULLs and non-NULLs in every column, and the edge values', async () => {
    const cols = (await rows<{ attname: string }>(
      `SELECT attname FROM pg_attribute WHERE attrelid = 'catalog.all_types'::regclass AND attnum > 1 AND NOT attisdropped ORDER BY attnum`,
    )).map((r) => r.attname);
    for (const c of cols) {
      const [r] = await rows<{ nulls: string; values: string }>(`SELECT count(*) FILTER (WHERE "${c}" IS NULL)::text AS nulls, count("${c}")::text AS values FROM catalog.all_types`);
      expect({ c, nulls: Number(r!.nulls) > 0, values: Number(r!.values) > 0 }).toEqual({ c, nulls: true, values: true });
    }
    const [edge] = await rows(
      `SELECT (SELECT c_numeric::text FROM catalog.all_types WHERE id = 1) AS numeric30,
              (SELECT length(regexp_replace(c_numeric::text, '[^0-9]', '', 'g')) FROM catalog.all_types WHERE id = 1) AS digits,
              (SELECT c_numeric_free::text FROM catalog.all_types WHERE id = 2) AS nan,
              (SELECT c_date::text FROM catalog.all_types WHERE id = 2) AS bc,
              (SELECT c_date::text FROM catalog.all_types WHERE id = 3) AS inf,
              (SELECT c_timestamp::text FROM catalog.all_types WHERE id = 3) AS minus_inf,
              (SELECT length(c_text) FROM catalog.all_types WHERE id = 5) AS text_len,
              (SELECT length(c_bytea) FROM catalog.all_types WHERE id = 5) AS bytea_len,
              (SELECT array_ndims(c_int_matrix) FROM catalog.all_types WHERE id = 1) AS dims`,
    );
    expect(edge).toEqual({
      numeric30: '1234567890123456789012.12345678', digits: 30, nan: 'NaN', bc: '0044-03-15 BC', inf: 'infinity', minus_inf: '-infinity',
      text_len: 20_000, bytea_len: 8192, dims: 2,
    });
  });

  it('starts the double column with integral values only', async () => {
    const doubles = await rows<{ id: number; c_double: number | null }>('SELECT id, c_double FROM catalog.all_types ORDER BY id');
    const values = doubles.map((r) => r.c_double).filter((v): v is number => v !== null);
    expect(values.length).toBeGreaterThan(2);
    for (const v of values) expect(Number.isInteger(v)).toBe(true);
  });

  it('keeps the large document columns out of line (TOAST), uncompressed', async () => {
    const [toast] = await rows<{ chunks: string }>(
      `SELECT (SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'catalog.documents'::regclass) AS chunks`,
    );
    const [count] = await rows<{ n: string }>(`SELECT count(DISTINCT chunk_id)::text AS n FROM ${toast!.chunks}`);
    expect(Number(count!.n)).toBe(6); // 3 documents x (body, attachment)
  });

  it('has duplicate rows in the keyless table, an enum, two domains and hr.employees', async () => {
    expect(await rows(`SELECT event_kind, actor, count(*)::int AS n FROM ops.event_log GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1`)).toEqual([
      { event_kind: 'login', actor: 'ana', n: 2 },
      { event_kind: 'refund', actor: 'bruno', n: 2 },
    ]);
    expect(await rows(`SELECT typname, typtype::text FROM pg_type WHERE typnamespace = 'catalog'::regnamespace AND typtype IN ('e', 'd') ORDER BY typname`)).toEqual([
      { typname: 'email', typtype: 'd' },
      { typname: 'mood', typtype: 'e' },
      { typname: 'positive_int', typtype: 'd' },
    ]);
    expect((await rows('SELECT count(*)::int AS n FROM hr.employees'))[0]).toEqual({ n: 4 });
  });
});

describe('shop source workload', () => {
  it('runs every step and ends in the expected state', async () => {
    await shop.runWorkload();
    const columns = (await rows<{ c: string }>(
      `SELECT attname || ' ' || format_type(atttypid, atttypmod) AS c FROM pg_attribute WHERE attrelid = 'sales.customers'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    )).map((r) => r.c);
    expect(columns).toEqual([
      'customer_id integer', 'name text', 'email catalog.email', 'mood catalog.mood', 'score numeric(8,2)', 'created_at timestamp with time zone',
      'loyalty_points integer', 'tier text',
    ]);
    expect(await rows('SELECT customer_id, score::text, loyalty_points, tier FROM sales.customers ORDER BY customer_id')).toEqual([
      { customer_id: 1, score: '12.50', loyalty_points: 100, tier: 'standard' },
      { customer_id: 2, score: '7.00', loyalty_points: null, tier: 'silver' },
      { customer_id: 3, score: null, loyalty_points: null, tier: 'standard' },
      { customer_id: 4, score: '31.00', loyalty_points: null, tier: 'standard' },
      { customer_id: 7, score: '3.00', loyalty_points: null, tier: 'standard' },
      { customer_id: 8, score: '4.00', loyalty_points: null, tier: 'standard' },
      { customer_id: 9, score: '9.00', loyalty_points: 5, tier: 'standard' },
      { customer_id: 10, score: '10.00', loyalty_points: null, tier: 'gold' },
      { customer_id: 11, score: '0.25', loyalty_points: null, tier: 'standard' },
      { customer_id: 60, score: '-3.00', loyalty_points: null, tier: 'standard' },
    ]);
    expect(await rows(`SELECT order_id::int, tableoid::regclass::text AS part, status FROM sales.orders ORDER BY order_id`)).toEqual([
      { order_id: 1001, part: 'sales.orders_2025', status: 'paid' },
      { order_id: 1002, part: 'sales.orders_2026', status: 'moved' },
      { order_id: 1003, part: 'sales.orders_2026', status: 'shipped' },
      { order_id: 1004, part: 'sales.orders_2026', status: 'open' },
      { order_id: 1005, part: 'sales.orders_other', status: 'open' },
      { order_id: 1006, part: 'sales.orders_2026', status: 'paid' },
      { order_id: 1008, part: 'sales.orders_2026', status: 'open' },
    ]);
    expect(await rows('SELECT order_id::int, line_no FROM sales.order_lines ORDER BY 1, 2')).toEqual([
      { order_id: 1001, line_no: 1 }, { order_id: 1001, line_no: 3 }, { order_id: 1002, line_no: 1 }, { order_id: 1005, line_no: 1 },
      { order_id: 1006, line_no: 1 }, { order_id: 1006, line_no: 2 }, { order_id: 1008, line_no: 1 },
    ]);
    expect(await rows('SELECT event_kind, actor, amount FROM ops.event_log ORDER BY 1, 2, 3')).toEqual([
      { event_kind: 'login', actor: 'ana', amount: 1 },
      { event_kind: 'login', actor: 'ana', amount: 1 },
      { event_kind: 'login', actor: 'chloé', amount: 2 },
      { event_kind: 'refund', actor: 'bruno', amount: 4.75 },
      { event_kind: 'refund', actor: 'bruno', amount: 20 },
      { event_kind: 'tip', actor: 'hana', amount: 0.75 },
      { event_kind: 'tip', actor: 'hana', amount: 0.75 },
    ]);
    expect(await rows('SELECT batch_id, source_file FROM ops.import_batches')).toEqual([{ batch_id: 4, source_file: 'after-truncate.csv' }]);
    expect(await rows('SELECT doc_id, title, revision, length(body) AS body FROM catalog.documents ORDER BY doc_id')).toEqual([
      { doc_id: 2, title: 'Document 2 (rev 2)', revision: 3, body: 20_000 },
      { doc_id: 3, title: 'Document 3', revision: 1, body: 20_000 },
      { doc_id: 4, title: 'Document 4', revision: 2, body: 14 },
    ]);
    expect((await rows<{ id: number }>('SELECT id FROM catalog.all_types ORDER BY id')).map((r) => r.id)).toEqual([1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 100]);
    expect(await rows('SELECT employee_no, salary::text FROM hr.employees ORDER BY 1')).toEqual([
      { employee_no: 1, salary: '32130.00' }, { employee_no: 2, salary: '28750.50' }, { employee_no: 3, salary: '72000.00' },
      { employee_no: 4, salary: null }, { employee_no: 5, salary: '30100.00' },
    ]);
  });
});
