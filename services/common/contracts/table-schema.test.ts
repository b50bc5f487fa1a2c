import { describe, expect, it } from 'vitest';
import {
  canonicalJson, isSchemaTopic, parseTableSchema, parseUnavailableHeader, schemaObjectKey, schemaTopic, topicPrefixOf, encodeTableSchema, withSchemaId,
  type TableSchemaBody,
} from './table-schema.ts';
import { ContractError } from './contract-error.ts';

const BODY: TableSchemaBody = {
  format: 1,
  source: { name: 'sport', db: 'sport', schema: 'public', table: 'activities' },
  topic: 'sport.public.activities',
  replicaIdentity: 'full',
  primaryKey: ['activity_id'],
  columns: [{
    name: 'activity_id', position: 1, attnum: 1, typeOid: 20, typeMod: -1, pgType: 'bigint', nullable: false, keyPosition: 1, identity: true,
    category: 'base', baseType: null, baseTypeOid: null, baseCategory: null, enumLabels: null, arrayDimensions: null,
  }],
  generatedColumns: [],
  rendering: { decimal: 'string', time: 'adaptive', interval: 'iso8601', binary: 'base64', unavailableValue: '__debezium_unavailable_value' },
};

describe('table schema contract', () => {
  it('canonical JSON sorts members at every level and adds no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [{ z: null, y: 'é"' }], c: true })).toBe('{"a":[{"y":"é\\"","z":null}],"b":1,"c":true}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
  });

  it('names: schema topic per prefix, lake key per topic and id', () => {
    expect(schemaTopic('sport')).toBe('sport._schemas');
    expect(isSchemaTopic('sport._schemas')).toBe(true);
    expect(isSchemaTopic('sport.public._schemas_x')).toBe(false);
    expect(schemaObjectKey('sport.public.activities', '0123456789abcdef0123')).toBe('_schemas/sport.public.activities/0123456789abcdef0123.json');
    expect(topicPrefixOf('sport.public.activities')).toBe('sport');
    expect(topicPrefixOf('a.b.sales.orders')).toBe('a.b');
    expect([topicPrefixOf('sport._schemas'), topicPrefixOf('sport.public.activities.dlq'), topicPrefixOf('two.parts')]).toEqual([undefined, undefined, undefined]);
  });

  it('a stored document is accepted only with a known format, its exact shape and the hash of its content as id', () => {
    const doc = withSchemaId(BODY);
    const text = encodeTableSchema(doc);
    expect(parseTableSchema(text)).toEqual(doc);
    expect(() => parseTableSchema(text, 'ffffffffffffffffffff')).toThrow(/does not match/);
    expect(() => parseTableSchema(text.replace('"bigint"', '"integer"'))).toThrow(/not the hash/);
    expect(() => parseTableSchema(canonicalJson({ ...doc, format: 2 }))).toThrow(ContractError);
    expect(() => parseTableSchema(canonicalJson({ ...doc, extra: 1 }))).toThrow(/Unrecognized key/);
    expect(() => parseTableSchema(canonicalJson({ ...doc, columns: [{ ...doc.columns[0], category: 'weird' }] }))).toThrow(/columns\[0\]\.category/);
    expect(() => parseTableSchema('{')).toThrow(/not valid JSON/);
    // The writer refuses what the reader would refuse.
    expect(() => encodeTableSchema({ ...doc, schemaId: 'ffffffffffffffffffff' })).toThrow(/not the hash/);
    expect(() => encodeTableSchema({ ...doc, format: 2 } as never)).toThrow(ContractError);
  });

  it('the unavailable header is a JSON array of column names', () => {
    expect(parseUnavailableHeader('["comment","photo"]')).toEqual(['comment', 'photo']);
    expect(parseUnavailableHeader('[1]')).toBeNull();
    expect(parseUnavailableHeader('comment')).toBeNull();
  });
});
