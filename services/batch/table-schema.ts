/**
 * Table schema documents as the batch reads them (the schema contract of issue 13,
 * docs/contracts/table-schemas.md; ONE home: services/common/contracts/table-schema.ts): one JSON
 * document per table version, produced by the CDC service from pgoutput's Relation message plus a
 * catalog read, stored by the bronze writer in the lake at `_schemas/<topic>/<schemaId>.json`
 * before any bronze object referencing it is committed. Each bronze row names its version in
 * `schema_id`.
 *
 * This module loads the documents of the lake, validated by the contract's reader (shape,
 * format, id = hash of the content). Silver types every column from these documents only
 * (silver-types.ts): never from the values.
 */
import type { LakeStorage } from '../common/lake-storage.ts';
import { parseTableSchema, SCHEMA_OBJECT_ROOT, schemaObjectKey, type SchemaColumn, type TableSchema } from '../common/contracts/table-schema.ts';

export type { SchemaColumn, TableSchema };

/** Lake prefix of the schema documents. */
export const SCHEMAS_ROOT = SCHEMA_OBJECT_ROOT;

/** Lake key of a schema document, `_schemas/<topic>/<schemaId>.json`. */
export const schemaKey = schemaObjectKey;

/** Topic and id of a schema document key, or undefined for another key. */
export function parseSchemaKey(key: string): { topic: string; schemaId: string } | undefined {
  if (!key.startsWith(SCHEMAS_ROOT) || !key.endsWith('.json')) return undefined;
  const rest = key.slice(SCHEMAS_ROOT.length, -'.json'.length);
  const slash = rest.lastIndexOf('/');
  if (slash <= 0 || slash === rest.length - 1 || rest.slice(0, slash).includes('/')) return undefined;
  return { topic: rest.slice(0, slash), schemaId: rest.slice(slash + 1) };
}

/** Every schema document in the lake, by topic and id; documents that fail validation are returned as problems. */
export async function loadLakeSchemas(lake: LakeStorage): Promise<{ byTopic: Map<string, Map<string, TableSchema>>; problems: { key: string; problem: string }[] }> {
  const byTopic = new Map<string, Map<string, TableSchema>>();
  const problems: { key: string; problem: string }[] = [];
  const keys: string[] = [];
  for await (const obj of lake.list(SCHEMAS_ROOT)) if (parseSchemaKey(obj.key)) keys.push(obj.key);
  const texts = await Promise.all(keys.map(async (key) => (await lake.get(key)).toString('utf8')));
  keys.forEach((key, i) => {
    const { topic, schemaId } = parseSchemaKey(key)!;
    try {
      const doc = parseTableSchema(texts[i]!, schemaId);
      if (doc.topic !== topic) throw new Error(`${key}: holds a document of topic ${doc.topic}`);
      const m = byTopic.get(topic) ?? new Map<string, TableSchema>();
      m.set(schemaId, doc);
      byTopic.set(topic, m);
    } catch (err) {
      problems.push({ key, problem: (err as Error).message });
    }
  });
  return { byTopic, problems };
}
