/**
 * Reads what `prepare-source` needs to know about a database (./plan.ts's {@link SourceState}),
 * as the admin role: the CDC role's attributes and privileges, the publication, and the
 * captured tables (keys, replica identity, column storage, partitions). Catalog reads only.
 */
import type pg from 'pg';
import { SourcePrepError, type HbaRule, type PublicationState, type RoleState, type SourceState, type TableState } from './plan.ts';

type Db = Pick<pg.Client, 'query'>;

/** A table named by schema and table. */
export interface TableName {
  schema: string;
  table: string;
}

/**
 * Expands `schema.table` and `schema.*` patterns into the tables (and partitioned tables, not
 * their partitions) that exist now, in pattern order without duplicates. A bare `table` is in
 * `public`.
 * @throws SourcePrepError naming a table that does not exist or a schema with no table.
 */
export async function expandTables(db: Db, patterns: string[]): Promise<TableName[]> {
  const out: TableName[] = [];
  const seen = new Set<string>();
  for (const pattern of patterns) {
    const [schema, table] = pattern.includes('.') ? [pattern.slice(0, pattern.indexOf('.')), pattern.slice(pattern.indexOf('.') + 1)] : ['public', pattern];
    const res = await db.query<{ schema: string; table: string }>(
      `SELECT n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND ($2 = '*' OR c.relname = $2) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY c.relname`,
      [schema, table],
    );
    if (res.rows.length === 0) {
      throw new SourcePrepError(table === '*' ? `--tables: schema ${schema} has no table` : `--tables: table ${schema}.${table} does not exist`);
    }
    for (const r of res.rows) {
      const k = `${r.schema}.${r.table}`;
      if (!seen.has(k)) out.push(r);
      seen.add(k);
    }
  }
  return out;
}

async function readRole(db: Db, role: string, tables: TableName[], passwordWorks: boolean): Promise<RoleState> {
  const res = await db.query<{ rolcanlogin: boolean; rolreplication: boolean; rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean; rolbypassrls: boolean }>(
    'SELECT rolcanlogin, rolreplication, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = $1',
    [role],
  );
  const r = res.rows[0];
  if (!r) {
    return { exists: false, login: false, replication: false, superuser: false, createdb: false, createrole: false, bypassrls: false,
      passwordWorks: false, canConnect: false, schemasWithUsage: [], otherGrants: [], memberOf: [] };
  }
  const schemas = [...new Set(tables.map((t) => t.schema))];
  const usage = await db.query<{ schema: string }>(
    `SELECT s AS schema FROM unnest($2::text[]) s WHERE has_schema_privilege($1, s, 'USAGE')`,
    [role, schemas],
  );
  const connect = await db.query<{ ok: boolean }>(`SELECT has_database_privilege($1, current_database(), 'CONNECT') AS ok`, [role]);
  const captured = tables.map((t) => `${t.schema}.${t.table}`);
  const others = await db.query<{ name: string }>(
    `WITH r AS (SELECT oid FROM pg_roles WHERE rolname = $1)
     SELECT DISTINCT n.nspname || '.' || c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN LATERAL aclexplode(c.relacl) t ON true
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attacl IS NOT NULL
       LEFT JOIN LATERAL aclexplode(a.attacl) col ON true
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        AND (t.grantee = (SELECT oid FROM r) OR col.grantee = (SELECT oid FROM r))
        AND NOT (n.nspname || '.' || c.relname = ANY($2::text[]))
      ORDER BY 1`,
    [role, captured],
  );
  const member = await db.query<{ rolname: string }>(
    `SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1`,
    [role],
  );
  return {
    exists: true,
    login: r.rolcanlogin,
    replication: r.rolreplication,
    superuser: r.rolsuper,
    createdb: r.rolcreatedb,
    createrole: r.rolcreaterole,
    bypassrls: r.rolbypassrls,
    passwordWorks,
    canConnect: connect.rows[0]?.ok === true,
    schemasWithUsage: usage.rows.map((u) => u.schema),
    otherGrants: others.rows.map((o) => o.name),
    memberOf: member.rows.map((m) => m.rolname),
  };
}

