/**
 * Test support: table schema documents as the CDC service produces them (the schema contract,
 * services/common/contracts/table-schema.ts), built from a compact column list, with the
 * content-addressed id (the contract's `withSchemaId`). {@link SPORT_TABLES} are the
 * four tables of schemas/postgres/migrations/001_source_tables.sql, for bronze fixtures; the
 * real documents come from the CDC service (batch-cdc.int.test.ts runs it).
 */
import { withSchemaId, type SchemaColumn, type TableSchema, type TableSchemaBody } from '../../common/contracts/table-schema.ts';

/** OIDs of the built-in types the fixtures use (pg_type.dat). */
const OIDS: Record<string, number> = {
  boolean: 16, bytea: 17, bigint: 20, smallint: 21, integer: 23, text: 25, json: 114, real: 700, 'double precision': 701,
  date: 1082, 'time without time zone': 1083, 'timestamp without time zone': 1114, 'timestamp with time zone': 1184, interval: 1186,
  'time with time zone': 1266, numeric: 1700, uuid: 2950, jsonb: 3802, 'character varying': 1043, 'text[]': 1009, 'integer[]': 1007,
};

/** A column: `name type` with `!` for NOT NULL and `*` for a primary-key member, e.g. `id integer*!`. */
export type ColumnSpec = [name: string, pgType: string, flags?: string];

/** Builds a schema document; `extra` overrides any member (category, baseType, enumLabels of a column go in `columnExtras`). */
export function tableSchema(
  source: { name: string; schema: string; table: string; db?: string },
  columns: readonly ColumnSpec[],
  extra: Partial<Omit<TableSchema, 'schemaId' | 'columns'>> & { columnExtras?: Record<string, Partial<SchemaColumn>> } = {},
): TableSchema {
  const { columnExtras = {}, ...rest } = extra;
  const pk = columns.filter(([, , f]) => f?.includes('*')).map(([n]) => n);
  const cols: SchemaColumn[] = columns.map(([name, pgType, flags = ''], i) => {
    const base = pgType.replace(/\(.*\)/, '');
    return {
      name,
      position: i + 1,
      attnum: i + 1,
      typeOid: OIDS[base] ?? OIDS[pgType] ?? 0,
      typeMod: -1,
      pgType,
      nullable: !flags.includes('!') && !flags.includes('*'),
      keyPosition: pk.includes(name) ? pk.indexOf(name) + 1 : null,
      identity: (extra.replicaIdentity ?? 'full') === 'full' || pk.includes(name),
      category: pgType.endsWith('[]') ? 'array' : 'base',
      baseType: pgType.endsWith('[]') ? pgType.slice(0, -2) : null,
      baseTypeOid: pgType.endsWith('[]') ? (OIDS[pgType.slice(0, -2)] ?? 0) : null,
      baseCategory: pgType.endsWith('[]') ? 'base' : null,
      enumLabels: null,
      arrayDimensions: pgType.endsWith('[]') ? 0 : null,
      ...columnExtras[name],
    };
  });
  const body: TableSchemaBody = {
    format: 1,
    source: { name: source.name, db: source.db ?? source.name, schema: source.schema, table: source.table },
    topic: `${source.name}.${source.schema}.${source.table}`,
    replicaIdentity: 'full',
    primaryKey: pk,
    columns: cols,
    generatedColumns: [],
    rendering: { decimal: 'string', time: 'adaptive', interval: 'iso8601', binary: 'base64', unavailableValue: '__debezium_unavailable_value' },
    ...rest,
  };
  return withSchemaId(body);
}

/** The columns of the sport tables (migration 001). */
export const SPORT_COLUMNS: Record<'employees' | 'declared_sports' | 'activities' | 'commute_distances', ColumnSpec[]> = {
  employees: [
    ['employee_id', 'integer', '*'],
    ['last_name', 'text', '!'],
    ['first_name', 'text', '!'],
    ['birth_date', 'date', '!'],
    ['business_unit', 'text', '!'],
    ['hire_date', 'date', '!'],
    ['gross_annual_salary_eur', 'numeric(12,2)'],
    ['contract_type', 'text', '!'],
    ['paid_leave_days', 'smallint', '!'],
    ['home_address', 'text', '!'],
    ['home_postcode', 'text', '!'],
    ['home_city', 'text', '!'],
    ['home_lat', 'double precision'],
    ['home_lon', 'double precision'],
    ['commute_mode', 'text', '!'],
    ['updated_at', 'timestamp with time zone', '!'],
  ],
  declared_sports: [
    ['employee_id', 'integer', '*'],
    ['sport', 'text', '!'],
    ['declared_at', 'timestamp with time zone', '!'],
  ],
  activities: [
    ['activity_id', 'bigint', '*'],
    ['employee_id', 'integer', '!'],
    ['sport_type', 'text', '!'],
    ['started_at', 'timestamp with time zone', '!'],
    ['ended_at', 'timestamp with time zone', '!'],
    ['elapsed_seconds', 'integer', '!'],
    ['distance_m', 'integer'],
    ['comment', 'text'],
    ['source', 'text', '!'],
    ['created_at', 'timestamp with time zone', '!'],
    ['updated_at', 'timestamp with time zone', '!'],
  ],
  commute_distances: [
    ['employee_id', 'integer', '*'],
    ['origin_address', 'text', '!'],
    ['destination_address', 'text', '!'],
    ['travel_mode', 'text', '!'],
    ['distance_m', 'integer'],
    ['duration_s', 'integer'],
    ['provider', 'text', '!'],
    ['status', 'text', '!'],
    ['computed_at', 'timestamp with time zone', '!'],
  ],
};

/** The sport tables' schema documents under namespace `prefix` (default `sport`). */
export function sportSchemas(prefix = 'sport'): TableSchema[] {
  return Object.entries(SPORT_COLUMNS).map(([table, cols]) => tableSchema({ name: prefix, schema: 'public', table, db: 'sport' }, cols));
}
