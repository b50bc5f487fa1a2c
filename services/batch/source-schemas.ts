/**
 * What silver knows about the captured source tables, and how it turns the Debezium JSON
 * rendering of a column (docs/contracts/change-events.md, "Column values") back into a typed
 * DuckDB value. Pure: builds SQL fragments, no I/O.
 *
 * How a silver column gets its type:
 * 1. Registered tables ({@link KNOWN_TABLES}, mirroring schemas/postgres/migrations/001): the
 *    declared PostgreSQL type decides, e.g. `numeric(12,2)` (rendered `"42000.00"`) becomes
 *    DECIMAL(12,2), `date` (days since epoch) becomes DATE, `timestamptz` (ISO-8601 string) becomes
 *    TIMESTAMPTZ, `timestamp` (microseconds since epoch) becomes TIMESTAMP. An integration test
 *    compares the registry with PostgreSQL's information_schema so the two cannot drift apart.
 * 2. Any other captured table: types are inferred from the JSON values of its events
 *    ({@link inferColumns}): integers -> BIGINT, other numbers -> DOUBLE, booleans -> BOOLEAN,
 *    ISO-8601 strings with a zone -> TIMESTAMPTZ, other strings -> VARCHAR, objects and arrays ->
 *    JSON. The Debezium rendering loses what tells a `date` (a day number) or a `numeric` (a string)
 *    apart from an integer or a text, so those stay BIGINT / VARCHAR until the table is registered.
 *    Primary-key columns are the members of the event key.
 */

/** One source column as PostgreSQL declares it. */
export interface SourceColumn {
  name: string;
  /** PostgreSQL type as written in DDL, e.g. `integer`, `numeric(12,2)`, `timestamptz`, `text[]`. */
  pgType: string;
  nullable: boolean;
}

/** A captured table. */
export interface SourceTable {
  schema: string;
  table: string;
  /** Primary-key column names, in key order. Empty: no key (silver keeps the events only). */
  primaryKey: string[];
  columns: SourceColumn[];
  /** Registered here (true) or inferred from events (false). */
  registered: boolean;
}

const col = (name: string, pgType: string, nullable = false): SourceColumn => ({ name, pgType, nullable });

/** The operational tables of schemas/postgres/migrations/001_source_tables.sql. */
export const KNOWN_TABLES: readonly SourceTable[] = [
  {
    schema: 'public',
    table: 'employees',
    primaryKey: ['employee_id'],
    registered: true,
    columns: [
      col('employee_id', 'integer'),
      col('last_name', 'text'),
      col('first_name', 'text'),
      col('birth_date', 'date'),
      col('business_unit', 'text'),
      col('hire_date', 'date'),
      col('gross_annual_salary_eur', 'numeric(12,2)', true),
      col('contract_type', 'text'),
      col('paid_leave_days', 'smallint'),
      col('home_address', 'text'),
      col('home_postcode', 'text'),
      col('home_city', 'text'),
      col('home_lat', 'double precision', true),
      col('home_lon', 'double precision', true),
      col('commute_mode', 'text'),
      col('updated_at', 'timestamptz'),
    ],
  },
  {
    schema: 'public',
    table: 'declared_sports',
    primaryKey: ['employee_id'],
    registered: true,
    columns: [col('employee_id', 'integer'), col('sport', 'text'), col('declared_at', 'timestamptz')],
  },
  {
    schema: 'public',
    table: 'activities',
    primaryKey: ['activity_id'],
    registered: true,
    columns: [
      col('activity_id', 'bigint'),
      col('employee_id', 'integer'),
      col('sport_type', 'text'),
      col('started_at', 'timestamptz'),
      col('ended_at', 'timestamptz'),
      col('elapsed_seconds', 'integer'),
      col('distance_m', 'integer', true),
      col('comment', 'text', true),
      col('source', 'text'),
      col('created_at', 'timestamptz'),
      col('updated_at', 'timestamptz'),
    ],
  },
  {
    schema: 'public',
    table: 'commute_distances',
    primaryKey: ['employee_id'],
    registered: true,
    columns: [
      col('employee_id', 'integer'),
      col('origin_address', 'text'),
      col('destination_address', 'text'),
      col('travel_mode', 'text'),
      col('distance_m', 'integer', true),
      col('duration_s', 'integer', true),
      col('provider', 'text'),
      col('status', 'text'),
      col('computed_at', 'timestamptz'),
    ],
  },
];

