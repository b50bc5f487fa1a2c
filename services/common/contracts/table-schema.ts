/**
 * Contract: table schema documents (docs/contracts/table-schemas.md), the column types that travel
 * with the change events.
 *
 * The CDC service builds one document per table version (pgoutput's Relation message plus a
 * catalog read) and produces it, keyed by its id, to the compacted topic `<prefix>._schemas`
 * before the first event that references it; every message of a table topic carries the id in the
 * header {@link SCHEMA_ID_HEADER}. The bronze writer copies each document to the lake at
 * `_schemas/<topic>/<schemaId>.json`, so the batch types bronze rows without Kafka.
 *
 * The id is content-addressed ({@link schemaIdOf}): the first 20 hex digits of the SHA-256 of the
 * document's canonical JSON without `schemaId`. The same table version always gets the same id (a
 * restart re-emits it), and any change of a field (a column added, dropped, retyped, a key or
 * nullability change, another rendering mode) gives a new one.
 *
 * Pure: no I/O. Everything here is shared by the producer (services/cdc), the bronze writer and
 * the batch; nothing else may define these shapes.
 *
 * - Schema: {@link tableSchemaSchema} ({@link TableSchema} is derived from it).
 * - Reader: {@link parseTableSchema} (shape, format, id = hash of the content).
 * - Writer: {@link encodeTableSchema} (canonical JSON); ids: {@link schemaIdOf}, {@link withSchemaId};
 *   names: {@link schemaTopic}, {@link schemaObjectKey}; headers: {@link SCHEMA_ID_HEADER},
 *   {@link UNAVAILABLE_HEADER} ({@link parseUnavailableHeader}).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ContractError, readJsonContract, toJsonContract } from './contract-error.ts';

const CONTRACT = 'table-schema';

/** Kafka header naming the schema document of a table-topic message (UTF-8, the schemaId). */
export const SCHEMA_ID_HEADER = 'lakehouse.schema.id';

/**
 * Kafka header listing, as a JSON array of column names, the columns whose value in `after` is
 * Debezium's placeholder {@link UNAVAILABLE_VALUE} because the log did not carry it (an unchanged
 * TOASTed value without a before-image). Absent when there is none.
 */
export const UNAVAILABLE_HEADER = 'lakehouse.unavailable';

/** Debezium's `unavailable.value.placeholder` (the payload keeps it; consumers use the header). */
export const UNAVAILABLE_VALUE = '__debezium_unavailable_value';

/** Version of the document format; a consumer refuses a format it does not know. */
export const SCHEMA_FORMAT = 1;

/** The compacted topic holding the schema documents of a topic prefix. */
export function schemaTopic(topicPrefix: string): string {
  return `${topicPrefix}._schemas`;
}

/**
 * The topic prefix of a table topic `<prefix>.<schema>.<table>` (docs/contracts/change-events.md,
 * "Topics"; the prefix may itself contain dots), or undefined for a name with fewer than three
 * dot-separated parts, a dead-letter topic or a schema topic.
 */
export function topicPrefixOf(dataTopic: string): string | undefined {
  if (dataTopic.endsWith('.dlq') || isSchemaTopic(dataTopic)) return undefined;
  const parts = dataTopic.split('.');
  if (parts.length < 3 || parts.some((p) => p === '')) return undefined;
  return parts.slice(0, -2).join('.');
}

/** True for a schema topic (`<prefix>._schemas`): not a data topic, never written as bronze rows. */
export function isSchemaTopic(topic: string): boolean {
  return topic.endsWith('._schemas');
}

/** Lake key of a stored schema document: `_schemas/<topic>/<schemaId>.json`. */
export function schemaObjectKey(topic: string, schemaId: string): string {
  return `${SCHEMA_OBJECT_ROOT}${topic}/${schemaId}.json`;
}

/** Prefix of every stored schema document in the lake. */
export const SCHEMA_OBJECT_ROOT = '_schemas/';

/** Type categories, from pg_type.typtype / typcategory. */
export const TYPE_CATEGORIES = ['base', 'enum', 'domain', 'array', 'composite', 'range', 'multirange', 'pseudo', 'other'] as const;
export type TypeCategory = (typeof TYPE_CATEGORIES)[number];

/** `interval` rendering (CDC_INTERVAL_HANDLING): Debezium's `interval.handling.mode` string or numeric. */
export const INTERVAL_MODES = ['iso8601', 'numeric'] as const;
export type IntervalMode = (typeof INTERVAL_MODES)[number];

const schemaIdText = z.string().regex(/^[0-9a-f]{20}$/, 'expected 20 lower-case hex digits');

