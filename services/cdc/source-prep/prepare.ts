/**
 * `prepare-source`: prepares any PostgreSQL database for capture by the CDC service, idempotently
 * (docs/guides/capture-another-database.md). Connects as the admin role (POSTGRES_USER: a
 * superuser, or the owner of the tables with CREATEROLE), reads the state, plans the statements
 * (./plan.ts), prints each with its reason, and runs them in one transaction unless `dryRun`.
 * A second run finds nothing to do. Advice PostgreSQL's SQL cannot apply (pg_hba.conf,
 * wal_level) is printed as warnings.
 */
import pg from 'pg';
import { pgConnection, type Config } from '../../common/config.ts';
import { expandTables, otherConnectableDatabases, readHbaRules, readSourceState } from './catalog.ts';
import { hbaAdvice, hbaAllowsDatabase, planSourcePreparation, SourcePrepError, type PlanStep, type PrepareOptions } from './plan.ts';

export { SourcePrepError } from './plan.ts';

/** What to prepare. Connection and the role's password come from `config`. */
export interface PrepareSourceRequest {
  /** Server, database (config.postgres.database), admin role, CDC role's password (config.postgres.cdc.password). */
  config: Config;
  /** CDC role to create or fix (default config.postgres.cdc.user). */
  role?: string;
  /** Publication (default config.postgres.publication). */
  publication?: string;
  /** `schema.table` or `schema.*` (a bare name is in public); default CDC_TABLES. */
  tables?: string[];
  /** `schema.table.column` kept out of the publication (PostgreSQL 15 column lists). */
  excludeColumns?: string[];
  /** `schema.table` whose replica identity is left as it is despite TOASTable columns. */
  keepIdentity?: string[];
  /** Print the plan, change nothing. */
  dryRun?: boolean;
}

export interface PrepareSourceResult {
  /** The statements planned (and run unless dryRun); [] when already prepared. */
  steps: PlanStep[];
  applied: boolean;
  /** Advice on what SQL cannot change (pg_hba.conf, wal_level), one line each. */
  warnings: string[];
  /** The captured tables after pattern expansion, as CDC_TABLES wants them. */
  tables: string[];
}

/** Parses `schema.table.column` items. @throws SourcePrepError on another shape. */
export function parseColumnList(items: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const item of items) {
    const parts = item.split('.');
    if (parts.length !== 3 || parts.some((p) => p === '')) throw new SourcePrepError(`--exclude-columns: expected schema.table.column (got "${item}")`);
    const k = `${parts[0]}.${parts[1]}`;
    out.set(k, [...(out.get(k) ?? []), parts[2]!]);
  }
  return out;
}

/**
 * Whether the role logs in with the configured password. Only "password authentication failed"
 * (28P01) counts as no: another refusal (pg_hba.conf, CONNECT) is not the password's fault.
 */
async function passwordWorks(config: Config, role: string): Promise<boolean> {
  const client = new pg.Client({ ...pgConnection(config, 'cdc'), user: role, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    return true;
  } catch (err) {
    return (err as { code?: string }).code !== '28P01';
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Prepares the database; prints each statement (password masked) with `say`.
 * @throws SourcePrepError when the admin cannot connect, a table is missing, an option is
 *   impossible (./plan.ts), or the database is not prepared after the run.
 */
export async function prepareSource(request: PrepareSourceRequest, say: (line: string) => void = console.log): Promise<PrepareSourceResult> {
  const { config } = request;
  const role = request.role ?? config.postgres.cdc.user;
  const publication = request.publication ?? config.postgres.publication;
  const patterns = request.tables ?? config.cdc.tables.map((t) => `${t.schema}.${t.table}`);
  const options: PrepareOptions = {
    role,
    publication,
    excludeColumns: parseColumnList(request.excludeColumns ?? []),
    keepIdentity: new Set(request.keepIdentity ?? []),
  };
  if (role === config.postgres.admin.user) throw new SourcePrepError(`the CDC role (${role}) must not be the admin role POSTGRES_USER`);

  const db = new pg.Client({ ...pgConnection(config, 'admin'), application_name: 'sport-lakehouse-prepare-source' });
  try {
    await db.connect();
  } catch (err) {
    throw new SourcePrepError(`connecting to database ${config.postgres.database} as POSTGRES_USER (${config.postgres.admin.user}) failed: ${(err as Error).message}; prepare-source needs a superuser or the tables' owner with CREATEROLE (POSTGRES_USER/POSTGRES_PASSWORD)`);
  }
  try {
    const warnings: string[] = [];
    const wal = (await db.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
    if (wal !== 'logical') warnings.push(`wal_level is ${wal}: run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL (logical replication needs it)`);
    const tables = await expandTables(db, patterns);
    const read = async () => readSourceState(db, role, publication, tables, await passwordWorks(config, role));
    const steps = planSourcePreparation(await read(), options, config.postgres.cdc.password);

    say(`-- prepare-source: database ${config.postgres.database}, role ${role}, publication ${publication}, ${tables.length} table(s)${request.dryRun ? ' (dry run)' : ''}`);
    if (steps.length === 0) say('-- already prepared: nothing to do');
    if (steps.length > 0 && !request.dryRun) say('BEGIN;');
    for (const s of steps) say(`-- ${s.reason}\n${s.display};`);
    let applied = false;
    if (steps.length > 0 && !request.dryRun) {
      try {
        await db.query('BEGIN');
        for (const s of steps) await db.query(s.sql);
        await db.query('COMMIT');
      } catch (err) {
        await db.query('ROLLBACK').catch(() => undefined);
        throw new SourcePrepError(`prepare-source failed, nothing was changed: ${(err as Error).message}`);
      }
      say('COMMIT;');
      applied = true;
      const left = planSourcePreparation(await read(), options, config.postgres.cdc.password);
      if (left.length > 0) throw new SourcePrepError(`still not prepared after the run:\n  ${left.map((s) => s.display).join('\n  ')}`);
    }
    if (request.dryRun && steps.length > 0) say('-- dry run: nothing was changed');

    const rules = await readHbaRules(db);
    if (rules === null) {
      warnings.push(`could not read pg_hba.conf rules (pg_hba_file_rules needs a superuser): make sure pg_hba.conf has "host replication ${role} all reject" before any line that accepts replication connections, so ${role} cannot take a base backup`);
    } else {
      const advice = hbaAdvice(rules, role);
      if (advice) warnings.push(advice);
    }
    const others = (await otherConnectableDatabases(db, role)).filter((d) => rules === null || hbaAllowsDatabase(rules, role, d));
    if (others.length > 0) {
      warnings.push(`${role} may connect to other databases too (${others.join(', ')}: CONNECT is granted to PUBLIC by default and pg_hba.conf lets it in): it reads nothing there without grants, but it could create replication slots there; pg_hba.conf lines "host ${config.postgres.database} ${role} all scram-sha-256" then "host all ${role} all reject" keep it on this one`);
    }
    for (const w of warnings) say(`-- WARNING: ${w}`);
    say(`-- CDC settings: POSTGRES_DB=${config.postgres.database} CDC_DB_USER=${role} CDC_PUBLICATION=${publication} CDC_TABLES=${tables.map((t) => `${t.schema}.${t.table}`).join(',')}`);
    return { steps, applied, warnings, tables: tables.map((t) => `${t.schema}.${t.table}`) };
  } finally {
    await db.end().catch(() => undefined);
  }
}
