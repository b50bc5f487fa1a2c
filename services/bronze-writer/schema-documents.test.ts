import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTableSchema, parseTableSchema, schemaObjectKey, withSchemaId, type TableSchema } from '../common/contracts/table-schema.ts';
import { FileLakeStorage } from '../common/lake-storage.ts';
import { createLogger } from '../common/logger.ts';
import type { SchemaLookup } from '../common/schema-topic.ts';
import { LakeSchemaStore } from './schema-documents.ts';

const doc = (table: string): TableSchema =>
  withSchemaId({
    format: 1, source: { name: 'shop', db: 'shop', schema: 'sales', table }, topic: `shop.sales.${table}`, replicaIdentity: 'full', primaryKey: [],
    columns: [], generatedColumns: [], rendering: { decimal: 'string', time: 'adaptive', interval: 'iso8601', binary: 'base64', unavailableValue: '__debezium_unavailable_value' },
  });

/** An in-memory schema topic that counts lookups. */
class Docs implements SchemaLookup {
  lookups: string[][] = [];
  constructor(private readonly docs: TableSchema[]) {}
  lookup(ids: readonly string[]): Promise<Map<string, TableSchema>> {
    this.lookups.push([...ids]);
    return Promise.resolve(new Map(this.docs.filter((d) => ids.includes(d.schemaId)).map((d) => [d.schemaId, d])));
  }
}

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('LakeSchemaStore', () => {
  it('writes each document once per topic and id, as canonical JSON, and reports ids the topic does not hold', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'schema-store-'));
    const lake = new FileLakeStorage(dir);
    const [a, b] = [doc('orders'), doc('customers')];
    const docs = new Docs([a, b]);
    const store = new LakeSchemaStore(lake, createLogger('test', 'silent'));
    const missing = 'ffffffffffffffffffff';

    expect(await store.ensureStored('shop.sales.orders', [a.schemaId, missing], docs)).toEqual({ written: 1, missing: [missing] });
    // Concurrent flushes of two partitions naming the same id: one write.
    const both = await Promise.all([store.ensureStored('shop.sales.orders', [a.schemaId, b.schemaId], docs), store.ensureStored('shop.sales.orders', [b.schemaId], docs)]);
    expect(both.reduce((n, o) => n + o.written, 0)).toBe(1);
    // Already stored: no lookup at all.
    const before = docs.lookups.length;
    expect(await store.ensureStored('shop.sales.orders', [a.schemaId, b.schemaId], docs)).toEqual({ written: 0, missing: [] });
    expect(docs.lookups.length).toBe(before);
    // Another topic naming the same id gets its own copy.
    expect((await store.ensureStored('shop.sales.orders_archive', [a.schemaId], docs)).written).toBe(1);
    // A document stored as it arrives (no row yet) is not written again when rows name it.
    expect(await store.store('shop.sales.customers', b)).toBe(true);
    expect(await store.ensureStored('shop.sales.customers', [b.schemaId], docs)).toEqual({ written: 0, missing: [] });

    const text = (await lake.get(schemaObjectKey('shop.sales.orders', a.schemaId))).toString('utf8');
    expect(text).toBe(encodeTableSchema(a));
    expect(parseTableSchema(text, a.schemaId)).toEqual(a);
    await expect(lake.get(schemaObjectKey('shop.sales.orders', missing))).rejects.toThrow();
    expect(store.stats).toEqual({ written: 4, missing: 1 });
  });
});
