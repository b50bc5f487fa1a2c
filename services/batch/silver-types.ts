/**
 * The type of every silver column, from the source column as its table schema document declares
 * it (table-schema.ts), and the SQL that turns the event's rendering of a value (Debezium's JSON
 * converter, docs/contracts/change-events.md "Column values", with the renderings the document
 * names in `rendering`) back into that type. Silver never looks at values to choose a type.
 *
 * The mapping (the table in docs/contracts/silver-types.md is generated from {@link TYPE_MAPPING_ROWS}
 * and checked by a unit test):
 * - integers -> SMALLINT/INTEGER/BIGINT; real -> FLOAT; double precision -> DOUBLE (NaN and
 *   +/-Infinity kept); boolean -> BOOLEAN;
 * - numeric(p,s) -> DECIMAL(p,s) when it fits DuckDB's 38 digits (negative scales and scales above
 *   the precision widened to the DECIMAL that holds every allowed value); beyond 38 digits, and
 *   unconstrained numeric, VARCHAR holding PostgreSQL's exact text (lossless; NaN, Infinity kept);
 *   NaN in a DECIMAL column has no DECIMAL value: NULL and reported;
 * - date -> DATE, timestamp(p) -> TIMESTAMP, timestamptz(p) -> TIMESTAMPTZ (infinity and -infinity
 *   kept), time(p) -> TIME, timetz -> TIMETZ (in UTC: the rendering drops the offset);
 * - interval -> INTERVAL: months, days and microseconds kept apart from the iso8601 rendering;
 *   the numeric rendering (microseconds, 30.4375-day months) is lossy and gives micros only;
 * - uuid -> UUID; bytea -> BLOB; json, jsonb -> JSON;
 * - arrays -> LIST of the element's type (nested LIST per declared dimension);
 * - enums -> VARCHAR (their labels); domains -> their base type's mapping;
 * - everything else (tsvector, point, ranges, hstore, money, inet, xml, bit, composite types...)
 *   -> VARCHAR holding the text the event carries.
 * A value the type cannot hold (malformed, NaN in a DECIMAL, a 2-D value in a 1-D array column)
 * becomes NULL and its column is listed in the row's `_missing` (reported by the quality suite,
 * naming table, key and column), never silently.
 */
import type { SchemaColumn, TableSchema } from './table-schema.ts';

/** How one silver column is typed and decoded. */
export interface SilverColumnType {
  /** DuckDB type of the silver column. */
  duckType: string;
  /** Type given to DuckDB's `from_json` for the member (a JSON structure). */
  jsonType: unknown;
  /** SQL turning `ref` (the member extracted with `jsonType`) into `duckType`; NULL when it cannot. */
  expr(ref: string): string;
  /**
   * SQL true when the decoding of the non-null member `ref` failed (`typed` is the decoded value);
   * undefined when decoding cannot fail for what the CDC service renders.
   */
  failed?(ref: string, typed: string): string;
}

/** Rendering choices of a schema document that decoding depends on. */
export type Rendering = TableSchema['rendering'];

const DEFAULT_RENDERING: Rendering = { decimal: 'string', time: 'adaptive', interval: 'iso8601', binary: 'base64', unavailableValue: '__debezium_unavailable_value' };

const scalarFailed = (ref: string, typed: string) => `(${ref} IS NOT NULL AND ${typed} IS NULL)`;

const same = (duckType: string, jsonType: string = duckType): SilverColumnType => ({
  duckType,
  jsonType,
  expr: (ref) => (jsonType === duckType ? ref : `CAST(${ref} AS ${duckType})`),
});

const tryCast = (duckType: string): SilverColumnType => ({
  duckType,
  jsonType: 'VARCHAR',
  expr: (ref) => `TRY_CAST(${ref} AS ${duckType})`,
  failed: scalarFailed,
});

/** ISO-8601 duration as PostgreSQL (IntervalStyle iso_8601) and Debezium's string mode print it. */
const ISO_INTERVAL = String.raw`^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$`;

