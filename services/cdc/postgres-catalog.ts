/**
 * Catalog reads the CDC service needs beyond what pgoutput sends: primary-key columns (a Relation
 * message flags every column as identity under REPLICA IDENTITY FULL, so it cannot tell the key),
 * the published columns of a table for the snapshot, and non-built-in types (domains, enums,
 * arrays of them), and the facts of table schema documents ({@link readSchemaFacts}). Reads
 * pg_catalog only, which every role may read.
 */
import type pg from 'pg';
import type { IntervalMode } from '../common/contracts/table-schema.ts';
import type { ColumnDescription } from './change-mapper.ts';
import type { RelationMessage } from './pgoutput.ts';
import {
  enumTypeOids, formatKey, formatPairs, identityFlags, referencedTypeOids, type PgTypeRow, type RelationColumnFacts, type SchemaFacts,
} from './table-schema-builder.ts';
import { BUILTIN_TYPES, classifyType, type TypeInfo } from './value-render.ts';

/** A captured table as the catalog describes it. */
export interface TableDescription {
  oid: number;
  schema: string;
  table: string;
  /** pg_class.relkind: r = table, p = partitioned table. */
  relkind: string;
  /** pg_class.relreplident: d default, n nothing, f full, i index. */
  replicaIdentity: string;
  /** Columns pgoutput publishes, in attribute order (no dropped or generated columns). */
  columns: ColumnDescription[];
  /** Primary-key column names in key order; [] without a primary key. */
  primaryKey: string[];
}

type Queryable = Pick<pg.Client, 'query'>;

const DESCRIBE_SQL = `
  SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS table, c.relkind::text AS relkind, c.relreplident::text AS replident,
         COALESCE((SELECT json_agg(json_build_object('name', a.attname, 'typeOid', a.atttypid::int8, 'typeMod', a.atttypmod) ORDER BY a.attnum)
                     FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), '[]'::json) AS columns,
         COALESCE((SELECT json_agg(a.attname ORDER BY k.ord)
                     FROM pg_index i
                     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                    WHERE i.indrelid = c.oid AND i.indisprimary), '[]'::json) AS primary_key
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace`;

interface DescribeRow {
  oid: string;
  schema: string;
  table: string;
  relkind: string;
  replident: string;
  columns: { name: string; typeOid: number; typeMod: number }[];
  primary_key: string[];
}

function toDescription(row: DescribeRow): TableDescription {
  return {
    oid: Number(row.oid),
    schema: row.schema,
    table: row.table,
    relkind: row.relkind,
    replicaIdentity: row.replident,
    columns: row.columns.map((c) => ({ name: c.name, typeOid: Number(c.typeOid), typeMod: c.typeMod })),
    primaryKey: row.primary_key,
  };
}

/**
 * Describes a table by name.
 * @returns the description, or null when no table or partitioned table has that name.
 */
