/**
 * prepare-source on a real PostgreSQL, against the second test source (the shop database): the
 * dry run changes nothing; a run creates a least-privilege CDC role, the publication (with a
 * column list keeping hr.employees.salary out), REPLICA IDENTITY FULL where needed; a second run
 * changes nothing; what the role can and cannot do afterwards; and the CDC service's errors name
 * the command when the role or the publication is missing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, REPO_ROOT, type Config } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { resolveBinaries } from '../../../scripts/lib/stack.ts';
import { createShopSource, SHOP_CDC_TABLES, type ShopSource } from '../../../tests/support/shop-source.ts';
import { connectTestBroker } from '../../../tests/support/debezium-events.ts';
import { dropSlots, runId, startCdc } from '../testing/harness.ts';
import { preparePostgres, PREPARE_SOURCE_HINT } from '../postgres-setup.ts';
import { prepareSource } from './prepare.ts';

const ROLE = 'shop_prep_cdc';
const PASSWORD = 'shop-prep-local-only';
const PUBLICATION = 'shop_prep_pub';
const base = loadConfig();
let shop: ShopSource;
let config: Config;
let admin: pg.Client;

const request = (over: Partial<Parameters<typeof prepareSource>[0]> = {}) => ({
  config,
  role: ROLE,
  publication: PUBLICATION,
  tables: SHOP_CDC_TABLES.split(','),
  excludeColumns: ['hr.employees.salary'],
  keepIdentity: ['catalog.documents'],
  ...over,
});

async function asRole<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ ...pgConnection(config, 'cdc'), user: ROLE, password: PASSWORD });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

const errorOf = async (p: Promise<unknown>): Promise<{ code?: string; message: string }> => {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected an error');
};

beforeAll(async () => {
  shop = await createShopSource(base, 'shop_prep_test');
  config = { ...shop.config, postgres: { ...shop.config.postgres, cdc: { user: ROLE, password: PASSWORD }, publication: PUBLICATION } };
  admin = await shop.admin();
  await admin.query(`DROP ROLE IF EXISTS ${ROLE}`);
}, 120_000);

afterAll(async () => {
  await admin?.end();
  await shop?.close();
  const root = new pg.Client(pgConnection(base, 'admin', 'postgres'));
  await root.connect();
  await root.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => undefined);
  await root.end();
});

describe('prepare-source', () => {
  it('prints the SQL of a dry run, password masked, and changes nothing', async () => {
    const lines: string[] = [];
    const result = await prepareSource(request({ dryRun: true }), (l) => lines.push(l));
    const out = lines.join('\n');
    expect(result.applied).toBe(false);
    expect(out).toContain(`CREATE ROLE "${ROLE}" WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '***';`);
    expect(out).toContain(`CREATE PUBLICATION "${PUBLICATION}" FOR TABLE "catalog"."all_types", "catalog"."documents", "sales"."customers", "sales"."orders", "sales"."order_lines", "ops"."event_log", "ops"."import_batches", "hr"."employees" ("employee_no", "full_name", "department", "hired_on")`);
    expect(out).toContain('-- dry run: nothing was changed');
    expect(out).not.toContain(PASSWORD);
    expect((await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [ROLE])).rowCount).toBe(0);
    expect((await admin.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [PUBLICATION])).rowCount).toBe(0);
    expect((await admin.query(`SELECT relreplident::text AS r FROM pg_class WHERE oid = 'ops.event_log'::regclass`)).rows).toEqual([{ r: 'd' }]);
  });

  it('prepares the database: least-privilege role, publication with a column list, replica identity', async () => {
    const lines: string[] = [];
    const result = await prepareSource(request(), (l) => lines.push(l));
    expect(result.applied).toBe(true);
    expect(lines.join('\n')).not.toContain(PASSWORD);
    const role = await admin.query('SELECT rolcanlogin, rolreplication, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = $1', [ROLE]);
    expect(role.rows).toEqual([{ rolcanlogin: true, rolreplication: true, rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolbypassrls: false }]);
    const pub = await admin.query<{ t: string; attnames: string[] }>(
      `SELECT schemaname || '.' || tablename AS t, attnames::text[] AS attnames FROM pg_publication_tables WHERE pubname = $1 AND schemaname = 'hr'`, [PUBLICATION]);
    expect(pub.rows).toEqual([{ t: 'hr.employees', attnames: ['employee_no', 'full_name', 'department', 'hired_on'] }]);
    const flags = await admin.query('SELECT pubinsert, pubupdate, pubdelete, pubtruncate, pubviaroot FROM pg_publication WHERE pubname = $1', [PUBLICATION]);
    expect(flags.rows).toEqual([{ pubinsert: true, pubupdate: true, pubdelete: true, pubtruncate: true, pubviaroot: true }]);
    const identity = await admin.query(
      `SELECT n.nspname || '.' || c.relname AS t, c.relreplident::text AS r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('catalog', 'sales', 'ops', 'hr') AND c.relkind IN ('r', 'p') ORDER BY 1`);
    expect(identity.rows).toEqual([
      { t: 'catalog.all_types', r: 'f' },   // TOASTable columns
      { t: 'catalog.documents', r: 'd' },   // --keep-identity
      { t: 'hr.employees', r: 'd' },        // a column list must cover the identity: DEFAULT (the key)
      { t: 'ops.event_log', r: 'f' },       // keyless
      { t: 'ops.import_batches', r: 'f' },
      { t: 'sales.customers', r: 'f' },
      { t: 'sales.order_lines', r: 'f' },
      { t: 'sales.orders', r: 'f' },        // the partitioned root and every leaf
      { t: 'sales.orders_2025', r: 'f' },
      { t: 'sales.orders_2026', r: 'f' },
      { t: 'sales.orders_other', r: 'f' },
    ]);
  });

  it('changes nothing on a second run', async () => {
    const lines: string[] = [];
    const result = await prepareSource(request(), (l) => lines.push(l));
    expect(result.steps).toEqual([]);
    expect(lines).toContain('-- already prepared: nothing to do');
  });

  it('leaves the role able to read the published columns of captured tables only', async () => {
    await asRole(async (db) => {
      expect((await db.query('SELECT employee_no, full_name, department, hired_on FROM hr.employees ORDER BY 1')).rowCount).toBe(4);
      expect((await db.query('SELECT count(*)::int AS n FROM sales.orders')).rows).toEqual([{ n: 5 }]);
      const salary = await errorOf(db.query('SELECT salary FROM hr.employees'));
      expect(salary.code).toBe('42501');
      expect(salary.message).toBe('permission denied for table employees');
      for (const write of ['DELETE FROM sales.customers', "UPDATE hr.employees SET department = 'x'", 'INSERT INTO ops.event_log (event_kind) VALUES (\'x\')']) {
        expect((await errorOf(db.query(write))).code, write).toBe('42501');
      }
    });
  });

  it('revokes what the role was granted on a table it does not capture', async () => {
    await admin.query('CREATE TABLE ops.secrets (k text PRIMARY KEY, v text)');
    await admin.query(`GRANT SELECT ON ops.secrets TO ${ROLE}`);
    await admin.query(`GRANT SELECT (salary) ON hr.employees TO ${ROLE}`);
    const lines: string[] = [];
    await prepareSource(request(), (l) => lines.push(l));
    expect(lines.join('\n')).toContain(`REVOKE ALL ON "ops"."secrets" FROM "${ROLE}";`);
    expect(lines.join('\n')).toContain(`REVOKE SELECT ("salary") ON "hr"."employees" FROM "${ROLE}";`);
    await asRole(async (db) => {
      expect((await errorOf(db.query('SELECT * FROM ops.secrets'))).code).toBe('42501');
      expect((await errorOf(db.query('SELECT salary FROM hr.employees'))).code).toBe('42501');
    });
  });

  it('is what the CDC service checks: the snapshot reads the published columns only', async () => {
    const cdcConfig = loadConfig({ ...process.env, POSTGRES_DB: shop.database, CDC_DB_USER: ROLE, CDC_DB_PASSWORD: PASSWORD, CDC_PUBLICATION: PUBLICATION, CDC_TABLES: SHOP_CDC_TABLES, CDC_ADMIN_SETUP: 'false' });
    const tables = await preparePostgres(cdcConfig, createLogger('prepare-test', 'silent'));
    expect(tables.find((t) => t.table === 'employees')!.columns.map((c) => c.name)).toEqual(['employee_no', 'full_name', 'department', 'hired_on']);
  });

  it('is all the CDC service needs: it snapshots and streams every table as that role, no salary in any event', async () => {
    const run = runId();
    const prefix = `prep${run}`;
    const slot = `prep_${run}`;
    const cdc = await startCdc({
      POSTGRES_DB: shop.database, CDC_DB_USER: ROLE, CDC_DB_PASSWORD: PASSWORD, CDC_PUBLICATION: PUBLICATION, CDC_TABLES: SHOP_CDC_TABLES,
      CDC_ADMIN_SETUP: 'false', CDC_SLOT_NAME: slot, KAFKA_TOPIC_PREFIX: prefix, CDC_SNAPSHOT_MODE: 'initial',
    });
    const broker = await connectTestBroker(cdc.config.kafka.brokers);
    try {
      await admin.query(`UPDATE hr.employees SET salary = salary + 1, department = 'Siège' WHERE employee_no = 3`);
      const events = await broker.readAll(`${prefix}.hr.employees`, 5, 30_000);
      const values = events.map((e) => JSON.parse(e.value!) as { op: string; before: Record<string, unknown> | null; after: Record<string, unknown> });
      expect(values.map((v) => v.op).sort()).toEqual(['r', 'r', 'r', 'r', 'u']); // partitions interleave
      for (const v of values) expect(Object.keys(v.after).sort()).toEqual(['department', 'employee_no', 'full_name', 'hired_on']);
      expect(values.find((v) => v.op === 'u')!.after).toMatchObject({ employee_no: 3, department: 'Siège' });
      // The salary column (numeric(10,2): rendered "72000.00") by name or value; digits alone also occur in LSNs and ts_ns.
      expect(events.map((e) => e.value).join('\n')).not.toMatch(/salary|"7200[01]\.00"/);
      expect(await broker.readAll(`${prefix}.catalog.all_types`, 5, 30_000)).toHaveLength(5);
    } finally {
      await broker.close();
      await cdc.stop();
      await dropSlots(admin, [slot]);
    }
  });

  it('runs as a command: npm run lakehouse -- prepare-source --dry-run', () => {
    const res = spawnSync('npm', ['run', '--silent', 'lakehouse', '--', 'prepare-source', '--dry-run', '--tables', SHOP_CDC_TABLES, '--exclude-columns', 'hr.employees.salary', '--keep-identity', 'catalog.documents'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, POSTGRES_DB: shop.database, CDC_DB_USER: ROLE, CDC_DB_PASSWORD: PASSWORD, CDC_PUBLICATION: PUBLICATION },
    });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('-- already prepared: nothing to do');
    expect(res.stdout).toContain(`CDC_TABLES=${SHOP_CDC_TABLES}`);
  });
});

describe('the CDC role on the local stack', () => {
  it('cannot take a physical base backup: pg_hba.conf refuses its replication connections', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'basebackup-'));
    try {
      const bin = path.join(resolveBinaries(base, ['postgres']).pgBinDir, 'pg_basebackup');
      const res = spawnSync(bin, ['-h', base.postgres.host, '-p', String(base.postgres.port), '-U', ROLE, '-D', path.join(dir, 'copy'), '-X', 'none', '--no-sync', '-w'], {
        encoding: 'utf8', env: { ...process.env, PGPASSWORD: PASSWORD }, timeout: 60_000,
      });
      expect(res.status).not.toBe(0);
      expect(res.stderr).toMatch(/pg_hba\.conf rejects replication connection for host "127\.0\.0\.1", user "shop_prep_cdc"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the CDC service on a database that is not prepared', () => {
  it('names prepare-source when its role cannot log in', async () => {
    const cdcConfig = loadConfig({ ...process.env, POSTGRES_DB: shop.database, CDC_DB_USER: 'no_such_cdc_role', CDC_TABLES: SHOP_CDC_TABLES });
    const err = await errorOf(preparePostgres(cdcConfig, createLogger('prepare-test', 'silent')));
    expect(err.message).toContain('as CDC_DB_USER (no_such_cdc_role) failed: password authentication failed for user "no_such_cdc_role"');
    expect(err.message).toContain(PREPARE_SOURCE_HINT);
  });

  it('names prepare-source when the publication is missing and CDC_ADMIN_SETUP=false', async () => {
    const cdcConfig = loadConfig({ ...process.env, POSTGRES_DB: shop.database, CDC_DB_USER: ROLE, CDC_DB_PASSWORD: PASSWORD, CDC_PUBLICATION: 'no_such_pub', CDC_TABLES: SHOP_CDC_TABLES, CDC_ADMIN_SETUP: 'false' });
    const err = await errorOf(preparePostgres(cdcConfig, createLogger('prepare-test', 'silent')));
    expect(err.message).toContain(`Fix it with: ${PREPARE_SOURCE_HINT}`);
    expect(err.message).toContain('CREATE PUBLICATION "no_such_pub"');
  });
});