/** SQL of an INTERVAL from an ISO-8601 duration text, months, days and microseconds kept apart. */
export function isoIntervalSql(ref: string): string {
  const part = (name: string) => `coalesce(TRY_CAST(nullif(p.${name}, '') AS BIGINT), 0)`;
  return `(SELECT CASE WHEN regexp_matches(${ref}, '${ISO_INTERVAL}') THEN
      to_months(${part('y')} * 12 + ${part('mo')}) + to_days(${part('w')} * 7 + ${part('d')})
      + to_microseconds(${part('h')} * 3600000000 + ${part('mi')} * 60000000
        + CAST(round(coalesce(TRY_CAST(nullif(p.s, '') AS DECIMAL(38,9)), 0) * 1000000) AS BIGINT)) END
    FROM (SELECT regexp_extract(${ref}, '${ISO_INTERVAL}', ['y', 'mo', 'w', 'd', 'h', 'mi', 's']) AS p))`;
}

/** A type name as format_type prints it, without its modifiers, plus the modifiers. */
interface ParsedType {
  name: string;
  mods: number[];
}

/** Splits `timestamp(3) with time zone` into `timestamp with time zone` and [3]. */
export function parseTypeName(formatType: string): ParsedType {
  const t = formatType.trim().toLowerCase().replaceAll('"', '');
  const mods: number[] = [];
  const name = t
    .replace(/\(([^)]*)\)/g, (_m, inner: string) => {
      for (const x of inner.split(',')) if (x.trim() !== '') mods.push(Number(x.trim()));
      return '';
    })
    .replace(/\s+/g, ' ')
    .trim();
  return { name, mods };
}

/** DECIMAL(width, scale) holding every value of numeric(p, s), or undefined beyond 38 digits. */
export function decimalFor(precision: number, scale: number): string | undefined {
  const intDigits = Math.max(precision - scale, 0);
  const fracDigits = Math.max(scale, 0);
  const width = Math.max(intDigits + fracDigits, 1);
  if (width > 38) return undefined;
  return `DECIMAL(${width},${fracDigits})`;
}

