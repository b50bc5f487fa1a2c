/**
 * Silver for any table of any source, on bronze written per the schema contract (schema documents
 * in the lake, `schema_id` / `unavailable` on every row; testing/bronze-fixture.ts): every column
 * typed from the document (a double column starting with integral values stays DOUBLE), each row
 * decoded with its own schema version as the table evolves, unchanged TOAST values resolved from
 * the previous version or reported, keyless tables holding exactly the source's rows, sources
 * namespaced, and the sport-rewards data product running only where its tables are.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BronzeFixture } from './testing/bronze-fixture.ts';
import { batchSandbox, commute, dailyActivities, employee, rel, type BatchSandbox } from './testing/batch-kit.ts';
import { tableSchema, type ColumnSpec } from './testing/table-schemas.ts';
import type { RefreshOutcome } from './refresh.ts';

const ALL_TYPES: ColumnSpec[] = [
  ['id', 'integer', '*'],
  ['c_double', 'double precision'],
  ['c_real', 'real'],
  ['c_numeric', 'numeric(30,8)'],
  ['c_numeric_wide', 'numeric(45,5)'],
  ['c_numeric_free', 'numeric'],
  ['c_date', 'date'],
  ['c_timestamp', 'timestamp without time zone'],
  ['c_timestamp3', 'timestamp(3) without time zone'],
  ['c_timestamptz', 'timestamp with time zone'],
  ['c_time', 'time without time zone'],
  ['c_interval', 'interval'],
  ['c_uuid', 'uuid'],
  ['c_bytea', 'bytea'],
  ['c_jsonb', 'jsonb'],
  ['c_int_array', 'integer[]'],
  ['c_mood', 'shop.mood'],
  ['c_positive', 'shop.positive_int'],
  ['c_point', 'point'],
  ['c_money', 'money'],
];
const allTypes = tableSchema({ name: 'shop', schema: 'catalog', table: 'all_types' }, ALL_TYPES, {
  columnExtras: {
    c_mood: { category: 'enum', enumLabels: ['sad', 'ok', 'happy'] },
    c_positive: { category: 'domain', baseType: 'integer' },
  },
});
const documents = tableSchema(
  { name: 'shop', schema: 'catalog', table: 'documents' },
  [
    ['doc_id', 'integer', '*'],
    ['title', 'text', '!'],
    ['body', 'text'],
    ['revision', 'integer', '!'],
  ],
  { replicaIdentity: 'default' },
);
const eventLog = tableSchema({ name: 'shop', schema: 'ops', table: 'event_log' }, [
  ['kind', 'text', '!'],
  ['amount', 'numeric(10,2)'],
]);
const hrEmployees = tableSchema({ name: 'shop', schema: 'hr', table: 'employees' }, [
  ['id', 'integer', '*'],
  ['full_name', 'text', '!'],
  ['salary', 'numeric(10,2)'],
]);
const customerCols = (extra: ColumnSpec[] = [], drop: string[] = [], scoreType = 'integer'): ColumnSpec[] =>
  [
    ['customer_id', 'integer', '*'] as ColumnSpec,
    ['name', 'text', '!'] as ColumnSpec,
    ['score', scoreType] as ColumnSpec,
    ['legacy_code', 'text'] as ColumnSpec,
    ...extra,
  ].filter(([n]) => !drop.includes(n));
const customersV1 = tableSchema({ name: 'shop', schema: 'sales', table: 'customers' }, customerCols());
const customersV2 = tableSchema({ name: 'shop', schema: 'sales', table: 'customers' }, customerCols([['loyalty_points', 'integer']]));
const customersV3 = tableSchema({ name: 'shop', schema: 'sales', table: 'customers' }, customerCols([['loyalty_points', 'integer']], ['legacy_code']));
const customersV4 = tableSchema({ name: 'shop', schema: 'sales', table: 'customers' }, customerCols([['loyalty_points', 'integer']], ['legacy_code'], 'numeric(8,2)'));

let sb: BatchSandbox;
let shop: BronzeFixture;
let first: RefreshOutcome;

beforeAll(async () => {
  sb = await batchSandbox();
  shop = new BronzeFixture(sb.lake, { prefix: 'shop', schemas: [allTypes, documents, eventLog, hrEmployees, customersV1] });
  // The sport source, so the product has its tables.
  sb.fixture.snapshot('employees', employee(101));
  sb.fixture.snapshot('commute_distances', commute(101, 3_000));
  for (const a of dailyActivities(101, '2026-03-01', 3)) sb.fixture.insert('activities', a);
  await sb.fixture.flush();

  // All types: the double column's first values are integral.
  const row = (id: number, extra: Record<string, unknown> = {}) => ({
    id,
    c_double: id,
    c_real: 1,
    c_numeric: '1234567890123456789012.12345678',
    c_numeric_wide: '1234567890123456789012345678901234567890.12345',
    c_numeric_free: '3.14159265358979323846264338327950288419716939937510',
    c_date: 19723,
    c_timestamp: 1704097800123456,
    c_timestamp3: 1704097800123,
    c_timestamptz: '2024-01-01T08:30:00.000000Z',
    c_time: 30600123456,
    c_interval: 'P1Y2M3DT4H5M6.78S',
    c_uuid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
    c_bytea: 'AAH/',
    c_jsonb: '{"a": 1}',
    c_int_array: [1, null, 3],
    c_mood: 'happy',
    c_positive: 7,
    c_point: '(1,2)',
    c_money: '$1,234.56',
    ...extra,
  });
  for (const id of [1, 2, 3]) shop.snapshot('all_types', row(id));
  shop.insert('all_types', row(4, { c_double: 0.75, c_real: 3.4e38, c_date: 'infinity', c_timestamp: '-infinity', c_timestamptz: 'infinity', c_numeric_free: 'NaN' }));
  shop.insert('all_types', row(5, { c_double: 'NaN', c_real: '-Infinity', c_interval: 'P-1Y-2M3DT-4H-5M-6.78S', c_numeric: 'NaN' }));
  shop.insert('all_types', row(6, { c_double: 1e300 }));

  // TOAST: documents under REPLICA IDENTITY DEFAULT.
  shop.snapshot('documents', { doc_id: 1, title: 'a', body: 'x'.repeat(20_000), revision: 1 });
  shop.insert('documents', { doc_id: 2, title: 'b', body: 'y'.repeat(20_000), revision: 1 });
  // Same batch: the update's previous version is the insert above.
  shop.update('documents', { doc_id: 2 }, { doc_id: 2, title: 'b2', body: null, revision: 2 }, { unavailable: ['body'] });
  // No previous version anywhere: reported, never the placeholder.
  shop.update('documents', { doc_id: 3 }, { doc_id: 3, title: 'c', body: null, revision: 5 }, { unavailable: ['body'] });

  // Keyless: two equal rows, a snapshot sent twice, an update of one duplicate, a re-delivery.
  const snap = shop.snapshot('event_log', { kind: 'login', amount: '1.00' });
  shop.snapshot('event_log', { kind: 'login', amount: '1.00' }, { lsn: snap.lsn, tsMs: snap.tsMs });
  shop.snapshot('event_log', { kind: 'buy', amount: '9.90' }, { lsn: snap.lsn, tsMs: snap.tsMs });
  // The snapshot restarted (same LSN, later start): only this attempt counts.
  shop.snapshot('event_log', { kind: 'login', amount: '1.00' }, { lsn: snap.lsn, tsMs: snap.tsMs + 1000 });
  shop.snapshot('event_log', { kind: 'login', amount: '1.00' }, { lsn: snap.lsn, tsMs: snap.tsMs + 1000 });
  shop.snapshot('event_log', { kind: 'buy', amount: '9.90' }, { lsn: snap.lsn, tsMs: snap.tsMs + 1000 });
  const ins = shop.insert('event_log', { kind: 'logout', amount: null });
  shop.insert('event_log', { kind: 'logout', amount: null }, { lsn: ins.lsn, tsMs: ins.tsMs }); // re-delivered
  shop.update('event_log', { kind: 'login', amount: '1.00' }, { kind: 'login', amount: '2.00' });

  // A table named like a sport table, in another source and schema.
  shop.snapshot('employees', { id: 1, full_name: 'Ada Lovelace', salary: '1000.00' });

  // Schema evolution, version 1.
  shop.snapshot('customers', { customer_id: 1, name: 'one', score: 10, legacy_code: 'L1' });
  shop.snapshot('customers', { customer_id: 2, name: 'two', score: 20, legacy_code: 'L2' });
  await shop.flush();
  first = await sb.refresh();
});

afterAll(async () => sb?.close());

describe('typed silver for any table', () => {
  it('types every column from the schema document, values exact, NaN and infinities kept', async () => {
    expect(first.status, JSON.stringify(first.entry.quality)).toBe('success');
    const types = await sb.silver<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'silver' AND table_name = 'shop__catalog__all_types' ORDER BY column_index`,
    );
    expect(Object.fromEntries(types.map((t) => [t.column_name, t.data_type]))).toEqual({
      id: 'INTEGER',
      c_double: 'DOUBLE',
      c_real: 'FLOAT',
      c_numeric: 'DECIMAL(30,8)',
      c_numeric_wide: 'VARCHAR',
      c_numeric_free: 'VARCHAR',
      c_date: 'DATE',
      c_timestamp: 'TIMESTAMP',
      c_timestamp3: 'TIMESTAMP',
      c_timestamptz: 'TIMESTAMP WITH TIME ZONE',
      c_time: 'TIME',
      c_interval: 'INTERVAL',
      c_uuid: 'UUID',
      c_bytea: 'BLOB',
      c_jsonb: 'JSON',
      c_int_array: 'INTEGER[]',
      c_mood: 'VARCHAR',
      c_positive: 'INTEGER',
      c_point: 'VARCHAR',
      c_money: 'VARCHAR',
      _changed_at: 'TIMESTAMP WITH TIME ZONE',
      _lsn: 'BIGINT',
    });
    const rows = await sb.silver(
      `SELECT id, CAST(c_double AS VARCHAR) AS d, CAST(c_real AS VARCHAR) AS r, CAST(c_numeric AS VARCHAR) AS n, c_numeric_wide AS nw, c_numeric_free AS nf,
         CAST(c_date AS VARCHAR) AS date, CAST(c_timestamp AS VARCHAR) AS ts, CAST(c_timestamptz AS VARCHAR) AS tstz, CAST(c_interval AS VARCHAR) AS i,
         CAST(c_bytea AS VARCHAR) AS b, CAST(c_int_array AS VARCHAR) AS arr, c_mood AS mood, c_positive AS pos
       FROM silver.shop__catalog__all_types ORDER BY id`,
    );
    expect(rows.map((r) => r.d)).toEqual(['1.0', '2.0', '3.0', '0.75', 'nan', '1e+300']);
    expect(rows[3]).toMatchObject({ r: '3.4e+38', date: 'infinity', ts: '-infinity', tstz: 'infinity', nf: 'NaN' });
    expect(rows[4]).toMatchObject({ r: '-inf', i: '-1 year -2 months 3 days -04:05:06.78', n: null });
    expect(rows[0]).toMatchObject({
      n: '1234567890123456789012.12345678',
      nw: '1234567890123456789012345678901234567890.12345',
      nf: '3.14159265358979323846264338327950288419716939937510',
      date: '2024-01-01',
      ts: '2024-01-01 08:30:00.123456',
      tstz: '2024-01-01 08:30:00+00',
      i: '1 year 2 months 3 days 04:05:06.78',
      b: '\\x00\\x01\\xFF',
      arr: '[1, NULL, 3]',
      mood: 'happy',
      pos: 7,
    });
  });

  it('reports a value the silver type cannot hold (NaN in a DECIMAL) with table, key and column, never silently', async () => {
    const held = first.results.find((r) => r.id === 'silver.shop__catalog__all_types.values_held');
    expect(held).toMatchObject({ status: 'fail', severity: 'warn' });
    expect(JSON.parse(held!.sample!)).toEqual([{ table: 'shop__catalog__all_types', key: { id: 5 }, columns: ['c_numeric'] }]);
  });

  it('resolves unchanged TOAST values from the previous version, and flags the ones it cannot', async () => {
    const docs = await sb.silver<{ doc_id: number; title: string; len: number | null; revision: number }>(
      `SELECT doc_id, title, CAST(length(body) AS INTEGER) AS len, revision FROM silver.shop__catalog__documents ORDER BY doc_id`,
    );
    expect(docs).toEqual([
      { doc_id: 1, title: 'a', len: 20_000, revision: 1 },
      { doc_id: 2, title: 'b2', len: 20_000, revision: 2 },
      { doc_id: 3, title: 'c', len: null, revision: 5 },
    ]);
    // Next batch: the previous version is the silver row.
    shop.update('documents', { doc_id: 1 }, { doc_id: 1, title: 'a2', body: null, revision: 2 }, { unavailable: ['body'] });
    await shop.flush();
    const next = await sb.refresh();
    const again = await sb.silver<{ doc_id: number; title: string; body: string | null }>(`SELECT doc_id, title, body FROM silver.shop__catalog__documents WHERE doc_id = 1`);
    expect(again).toEqual([{ doc_id: 1, title: 'a2', body: 'x'.repeat(20_000) }]);
    const placeholders = await sb.silver(`SELECT doc_id FROM silver.shop__catalog__documents WHERE body LIKE '%unavailable_value%'`);
    expect(placeholders).toEqual([]);
    const held = next.results.find((r) => r.id === 'silver.shop__catalog__documents.values_held');
    expect(held).toMatchObject({ status: 'fail' });
    expect(JSON.parse(held!.sample!)).toEqual([{ table: 'shop__catalog__documents', key: { doc_id: 3 }, columns: ['body'] }]);
  });

  it('keeps exactly the rows of a keyless table, duplicates included, re-deliveries and a repeated snapshot counted once', async () => {
    const rows = await sb.silver(`SELECT kind, CAST(amount AS VARCHAR) AS amount FROM silver.shop__ops__event_log ORDER BY ALL`);
    expect(rows).toEqual([
      { kind: 'buy', amount: '9.90' },
      { kind: 'login', amount: '1.00' },
      { kind: 'login', amount: '2.00' },
      { kind: 'logout', amount: null },
    ]);
    // A later batch: delete one equal row, re-deliver an old event, truncate nothing.
    shop.delete('event_log', { kind: 'login', amount: '2.00' });
    shop.insert('event_log', { kind: 'logout', amount: null }, { lsn: 10_000_000 + 16 * 999_999 });
    await shop.flush();
    await sb.refresh();
    expect(await sb.silver(`SELECT kind, CAST(amount AS VARCHAR) AS amount FROM silver.shop__ops__event_log ORDER BY ALL`)).toEqual([
      { kind: 'buy', amount: '9.90' },
      { kind: 'login', amount: '1.00' },
      { kind: 'logout', amount: null },
      { kind: 'logout', amount: null },
    ]);
  });

  it('namespaces sources: a table named employees in another source is its own silver table, untouched by the product', async () => {
    expect(await sb.silver(`SELECT id, full_name, CAST(salary AS VARCHAR) AS salary FROM silver.shop__hr__employees`)).toEqual([{ id: 1, full_name: 'Ada Lovelace', salary: '1000.00' }]);
    expect(await sb.silver(`SELECT employee_id FROM ${rel('employees')}`)).toEqual([{ employee_id: 101 }]);
    expect(await sb.silver(`SELECT DISTINCT table_name FROM silver.quarantine WHERE table_name LIKE 'shop%'`)).toEqual([]);
    expect(first.results.filter((r) => r.id.startsWith('silver.shop__hr__employees') && r.status === 'fail')).toEqual([]);
  });

  it('decodes each row with its own schema version as the table evolves (ADD, DROP, type change) and reports what the log lacks', async () => {
    shop.setSchema(customersV2);
    shop.update('customers', { customer_id: 1, name: 'one', score: 10, legacy_code: 'L1' }, { customer_id: 1, name: 'one', score: 11, legacy_code: 'L1', loyalty_points: 5 });
    shop.insert('customers', { customer_id: 3, name: 'three', score: 30, legacy_code: 'L3', loyalty_points: 7 });
    shop.setSchema(customersV3);
    shop.insert('customers', { customer_id: 4, name: 'four', score: 40, loyalty_points: 9 });
    await shop.flush();
    const evolved = await sb.refresh();
    expect(evolved.status).toBe('success');
    expect(await sb.silver(`SELECT * EXCLUDE (_changed_at, _lsn) FROM silver.shop__sales__customers ORDER BY customer_id`)).toEqual([
      { customer_id: 1, name: 'one', score: 11, loyalty_points: 5 },
      { customer_id: 2, name: 'two', score: 20, loyalty_points: null },
      { customer_id: 3, name: 'three', score: 30, loyalty_points: 7 },
      { customer_id: 4, name: 'four', score: 40, loyalty_points: 9 },
    ]);
    const ids = evolved.results.filter((r) => r.id.startsWith('silver.shop__sales__customers.')).map((r) => `${r.status} ${r.id}`);
    expect(ids).toEqual(
      expect.arrayContaining([
        'pass silver.shop__sales__customers.schema_change.loyalty_points',
        'pass silver.shop__sales__customers.schema_change.legacy_code',
        'fail silver.shop__sales__customers.added_column_defaults.loyalty_points',
      ]),
    );
    // A type change (integer -> numeric(8,2)): stored values converted, new rows decoded as numeric.
    shop.setSchema(customersV4);
    shop.insert('customers', { customer_id: 5, name: 'five', score: '50.25', loyalty_points: 1 });
    await shop.flush();
    const changed = await sb.refresh();
    expect(changed.status).toBe('success');
    const types = await sb.silver<{ data_type: string }>(`SELECT data_type FROM duckdb_columns() WHERE table_name = 'shop__sales__customers' AND column_name = 'score' AND schema_name = 'silver'`);
    expect(types).toEqual([{ data_type: 'DECIMAL(8,2)' }]);
    expect(await sb.silver(`SELECT customer_id, CAST(score AS VARCHAR) AS score FROM silver.shop__sales__customers ORDER BY customer_id`)).toEqual([
      { customer_id: 1, score: '11.00' },
      { customer_id: 2, score: '20.00' },
      { customer_id: 3, score: '30.00' },
      { customer_id: 4, score: '40.00' },
      { customer_id: 5, score: '50.25' },
    ]);
    expect(changed.results.find((r) => r.id === 'silver.shop__sales__customers.schema_change.score')).toMatchObject({ status: 'pass', observed: expect.stringContaining('integer -> numeric(8,2)') });
    // --full rebuilds the same from all of bronze, each row with its version.
    const full = await sb.refresh({ full: true });
    expect(full.status).toBe('success');
    expect(await sb.silver(`SELECT customer_id, CAST(score AS VARCHAR) AS score, loyalty_points FROM silver.shop__sales__customers ORDER BY customer_id`)).toEqual([
      { customer_id: 1, score: '11.00', loyalty_points: 5 },
      { customer_id: 2, score: '20.00', loyalty_points: null },
      { customer_id: 3, score: '30.00', loyalty_points: 7 },
      { customer_id: 4, score: '40.00', loyalty_points: 9 },
      { customer_id: 5, score: '50.25', loyalty_points: 1 },
    ]);
  });
});

describe('a lake with no data product', () => {
  it('gets silver, silver checks and no gold; the refresh says the product was skipped', async () => {
    const other = await batchSandbox();
    try {
      const fx = new BronzeFixture(other.lake, { prefix: 'shop', schemas: [hrEmployees] });
      fx.snapshot('employees', { id: 1, full_name: 'Ada Lovelace', salary: '1000.00' });
      await fx.flush();
      const run = await other.refresh();
      expect(run.status).toBe('success');
      expect(run.products).toEqual([{ name: 'sport-rewards', status: 'skipped', source: 'sport.public', reason: expect.stringContaining('silver has no sport.public.employees') }]);
      expect(run.results.map((r) => r.id)).toEqual(expect.arrayContaining(['silver.shop__hr__employees.id.not_null', 'silver.shop__hr__employees.id.unique', 'silver.freshness']));
      expect(run.results.some((r) => r.id.startsWith('gold.'))).toBe(false);
      const goldTables = await other.gold<{ name: string }>(`SELECT table_name AS name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1`);
      expect(goldTables.map((t) => t.name)).toEqual(['build_info', 'quality_results', 'run_log', 'v_quality_checks', 'v_run_log']);
    } finally {
      await other.close();
    }
  });

  it('does not read a topic whose rows name a schema the lake lacks: error finding, files left unconsumed, nothing guessed', async () => {
    const other = await batchSandbox();
    try {
      const fx = new BronzeFixture(other.lake, { prefix: 'shop', schemas: [hrEmployees] });
      fx.snapshot('employees', { id: 1, full_name: 'Ada Lovelace', salary: '1000.00' });
      await fx.flush();
      for await (const o of other.lake.list('_schemas/')) await other.lake.delete(o.key);
      const run = await other.refresh();
      expect(run.status).toBe('failed_quality');
      expect(run.results.find((r) => r.id === 'bronze.shop.hr.employees.schema_link')).toMatchObject({ status: 'fail', severity: 'error', observed: expect.stringContaining('no _schemas/shop.hr.employees/') });
      expect(await other.silver(`SELECT count(*)::INTEGER AS n FROM meta.bronze_files`)).toEqual([{ n: 0 }]);
    } finally {
      await other.close();
    }
  });
});
