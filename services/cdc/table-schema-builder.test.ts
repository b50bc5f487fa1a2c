import { describe, expect, it } from 'vitest';
import { parseTableSchema, encodeTableSchema, schemaIdOf } from '../common/contracts/table-schema.ts';
import { buildTableSchema, ColumnFactsMemory, enumTypeOids, formatKey, formatPairs, identityFlags, type PgTypeRow, type SchemaFacts } from './table-schema-builder.ts';

const base = (oid: number, typcategory = 'N'): PgTypeRow => ({ oid, typtype: 'b', typcategory, typelem: 0, typbasetype: 0, typtypmod: -1, typnotnull: false });
const arrayOf = (oid: number, elem: number): PgTypeRow => ({ oid, typtype: 'b', typcategory: 'A', typelem: elem, typbasetype: 0, typtypmod: -1, typnotnull: false });
const domain = (oid: number, over: number, typtypmod = -1, typnotnull = false): PgTypeRow => ({ oid, typtype: 'd', typcategory: 'N', typelem: 0, typbasetype: over, typtypmod, typnotnull });

// int4 23, numeric 1700, text 25, _int4 1007, _text 1009, _numeric 1231; user types from 90001.
const TYPES = new Map<number, PgTypeRow>([
  [23, base(23)], [1700, base(1700)], [25, base(25, 'S')], [1007, arrayOf(1007, 23)], [1009, arrayOf(1009, 25)], [1231, arrayOf(1231, 1700)],
  [90001, domain(90001, 23, -1, true)], // posint: NOT NULL domain over integer
  [90002, domain(90002, 90001)], // small_posint over posint
  [90003, { oid: 90003, typtype: 'e', typcategory: 'E', typelem: 0, typbasetype: 0, typtypmod: -1, typnotnull: false }], // mood
  [90004, arrayOf(90004, 90003)], // mood[]
  [90005, arrayOf(90005, 90001)], // posint[]
  [90006, domain(90006, 1007)], // int_list over integer[]
  [90007, domain(90007, 1700, 393222)], // money2 over numeric(6,2)
]);
const FORMATTED = new Map<string, string>([
  [formatKey(23, -1), 'integer'], [formatKey(1700, 786438), 'numeric(12,2)'], [formatKey(25, -1), 'text'], [formatKey(1009, -1), 'text[]'],
  [formatKey(25, -1), 'text'], [formatKey(90001, -1), 'posint'], [formatKey(90002, -1), 'small_posint'], [formatKey(90003, -1), 'mood'],
  [formatKey(90004, -1), 'mood[]'], [formatKey(90005, -1), 'posint[]'], [formatKey(90006, -1), 'int_list'], [formatKey(1007, -1), 'integer[]'],
  [formatKey(1231, 786438), 'numeric(12,2)[]'], [formatKey(90007, -1), 'money2'], [formatKey(1700, 393222), 'numeric(6,2)'],
]);
const COLUMNS = [
  { name: 'id', typeOid: 23, typeMod: -1 },
  { name: 'amount', typeOid: 1700, typeMod: 786438 },
  { name: 'tags', typeOid: 1009, typeMod: -1 },
  { name: 'p', typeOid: 90001, typeMod: -1 },
  { name: 'sp', typeOid: 90002, typeMod: -1 },
  { name: 'feeling', typeOid: 90003, typeMod: -1 },
  { name: 'feelings', typeOid: 90004, typeMod: -1 },
  { name: 'ps', typeOid: 90005, typeMod: -1 },
  { name: 'list', typeOid: 90006, typeMod: -1 },
  { name: 'amounts', typeOid: 1231, typeMod: 786438 },
  { name: 'price', typeOid: 90007, typeMod: -1 },
];

