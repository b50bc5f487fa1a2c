/**
 * What `prepare-source` must change on a PostgreSQL database so the CDC service can capture it,
 * computed from the database's current state (read by ./catalog.ts) and the user's choices.
 * Pure: no I/O, so every rule is unit-tested (plan.test.ts).
 *
 * Rules (docs/guides/capture-another-database.md, docs/security.md):
 * - The CDC role: LOGIN REPLICATION and nothing more (NOSUPERUSER NOCREATEDB NOCREATEROLE
 *   NOBYPASSRLS), CONNECT on the database, USAGE on the captured schemas, SELECT on the captured
 *   tables only (on the published columns only, when a column list keeps columns out), and no
 *   privilege on any other table of the database (revoked). REPLICATION is what PostgreSQL needs
 *   for logical replication; it also allows physical replication (a base backup), which only
 *   pg_hba.conf can refuse: {@link hbaAdvice} says which line to add.
 * - The publication: exactly the captured tables, publishing insert, update, delete and truncate,
 *   via the partition root. `excludeColumns` turns into PostgreSQL 15 column lists
 *   (`TABLE t (a, b)`): those columns never reach Kafka or the lake.
 * - REPLICA IDENTITY FULL where the table needs it: a table without a primary key (otherwise
 *   PostgreSQL refuses its UPDATE/DELETE once published, and consumers cannot match old rows), and
 *   a table with TOASTable columns (storage extended/external/main) unless the user keeps its
 *   identity (`keepIdentity`): under DEFAULT an UPDATE that does not touch a TOASTed value
 *   carries no value for it. For a partitioned table this applies to the root and every leaf
 *   (changes are decoded from the leaves). A table with a column list cannot be FULL (PostgreSQL
 *   requires the list to cover the identity): it keeps, or returns to, DEFAULT, and a keyless
 *   table cannot have a column list at all.
 */

/** One column as the catalog describes it. */
export interface ColumnState {
  name: string;
  /** pg_attribute.attstorage: p plain, e external, m main, x extended. Anything but p can be TOASTed. */
  storage: string;
}

/** A table to capture, as it is now. */
export interface TableState {
  schema: string;
  table: string;
  /** r table, p partitioned table. */
  relkind: string;
  /** d default, n nothing, f full, i index. */
  replicaIdentity: string;
  primaryKey: string[];
  /** Columns in attribute order (no dropped or generated columns). */
  columns: ColumnState[];
  /** Leaf partitions of a partitioned table ("schema.table" and their identity); [] otherwise. */
  partitions: { name: string; replicaIdentity: string }[];
  /** The role holds table-level SELECT. */
  roleHasTableSelect: boolean;
  /** Columns the role may SELECT through column-level grants (or all columns with table-level SELECT). */
  roleSelectColumns: string[];
}

/** The CDC role as it is now. */
export interface RoleState {
  exists: boolean;
  login: boolean;
  replication: boolean;
  superuser: boolean;
  createdb: boolean;
  createrole: boolean;
  bypassrls: boolean;
  /** Logging in with the configured password works (false when the role is missing). */
  passwordWorks: boolean;
  canConnect: boolean;
  /** Schemas (of the captured tables) on which the role has USAGE. */
  schemasWithUsage: string[];
  /** "schema.table" of relations outside the capture set on which the role holds a direct grant. */
  otherGrants: string[];
  /** Roles it is a member of (their privileges are inherited): reported, not changed. */
  memberOf: string[];
}

/** The publication as it is now. */
export interface PublicationState {
  exists: boolean;
  allTables: boolean;
  /** publish_via_partition_root. */
  viaRoot: boolean;
  publishesAll: boolean;
  /** Explicitly listed tables, "schema.table" -> column list (null = every column). */
  tables: Map<string, string[] | null>;
  /** Schemas published with FOR TABLES IN SCHEMA (any counts as a difference). */
  schemas: string[];
}

export interface SourceState {
  database: string;
  /** server_version_num, e.g. 150010. */
  serverVersion: number;
  role: RoleState;
  publication: PublicationState;
  tables: TableState[];
}