/** The registered table `schema.table`, if any. */
export function knownTable(schema: string, table: string): SourceTable | undefined {
  return KNOWN_TABLES.find((t) => t.schema === schema && t.table === table);
}

/** How one column is read: the member type for DuckDB's `from_json`, the silver type, and the cast. */
export interface ColumnDecoding {
  /** Type given to `from_json` for the member (a JSON structure type name). */
  jsonType: string;
  /** DuckDB type of the silver column. */
  duckType: string;
  /** SQL turning `ref` (the member as extracted with `jsonType`) into `duckType`; NULL when malformed. */
  expr(ref: string): string;
}

const direct = (jsonType: string, duckType: string): ColumnDecoding => ({
  jsonType,
  duckType,
  expr: (ref) => (jsonType === duckType ? ref : `TRY_CAST(${ref} AS ${duckType})`),
});

/** Inferred (unregistered) column types map to themselves. */
const INFERRED_TYPES: Record<string, ColumnDecoding> = {
  BIGINT: direct('BIGINT', 'BIGINT'),
  DOUBLE: direct('DOUBLE', 'DOUBLE'),
  BOOLEAN: direct('BOOLEAN', 'BOOLEAN'),
  VARCHAR: direct('VARCHAR', 'VARCHAR'),
  TIMESTAMPTZ: direct('VARCHAR', 'TIMESTAMPTZ'),
  JSON: direct('JSON', 'JSON'),
};

/**
 * Decoding of a PostgreSQL type rendered as Debezium's JSON converter does
 * (Debezium PostgreSQL connector, "Data type mappings"; decimal.handling.mode=string).
 * @param pgType DDL type name, e.g. `numeric(12,2)`; unknown types are kept as JSON text.
 */
export function decodingFor(pgType: string): ColumnDecoding {
  const t = pgType.trim().toLowerCase();
  if (t.endsWith('[]')) return direct('JSON', 'JSON');
  if (t in INFERRED_TYPES_LOWER) return INFERRED_TYPES_LOWER[t]!;
  const numeric = /^(?:numeric|decimal)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$/.exec(t);
  if (numeric) {
    const precision = Math.min(Number(numeric[1]), 38);
    const scale = Math.min(Number(numeric[2] ?? 0), precision);
    return direct('VARCHAR', `DECIMAL(${precision},${scale})`);
  }
  if (/^(?:character varying|varchar|character|char|bpchar)\s*(?:\(\d+\))?$/.test(t)) return direct('VARCHAR', 'VARCHAR');
  switch (t) {
    case 'smallint':
    case 'int2':
      return direct('BIGINT', 'SMALLINT');
    case 'integer':
    case 'int':
    case 'int4':
    case 'serial':
      return direct('BIGINT', 'INTEGER');
    case 'bigint':
    case 'int8':
    case 'bigserial':
      return direct('BIGINT', 'BIGINT');
    case 'real':
    case 'float4':
      return direct('DOUBLE', 'FLOAT');
    case 'double precision':
    case 'float8':
      return direct('DOUBLE', 'DOUBLE');
    case 'numeric':
    case 'decimal':
      // Unconstrained numeric: no fixed scale, so DOUBLE rather than a DECIMAL that could round.
      return direct('VARCHAR', 'DOUBLE');
    case 'boolean':
    case 'bool':
      return direct('BOOLEAN', 'BOOLEAN');
    case 'text':
      return direct('VARCHAR', 'VARCHAR');
    case 'uuid':
      return direct('VARCHAR', 'UUID');
    case 'json':
    case 'jsonb':
      // io.debezium.data.Json: a string holding the JSON text.
      return { jsonType: 'VARCHAR', duckType: 'JSON', expr: (ref) => `TRY_CAST(${ref} AS JSON)` };
    case 'bytea':
      return { jsonType: 'VARCHAR', duckType: 'BLOB', expr: (ref) => `TRY(from_base64(${ref}))` };
    case 'date':
      // io.debezium.time.Date: days since 1970-01-01.
      return { jsonType: 'BIGINT', duckType: 'DATE', expr: (ref) => `CAST(DATE '1970-01-01' + TRY_CAST(${ref} AS INTEGER) AS DATE)` };
    case 'timestamp':
    case 'timestamp without time zone':
      // io.debezium.time.MicroTimestamp: microseconds since epoch, no zone.
      return { jsonType: 'BIGINT', duckType: 'TIMESTAMP', expr: (ref) => `make_timestamp(${ref})` };
    case 'timestamptz':
    case 'timestamp with time zone':
      // io.debezium.time.ZonedTimestamp: ISO-8601 string in UTC.
      return direct('VARCHAR', 'TIMESTAMPTZ');
    default:
      return direct('JSON', 'JSON');
  }
}

