/**
 * Builds the table schema document of one table version (docs/contracts/table-schemas.md,
 * services/common/contracts/table-schema.ts). Pure: the catalog adapter (postgres-catalog.ts,
 * {@link readSchemaFacts}) reads the facts, this module decides what they mean.
 *
 * Sources, per field:
 * - from pgoutput's Relation message, authoritative at its WAL position: the published columns in
 *   order, their names, type OIDs and typmods, replica-identity flags and the table's replica
 *   identity (for snapshot rows, which have no Relation message, the same facts come from the
 *   catalog, derived exactly as pgoutput derives them, so both give the same document and id);
 * - from the catalog, read when the Relation message arrives (at or after its WAL position):
 *   format_type of each type, nullability (column NOT NULL or a NOT NULL domain), primary-key
 *   positions, attnum and declared array dimensions, domain and array base types, enum labels,
 *   STORED generated columns.
 */
import {
  SCHEMA_FORMAT, UNAVAILABLE_VALUE, withSchemaId, type IntervalMode, type SchemaColumn, type TableSchema, type TypeCategory,
} from '../common/contracts/table-schema.ts';

/** A pg_type row, as far as the document needs it. */
export interface PgTypeRow {
  oid: number;
  /** b base, c composite, d domain, e enum, p pseudo, r range, m multirange. */
  typtype: string;
  /** A array, S string, ... */
  typcategory: string;
  /** Element type of an array (0 otherwise). */
  typelem: number;
  /** Base type of a domain (0 otherwise). */
  typbasetype: number;
  /** typmod a domain applies to its base type (-1 when none). */
  typtypmod: number;
  /** NOT NULL domain. */
  typnotnull: boolean;
}

/** A column of the table as pg_attribute describes it now. */
export interface CatalogColumn {
  attnum: number;
  notNull: boolean;
  /** attndims: declared array dimensions (0 when not declared). */
  dims: number;
}

/** A published column, as the Relation message (or the catalog, for the snapshot) lists it. */
export interface RelationColumnFacts {
  name: string;
  typeOid: number;
  typeMod: number;
  /** Part of the replica identity (pgoutput's column flag 1). */
  isIdentity: boolean;
}

/** Everything {@link buildTableSchema} needs; {@link readSchemaFacts} (postgres-catalog.ts) reads it. */
export interface SchemaFacts {
  topicPrefix: string;
  database: string;
  schema: string;
  table: string;
  /** pg_class.relreplident of the Relation message: d default, n nothing, f full, i index. */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  columns: RelationColumnFacts[];
  /** By column name; a column missing here was dropped or renamed since the Relation message. */
  catalogColumns: ReadonlyMap<string, CatalogColumn>;
  /** Primary-key column names in key order, [] without one. */
  primaryKey: string[];
  /** STORED generated columns, in attribute order. */
  generatedColumns: string[];
  /** Every type the columns reach through domains and array elements. */
  types: ReadonlyMap<number, PgTypeRow>;
  /** format_type(oid, typmod) by {@link formatKey}, for every pair {@link formatPairs} lists. */
  formatted: ReadonlyMap<string, string>;
  /** Labels in sort order, by enum type OID. */
  enumLabels: ReadonlyMap<number, string[]>;
  intervalMode: IntervalMode;
}

const REPLICA_IDENTITY_NAMES = { d: 'default', n: 'nothing', f: 'full', i: 'index' } as const;

/** Key of a (type OID, typmod) pair in {@link SchemaFacts.formatted}. */
export function formatKey(oid: number, typmod: number): string {
  return `${oid}:${typmod}`;
}

/** The category of a type (its pg_type row), or "other" when the type is unknown (dropped since). */
export function typeCategory(row: PgTypeRow | undefined): TypeCategory {
  if (!row) return 'other';
  switch (row.typtype) {
    case 'd':
      return 'domain';
    case 'e':
      return 'enum';
    case 'c':
      return 'composite';
    case 'r':
      return 'range';
    case 'm':
      return 'multirange';
    case 'p':
      return 'pseudo';
    case 'b':
      return row.typcategory === 'A' && row.typelem !== 0 ? 'array' : 'base';
    default:
      return 'other';
  }
}

