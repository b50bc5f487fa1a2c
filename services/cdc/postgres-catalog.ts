/**
 * Catalog reads the CDC service needs beyond what pgoutput sends: primary-key columns (a Relation
 * message flags every column as identity under REPLICA IDENTITY FULL, so it cannot tell the key),
 * the published columns of a table for the snapshot, and non-built-in types (domains, enums,
 * arrays of them). Reads pg_catalog only, which every role may read.
 */
import type pg from 'pg';
import type { ColumnDescription } from './change-mapper.ts';
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
