/**
 * "Silver equals the source, value for value and type for type" (issue 13), checked by reading
 * PostgreSQL and silver independently: nothing here uses the batch job's type mapping or decoder.
 *
 * - Types: each source column's expected DuckDB type is derived here from the PostgreSQL catalog
 *   ({@link expectedDuckType}, the mapping issue 13 asks for, docs/contracts/table-schemas.md)
 *   and compared with silver's declared column type.
 * - Values: PostgreSQL renders each value in a canonical text form by SQL ({@link canonicalPgExpr}:
 *   integers and decimals as digits, floats as their shortest text, dates as days and timestamps
 *   as microseconds since 1970-01-01 or `infinity`, intervals as months|days|µs, a timetz as its
 *   time of day in UTC (Debezium's ZonedTime rendering keeps the instant, not the offset), bytea as hex,
 *   arrays as JSON, a point as its two coordinates, an hstore as its pairs sorted by key; silver
 *   holds the latter two as the text the event carries, Debezium's JSON forms); silver's values are read as DuckDB values and put in the same form
 *   ({@link canonicalDuckValue}). Floats compare as numbers (NaN equals NaN, a real compares at
 *   single precision), decimals without trailing zeros.
 * - Rows: matched by primary key; a keyless table compares as a multiset (duplicates count).
 *
 * {@link compareSilver} returns every difference as one line (`table key column: source … silver …`);
 * [] means equal.
 */
import {
  DuckDBBlobValue, DuckDBDateValue, DuckDBDecimalValue, DuckDBIntervalValue, DuckDBListValue, DuckDBTimestampTZValue, DuckDBTimestampValue,
  DuckDBTimeTZValue, DuckDBTimeValue, DuckDBUUIDValue, type DuckDBConnection, type DuckDBValue,
} from '@duckdb/node-api';
import type pg from 'pg';

/** How a column's values are put in canonical form (from its PostgreSQL base type). */
export type ValueKind =
  | 'int' | 'float4' | 'float8' | 'numeric' | 'money' | 'bool' | 'text' | 'date' | 'timestamp' | 'time' | 'timetz'
  | 'interval' | 'uuid' | 'bytea' | 'json' | 'array' | 'point' | 'hstore';

/** A published source column. */
export interface SourceColumn {
  name: string;
  /** format_type of the column, e.g. "numeric(30,8)", "catalog.mood[]". */
  pgType: string;
  /** The type after resolving domains (format_type of the base type). */
  baseType: string;
  kind: ValueKind;
  /** Expected silver type, e.g. "DECIMAL(30,8)". */
  duckType: string;
}

export interface SourceTableRef {
  schema: string;
  table: string;
  /** Primary-key columns; [] = compare as a multiset. */
  primaryKey: string[];
}

interface ColumnRow {
  name: string;
  pg_type: string;
  base_type: string;
  base_name: string;
  base_category: string;
  base_typtype: string;
  elem_name: string | null;
  elem_category: string | null;
  elem_typtype: string | null;
  ndims: number;
  numeric_precision: number | null;
  numeric_scale: number | null;
}

/** DuckDB type of a scalar PostgreSQL base type (by pg_type.typname); null for "stays text". */
function scalarDuckType(name: string, category: string, typtype: string, precision: number | null, scale: number | null): { duck: string; kind: ValueKind } {
  if (typtype === 'e') return { duck: 'VARCHAR', kind: 'text' };
  switch (name) {
    case 'int2': return { duck: 'SMALLINT', kind: 'int' };
    case 'int4': return { duck: 'INTEGER', kind: 'int' };
    case 'int8': return { duck: 'BIGINT', kind: 'int' };
    case 'float4': return { duck: 'FLOAT', kind: 'float4' };
    case 'float8': return { duck: 'DOUBLE', kind: 'float8' };
    case 'numeric':
      // DuckDB's DECIMAL holds up to 38 digits; wider or unconstrained numerics (NaN, Infinity,
      // any precision) fall back to their exact text.
      if (precision !== null && precision <= 38) return { duck: `DECIMAL(${precision},${scale ?? 0})`, kind: 'numeric' };
      return { duck: 'VARCHAR', kind: 'numeric' };
    case 'money': return { duck: 'VARCHAR', kind: 'money' };
    case 'point': return { duck: 'VARCHAR', kind: 'point' };
    case 'hstore': return { duck: 'VARCHAR', kind: 'hstore' };
    case 'bool': return { duck: 'BOOLEAN', kind: 'bool' };
    case 'date': return { duck: 'DATE', kind: 'date' };
    case 'timestamp': return { duck: 'TIMESTAMP', kind: 'timestamp' };
    case 'timestamptz': return { duck: 'TIMESTAMP WITH TIME ZONE', kind: 'timestamp' };
    case 'time': return { duck: 'TIME', kind: 'time' };
    case 'timetz': return { duck: 'TIME WITH TIME ZONE', kind: 'timetz' };
    case 'interval': return { duck: 'INTERVAL', kind: 'interval' };
    case 'uuid': return { duck: 'UUID', kind: 'uuid' };
    case 'bytea': return { duck: 'BLOB', kind: 'bytea' };
    case 'json': case 'jsonb': return { duck: 'JSON', kind: 'json' };
    default:
      // text, varchar, bpchar, name, and every type no DuckDB type holds (inet, cidr, macaddr,
      // point, ranges, tsvector, xml, hstore...): their PostgreSQL text form.
      void category;
      return { duck: 'VARCHAR', kind: 'text' };
  }
}

