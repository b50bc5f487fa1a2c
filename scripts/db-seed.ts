/**
 * `npm run db:seed [-- --seed N --count N]`: loads the deterministic HR data set
 * (employees and declared sports) and writes it as CSV under data/. Safe to re-run.
 */
import { Command } from 'commander';
import { loadConfig } from '../services/common/config.ts';
import { positiveInt, runMain } from './lib/cli.ts';
import { generateHrData, seedDatabase, writeCsv } from './lib/seed.ts';

const program = new Command('db:seed')
  .description('Load the seeded HR data set into PostgreSQL and write it as CSV under data/')
  .option('--seed <n>', 'PRNG seed of the data set', positiveInt, 2024)
  .option('--count <n>', 'number of employees', positiveInt, 160)
  .option('--csv-only', 'only write the CSV files')
  .showHelpAfterError();
program.parse();
const opts = program.opts<{ seed: number; count: number; csvOnly?: boolean }>();

await runMain('db:seed', async () => {
  const data = generateHrData(opts.seed, opts.count);
  const files = writeCsv(data);
  console.log(`[db:seed] wrote ${files.join(', ')}`);
  if (opts.csvOnly) return;
  const config = loadConfig();
  const r = await seedDatabase(config, data);
  console.log(
    `[db:seed] ${config.postgres.database}: ${data.employees.length} employees (${r.employeesChanged} inserted or updated), ` +
      `${data.declaredSports.length} declared sports (${r.sportsChanged} inserted or updated, ${r.sportsRemoved} removed)`,
  );
});