function facts(overrides: Partial<SchemaFacts> = {}): SchemaFacts {
  return {
    topicPrefix: 'shop', database: 'shopdb', schema: 'sales', table: 'orders', replicaIdentity: 'd',
    columns: COLUMNS.map((c) => ({ ...c, isIdentity: c.name === 'id' })),
    catalogColumns: new Map(COLUMNS.map((c, i) => [c.name, { attnum: i + 2, notNull: c.name === 'id', dims: c.name === 'tags' ? 2 : c.typeOid === 1231 || c.typeOid === 90004 || c.typeOid === 90005 ? 1 : 0 }])),
    primaryKey: ['id'], generatedColumns: ['total'], types: TYPES, formatted: FORMATTED,
    enumLabels: new Map([[90003, ['sad', 'ok', 'happy']]]), intervalMode: 'iso8601',
    ...overrides,
  };
}

describe('table schema documents from Relation and catalog facts', () => {
  it('describes every column: declared type, domains and arrays resolved, enum labels, keys, nullability', () => {
    const doc = buildTableSchema(facts());
    expect(doc).toMatchObject({
      format: 1,
      source: { name: 'shop', db: 'shopdb', schema: 'sales', table: 'orders' },
      topic: 'shop.sales.orders', replicaIdentity: 'default', primaryKey: ['id'], generatedColumns: ['total'],
      rendering: { decimal: 'string', time: 'adaptive', interval: 'iso8601', binary: 'base64', unavailableValue: '__debezium_unavailable_value' },
    });
    const byName = Object.fromEntries(doc.columns.map((c) => [c.name, c]));
    expect(byName.id).toEqual({
      name: 'id', position: 1, attnum: 2, typeOid: 23, typeMod: -1, pgType: 'integer', nullable: false, keyPosition: 1, identity: true,
      category: 'base', baseType: null, baseTypeOid: null, baseCategory: null, enumLabels: null, arrayDimensions: null,
    });
    expect(byName.amount).toMatchObject({ position: 2, pgType: 'numeric(12,2)', nullable: true, keyPosition: null, identity: false, category: 'base' });
    expect(byName.tags).toMatchObject({ pgType: 'text[]', category: 'array', baseType: 'text', baseTypeOid: 25, baseCategory: 'base', arrayDimensions: 2 });
    // A NOT NULL domain makes the column non-nullable; domains resolve through domains.
    expect(byName.p).toMatchObject({ pgType: 'posint', category: 'domain', baseType: 'integer', baseTypeOid: 23, baseCategory: 'base', nullable: false });
    expect(byName.sp).toMatchObject({ pgType: 'small_posint', category: 'domain', baseType: 'integer', nullable: false });
    expect(byName.feeling).toMatchObject({ category: 'enum', baseType: null, enumLabels: ['sad', 'ok', 'happy'] });
    expect(byName.feelings).toMatchObject({ category: 'array', baseType: 'mood', baseCategory: 'enum', enumLabels: ['sad', 'ok', 'happy'], arrayDimensions: 1 });
    // An array's element domain is stripped; the column stays nullable (the domain constrains elements).
    expect(byName.ps).toMatchObject({ category: 'array', baseType: 'integer', baseTypeOid: 23, nullable: true });
    expect(byName.list).toMatchObject({ category: 'domain', baseType: 'integer[]', baseCategory: 'array', arrayDimensions: 0 });
    expect(byName.amounts).toMatchObject({ pgType: 'numeric(12,2)[]', baseType: 'numeric(12,2)' });
    expect(byName.price).toMatchObject({ category: 'domain', baseType: 'numeric(6,2)', baseTypeOid: 1700 });
    // What the catalog adapter must read for it.
    expect(formatPairs(facts().columns, TYPES).map(([o, m]) => formatKey(o, m)).sort()).toEqual([...new Set(FORMATTED.keys())].sort());
    expect(enumTypeOids(facts().columns, TYPES)).toEqual([90003]);
  });

  it('the id is content-addressed: same facts, same id and bytes; any change, a new id', () => {
    const doc = buildTableSchema(facts());
    expect(doc.schemaId).toMatch(/^[0-9a-f]{20}$/);
    expect(schemaIdOf(doc)).toBe(doc.schemaId);
    expect(encodeTableSchema(buildTableSchema(facts()))).toBe(encodeTableSchema(doc));
    expect(parseTableSchema(encodeTableSchema(doc), doc.schemaId)).toEqual(doc);
    const variants: Partial<SchemaFacts>[] = [
      { columns: facts().columns.slice(0, -1) }, // DROP COLUMN
      { columns: [...facts().columns, { name: 'note', typeOid: 25, typeMod: -1, isIdentity: false }] }, // ADD COLUMN
      { columns: facts().columns.map((c) => (c.name === 'amount' ? { ...c, typeMod: 393222 } : c)) }, // ALTER TYPE
      { primaryKey: ['id', 'amount'] },
      { catalogColumns: new Map([...facts().catalogColumns].map(([n, c]) => [n, n === 'amount' ? { ...c, notNull: true } : c])) },
      { replicaIdentity: 'f' },
      { intervalMode: 'numeric' },
      { topicPrefix: 'shop2' },
    ];
    const ids = new Set([doc.schemaId, ...variants.map((v) => buildTableSchema(facts(v)).schemaId)]);
    expect(ids.size).toBe(variants.length + 1);
  });

  it('a column dropped or renamed since the Relation message keeps its Relation facts', () => {
    const doc = buildTableSchema(facts({ catalogColumns: new Map() }));
    expect(doc.columns[1]).toMatchObject({ name: 'amount', attnum: null, pgType: 'numeric(12,2)', nullable: true });
  });

  it('replica-identity flags for snapshot documents follow pgoutput (FULL: all, DEFAULT: primary key, INDEX: its columns, NOTHING: none)', () => {
    const names = ['a', 'b', 'c'];
    expect(identityFlags('f', names, ['a'], [])).toEqual([true, true, true]);
    expect(identityFlags('d', names, ['b'], [])).toEqual([false, true, false]);
    expect(identityFlags('d', names, [], [])).toEqual([false, false, false]);
    expect(identityFlags('i', names, ['a'], ['c'])).toEqual([false, false, true]);
    expect(identityFlags('n', names, ['a'], [])).toEqual([false, false, false]);
  });
});

