import { describe, expect, it } from 'vitest';
import { hbaAdvice, hbaAllowsDatabase, planSourcePreparation, SourcePrepError, type PrepareOptions, type SourceState, type TableState } from './plan.ts';

const table = (over: Partial<TableState> = {}): TableState => ({
  schema: 's', table: 't', relkind: 'r', replicaIdentity: 'd', primaryKey: ['id'],
  columns: [{ name: 'id', storage: 'p' }, { name: 'n', storage: 'p' }], partitions: [], roleHasTableSelect: true, roleSelectColumns: ['id', 'n'], ...over,
});

const prepared = (tables: TableState[] = [table()]): SourceState => ({
  database: 'db',
  serverVersion: 150010,
  role: { exists: true, login: true, replication: true, superuser: false, createdb: false, createrole: false, bypassrls: false, passwordWorks: true,
    canConnect: true, schemasWithUsage: ['s'], otherGrants: [], memberOf: [] },
  publication: { exists: true, allTables: false, viaRoot: true, publishesAll: true, tables: new Map(tables.map((t) => [`${t.schema}.${t.table}`, null])), schemas: [] },
  tables,
});

const opts = (over: Partial<PrepareOptions> = {}): PrepareOptions => ({ role: 'cdc', publication: 'pub', excludeColumns: new Map(), keepIdentity: new Set(), ...over });
const sql = (state: SourceState, o = opts()) => planSourcePreparation(state, o, "pa'ss").map((s) => s.sql);
const display = (state: SourceState, o = opts()) => planSourcePreparation(state, o, "pa'ss").map((s) => s.display);

describe('planSourcePreparation', () => {
  it('plans nothing for a prepared database (idempotent)', () => {
    expect(sql(prepared())).toEqual([]);
  });

  it('creates a missing role with least privilege and masks its password in what it prints', () => {
    const s = prepared();
    s.role = { ...s.role, exists: false, login: false, replication: false, passwordWorks: false, canConnect: false, schemasWithUsage: [] };
    s.tables[0]!.roleHasTableSelect = false;
    expect(sql(s)).toEqual([
      `CREATE ROLE "cdc" WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD 'pa''ss'`,
      'GRANT CONNECT ON DATABASE "db" TO "cdc"',
      'GRANT USAGE ON SCHEMA "s" TO "cdc"',
      'GRANT SELECT ON "s"."t" TO "cdc"',
    ]);
    expect(display(s)[0]).toBe(`CREATE ROLE "cdc" WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '***'`);
  });

  it('strips extra attributes, resets a wrong password and revokes grants on tables it does not capture', () => {
    const s = prepared();
    s.role = { ...s.role, superuser: true, passwordWorks: false, otherGrants: ['s.secret'] };
    expect(display(s)).toEqual([
      'ALTER ROLE "cdc" WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS',
      `ALTER ROLE "cdc" WITH PASSWORD '***'`,
      'REVOKE ALL ON "s"."secret" FROM "cdc"',
    ]);
  });

  it('sets REPLICA IDENTITY FULL on a keyless table and on a table with TOASTable columns, not with --keep-identity', () => {
    const keyless = table({ table: 'log', primaryKey: [] });
    const toast = table({ table: 'doc', columns: [{ name: 'id', storage: 'p' }, { name: 'body', storage: 'x' }] });
    const kept = table({ table: 'kept', columns: [{ name: 'id', storage: 'p' }, { name: 'body', storage: 'e' }] });
    expect(sql(prepared([keyless, toast, kept]), opts({ keepIdentity: new Set(['s.kept']) }))).toEqual([
      'ALTER TABLE "s"."log" REPLICA IDENTITY FULL',
      'ALTER TABLE "s"."doc" REPLICA IDENTITY FULL',
    ]);
  });

  it('applies a partitioned table\'s identity to its root and every leaf', () => {
    const root = table({ table: 'orders', relkind: 'p', columns: [{ name: 'id', storage: 'p' }, { name: 'status', storage: 'x' }],
      partitions: [{ name: 's.orders_2025', replicaIdentity: 'd' }, { name: 's.orders_2026', replicaIdentity: 'f' }] });
    expect(sql(prepared([root]))).toEqual(['ALTER TABLE "s"."orders" REPLICA IDENTITY FULL', 'ALTER TABLE "s"."orders_2025" REPLICA IDENTITY FULL']);
  });

  it('keeps excluded columns out of the publication and of the role\'s SELECT, with the identity at DEFAULT', () => {
    const t = table({ table: 'employees', replicaIdentity: 'f', columns: [{ name: 'id', storage: 'p' }, { name: 'name', storage: 'x' }, { name: 'salary', storage: 'm' }],
      roleSelectColumns: ['id', 'name', 'salary'] });
    const s = prepared([t]);
    s.publication.exists = false;
    expect(sql(s, opts({ excludeColumns: new Map([['s.employees', ['salary']]]) }))).toEqual([
      'REVOKE SELECT ON "s"."employees" FROM "cdc"',
      'GRANT SELECT ("id", "name") ON "s"."employees" TO "cdc"',
      'ALTER TABLE "s"."employees" REPLICA IDENTITY DEFAULT',
      `CREATE PUBLICATION "pub" FOR TABLE "s"."employees" ("id", "name") WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`,
    ]);
    // Once done: column grants only, publication with the list: nothing more.
    const done = prepared([{ ...t, replicaIdentity: 'd', roleHasTableSelect: false, roleSelectColumns: ['id', 'name'] }]);
    done.publication.tables.set('s.employees', ['name', 'id']);
    expect(sql(done, opts({ excludeColumns: new Map([['s.employees', ['salary']]]) }))).toEqual([]);
  });

  it('resets the publication to exactly the captured tables and options', () => {
    const s = prepared([table(), table({ table: 'u' })]);
    s.publication = { ...s.publication, viaRoot: false, tables: new Map([['s.t', null], ['s.other', null]]) };
    expect(sql(s)).toEqual([
      'ALTER PUBLICATION "pub" SET TABLE "s"."t", "s"."u"',
      `ALTER PUBLICATION "pub" SET (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`,
    ]);
  });

  it('refuses what SQL cannot do, naming the option', () => {
    const s = prepared([table({ primaryKey: [] , replicaIdentity: 'f' })]);
    expect(() => sql(s, opts({ excludeColumns: new Map([['s.t', ['n']]]) }))).toThrow(/has no primary key/);
    expect(() => sql(prepared(), opts({ excludeColumns: new Map([['s.t', ['nope']]]) }))).toThrow('--exclude-columns: s.t has no column nope');
    expect(() => sql(prepared(), opts({ excludeColumns: new Map([['s.t', ['id']]]) }))).toThrow(/part of the primary key/);
    expect(() => sql({ ...prepared(), serverVersion: 140005 }, opts({ excludeColumns: new Map([['s.t', ['n']]]) }))).toThrow(/PostgreSQL 15/);
    expect(() => sql(prepared(), opts({ keepIdentity: new Set(['s.x']) }))).toThrow('--keep-identity: s.x is not among the captured tables');
    const all = prepared();
    all.publication.allTables = true;
    expect(() => sql(all)).toThrow(SourcePrepError);
  });
});