/** The expected silver type and value kind of a column (issue 13's mapping). */
export function expectedDuckType(c: Omit<ColumnRow, 'name' | 'pg_type' | 'base_type'>): { duck: string; kind: ValueKind } {
  if (c.base_category === 'A' && c.elem_name) {
    const elem = scalarDuckType(c.elem_name, c.elem_category ?? '', c.elem_typtype ?? '', null, null);
    return { duck: `${elem.duck}${'[]'.repeat(Math.max(1, c.ndims))}`, kind: 'array' };
  }
  return scalarDuckType(c.base_name, c.base_category, c.base_typtype, c.numeric_precision, c.numeric_scale);
}

/**
 * The published columns of a source table, in attribute order, with their expected silver types.
 * @param publication when given, only the columns the publication carries (PostgreSQL 15 column lists).
 */
export async function describeSourceTable(db: pg.Client, ref: SourceTableRef, publication?: string): Promise<SourceColumn[]> {
  const res = await db.query<ColumnRow>(
    `WITH RECURSIVE cols AS (
       SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS pg_type, a.atttypid AS typ, a.atttypmod AS typmod, a.attnum, a.attndims AS ndims
         FROM pg_attribute a
        WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''),
     base AS (  -- resolve domains to their base type (and typmod)
       SELECT name, typ, typmod, typ AS cur, typmod AS curmod FROM cols
       UNION ALL
       SELECT b.name, b.typ, b.typmod, t.typbasetype, t.typtypmod FROM base b JOIN pg_type t ON t.oid = b.cur WHERE t.typtype = 'd')
     SELECT c.name, c.pg_type, format_type(bt.oid, b.curmod) AS base_type, bt.typname AS base_name, bt.typcategory::text AS base_category,
            bt.typtype::text AS base_typtype, et.typname AS elem_name, et.typcategory::text AS elem_category, et.typtype::text AS elem_typtype,
            c.ndims,
            CASE WHEN bt.typname = 'numeric' AND b.curmod >= 4 THEN ((b.curmod - 4) >> 16) & 65535 END AS numeric_precision,
            CASE WHEN bt.typname = 'numeric' AND b.curmod >= 4 THEN (b.curmod - 4) & 65535 END AS numeric_scale
       FROM cols c
       JOIN base b ON b.name = c.name
       JOIN pg_type bt ON bt.oid = b.cur AND bt.typtype <> 'd'
       LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
      ORDER BY c.attnum`,
    [`"${ref.schema}"."${ref.table}"`],
  );
  let published: Set<string> | null = null;
  if (publication) {
    const pub = await db.query<{ attnames: string[] }>(
      'SELECT attnames::text[] AS attnames FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3',
      [publication, ref.schema, ref.table],
    );
    if (!pub.rows[0]) throw new Error(`${ref.schema}.${ref.table} is not in publication ${publication}`);
    published = new Set(pub.rows[0].attnames);
  }
  return res.rows
    .filter((r) => !published || published.has(r.name))
    .map((r) => {
      const t = expectedDuckType(r);
      return { name: r.name, pgType: r.pg_type, baseType: r.base_type, kind: t.kind, duckType: t.duck };
    });
}