/** The mapping of a scalar type name (no array), see the module comment. */
export function scalarType(formatType: string, rendering: Rendering = DEFAULT_RENDERING): SilverColumnType {
  const { name, mods } = parseTypeName(formatType);
  switch (name) {
    case 'smallint':
    case 'int2':
      return same('SMALLINT', 'BIGINT');
    case 'integer':
    case 'int':
    case 'int4':
      return same('INTEGER', 'BIGINT');
    case 'bigint':
    case 'int8':
      return same('BIGINT');
    case 'oid':
      return same('BIGINT');
    case 'real':
    case 'float4':
      return tryCast('FLOAT');
    case 'double precision':
    case 'float8':
      return tryCast('DOUBLE');
    case 'boolean':
    case 'bool':
      return same('BOOLEAN');
    case 'numeric':
    case 'decimal': {
      const decimal = mods.length > 0 ? decimalFor(mods[0]!, mods[1] ?? 0) : undefined;
      // Beyond 38 digits or without a declared scale: PostgreSQL's exact text, lossless; the special
      // values come as Debezium's names (SpecialValueDecimal) and go back to PostgreSQL's.
      return decimal
        ? tryCast(decimal)
        : { duckType: 'VARCHAR', jsonType: 'VARCHAR', expr: (ref) => `CASE ${ref} WHEN 'NAN' THEN 'NaN' WHEN 'POSITIVE_INFINITY' THEN 'Infinity' WHEN 'NEGATIVE_INFINITY' THEN '-Infinity' ELSE ${ref} END` };
    }
    case 'date':
      // io.debezium.time.Date (days since the epoch); ±infinity as Debezium's sentinels (the epoch
      // days of -5877611-06-21 / -22, PostgresValueConverter), or the text of events before them.
      return {
        duckType: 'DATE',
        jsonType: 'VARCHAR',
        expr: (ref) => `CASE ${ref} WHEN '-2147472692' THEN DATE 'infinity' WHEN '-2147472691' THEN DATE '-infinity' ELSE coalesce(CAST(DATE '1970-01-01' + TRY_CAST(${ref} AS INTEGER) AS DATE), TRY_CAST(${ref} AS DATE)) END`,
        failed: scalarFailed,
      };
    case 'timestamp':
    case 'timestamp without time zone': {
      // MicroTimestamp (µs) or, for timestamp(0..3) under adaptive time precision, Timestamp (ms); or `infinity`.
      const millis = rendering.time === 'adaptive' && mods.length > 0 && mods[0]! <= 3;
      // ±infinity as Debezium's sentinels (pgjdbc's DATE_POSITIVE/NEGATIVE_INFINITY read as µs; their ms for p <= 3).
      const [plus, minus] = millis ? ['9223372036825200', '-9223372036832400'] : ['9223372036825200000', '-9223372036832400000'];
      return {
        duckType: 'TIMESTAMP',
        jsonType: 'VARCHAR',
        expr: (ref) => `CASE ${ref} WHEN '${plus}' THEN TIMESTAMP 'infinity' WHEN '${minus}' THEN TIMESTAMP '-infinity' ELSE coalesce(make_timestamp(TRY_CAST(${ref} AS BIGINT)${millis ? ' * 1000' : ''}), TRY_CAST(${ref} AS TIMESTAMP)) END`,
        failed: scalarFailed,
      };
    }
    case 'timestamp with time zone':
    case 'timestamptz':
      // ZonedTimestamp: ISO-8601 in UTC (years beyond 9999 carry a '+').
      return { duckType: 'TIMESTAMPTZ', jsonType: 'VARCHAR', expr: (ref) => `TRY_CAST(${ref} AS TIMESTAMPTZ)`, failed: scalarFailed };
    case 'time':
    case 'time without time zone': {
      const millis = rendering.time === 'adaptive' && mods.length > 0 && mods[0]! <= 3;
      const us = (ref: string) => `TRY_CAST(${ref} AS BIGINT)${millis ? ' * 1000' : ''}`;
      return {
        duckType: 'TIME',
        jsonType: 'VARCHAR',
        // 24:00:00 is a valid PostgreSQL time; the epoch arithmetic would wrap it to 00:00.
        expr: (ref) => `CASE WHEN ${us(ref)} = 86400000000 THEN TIME '24:00:00' ELSE CAST(make_timestamp(${us(ref)}) AS TIME) END`,
        failed: scalarFailed,
      };
    }
    case 'time with time zone':
    case 'timetz':
      // ZonedTime: ISO-8601 time in UTC, e.g. 06:30:00Z.
      return { duckType: 'TIMETZ', jsonType: 'VARCHAR', expr: (ref) => `TRY_CAST(replace(${ref}, 'Z', '+00') AS TIMETZ)`, failed: scalarFailed };
    case 'uuid':
      return tryCast('UUID');
    case 'bytea':
      return { duckType: 'BLOB', jsonType: 'VARCHAR', expr: (ref) => `TRY(from_base64(${ref}))`, failed: scalarFailed };
    case 'json':
    case 'jsonb':
      return tryCast('JSON');
    default:
      if (name === 'interval' || name.startsWith('interval ')) {
        return rendering.interval === 'iso8601'
          ? { duckType: 'INTERVAL', jsonType: 'VARCHAR', expr: isoIntervalSql, failed: scalarFailed }
          : { duckType: 'INTERVAL', jsonType: 'VARCHAR', expr: (ref) => `to_microseconds(TRY_CAST(${ref} AS BIGINT))`, failed: scalarFailed };
      }
      // Text types, enums, and every type no DuckDB type holds: the text the event carries.
      return same('VARCHAR');
  }
}

/** LIST of `element`, `dims` levels deep. */
function listType(element: SilverColumnType, dims: number): SilverColumnType {
  let duckType = element.duckType;
  let jsonType: unknown = element.jsonType;
  for (let i = 0; i < dims; i++) {
    duckType = `${duckType}[]`;
    jsonType = [jsonType];
  }
  const transform = (ref: string, depth: number): string => {
    const v = `x${depth}`;
    return depth === dims ? `list_transform(${ref}, ${v} -> ${element.expr(v)})` : `list_transform(${ref}, ${v} -> ${transform(v, depth + 1)})`;
  };
  const plain = element.jsonType === element.duckType && !element.failed;
  return {
    duckType,
    jsonType,
    expr: (ref) => (plain ? ref : transform(ref, 1)),
    // Elements that did not decode: fewer non-null elements after than before (first level).
    failed: element.failed
      ? (ref, typed) => `(${ref} IS NOT NULL AND (${typed} IS NULL OR ${dims === 1 ? `list_count(${ref}) <> list_count(${typed})` : `len(flatten(${ref})) <> len(flatten(${typed}))`}))`
      : (ref, typed) => `(${ref} IS NOT NULL AND ${typed} IS NULL)`,
  };
}