export async function describeTable(db: Queryable, schema: string, table: string): Promise<TableDescription | null> {
  const res = await db.query<DescribeRow>(`${DESCRIBE_SQL} WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, [schema, table]);
  return res.rows[0] ? toDescription(res.rows[0]) : null;
}

/** Describes a table by OID (as a Relation message names it); null when it no longer exists. */
export async function describeTableById(db: Queryable, oid: number): Promise<TableDescription | null> {
  const res = await db.query<DescribeRow>(`${DESCRIBE_SQL} WHERE c.oid = $1`, [oid]);
  return res.rows[0] ? toDescription(res.rows[0]) : null;
}

interface TypeRow {
  oid: string;
  name: string;
  typtype: string;
  typcategory: string;
  typelem: string;
  base_oid: string;
}

/**
 * Built-in types plus the non-built-in types loaded from pg_type. Domains take their base
 * type's rendering (recursively).
 */
export class TypeCatalog {
  private readonly loaded = new Map<number, TypeInfo>();

  /** The type, if built in or loaded. */
  lookup = (oid: number): TypeInfo | undefined => BUILTIN_TYPES.get(oid) ?? this.loaded.get(oid);

  /**
   * Loads the types among `oids` (and their array elements / domain bases) not known yet.
   * Types that no longer exist stay unknown (rendered as text).
   */
  async ensure(db: Queryable, oids: Iterable<number>, depth = 0): Promise<void> {
    const missing = [...new Set(oids)].filter((o) => !this.lookup(o));
    if (missing.length === 0 || depth > 8) return;
    const res = await db.query<TypeRow>(
      `SELECT t.oid::int8 AS oid, t.typname AS name, t.typtype::text AS typtype, t.typcategory::text AS typcategory,
              t.typelem::int8 AS typelem, t.typbasetype::int8 AS base_oid
         FROM pg_type t WHERE t.oid = ANY($1::oid[])`,
      [missing],
    );
    const next: number[] = [];
    const domains: TypeRow[] = [];
    for (const row of res.rows) {
      if (row.typtype === 'd') {
        domains.push(row);
        next.push(Number(row.base_oid));
        continue;
      }
      const info = classifyType({ oid: Number(row.oid), name: row.name, typtype: row.typtype, typcategory: row.typcategory, typelem: Number(row.typelem) });
      this.loaded.set(info.oid, info);
      if (info.kind === 'array' && info.elemOid !== undefined) next.push(info.elemOid);
    }
    await this.ensure(db, next, depth + 1);
    for (const d of domains) {
      const base = this.lookup(Number(d.base_oid));
      if (base) this.loaded.set(Number(d.oid), { ...base, oid: Number(d.oid), name: d.name });
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Table schema documents (table-schema-builder.ts, docs/contracts/table-schemas.md)

const SCHEMA_TABLE_SQL = `
  SELECT n.nspname AS schema, c.relname AS table, c.relreplident::text AS replident,
         COALESCE((SELECT json_agg(json_build_object('name', a.attname, 'attnum', a.attnum, 'notNull', a.attnotnull, 'dims', a.attndims,
                                                     'generated', a.attgenerated <> '', 'typeOid', a.atttypid::int8, 'typeMod', a.atttypmod) ORDER BY a.attnum)
                     FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::json) AS attributes,
         COALESCE((SELECT json_agg(a.attname ORDER BY k.ord)
                     FROM pg_index i
                     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                    WHERE i.indrelid = c.oid AND i.indisprimary), '[]'::json) AS primary_key,
         COALESCE((SELECT json_agg(a.attname ORDER BY k.ord)
                     FROM pg_index i
                     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                    WHERE i.indrelid = c.oid AND i.indisreplident), '[]'::json) AS identity_index
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = $1`;

interface SchemaTableRow {
  schema: string;
  table: string;
  replident: string;
  attributes: { name: string; attnum: number; notNull: boolean; dims: number; generated: boolean; typeOid: number; typeMod: number }[];
  primary_key: string[];
  identity_index: string[];
}

interface PgTypeQueryRow {
  oid: string;
  typtype: string;
  typcategory: string;
  typelem: string;
  typbasetype: string;
  typtypmod: number;
  typnotnull: boolean;
}

/** pg_type rows of `oids` and of every type they reach (domain bases, array elements). */
async function loadTypeClosure(db: Queryable, oids: Iterable<number>): Promise<Map<number, PgTypeRow>> {
  const types = new Map<number, PgTypeRow>();
  let wanted = [...new Set(oids)];
  for (let depth = 0; wanted.length > 0 && depth < 32; depth++) {
    const res = await db.query<PgTypeQueryRow>(
      `SELECT t.oid::int8 AS oid, t.typtype::text AS typtype, t.typcategory::text AS typcategory, t.typelem::int8 AS typelem,
              t.typbasetype::int8 AS typbasetype, t.typtypmod, t.typnotnull
         FROM pg_type t WHERE t.oid = ANY($1::oid[])`,
      [wanted],
    );
    const loaded = res.rows.map((r): PgTypeRow => ({
      oid: Number(r.oid), typtype: r.typtype, typcategory: r.typcategory, typelem: Number(r.typelem), typbasetype: Number(r.typbasetype), typtypmod: r.typtypmod, typnotnull: r.typnotnull,
    }));
    for (const row of loaded) types.set(row.oid, row);
    wanted = [...new Set(referencedTypeOids(loaded))].filter((o) => !types.has(o));
  }
  return types;
}

/** The options of {@link readSchemaFacts} that do not come from PostgreSQL. */
export interface SchemaFactsOptions {
  topicPrefix: string;
  database: string;
  intervalMode: IntervalMode;
}

/**
 * Reads what {@link buildTableSchema} needs for the table `relationOid`.
 * @param relation the Relation message (streaming): its columns, flags and replica identity are
 *   used as they are. For the snapshot, which has no Relation message, `{ published }`: the
 *   columns the snapshot reads (the publication's column list, in attribute order); their
 *   replica-identity flags and the replica identity come from the catalog, derived as pgoutput
 *   derives them.
 * @returns null when the table no longer exists.
 */
export async function readSchemaFacts(db: Queryable, relationOid: number, options: SchemaFactsOptions, relation: RelationMessage | { published: readonly ColumnDescription[] }): Promise<SchemaFacts | null> {
  const row = (await db.query<SchemaTableRow>(SCHEMA_TABLE_SQL, [relationOid])).rows[0];
  const message = 'tag' in relation ? relation : undefined;
  if (!row && !message) return null;
  const attributes = row?.attributes ?? [];
  const primaryKey = row?.primary_key ?? [];
  let columns: RelationColumnFacts[];
  let replicaIdentity: SchemaFacts['replicaIdentity'];
  if (message) {
    columns = message.columns.map((c) => ({ name: c.name, typeOid: c.typeOid, typeMod: c.typeMod, isIdentity: c.isIdentity }));
    replicaIdentity = message.replicaIdentity;
  } else {
    replicaIdentity = row!.replident as SchemaFacts['replicaIdentity'];
    const published = 'published' in relation ? relation.published : [];
    const flags = identityFlags(replicaIdentity, published.map((c) => c.name), primaryKey, row!.identity_index);
    columns = published.map((c, i) => ({ name: c.name, typeOid: c.typeOid, typeMod: c.typeMod, isIdentity: flags[i]! }));
  }
  const types = await loadTypeClosure(db, columns.map((c) => c.typeOid));
  const pairs = formatPairs(columns, types);
  const formatted = new Map<string, string>();
  if (pairs.length > 0) {
    const res = await db.query<{ oid: string; typmod: number; formatted: string | null }>(
      'SELECT u.o::int8 AS oid, u.m AS typmod, format_type(u.o, u.m) AS formatted FROM unnest($1::oid[], $2::int4[]) AS u(o, m)',
      [pairs.map(([oid]) => oid), pairs.map(([, typmod]) => typmod)],
    );
    for (const r of res.rows) if (r.formatted !== null) formatted.set(formatKey(Number(r.oid), r.typmod), r.formatted);
  }
  const enums = enumTypeOids(columns, types);
  const enumLabels = new Map<number, string[]>();
  if (enums.length > 0) {
    const res = await db.query<{ oid: string; labels: string[] }>(
      'SELECT enumtypid::int8 AS oid, json_agg(enumlabel ORDER BY enumsortorder) AS labels FROM pg_enum WHERE enumtypid = ANY($1::oid[]) GROUP BY enumtypid',
      [enums],
    );
    for (const r of res.rows) enumLabels.set(Number(r.oid), r.labels);
  }
  return {
    ...options,
    schema: message?.schema ?? row!.schema,
    table: message?.name ?? row!.table,
    replicaIdentity,
    columns,
    catalogColumns: new Map(attributes.map((a) => [a.name, { attnum: a.attnum, notNull: a.notNull, dims: a.dims }])),
    primaryKey,
    generatedColumns: attributes.filter((a) => a.generated).map((a) => a.name),
    types,
    formatted,
    enumLabels,
  };
}
