/**
 * Applies schemas/postgres/migrations/*.sql in file-name order; safe to run any number of times.
 *
 * - The database itself is created first when missing (connected to `postgres` as the admin role).
 * - Each file is applied in its own transaction and recorded in `schema_migrations` with the
 *   SHA-256 of its text. An applied file is skipped, unless its first line says `-- repeatable`
 *   (roles and grants, so a password change in .env takes effect on the next run).
 * - An applied, non-repeatable file whose text changed is refused: write a new migration instead.
 * - `{{name}}` placeholders are filled from configuration: `{{x}}` as a quoted identifier,
 *   `{{x_literal}}` as a string literal, passwords always as literals (never logged).
 * - A PostgreSQL advisory lock keeps two concurrent runs from interleaving.
 * - When gold is served from PostgreSQL (GOLD_PG_ENABLED), the analytics database
 *   (GOLD_PG_DATABASE) is created too and schemas/postgres/analytics/*.sql are applied there,
 *   the same way (its own `schema_migrations`).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { pgConnection, REPO_ROOT, type Config } from '../../services/common/config.ts';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'schemas/postgres/migrations');
/** Migrations of the analytics database gold is published into (services/batch/pg-publish.ts). */
export const ANALYTICS_MIGRATIONS_DIR = path.join(REPO_ROOT, 'schemas/postgres/analytics');
const LOCK_KEY = 727_001; // arbitrary, constant: the advisory lock id of migrations
/** The one application role of earlier versions (APP_DB_USER), kept without login or privileges. */
export const LEGACY_APP_ROLE = 'sport_app';

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** Placeholder values for the migration templates, from configuration. */
function templateValues(config: Config): Record<string, { ident?: string; literal: string }> {
  return {
    cdc_user: { ident: config.postgres.cdc.user, literal: config.postgres.cdc.user },
    simulator_user: { ident: config.postgres.simulator.user, literal: config.postgres.simulator.user },
    distance_user: { ident: config.postgres.distance.user, literal: config.postgres.distance.user },
    notifier_user: { ident: config.postgres.notifier.user, literal: config.postgres.notifier.user },
    monitor_user: { ident: config.postgres.monitor.user, literal: config.postgres.monitor.user },
    publisher_user: { ident: config.postgres.publisher.user, literal: config.postgres.publisher.user },
    bi_reader_user: { ident: config.postgres.biReader.user, literal: config.postgres.biReader.user },
    analytics_database: { ident: config.goldPg.database, literal: config.goldPg.database },
    // The single application role of earlier versions: migration 003 still names it; 002 keeps
    // it without login and 090 revokes everything it was granted.
    app_user: { ident: LEGACY_APP_ROLE, literal: LEGACY_APP_ROLE },
    database: { ident: config.postgres.database, literal: config.postgres.database },
    publication: { ident: config.postgres.publication, literal: config.postgres.publication },
    cdc_password: { literal: config.postgres.cdc.password },
    simulator_password: { literal: config.postgres.simulator.password },
    distance_password: { literal: config.postgres.distance.password },
    notifier_password: { literal: config.postgres.notifier.password },
    monitor_password: { literal: config.postgres.monitor.password },
    publisher_password: { literal: config.postgres.publisher.password },
    bi_reader_password: { literal: config.postgres.biReader.password },
  };
}

/** Fills `{{name}}` / `{{name_literal}}` placeholders. @throws MigrationError on an unknown name. */
export function renderMigration(sql: string, config: Config, file = '<sql>'): string {
  const values = templateValues(config);
  const client = new pg.Client();
  return sql.replace(/\{\{([a-z_]+)\}\}/g, (_m, name: string) => {
    const literal = name.endsWith('_literal');
    const key = literal ? name.slice(0, -'_literal'.length) : name;
    const value = values[key];
    if (!value) throw new MigrationError(`${file}: unknown placeholder {{${name}}}`);
    if (literal || value.ident === undefined) return client.escapeLiteral(value.literal);
    return client.escapeIdentifier(value.ident);
  });
}

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

async function ensureDatabase(config: Config, database = config.postgres.database): Promise<boolean> {
  const client = new pg.Client(pgConnection(config, 'admin', 'postgres'));
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount) return false;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
    return true;
  } finally {
    await client.end();
  }
}

/**
 * Creates the database if needed and applies pending migrations.
 * @returns the files applied and skipped in this run.
 * @throws MigrationError (changed applied file, unknown placeholder) or the SQL error of a file,
 *   prefixed with its name; that file's transaction is rolled back.
 */
export async function migrate(config: Config, say: (line: string) => void = () => undefined): Promise<MigrationResult> {
  if (await ensureDatabase(config)) say(`created database ${config.postgres.database}`);
  const result = await applyDirectory(config, config.postgres.database, MIGRATIONS_DIR, say);
  if (config.goldPg.enabled) {
    if (await ensureDatabase(config, config.goldPg.database)) say(`created database ${config.goldPg.database}`);
    const analytics = await applyDirectory(config, config.goldPg.database, ANALYTICS_MIGRATIONS_DIR, (line) => say(`${config.goldPg.database}: ${line}`));
    result.applied.push(...analytics.applied.map((f) => `${config.goldPg.database}/${f}`));
    result.skipped.push(...analytics.skipped.map((f) => `${config.goldPg.database}/${f}`));
  }
  return result;
}

/** Applies the migrations of `dir` to `database` (see the module documentation). */
async function applyDirectory(config: Config, database: string, dir: string, say: (line: string) => void): Promise<MigrationResult> {
  const client = new pg.Client(pgConnection(config, 'admin', database));
  await client.connect();
  const result: MigrationResult = { applied: [], skipped: [] };
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    text PRIMARY KEY,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const applied = new Map(
      (await client.query<{ version: string; checksum: string }>('SELECT version, checksum FROM schema_migrations')).rows.map((r) => [r.version, r.checksum]),
    );
    const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
    for (const file of files) {
      const text = readFileSync(path.join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(text).digest('hex');
      const repeatable = /^--\s*repeatable\b/.test(text);
      const previous = applied.get(file);
      if (previous && !repeatable) {
        if (previous !== checksum) {
          throw new MigrationError(`${file} was already applied and has changed since (checksum ${previous.slice(0, 12)} -> ${checksum.slice(0, 12)}); add a new migration file instead of editing it`);
        }
        result.skipped.push(file);
        continue;
      }
      const sql = renderMigration(text, config, file);
      try {
        await client.query('BEGIN');
        await client.query(sql);
        await client.query(
          `INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)
           ON CONFLICT (version) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()`,
          [file, checksum],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new MigrationError(`${file}: ${(err as Error).message}`);
      }
      result.applied.push(file);
      say(`applied ${file}${repeatable ? ' (repeatable)' : ''}`);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
  return result;
}
