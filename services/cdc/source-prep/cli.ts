/**
 * The `prepare-source` command (thin: flags to {@link prepareSource}). `npm run lakehouse --
 * prepare-source` adds it with {@link prepareSourceCommand}; `npm run prepare-source` runs this file.
 *
 * ```
 * npm run lakehouse -- prepare-source --database shop --tables 'sales.*,hr.employees' \
 *   --role shop_cdc --publication shop_cdc --exclude-columns hr.employees.salary --dry-run
 * ```
 * Defaults come from the configuration (POSTGRES_DB, CDC_TABLES, CDC_DB_USER, CDC_PUBLICATION);
 * the role's password is CDC_DB_PASSWORD, the admin connection POSTGRES_USER/POSTGRES_PASSWORD.
 * Exit codes: 0 prepared (or dry run), 1 failure (message names the cause), 2 bad configuration.
 */
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { loadConfigOrExit } from '../../common/config.ts';
import { prepareSource } from './prepare.ts';

const list = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];

/** The `prepare-source` commander command, for the ops CLI and for this file's own entry point. */
export function prepareSourceCommand(): Command {
  return new Command('prepare-source')
    .description('prepare a PostgreSQL database for capture: least-privilege CDC role, publication, replica identity (idempotent; prints its SQL)')
    .option('--database <name>', 'database to prepare (default POSTGRES_DB)')
    .option('--tables <list>', 'comma-separated schema.table or schema.* to capture (default CDC_TABLES)', list)
    .option('--role <name>', 'CDC role to create or fix; its password is CDC_DB_PASSWORD (default CDC_DB_USER)')
    .option('--publication <name>', 'publication to create or fix (default CDC_PUBLICATION)')
    .option('--exclude-columns <list>', 'comma-separated schema.table.column kept out of the lake (PostgreSQL 15 column lists)', list)
    .option('--keep-identity <list>', 'comma-separated schema.table with large (TOASTable) columns whose replica identity stays as it is', list)
    .option('--dry-run', 'print the SQL it would run, change nothing')
    .action(async (opts: { database?: string; tables?: string[]; role?: string; publication?: string; excludeColumns?: string[]; keepIdentity?: string[]; dryRun?: boolean }) => {
      const base = loadConfigOrExit('prepare-source');
      const config = opts.database ? { ...base, postgres: { ...base.postgres, database: opts.database } } : base;
      try {
        await prepareSource({
          config,
          role: opts.role,
          publication: opts.publication,
          tables: opts.tables,
          excludeColumns: opts.excludeColumns,
          keepIdentity: opts.keepIdentity,
          dryRun: opts.dryRun === true,
        });
      } catch (err) {
        console.error(`prepare-source: ${(err as Error).message}`);
        process.exitCode = 1;
      }
    });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await prepareSourceCommand().parseAsync(process.argv);
}
