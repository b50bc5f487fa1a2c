/** `npm run db:migrate`: creates the database if needed and applies pending migrations. */
import { loadConfig } from '../services/common/config.ts';
import { migrate } from './lib/migrate.ts';
import { runMain } from './lib/cli.ts';

await runMain('db:migrate', async () => {
  const config = loadConfig();
  const { applied, skipped } = await migrate(config, (l) => console.log(`[db:migrate] ${l}`));
  console.log(`[db:migrate] ${config.postgres.database}: ${applied.length} applied, ${skipped.length} already up to date`);
});