/** A type with every domain stripped: the base OID, the typmod that applies to it, and whether a domain was NOT NULL. */
function stripDomains(types: ReadonlyMap<number, PgTypeRow>, oid: number, typmod: number): { oid: number; typmod: number; notNull: boolean } {
  let notNull = false;
  for (let depth = 0; depth < 32; depth++) {
    const row = types.get(oid);
    if (!row || row.typtype !== 'd') break;
    notNull ||= row.typnotnull;
    oid = row.typbasetype;
    typmod = row.typtypmod;
  }
  return { oid, typmod, notNull };
}

interface ResolvedType {
  category: TypeCategory;
  /** The value-carrying type: domain -> stripped base; array -> stripped element; else null. */
  base: { oid: number; typmod: number } | null;
  /** Some domain on the way is NOT NULL (only the column's own domains count). */
  notNull: boolean;
  /** The enum at the bottom (domains and arrays stripped), if any. */
  enumOid: number | null;
}

function resolve(types: ReadonlyMap<number, PgTypeRow>, oid: number, typmod: number): ResolvedType {
  const category = typeCategory(types.get(oid));
  const stripped = stripDomains(types, oid, typmod);
  let base: ResolvedType['base'] = null;
  if (category === 'domain') base = { oid: stripped.oid, typmod: stripped.typmod };
  else if (category === 'array') {
    const elem = stripDomains(types, types.get(oid)!.typelem, typmod);
    base = { oid: elem.oid, typmod: elem.typmod };
  }
  // The enum at the bottom: strip domains, then an array level, then domains again.
  let bottom = stripped.oid;
  if (typeCategory(types.get(bottom)) === 'array') bottom = stripDomains(types, types.get(bottom)!.typelem, -1).oid;
  const enumOid = typeCategory(types.get(bottom)) === 'enum' ? bottom : null;
  return { category, base, notNull: stripped.notNull, enumOid };
}

/**
 * The (type OID, typmod) pairs whose format_type the document needs: each column's declared type
 * and its base (domain) or element (array) type.
 */
export function formatPairs(columns: readonly RelationColumnFacts[], types: ReadonlyMap<number, PgTypeRow>): [number, number][] {
  const out = new Map<string, [number, number]>();
  const add = (oid: number, typmod: number) => out.set(formatKey(oid, typmod), [oid, typmod]);
  for (const c of columns) {
    add(c.typeOid, c.typeMod);
    const { base } = resolve(types, c.typeOid, c.typeMod);
    if (base) add(base.oid, base.typmod);
  }
  return [...out.values()];
}

/** The type OIDs a set of types reaches (domain bases, array elements), to load before building. */
export function referencedTypeOids(rows: Iterable<PgTypeRow>): number[] {
  const out: number[] = [];
  for (const r of rows) {
    if (r.typtype === 'd' && r.typbasetype !== 0) out.push(r.typbasetype);
    if (r.typelem !== 0) out.push(r.typelem);
  }
  return out;
}

/** Enum type OIDs at the bottom of the columns' types, whose labels the document lists. */
export function enumTypeOids(columns: readonly RelationColumnFacts[], types: ReadonlyMap<number, PgTypeRow>): number[] {
  const out = new Set<number>();
  for (const c of columns) {
    const { enumOid } = resolve(types, c.typeOid, c.typeMod);
    if (enumOid !== null) out.add(enumOid);
  }
  return [...out];
}

/**
 * The replica-identity flags pgoutput would send for the published `columns` of a table whose
 * relreplident is `replicaIdentity` (logicalrep_write_attrs: every column under FULL, the columns
 * of the primary key under DEFAULT, of the replica-identity index under INDEX, none under NOTHING).
 * Used for the snapshot, which has no Relation message.
 */
export function identityFlags(replicaIdentity: 'd' | 'n' | 'f' | 'i', columnNames: readonly string[], primaryKey: readonly string[], identityIndex: readonly string[]): boolean[] {
  const members = replicaIdentity === 'd' ? new Set(primaryKey) : replicaIdentity === 'i' ? new Set(identityIndex) : null;
  return columnNames.map((name) => (replicaIdentity === 'f' ? true : replicaIdentity === 'n' ? false : members!.has(name)));
}