/** One column, in the order of the row images (`before`/`after`). */
export const schemaColumnSchema = z.strictObject({
  name: z.string().min(1),
  /** 1-based position in the row images (the published columns in attribute order). */
  position: z.number().int().min(1),
  /** pg_attribute.attnum when the catalog still has the column by that name; null otherwise. */
  attnum: z.number().int().min(1).nullable(),
  /** pg_type OID of the declared type (a domain keeps its own OID), from the Relation message. */
  typeOid: z.number().int().min(0),
  /** atttypmod (precision, length...), -1 when none was declared; from the Relation message. */
  typeMod: z.number().int(),
  /** format_type(typeOid, typeMod): "numeric(12,2)", "timestamp(3) with time zone", "text[]", "mood". */
  pgType: z.string().min(1),
  /** False when the column or any domain under its type is NOT NULL. */
  nullable: z.boolean(),
  /** 1-based position in the primary key; null when not part of it. */
  keyPosition: z.number().int().min(1).nullable(),
  /** Part of the replica identity: the only columns a `before` image carries unless replicaIdentity is "full". */
  identity: z.boolean(),
  category: z.enum(TYPE_CATEGORIES),
  /**
   * domain: its base type with every domain stripped ("integer", "numeric(10,2)", "integer[]");
   * array: its element type with every domain stripped ("numeric(10,2)", "mood"); else null.
   */
  baseType: z.string().min(1).nullable(),
  /** OID of baseType; null when baseType is. */
  baseTypeOid: z.number().int().min(0).nullable(),
  /** Category of baseType (e.g. "array" for a domain over an array); null when baseType is. */
  baseCategory: z.enum(TYPE_CATEGORIES).nullable(),
  /** Labels in sort order when the type, with domains and arrays stripped, is an enum; else null. */
  enumLabels: z.array(z.string()).nullable(),
  /** Arrays and domains over arrays: pg_attribute.attndims (declared, not enforced; 0 = not declared); else null. */
  arrayDimensions: z.number().int().min(0).nullable(),
});
export type SchemaColumn = z.output<typeof schemaColumnSchema>;

/** How the CDC service renders values (services/cdc/README.md, "Column values"). */
export const renderingSchema = z.strictObject({
  /** numeric: a string exactly as PostgreSQL prints it (decimal.handling.mode=string). */
  decimal: z.literal('string'),
  /** time.precision.mode=adaptive: timestamp(0-3)/time(0-3) in ms, more precision in µs. */
  time: z.literal('adaptive'),
  interval: z.enum(INTERVAL_MODES),
  /** bytea: base64 text (binary.handling.mode=bytes through the JSON converter). */
  binary: z.literal('base64'),
  unavailableValue: z.literal(UNAVAILABLE_VALUE),
});
export type Rendering = z.output<typeof renderingSchema>;

export const REPLICA_IDENTITIES = ['default', 'nothing', 'full', 'index'] as const;

/** A table schema document without its id (what the id is computed from). */
export const tableSchemaBodySchema = z.strictObject({
  format: z.literal(SCHEMA_FORMAT),
  source: z.strictObject({
    /** KAFKA_TOPIC_PREFIX (Debezium's `source.name`). */
    name: z.string().min(1),
    db: z.string().min(1),
    schema: z.string().min(1),
    table: z.string().min(1),
  }),
  topic: z.string().min(1),
  replicaIdentity: z.enum(REPLICA_IDENTITIES),
  /** Primary-key column names in key order; [] for a table without one. */
  primaryKey: z.array(z.string()),
  columns: z.array(schemaColumnSchema).min(0),
  /** STORED generated columns: in the table, never in the events (pgoutput before PostgreSQL 18). */
  generatedColumns: z.array(z.string()),
  rendering: renderingSchema,
});
export type TableSchemaBody = z.output<typeof tableSchemaBodySchema>;

/** A table schema document as produced to `<prefix>._schemas` and stored in the lake. */
export const tableSchemaSchema = tableSchemaBodySchema.extend({ schemaId: schemaIdText });
export type TableSchema = z.output<typeof tableSchemaSchema>;

/**
 * Canonical JSON (RFC 8785 JCS for the values a document holds: strings, integers, booleans,
 * null, arrays, objects): object members sorted by name (UTF-16 code units), no whitespace.
 * @throws TypeError for a value JSON cannot hold (undefined, a function, a non-finite number).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot hold ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}

/** The content-addressed id: first 20 hex digits of SHA-256(canonical JSON of the body). */
export function schemaIdOf(body: TableSchemaBody): string {
  const { schemaId: _ignored, ...rest } = body as TableSchemaBody & { schemaId?: string };
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 20);
}

/** The document with its id. */
export function withSchemaId(body: TableSchemaBody): TableSchema {
  return { ...body, schemaId: schemaIdOf(body) };
}

/**
 * The writer: the bytes produced to Kafka and stored in the lake, the canonical JSON of the whole
 * document, validated by {@link tableSchemaSchema}.
 * @throws ContractError for a document the reader would reject.
 */
export function encodeTableSchema(doc: TableSchema): string {
  const value = toJsonContract(CONTRACT, tableSchemaSchema, doc);
  if (schemaIdOf(value) !== value.schemaId) throw new ContractError(CONTRACT, [`schemaId: ${value.schemaId} is not the hash of the content`]);
  return canonicalJson(value);
}

/**
 * The reader: parses and verifies a stored or consumed document: the shape, the format, and that
 * its id is the hash of its content (so a document cannot be stored under another table
 * version's id).
 * @param expectedId the Kafka key or the object name's id, when known.
 * @throws ContractError naming what is wrong.
 */
export function parseTableSchema(text: string, expectedId?: string): TableSchema {
  const doc = readJsonContract(CONTRACT, tableSchemaSchema, text);
  const computed = schemaIdOf(doc);
  if (computed !== doc.schemaId) throw new ContractError(CONTRACT, [`schemaId: ${doc.schemaId} is not the hash of the content (${computed})`]);
  if (expectedId !== undefined && expectedId !== doc.schemaId) throw new ContractError(CONTRACT, [`schemaId: ${doc.schemaId} does not match ${expectedId}`]);
  return doc;
}

/**
 * Parses the `lakehouse.unavailable` header value.
 * @returns the column names, or null when the text is not a JSON array of strings.
 */
export function parseUnavailableHeader(text: string): string[] | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  return Array.isArray(json) && json.every((c) => typeof c === 'string') ? (json as string[]) : null;
}