/** The user's choices. */
export interface PrepareOptions {
  role: string;
  publication: string;
  /** Columns to keep out of the lake: "schema.table" -> column names. */
  excludeColumns: Map<string, string[]>;
  /** "schema.table" of TOAST-holding tables whose replica identity is left as it is. */
  keepIdentity: Set<string>;
}

/** One statement of the plan. `sql` runs; `display` is what is printed (password masked). */
export interface PlanStep {
  sql: string;
  display: string;
  /** Why it is needed, one line. */
  reason: string;
}

/** The prepared state cannot be reached by SQL; the message says what the user must change. */
export class SourcePrepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourcePrepError';
  }
}

/** Quotes an SQL identifier. */
export const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;
/** Quotes an SQL string literal (standard_conforming_strings on). */
export const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const qualifiedName = (name: string): string => name.split('.').map(ident).join('.');
const key = (t: { schema: string; table: string }) => `${t.schema}.${t.table}`;

/** Columns the publication must carry for `t` (null = all), after exclusions. @throws SourcePrepError on an unknown column. */
export function publishedColumns(t: TableState, options: PrepareOptions): string[] | null {
  const excluded = options.excludeColumns.get(key(t));
  if (!excluded || excluded.length === 0) return null;
  const names = t.columns.map((c) => c.name);
  const unknown = excluded.filter((c) => !names.includes(c));
  if (unknown.length > 0) throw new SourcePrepError(`--exclude-columns: ${key(t)} has no column ${unknown.join(', ')}`);
  const keyExcluded = excluded.filter((c) => t.primaryKey.includes(c));
  if (keyExcluded.length > 0) throw new SourcePrepError(`--exclude-columns: ${key(t)}.${keyExcluded.join(', ')} is part of the primary key, which every event carries`);
  if (t.primaryKey.length === 0) {
    throw new SourcePrepError(`--exclude-columns: ${key(t)} has no primary key, so it needs REPLICA IDENTITY FULL, which a column list must cover entirely; add a primary key or capture every column`);
  }
  return names.filter((n) => !excluded.includes(n));
}

/** The replica identity `t` must have: 'f', 'd', or null to leave it as it is. */
export function wantedIdentity(t: TableState, options: PrepareOptions): 'f' | 'd' | null {
  const hasColumnList = publishedColumns(t, options) !== null;
  if (t.primaryKey.length === 0) return t.replicaIdentity === 'i' ? null : 'f';
  if (hasColumnList) return t.replicaIdentity === 'f' || t.replicaIdentity === 'n' ? 'd' : null;
  if (options.keepIdentity.has(key(t))) return t.replicaIdentity === 'n' ? 'd' : null;
  const toastable = t.columns.some((c) => c.storage !== 'p');
  if (toastable) return t.replicaIdentity === 'f' ? null : 'f';
  return t.replicaIdentity === 'n' ? 'd' : null;
}

const IDENTITY_WORD = { f: 'FULL', d: 'DEFAULT' } as const;

function identityReason(t: TableState, want: 'f' | 'd', options: PrepareOptions): string {
  if (want === 'd') return publishedColumns(t, options) ? 'a column list must cover the replica identity: the primary key (DEFAULT), not every column (FULL)' : 'REPLICA IDENTITY NOTHING makes PostgreSQL refuse UPDATE and DELETE on a published table';
  if (t.primaryKey.length === 0) return 'no primary key: updates and deletes must carry the whole old row';
  return 'TOASTable columns: an UPDATE that does not touch a large value would carry no value for it (opt out with --keep-identity)';
}

function columnList(cols: string[] | null): string {
  return cols ? ` (${cols.map(ident).join(', ')})` : '';
}

function sameColumns(a: string[] | null | undefined, b: string[] | null): boolean {
  if (a === undefined) return false;
  if (a === null || b === null) return a === b;
  return a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);
}

