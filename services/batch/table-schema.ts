/**
 * Table schema documents as the batch reads them (the schema contract of issue 13,
 * /work/team/notes/schema-contract.md, docs/contracts/table-schemas.md): one JSON document per
 * table version, produced by the CDC service from pgoutput's Relation message plus a catalog read,
 * written by the bronze writer to the lake at `_schemas/<topic>/<schemaId>.json` before any bronze
 * object referencing it is committed. Each bronze row names its version in `schema_id`.
 *
 * This module validates a document (zod; unknown members are kept, so a producer that adds members
 * does not break the batch) and loads the documents of a topic from the lake. Silver types every
 * column from these documents only (silver-types.ts): never from the values.
 */
import { z } from 'zod';
import type { LakeStorage } from '../common/lake-storage.ts';

/** Lake prefix of the schema documents. */
export const SCHEMAS_ROOT = '_schemas/';

const columnSchema = z.looseObject({
  name: z.string().min(1),
  position: z.number().int(),
  typeOid: z.number().int(),
  typeMod: z.number().int(),
  /** `format_type(oid, typmod)`: `numeric(12,2)`, `timestamp(3) with time zone`, `text[]`, `my_enum`... */
  pgType: z.string().min(1),
  nullable: z.boolean(),
  /** 1-based position in the primary key, null when not in it. */
  keyPosition: z.number().int().min(1).nullable(),
  category: z.enum(['base', 'enum', 'domain', 'array', 'composite', 'range', 'multirange', 'pseudo', 'other']),
  /** Domain: format_type of its base type (resolved); array: of its element type (resolved). */
  baseType: z.string().nullable().optional(),
  enumLabels: z.array(z.string()).nullable().optional(),
  arrayDimensions: z.number().int().nullable().optional(),
});

const renderingSchema = z.looseObject({
  decimal: z.string().default('string'),
  time: z.string().default('adaptive'),
  interval: z.enum(['iso8601', 'numeric']).default('numeric'),
  binary: z.string().default('base64'),
  unavailableValue: z.string().default('__debezium_unavailable_value'),
});

export const tableSchemaDocument = z.looseObject({
  schemaId: z.string().min(1),
  format: z.number().int(),
  source: z.looseObject({ name: z.string().min(1), db: z.string().optional(), schema: z.string().min(1), table: z.string().min(1) }),
  topic: z.string().min(1),
  replicaIdentity: z.enum(['full', 'default', 'index', 'nothing']),
  primaryKey: z.array(z.string()),
  columns: z.array(columnSchema).min(1),
  generatedColumns: z.array(z.string()).default([]),
  rendering: renderingSchema.default({ decimal: 'string', time: 'adaptive', interval: 'numeric', binary: 'base64', unavailableValue: '__debezium_unavailable_value' }),
});

/** One table version. */
export type TableSchema = z.infer<typeof tableSchemaDocument>;
/** One column of a table version. */
export type SchemaColumn = TableSchema['columns'][number];

/**
 * Parses and validates a schema document.
 * @throws Error naming the first invalid members, e.g. `columns.0.typeOid: Invalid input`.
 */
export function parseTableSchema(text: string, where = 'schema document'): TableSchema {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: not JSON (${(err as Error).message})`);
  }
  const parsed = tableSchemaDocument.safeParse(json);
  if (!parsed.success) throw new Error(`${where}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const doc = parsed.data;
  doc.columns.sort((a, b) => a.position - b.position);
  return doc;
}

/** Lake key of a schema document. */
export function schemaKey(topic: string, schemaId: string): string {
  return `${SCHEMAS_ROOT}${topic}/${schemaId}.json`;
}

/** Topic and id of a schema document key, or undefined for another key. */
export function parseSchemaKey(key: string): { topic: string; schemaId: string } | undefined {
  if (!key.startsWith(SCHEMAS_ROOT) || !key.endsWith('.json')) return undefined;
  const rest = key.slice(SCHEMAS_ROOT.length, -'.json'.length);
  const slash = rest.lastIndexOf('/');
  if (slash <= 0 || slash === rest.length - 1 || rest.slice(0, slash).includes('/')) return undefined;
  return { topic: rest.slice(0, slash), schemaId: rest.slice(slash + 1) };
}

/** Every schema document in the lake, by topic (documents that fail validation are returned as problems). */
export async function loadLakeSchemas(lake: LakeStorage): Promise<{ byTopic: Map<string, Map<string, TableSchema>>; problems: { key: string; problem: string }[] }> {
  const byTopic = new Map<string, Map<string, TableSchema>>();
  const problems: { key: string; problem: string }[] = [];
  const keys: string[] = [];
  for await (const obj of lake.list(SCHEMAS_ROOT)) if (parseSchemaKey(obj.key)) keys.push(obj.key);
  const texts = await Promise.all(keys.map(async (key) => (await lake.get(key)).toString('utf8')));
  keys.forEach((key, i) => {
    const { topic, schemaId } = parseSchemaKey(key)!;
    try {
      const doc = parseTableSchema(texts[i]!, key);
      if (doc.schemaId !== schemaId || doc.topic !== topic) throw new Error(`${key}: holds schema ${doc.schemaId} of topic ${doc.topic}`);
      const m = byTopic.get(topic) ?? new Map<string, TableSchema>();
      m.set(schemaId, doc);
      byTopic.set(topic, m);
    } catch (err) {
      problems.push({ key, problem: (err as Error).message });
    }
  });
  return { byTopic, problems };
}