/**
 * The silver type of a column of a table schema document: domains by their base type, enums as
 * their labels, arrays as LISTs of their element type.
 */
export function silverColumnType(column: SchemaColumn, rendering: Rendering = DEFAULT_RENDERING): SilverColumnType {
  const base = column.category === 'domain' ? (column.baseType ?? column.pgType) : column.pgType;
  const isArray = column.category === 'array' || base.trim().endsWith('[]');
  if (isArray) {
    const element = column.category === 'array' && column.baseType ? column.baseType : base.trim().replace(/(\[\])+$/, '');
    // The element's category: enums, composites and ranges stay text.
    const elementCategory = column.category === 'array' ? column.baseCategory : null;
    const elementType = column.enumLabels || (elementCategory && elementCategory !== 'base') ? same('VARCHAR') : scalarType(element, rendering);
    const declared = (base.match(/\[\]/g) ?? []).length;
    const dims = Math.max(column.arrayDimensions ?? 0, declared, 1);
    return listType(elementType, dims);
  }
  if (column.category === 'enum' || column.enumLabels) return same('VARCHAR');
  if (column.category === 'composite' || column.category === 'range' || column.category === 'multirange' || column.category === 'pseudo') return same('VARCHAR');
  return scalarType(base, rendering);
}

/** One row of the documented mapping table. */
export interface TypeMappingRow {
  postgres: string;
  rendering: string;
  duckdb: string;
  exact: string;
}

/**
 * The mapping as documented in docs/contracts/silver-types.md ({@link typeMappingMarkdown}; a unit
 * test checks each row's example column against {@link silverColumnType} and the doc against this).
 */