/**
 * The statements that bring `state` to the prepared state, in execution order; [] when the
 * database is already prepared (so a second run changes nothing).
 * @param password the CDC role's password (in `sql` only; `display` shows '***').
 * @throws SourcePrepError when no statement can reach the prepared state (FOR ALL TABLES
 *   publication, column list on a keyless table, column lists before PostgreSQL 15).
 */
export function planSourcePreparation(state: SourceState, options: PrepareOptions, password: string): PlanStep[] {
  const steps: PlanStep[] = [];
  const add = (sql: string, reason: string, display = sql) => steps.push({ sql, display, reason });
  const role = ident(options.role);
  const r = state.role;

  if (options.excludeColumns.size > 0 && state.serverVersion < 150000) {
    throw new SourcePrepError(`--exclude-columns needs PostgreSQL 15 or later (publication column lists); this server is ${Math.floor(state.serverVersion / 10000)}`);
  }
  for (const name of options.excludeColumns.keys()) {
    if (!state.tables.some((t) => key(t) === name)) throw new SourcePrepError(`--exclude-columns: ${name} is not among the captured tables`);
  }
  for (const name of options.keepIdentity) {
    if (!state.tables.some((t) => key(t) === name)) throw new SourcePrepError(`--keep-identity: ${name} is not among the captured tables`);
  }
  if (state.publication.exists && state.publication.allTables) {
    throw new SourcePrepError(`publication ${options.publication} is FOR ALL TABLES; prepare-source manages a table list: choose another name (--publication) or drop it (DROP PUBLICATION ${ident(options.publication)})`);
  }

  // The role.
  const attributes = 'LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS';
  if (!r.exists) {
    add(`CREATE ROLE ${role} WITH ${attributes} PASSWORD ${literal(password)}`, 'the CDC role does not exist', `CREATE ROLE ${role} WITH ${attributes} PASSWORD '***'`);
  } else {
    if (!r.login || !r.replication || r.superuser || r.createdb || r.createrole || r.bypassrls) {
      add(`ALTER ROLE ${role} WITH ${attributes}`, 'the CDC role needs LOGIN REPLICATION and nothing more');
    }
    if (!r.passwordWorks) add(`ALTER ROLE ${role} WITH PASSWORD ${literal(password)}`, 'the configured password (CDC_DB_PASSWORD) does not log in', `ALTER ROLE ${role} WITH PASSWORD '***'`);
  }
  if (!r.canConnect) add(`GRANT CONNECT ON DATABASE ${ident(state.database)} TO ${role}`, 'the CDC role must connect to the database');
  for (const schema of [...new Set(state.tables.map((t) => t.schema))]) {
    if (!r.schemasWithUsage.includes(schema)) add(`GRANT USAGE ON SCHEMA ${ident(schema)} TO ${role}`, `the CDC role must see the tables of schema ${schema}`);
  }

  // Privileges: SELECT on the captured tables (published columns only), nothing elsewhere.
  for (const t of state.tables) {
    const cols = publishedColumns(t, options);
    const table = `${ident(t.schema)}.${ident(t.table)}`;
    if (cols === null) {
      if (!t.roleHasTableSelect) add(`GRANT SELECT ON ${table} TO ${role}`, `the snapshot reads ${key(t)}`);
      continue;
    }
    const extra = t.roleSelectColumns.filter((c) => !cols.includes(c));
    if (t.roleHasTableSelect) add(`REVOKE SELECT ON ${table} FROM ${role}`, `${key(t)}: the CDC role may read the published columns only`);
    else if (extra.length > 0) add(`REVOKE SELECT (${extra.map(ident).join(', ')}) ON ${table} FROM ${role}`, `${key(t)}: these columns stay out of the lake`);
    const missing = t.roleHasTableSelect ? cols : cols.filter((c) => !t.roleSelectColumns.includes(c));
    if (missing.length > 0) add(`GRANT SELECT (${cols.map(ident).join(', ')}) ON ${table} TO ${role}`, `the snapshot reads the published columns of ${key(t)}`);
  }
  for (const other of r.otherGrants) add(`REVOKE ALL ON ${qualifiedName(other)} FROM ${role}`, `${other} is not captured: the CDC role reads captured tables only`);

  // Replica identity.
  for (const t of state.tables) {
    const want = wantedIdentity(t, options);
    const targets = [{ name: key(t), replicaIdentity: t.replicaIdentity }, ...t.partitions];
    // A partitioned table's leaves follow its root's identity.
    const rootIdentity = t.replicaIdentity === 'f' || t.replicaIdentity === 'd' ? t.replicaIdentity : null;
    const wanted = want ?? (t.relkind === 'p' ? rootIdentity : null);
    if (!wanted) continue;
    for (const target of targets) {
      if (target.replicaIdentity === wanted) continue;
      add(`ALTER TABLE ${qualifiedName(target.name)} REPLICA IDENTITY ${IDENTITY_WORD[wanted]}`,
        `${target.name}: ${identityReason(t, wanted, options)}${target.name !== key(t) ? ` (partition of ${key(t)})` : ''}`);
    }
  }

  // The publication.
  const pubName = ident(options.publication);
  const entries = state.tables.map((t) => `${ident(t.schema)}.${ident(t.table)}${columnList(publishedColumns(t, options))}`).join(', ');
  const withClause = "publish = 'insert, update, delete, truncate', publish_via_partition_root = true";
  const p = state.publication;
  if (!p.exists) {
    add(`CREATE PUBLICATION ${pubName} FOR TABLE ${entries} WITH (${withClause})`, 'the publication does not exist');
  } else {
    const tablesDiffer = p.schemas.length > 0 || p.tables.size !== state.tables.length ||
      state.tables.some((t) => !sameColumns(p.tables.get(key(t)), publishedColumns(t, options)));
    if (tablesDiffer) add(`ALTER PUBLICATION ${pubName} SET TABLE ${entries}`, 'the publication must list exactly the captured tables (and columns)');
    if (!p.publishesAll || !p.viaRoot) add(`ALTER PUBLICATION ${pubName} SET (${withClause})`, 'every kind of change must be published, partitions as their root');
  }
  return steps;
}