const INFERRED_TYPES_LOWER: Record<string, ColumnDecoding> = Object.fromEntries(
  Object.entries(INFERRED_TYPES).map(([k, v]) => [`inferred:${k.toLowerCase()}`, v]),
);

/** The `pgType` recorded for an inferred column, e.g. `inferred:bigint`. */
export function inferredType(duckType: keyof typeof INFERRED_TYPES): string {
  return `inferred:${duckType.toLowerCase()}`;
}

/** Quotes an SQL identifier for DuckDB. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes an SQL string literal for DuckDB. */
export function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * The `from_json` structure for a table's columns, e.g. `{"activity_id":"BIGINT",...}`, as an SQL
 * string literal.
 */
export function jsonStructure(columns: readonly SourceColumn[]): string {
  const structure = Object.fromEntries(columns.map((c) => [c.name, decodingFor(c.pgType).jsonType]));
  return literal(JSON.stringify(structure));
}

/** Name of the silver table for a source table: `activities`, or `<schema>__<table>` outside public. */
export function silverName(schema: string, table: string): string {
  const name = schema === 'public' ? table : `${schema}__${table}`;
  return name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/**
 * Splits a CDC topic `<prefix>.<schema>.<table>` (docs/contracts/change-events.md, "Topics").
 * @returns undefined for a name with fewer than three dot-separated parts or a dead-letter topic.
 */
export function parseTopic(topic: string): { prefix: string; schema: string; table: string } | undefined {
  if (topic.endsWith('.dlq')) return undefined;
  const parts = topic.split('.');
  if (parts.length < 3 || parts.some((p) => p === '')) return undefined;
  const table = parts.pop()!;
  const schema = parts.pop()!;
  return { prefix: parts.join('.'), schema, table };
}

/** Matches Debezium's ZonedTimestamp rendering (and ISO-8601 with any explicit offset). */
const ISO_ZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})$/;

/**
 * Infers the columns of an unregistered table from sample row images (parsed JSON objects).
 * A column's type is the widest seen: any non-integer number makes it DOUBLE, mixed kinds make it
 * VARCHAR (strings) or JSON. Columns that were only ever null are VARCHAR. Every inferred column
 * is nullable, since absence in a sample proves nothing.
 * @param rows parsed `after`/`before` images; non-objects are ignored.
 * @param known columns already inferred by an earlier run: they keep their type (types never
 *   change once silver has them), and new columns are appended after them.
 */
export function inferColumns(rows: readonly unknown[], known: readonly SourceColumn[] = []): SourceColumn[] {
  const kinds = new Map<string, Set<string>>();
  for (const row of rows) {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) continue;
    for (const [name, value] of Object.entries(row as Record<string, unknown>)) {
      const set = kinds.get(name) ?? new Set<string>();
      kinds.set(name, set);
      if (value === null || value === undefined) continue;
      if (typeof value === 'boolean') set.add('bool');
      else if (typeof value === 'number') set.add(Number.isInteger(value) ? 'int' : 'float');
      else if (typeof value === 'string') set.add(ISO_ZONED.test(value) ? 'tstz' : 'string');
      else set.add('json');
    }
  }
  const out = [...known];
  const seen = new Set(known.map((c) => c.name));
  for (const [name, set] of kinds) {
    if (seen.has(name)) continue;
    out.push({ name, pgType: inferredType(widest(set)), nullable: true });
  }
  return out;
}

function widest(kinds: Set<string>): keyof typeof INFERRED_TYPES {
  if (kinds.size === 0) return 'VARCHAR';
  if (kinds.size === 1) {
    const [only] = kinds;
    return ({ bool: 'BOOLEAN', int: 'BIGINT', float: 'DOUBLE', tstz: 'TIMESTAMPTZ', string: 'VARCHAR', json: 'JSON' } as const)[only as 'bool'];
  }
  if ([...kinds].every((k) => k === 'int' || k === 'float')) return 'DOUBLE';
  if ([...kinds].every((k) => k === 'string' || k === 'tstz')) return 'VARCHAR';
  return 'JSON';
}