export const TYPE_MAPPING_ROWS: readonly (TypeMappingRow & { example: string; column?: Partial<SchemaColumn>; numericInterval?: boolean })[] = [
  { postgres: 'smallint, integer, bigint', example: 'integer', rendering: 'number', duckdb: 'SMALLINT, INTEGER, BIGINT', exact: 'exact' },
  { postgres: 'oid', example: 'oid', rendering: 'number', duckdb: 'BIGINT', exact: 'exact' },
  { postgres: 'real', example: 'real', rendering: 'number; "NaN", "Infinity", "-Infinity"', duckdb: 'FLOAT', exact: 'exact, NaN and ±Infinity kept' },
  { postgres: 'double precision', example: 'double precision', rendering: 'number; "NaN", "Infinity", "-Infinity"', duckdb: 'DOUBLE', exact: 'exact, NaN and ±Infinity kept' },
  { postgres: 'numeric(p,s), p <= 38', example: 'numeric(12,2)', rendering: 'string', duckdb: 'DECIMAL(p,s)', exact: 'exact; NaN has no DECIMAL value: NULL, reported' },
  { postgres: 'numeric(p,s) with s < 0 or s > p', example: 'numeric(5,-2)', rendering: 'string', duckdb: 'DECIMAL(max(p-s,0)+max(s,0), max(s,0))', exact: 'exact (the DECIMAL holding every allowed value)' },
  { postgres: 'numeric(p,s), p > 38; numeric', example: 'numeric', rendering: 'string; NaN, ±Infinity as "NAN", "POSITIVE_INFINITY", "NEGATIVE_INFINITY"', duckdb: 'VARCHAR', exact: 'lossless: PostgreSQL\'s exact text, NaN and ±Infinity kept' },
  { postgres: 'boolean', example: 'boolean', rendering: 'true / false', duckdb: 'BOOLEAN', exact: 'exact' },
  { postgres: 'text, varchar(n), char(n), name, citext', example: 'character varying(20)', rendering: 'string', duckdb: 'VARCHAR', exact: 'exact (char(n) padded, as PostgreSQL prints it)' },
  { postgres: 'date', example: 'date', rendering: 'days since 1970-01-01; ±infinity as -2147472692 / -2147472691', duckdb: 'DATE', exact: 'exact, ±infinity kept' },
  { postgres: 'timestamp(p)', example: 'timestamp without time zone', rendering: 'µs since epoch (ms for p <= 3); ±infinity as 9223372036825200000 / -9223372036832400000 (ms: 9223372036825200 / -9223372036832400)', duckdb: 'TIMESTAMP', exact: 'exact, ±infinity kept' },
  { postgres: 'timestamptz(p)', example: 'timestamp with time zone', rendering: 'ISO-8601 string in UTC; "infinity", "-infinity"', duckdb: 'TIMESTAMPTZ', exact: 'exact (the instant), ±infinity kept' },
  { postgres: 'time(p)', example: 'time without time zone', rendering: 'µs since midnight (ms for p <= 3)', duckdb: 'TIME', exact: 'exact, 24:00:00 kept' },
  { postgres: 'timetz', example: 'time with time zone', rendering: 'ISO-8601 time in UTC', duckdb: 'TIMETZ', exact: 'the instant, offset +00 (the rendering drops the offset)' },
  { postgres: 'interval (rendering iso8601, the default)', example: 'interval', rendering: 'ISO-8601 duration "P1Y2M3DT4H5M6.78S"', duckdb: 'INTERVAL', exact: 'exact: months, days, µs kept apart' },
  { postgres: 'interval (rendering numeric)', example: 'interval', numericInterval: true, rendering: 'µs, months as 30.4375 days', duckdb: 'INTERVAL', exact: 'lossy: µs only (Debezium MicroDuration)' },
  { postgres: 'uuid', example: 'uuid', rendering: 'string', duckdb: 'UUID', exact: 'exact' },
  { postgres: 'bytea', example: 'bytea', rendering: 'base64 string', duckdb: 'BLOB', exact: 'exact' },
  { postgres: 'json, jsonb', example: 'jsonb', rendering: 'string holding the JSON text', duckdb: 'JSON', exact: 'exact text (jsonb as PostgreSQL normalises it)' },
  {
    postgres: 'arrays of any of these',
    example: 'integer[]',
    column: { category: 'array', baseType: 'integer' },
    rendering: 'JSON array',
    duckdb: 'LIST of the element type, e.g. INTEGER[] (one level per declared dimension: INTEGER[][])',
    exact: 'exact values; lower bounds other than 1 are not carried; a value with more dimensions than declared: NULL, reported',
  },
  { postgres: 'enums', example: 'mood', column: { category: 'enum', enumLabels: ['sad', 'ok'] }, rendering: 'string (label)', duckdb: 'VARCHAR', exact: 'exact' },
  { postgres: 'domains', example: 'positive_int', column: { category: 'domain', baseType: 'integer' }, rendering: 'as the base type', duckdb: 'the base type\'s, e.g. INTEGER', exact: 'as the base type' },
  {
    postgres: 'tsvector, tsquery, point and other geometric types, ranges, multiranges, hstore, money, inet, cidr, macaddr, xml, bit, composite types, anything else',
    example: 'tsvector',
    rendering: 'string (PostgreSQL\'s text); Debezium\'s forms for money (the amount, "1234.56"), point (the JSON object {"x","y","wkb","srid"}) and hstore (a JSON object text)',
    duckdb: 'VARCHAR',
    exact: 'exact: the text the event carries; no DuckDB type holds them',
  },
];

/** The markdown table of {@link TYPE_MAPPING_ROWS}, as docs/contracts/silver-types.md holds it. */
export function typeMappingMarkdown(): string {
  const esc = (t: string) => t.replaceAll('|', '\\|');
  return [
    '| PostgreSQL (schema document `pgType`) | event rendering | silver (DuckDB) | exact? |',
    '|---|---|---|---|',
    ...TYPE_MAPPING_ROWS.map((r) => `| ${esc(r.postgres)} | ${esc(r.rendering)} | ${esc(r.duckdb)} | ${esc(r.exact)} |`),
  ].join('\n');
}