describe('ColumnFactsMemory', () => {
  it('a column dropped between the Relation message and the catalog read keeps the facts an earlier read saw', () => {
    const memory = new ColumnFactsMemory();
    const first = buildTableSchema(memory.complete(facts()));
    // DROP COLUMN committed before the catalog read of the next Relation message, which still lists it.
    const catalogAfterDrop = new Map([...facts().catalogColumns].filter(([name]) => name !== 'id'));
    const raced = buildTableSchema(memory.complete(facts({ catalogColumns: catalogAfterDrop })));
    expect(raced).toEqual(first);
    // Without the memory, the column would read as unknown to the catalog: another id.
    expect(buildTableSchema(facts({ catalogColumns: catalogAfterDrop })).schemaId).not.toBe(first.schemaId);
    // Other tables are remembered apart.
    expect(buildTableSchema(memory.complete(facts({ table: 'other', catalogColumns: catalogAfterDrop }))).columns[0]).toMatchObject({ attnum: null, nullable: true });
  });

  it('seeded with the documents of an earlier run, a restart behind a DROP COLUMN rebuilds the documents that run emitted', () => {
    const earlier = buildTableSchema(facts());
    const memory = new ColumnFactsMemory();
    memory.seed([earlier]);
    expect(memory.seeded).toBe(true);
    // The re-sent Relation message still lists the dropped columns; the catalog has neither.
    const catalogAfterDrop = new Map([...facts().catalogColumns].filter(([name]) => name !== 'id' && name !== 'p'));
    expect(buildTableSchema(memory.complete(facts({ catalogColumns: catalogAfterDrop })))).toEqual(earlier);
  });
});