describe('hbaAdvice', () => {
  const rule = (lineNumber: number, databases: string[], users: string[], authMethod: string, type = 'host') => ({ lineNumber, type, databases, users, authMethod });
  it('is silent when the first replication rule matching the role rejects it', () => {
    expect(hbaAdvice([rule(1, ['replication'], ['cdc'], 'reject'), rule(2, ['replication'], ['all'], 'scram-sha-256')], 'cdc')).toBeNull();
  });
  it('names the line that lets the role replicate physically; "all" databases do not match replication', () => {
    expect(hbaAdvice([rule(1, ['all'], ['all'], 'scram-sha-256'), rule(5, ['replication'], ['all'], 'scram-sha-256')], 'cdc'))
      .toMatch(/^pg_hba.conf line 5 lets cdc open physical replication connections .* add "host replication cdc all reject" above it/);
    expect(hbaAdvice([rule(1, ['all'], ['all'], 'scram-sha-256')], 'cdc')).toBeNull();
  });
});

describe('hbaAllowsDatabase', () => {
  const rule = (lineNumber: number, databases: string[], users: string[], authMethod: string, type = 'host') => ({ lineNumber, type, databases, users, authMethod });
  it('follows the first matching host rule; physical replication rules and local lines do not count', () => {
    const rules = [
      rule(1, ['all'], ['all'], 'scram-sha-256', 'local'),
      rule(2, ['replication'], ['all'], 'reject'),
      rule(3, ['sport'], ['cdc'], 'scram-sha-256'),
      rule(4, ['all'], ['cdc'], 'reject'),
      rule(5, ['all'], ['all'], 'scram-sha-256'),
    ];
    expect(hbaAllowsDatabase(rules, 'cdc', 'sport')).toBe(true);
    expect(hbaAllowsDatabase(rules, 'cdc', 'postgres')).toBe(false);
    expect(hbaAllowsDatabase(rules, 'other', 'postgres')).toBe(true);
    expect(hbaAllowsDatabase([rule(1, ['sport'], ['x'], 'md5')], 'cdc', 'sport')).toBe(false);
  });
});