/** A pg_hba.conf rule as pg_hba_file_rules shows it. */
export interface HbaRule {
  lineNumber: number;
  type: string;
  databases: string[];
  users: string[];
  authMethod: string;
}

/**
 * Whether pg_hba.conf lets `role` open physical replication connections (pg_basebackup): the
 * first rule whose database is `replication` and whose user matches decides (PostgreSQL's rule;
 * `all` in the database column does not match physical replication). Group membership (`+group`)
 * is counted as a match: a conservative answer.
 * @returns null when the role is refused, else the advice (the line to add).
 */
export function hbaAdvice(rules: HbaRule[], role: string): string | null {
  for (const rule of [...rules].sort((a, b) => a.lineNumber - b.lineNumber)) {
    if (rule.type === 'local') continue;
    if (!rule.databases.includes('replication')) continue;
    if (!rule.users.some((u) => u === 'all' || u === role || u.startsWith('+'))) continue;
    if (rule.authMethod === 'reject') return null;
    return `pg_hba.conf line ${rule.lineNumber} lets ${role} open physical replication connections (pg_basebackup copies the whole cluster): ` +
      `add "host replication ${role} all reject" above it and reload PostgreSQL (SELECT pg_reload_conf())`;
  }
  return null;
}

/**
 * Whether pg_hba.conf lets `role` open an ordinary (or logical replication) connection to
 * `database` from some host: the first host rule matching database and user decides; no match
 * means refused. `replication` rules are for physical connections and are skipped; `all`,
 * `sameuser`, `samerole` and `+group` count as matches (a conservative answer).
 */
export function hbaAllowsDatabase(rules: HbaRule[], role: string, database: string): boolean {
  for (const rule of [...rules].sort((a, b) => a.lineNumber - b.lineNumber)) {
    if (rule.type === 'local') continue;
    if (!rule.databases.some((d) => d === database || d === 'all' || d === 'sameuser' || d === 'samerole')) continue;
    if (!rule.users.some((u) => u === 'all' || u === role || u.startsWith('+'))) continue;
    return rule.authMethod !== 'reject';
  }
  return false;
}