/** The document of one table version, with its content-addressed id. */
export function buildTableSchema(f: SchemaFacts): TableSchema {
  const format = (oid: number, typmod: number) => f.formatted.get(formatKey(oid, typmod)) ?? `oid ${oid}`;
  const columns: SchemaColumn[] = f.columns.map((c, i) => {
    const catalog = f.catalogColumns.get(c.name);
    const resolved = resolve(f.types, c.typeOid, c.typeMod);
    const keyIndex = f.primaryKey.indexOf(c.name);
    const baseCategory = resolved.base ? typeCategory(f.types.get(resolved.base.oid)) : null;
    const isArrayValued = resolved.category === 'array' || baseCategory === 'array';
    return {
      name: c.name,
      position: i + 1,
      attnum: catalog?.attnum ?? null,
      typeOid: c.typeOid,
      typeMod: c.typeMod,
      pgType: format(c.typeOid, c.typeMod),
      nullable: !(catalog?.notNull ?? false) && !resolved.notNull,
      keyPosition: keyIndex >= 0 ? keyIndex + 1 : null,
      identity: c.isIdentity,
      category: resolved.category,
      baseType: resolved.base ? format(resolved.base.oid, resolved.base.typmod) : null,
      baseTypeOid: resolved.base?.oid ?? null,
      baseCategory,
      enumLabels: resolved.enumOid === null ? null : [...(f.enumLabels.get(resolved.enumOid) ?? [])],
      arrayDimensions: isArrayValued ? (catalog?.dims ?? 0) : null,
    };
  });
  return withSchemaId({
    format: SCHEMA_FORMAT,
    source: { name: f.topicPrefix, db: f.database, schema: f.schema, table: f.table },
    topic: `${f.topicPrefix}.${f.schema}.${f.table}`,
    replicaIdentity: REPLICA_IDENTITY_NAMES[f.replicaIdentity],
    primaryKey: [...f.primaryKey],
    columns,
    generatedColumns: [...f.generatedColumns],
    rendering: { decimal: 'string', time: 'adaptive', interval: f.intervalMode, binary: 'base64', unavailableValue: UNAVAILABLE_VALUE },
  });
}

/**
 * What earlier catalog reads saw of each captured table's columns, within one process, and what
 * the documents of earlier runs say ({@link ColumnFactsMemory.seed}).
 *
 * A Relation message describes the table as of its WAL position, but the catalog is read when
 * the message arrives: a column dropped or renamed in between (DDL right after a change, or a
 * restart behind DDL that re-sends older changes) is no longer in the catalog under that name. Its
 * catalog facts (attnum, NOT NULL, dimensions) are then taken from the last read or document that
 * had it, so the document is the one built while the column existed and the version keeps the id
 * it had when it was first emitted.
 */
export class ColumnFactsMemory {
  private readonly byTable = new Map<string, Map<string, CatalogColumn>>();
  /** True once {@link seed} ran (the CDC service seeds once per process). */
  seeded = false;

  /**
   * Remembers the columns of documents emitted before (the schema topic, in production order, so
   * a later document's facts win). `nullable` comes back as NOT NULL, which gives the same
   * `nullable` again whatever made the column non-nullable.
   */
  seed(docs: Iterable<TableSchema>): void {
    for (const doc of docs) {
      const known = this.table(`${doc.source.schema}.${doc.source.table}`);
      for (const c of doc.columns) {
        if (c.attnum === null) continue;
        known.set(c.name, { attnum: c.attnum, notNull: !c.nullable, dims: c.arrayDimensions ?? 0 });
      }
    }
    this.seeded = true;
  }

  private table(key: string): Map<string, CatalogColumn> {
    let known = this.byTable.get(key);
    if (!known) this.byTable.set(key, (known = new Map()));
    return known;
  }

  /**
   * Completes `facts` with remembered columns the catalog no longer has, then remembers the
   * columns of this read.
   */
  complete(facts: SchemaFacts): SchemaFacts {
    const known = this.table(`${facts.schema}.${facts.table}`);
    const catalogColumns = new Map(facts.catalogColumns);
    for (const c of facts.columns) {
      const remembered = known.get(c.name);
      if (!catalogColumns.has(c.name) && remembered) catalogColumns.set(c.name, remembered);
    }
    for (const [name, column] of facts.catalogColumns) known.set(name, column);
    return { ...facts, catalogColumns };
  }
}