async function readTable(db: Db, t: TableName, role: string, roleExists: boolean): Promise<TableState> {
  const res = await db.query<{ oid: string; relkind: string; replident: string; columns: { name: string; storage: string }[]; pk: string[]; parts: { name: string; replicaIdentity: string }[] }>(
    `SELECT c.oid::int8::text AS oid, c.relkind::text AS relkind, c.relreplident::text AS replident,
            COALESCE((SELECT json_agg(json_build_object('name', a.attname, 'storage', a.attstorage::text) ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), '[]') AS columns,
            COALESCE((SELECT json_agg(a.attname ORDER BY k.ord) FROM pg_index i
                        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                       WHERE i.indrelid = c.oid AND i.indisprimary), '[]') AS pk,
            COALESCE((SELECT json_agg(json_build_object('name', pn.nspname || '.' || pc.relname, 'replicaIdentity', pc.relreplident::text) ORDER BY pc.relname)
                        FROM pg_partition_tree(c.oid) pt JOIN pg_class pc ON pc.oid = pt.relid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                       WHERE pt.isleaf AND pt.relid <> c.oid), '[]') AS parts
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [t.schema, t.table],
  );
  const row = res.rows[0];
  if (!row) throw new SourcePrepError(`table ${t.schema}.${t.table} does not exist`);
  let tableSelect = false;
  let selectColumns: string[] = [];
  if (roleExists) {
    const priv = await db.query<{ ok: boolean }>(`SELECT has_table_privilege($1, $2::oid, 'SELECT') AS ok`, [role, row.oid]);
    tableSelect = priv.rows[0]?.ok === true;
    const cols = await db.query<{ attname: string }>(
      `SELECT attname FROM pg_attribute WHERE attrelid = $2::oid AND attnum > 0 AND NOT attisdropped AND has_column_privilege($1, $2::oid, attnum, 'SELECT') ORDER BY attnum`,
      [role, row.oid],
    );
    selectColumns = cols.rows.map((c) => c.attname);
  }
  return {
    schema: t.schema,
    table: t.table,
    relkind: row.relkind,
    replicaIdentity: row.replident,
    primaryKey: row.pk,
    columns: row.columns,
    partitions: row.parts,
    roleHasTableSelect: tableSelect,
    roleSelectColumns: selectColumns,
  };
}

async function readPublication(db: Db, name: string, serverVersion: number): Promise<PublicationState> {
  const pub = await db.query<{ puballtables: boolean; pubviaroot: boolean; all: boolean }>(
    'SELECT puballtables, pubviaroot, (pubinsert AND pubupdate AND pubdelete AND pubtruncate) AS all FROM pg_publication WHERE pubname = $1',
    [name],
  );
  const p = pub.rows[0];
  if (!p) return { exists: false, allTables: false, viaRoot: false, publishesAll: false, tables: new Map(), schemas: [] };
  const columns = serverVersion >= 150000
    ? `CASE WHEN pr.prattrs IS NULL THEN NULL ELSE (SELECT json_agg(a.attname ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = pr.prrelid AND a.attnum = ANY(pr.prattrs)) END`
    : 'NULL::json';
  const rels = await db.query<{ name: string; columns: string[] | null }>(
    `SELECT n.nspname || '.' || c.relname AS name, ${columns} AS columns
       FROM pg_publication_rel pr JOIN pg_publication pb ON pb.oid = pr.prpubid
       JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE pb.pubname = $1`,
    [name],
  );
  const schemas = serverVersion >= 150000
    ? (await db.query<{ nspname: string }>(
      `SELECT n.nspname FROM pg_publication_namespace pn JOIN pg_publication pb ON pb.oid = pn.pnpubid JOIN pg_namespace n ON n.oid = pn.pnnspid WHERE pb.pubname = $1`,
      [name],
    )).rows.map((r) => r.nspname)
    : [];
  return {
    exists: true,
    allTables: p.puballtables,
    viaRoot: p.pubviaroot,
    publishesAll: p.all,
    tables: new Map(rels.rows.map((r) => [r.name, r.columns])),
    schemas,
  };
}

/** Reads the state `planSourcePreparation` starts from. */
export async function readSourceState(db: Db, role: string, publication: string, tables: TableName[], passwordWorks: boolean): Promise<SourceState> {
  const version = Number((await db.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v);
  const database = (await db.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d;
  const roleState = await readRole(db, role, tables, passwordWorks);
  const tableStates: TableState[] = [];
  for (const t of tables) tableStates.push(await readTable(db, t, role, roleState.exists));
  return { database, serverVersion: version, role: roleState, publication: await readPublication(db, publication, version), tables: tableStates };
}

/**
 * pg_hba.conf rules as the server loaded them; null when this role may not read them
 * (pg_hba_file_rules is for superusers).
 */
export async function readHbaRules(db: Db): Promise<HbaRule[] | null> {
  try {
    const res = await db.query<{ line_number: number; type: string; database: string[] | null; user_name: string[] | null; auth_method: string | null }>(
      'SELECT line_number, type, database, user_name, auth_method FROM pg_hba_file_rules WHERE error IS NULL',
    );
    return res.rows.map((r) => ({ lineNumber: r.line_number, type: r.type, databases: r.database ?? [], users: r.user_name ?? [], authMethod: r.auth_method ?? '' }));
  } catch {
    return null;
  }
}

/** Other databases the role may connect to (CONNECT is granted to PUBLIC by default). */
export async function otherConnectableDatabases(db: Db, role: string): Promise<string[]> {
  const res = await db.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> current_database()
        AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AND has_database_privilege($1, datname, 'CONNECT') ORDER BY 1`,
    [role],
  );
  return res.rows.map((r) => r.datname);
}