const q = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** The PostgreSQL expression giving a column's canonical text (see the module comment). */
export function canonicalPgExpr(c: SourceColumn): string {
  const col = q(c.name);
  switch (c.kind) {
    case 'int': case 'float4': case 'float8': case 'numeric': case 'uuid': case 'json':
      return `${col}::text`;
    // The type's output function, which is what the log carries: a cast to text would trim a
    // char(n)'s padding, add an inet's /32, keep an xml declaration the output drops.
    case 'text': return `CASE WHEN ${col} IS NOT NULL THEN concat(${col}) END`;
    case 'money': return `${col}::numeric::text`;
    case 'bool': return `CASE WHEN ${col} THEN 'true' WHEN NOT ${col} THEN 'false' END`;
    case 'date': return `CASE WHEN isfinite(${col}) THEN (${col} - DATE '1970-01-01')::text ELSE ${col}::text END`;
    case 'timestamp': return `CASE WHEN isfinite(${col}) THEN (extract(epoch FROM ${col}) * 1000000)::numeric(40,0)::text ELSE ${col}::text END`;
    case 'time': return `(extract(epoch FROM ${col}) * 1000000)::numeric(40,0)::text`;
    // The time of day in UTC: Debezium's rendering of timetz (ZonedTime) carries the instant, not the offset.
    case 'timetz': return `mod(((extract(epoch FROM ${col}::time) - extract(timezone FROM ${col})) * 1000000)::numeric(40,0) + 86400000000, 86400000000)::text`;
    case 'interval':
      return `(extract(year FROM ${col}) * 12 + extract(month FROM ${col}))::numeric(40,0)::text || '|' || extract(day FROM ${col})::numeric(40,0)::text || '|' || ` +
        `(extract(hour FROM ${col}) * 3600000000 + extract(minute FROM ${col}) * 60000000 + extract(microseconds FROM ${col}))::numeric(40,0)::text`;
    case 'bytea': return `encode(${col}, 'hex')`;
    case 'array': return `array_to_json(${col})::text`;
    case 'point': return `CASE WHEN ${col} IS NOT NULL THEN json_build_array(${col}[0], ${col}[1])::text END`;
    case 'hstore': return `CASE WHEN ${col} IS NOT NULL THEN hstore_to_json(${col})::text END`;
  }
}

/** "x,y" with each coordinate a canonical float (NaN and infinities as their names). */
function canonicalPoint(x: unknown, y: unknown): string {
  const num = (v: unknown) => (typeof v === 'string' ? (v === 'NaN' ? NaN : parsePgFloat(v)) : Number(v));
  return `${canonicalFloat(num(x), false)},${canonicalFloat(num(y), false)}`;
}

/** An hstore's pairs as JSON, sorted by key. */
function canonicalHstore(json: string): string {
  const pairs = Object.entries(JSON.parse(json) as Record<string, string | null>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(pairs);
}

/** A decimal string without trailing fractional zeros ("1.500" -> "1.5", "-0.00" -> "0"); other text unchanged. */
export function normalizeDecimal(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d*?))?0*$/.exec(text.trim());
  if (!m) return text.trim();
  const int = m[2]!.replace(/^0+(?=\d)/, '');
  const frac = m[3] ?? '';
  const out = frac ? `${int}.${frac}` : int;
  return out === '0' ? '0' : `${m[1]}${out}`;
}

/** A float's canonical text: the shortest round-trip form, single precision for real. */
export function canonicalFloat(value: number, single: boolean): string {
  const v = single ? Math.fround(value) : value;
  return Object.is(v, -0) ? '-0' : String(v);
}

function parsePgFloat(text: string): number {
  return text === 'Infinity' ? Infinity : text === '-Infinity' ? -Infinity : Number(text);
}

/** Canonical form of a PostgreSQL canonical text, by kind (floats and decimals re-normalized). */
export function canonicalPgValue(kind: ValueKind, text: string | null): string | null {
  if (text === null) return null;
  switch (kind) {
    case 'float4': return canonicalFloat(parsePgFloat(text), true);
    case 'float8': return canonicalFloat(parsePgFloat(text), false);
    case 'numeric': case 'money': return normalizeDecimal(text);
    case 'array': return JSON.stringify(JSON.parse(text));
    case 'point': {
      const [x, y] = JSON.parse(text) as [unknown, unknown];
      return canonicalPoint(x, y);
    }
    case 'hstore': return canonicalHstore(text);
    default: return text;
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function listToJs(v: DuckDBValue): unknown {
  if (v === null) return null;
  if (v instanceof DuckDBListValue) return v.items.map(listToJs);
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  return String(v);
}

/** Canonical form of a silver (DuckDB) value for a column of `kind` (see the module comment). */
export function canonicalDuckValue(kind: ValueKind, v: DuckDBValue): string | null {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'float4': return typeof v === 'number' || typeof v === 'bigint' ? canonicalFloat(Number(v), true) : `<${String(v)}>`;
    case 'float8': return typeof v === 'number' || typeof v === 'bigint' ? canonicalFloat(Number(v), false) : `<${String(v)}>`;
    case 'int': return typeof v === 'number' || typeof v === 'bigint' ? BigInt(v).toString() : `<${String(v)}>`;
    case 'numeric': return normalizeDecimal(v instanceof DuckDBDecimalValue ? v.toString() : String(v));
    case 'money': return normalizeDecimal(v instanceof DuckDBDecimalValue ? v.toString() : String(v).replace(/[$,]/g, ''));
    case 'bool': return String(v);
    case 'date':
      if (!(v instanceof DuckDBDateValue)) return `<${String(v)}>`;
      if (v.days === DuckDBDateValue.PosInf.days) return 'infinity';
      if (v.days === DuckDBDateValue.NegInf.days) return '-infinity';
      return String(v.days);
    case 'timestamp': {
      if (!(v instanceof DuckDBTimestampValue || v instanceof DuckDBTimestampTZValue)) return `<${String(v)}>`;
      if (v.micros === DuckDBTimestampValue.PosInf.micros) return 'infinity';
      if (v.micros === DuckDBTimestampValue.NegInf.micros) return '-infinity';
      return v.micros.toString();
    }
    case 'time': return v instanceof DuckDBTimeValue ? v.micros.toString() : `<${String(v)}>`;
    case 'timetz': return v instanceof DuckDBTimeTZValue ? String((((v.micros - BigInt(v.offset) * 1_000_000n) % 86_400_000_000n) + 86_400_000_000n) % 86_400_000_000n) : `<${String(v)}>`;
    case 'interval': return v instanceof DuckDBIntervalValue ? `${v.months}|${v.days}|${v.micros}` : `<${String(v)}>`;
    case 'uuid': return v instanceof DuckDBUUIDValue ? v.toString() : String(v);
    case 'bytea': return v instanceof DuckDBBlobValue ? hex(v.bytes) : `<${String(v)}>`;
    case 'array': return JSON.stringify(listToJs(v));
    case 'json': case 'text': return String(v);
    // Debezium's forms, as the event carries them: {"x","y","wkb","srid"} and a JSON object text.
    case 'point': {
      const p = JSON.parse(String(v)) as { x: unknown; y: unknown };
      return canonicalPoint(p.x, p.y);
    }
    case 'hstore': return canonicalHstore(String(v));
  }
}

type CanonicalRow = (string | null)[];

/** Rows of the source table in canonical form (published columns only). */
export async function readSourceRows(db: pg.Client, ref: SourceTableRef, columns: SourceColumn[]): Promise<CanonicalRow[]> {
  const res = await db.query<(string | null)[]>({
    text: `SELECT ${columns.map(canonicalPgExpr).join(', ')} FROM ${q(ref.schema)}.${q(ref.table)}`,
    rowMode: 'array',
  });
  return res.rows.map((r) => r.map((v, i) => canonicalPgValue(columns[i]!.kind, v)));
}

/** Column names and declared types of a silver table; null when it does not exist. */
export async function describeSilverTable(conn: DuckDBConnection, silverTable: string): Promise<Map<string, string> | null> {
  const [schema, table] = silverTable.includes('.') ? silverTable.split('.', 2) as [string, string] : ['silver', silverTable];
  const reader = await conn.runAndReadAll(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '${schema.replace(/'/g, "''")}' AND table_name = '${table.replace(/'/g, "''")}' ORDER BY ordinal_position`,
  );
  const rows = reader.getRows() as [string, string][];
  return rows.length === 0 ? null : new Map(rows);
}

/** Rows of the silver table in canonical form, for the given source columns. */
export async function readSilverRows(conn: DuckDBConnection, silverTable: string, columns: SourceColumn[]): Promise<CanonicalRow[]> {
  const reader = await conn.runAndReadAll(`SELECT ${columns.map((c) => q(c.name)).join(', ')} FROM ${silverTable.split('.').map(q).join('.')}`);
  return (reader.getRows() as DuckDBValue[][]).map((r) => r.map((v, i) => canonicalDuckValue(columns[i]!.kind, v)));
}

export interface CompareOptions {
  /** Only these columns (e.g. a publication's column list); default all published columns. */
  publication?: string;
  /**
   * Differences expected and accepted, by "column" or "column@key" (e.g. values the log cannot
   * carry, which typed silver reports instead): they are returned in `accepted`, not in `differences`.
   */
  accept?: (d: { column: string; key: string; source: string | null; silver: string | null }) => boolean;
}

export interface TableComparison {
  table: string;
  rows: number;
  differences: string[];
  accepted: string[];
}

const show = (v: string | null) => (v === null ? 'NULL' : JSON.stringify(v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)…${v.slice(-20)}` : v));

/**
 * Compares one source table with its silver table: missing silver table, missing or extra
 * columns, column types, rows (by key, or as a multiset without a key), values.
 */
export async function compareSilver(db: pg.Client, conn: DuckDBConnection, ref: SourceTableRef, silverTable: string, options: CompareOptions = {}): Promise<TableComparison> {
  const name = `${ref.schema}.${ref.table}`;
  const out: TableComparison = { table: name, rows: 0, differences: [], accepted: [] };
  const columns = await describeSourceTable(db, ref, options.publication);
  const silverColumns = await describeSilverTable(conn, silverTable);
  if (!silverColumns) {
    out.differences.push(`${name}: no silver table ${silverTable}`);
    return out;
  }
  for (const c of columns) {
    const actual = silverColumns.get(c.name);
    if (actual === undefined) out.differences.push(`${name}.${c.name}: missing in silver`);
    else if (actual !== c.duckType) out.differences.push(`${name}.${c.name}: type ${c.pgType} should be ${c.duckType} in silver, is ${actual}`);
  }
  const sourceNames = new Set(columns.map((c) => c.name));
  for (const s of silverColumns.keys()) {
    if (!sourceNames.has(s) && !s.startsWith('_')) out.differences.push(`${name}.${s}: in silver, not in the source (or not published)`);
  }
  const present = columns.filter((c) => silverColumns.has(c.name));
  const source = await readSourceRows(db, ref, present);
  const silver = await readSilverRows(conn, silverTable, present);
  out.rows = source.length;
  const keyIdx = ref.primaryKey.map((k) => present.findIndex((c) => c.name === k));
  if (ref.primaryKey.length === 0 || keyIdx.some((i) => i < 0)) {
    const count = (rows: CanonicalRow[]) => {
      const m = new Map<string, number>();
      for (const r of rows) m.set(JSON.stringify(r), (m.get(JSON.stringify(r)) ?? 0) + 1);
      return m;
    };
    const a = count(source);
    const b = count(silver);
    for (const k of new Set([...a.keys(), ...b.keys()])) {
      const n = a.get(k) ?? 0;
      const m = b.get(k) ?? 0;
      if (n !== m) out.differences.push(`${name} row ${k}: ${n} in the source, ${m} in silver`);
    }
    return out;
  }
  const keyOf = (r: CanonicalRow) => keyIdx.map((i) => `${present[i]!.name}=${r[i]}`).join(',');
  const silverByKey = new Map<string, CanonicalRow>();
  for (const r of silver) {
    const k = keyOf(r);
    if (silverByKey.has(k)) out.differences.push(`${name} ${k}: twice in silver`);
    silverByKey.set(k, r);
  }
  for (const r of source) {
    const k = keyOf(r);
    const s = silverByKey.get(k);
    silverByKey.delete(k);
    if (!s) {
      out.differences.push(`${name} ${k}: missing in silver`);
      continue;
    }
    present.forEach((c, i) => {
      if (r[i] === s[i]) return;
      const line = `${name} ${k} ${c.name}: source ${show(r[i]!)} silver ${show(s[i]!)}`;
      if (options.accept?.({ column: c.name, key: k, source: r[i]!, silver: s[i]! })) out.accepted.push(line);
      else out.differences.push(line);
    });
  }
  for (const k of silverByKey.keys()) out.differences.push(`${name} ${k}: in silver, not in the source`);
  return out;
}

/** The sport source's four tables and their primary keys (schemas/postgres/migrations). */
export const SPORT_TABLES: readonly SourceTableRef[] = [
  { schema: 'public', table: 'employees', primaryKey: ['employee_id'] },
  { schema: 'public', table: 'declared_sports', primaryKey: ['employee_id'] },
  { schema: 'public', table: 'activities', primaryKey: ['activity_id'] },
  { schema: 'public', table: 'commute_distances', primaryKey: ['employee_id'] },
];
