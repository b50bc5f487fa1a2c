/**
 * `npm run stack -- up|down|status|reset [--docker]`: the local PostgreSQL, Kafka and MinIO.
 * See scripts/lib/stack.ts for what each command does; with --docker, docker-compose.yml is used
 * instead (requires a running Docker engine).
 */
import { spawnSync } from 'node:child_process';
import { Command } from 'commander';
import { loadConfig, REPO_ROOT } from '../services/common/config.ts';
import { dockerEngineAvailable, endpoints, stackDown, stackReset, stackStatus, stackUp } from './lib/stack.ts';

const say = (line: string) => console.log(`[stack] ${line}`);

function printEndpoints(): void {
  const ep = endpoints(loadConfig());
  console.log('\nEndpoints:');
  console.log(`  PostgreSQL     ${ep.postgres}`);
  console.log(`  Kafka          ${ep.kafka}`);
  console.log(`  S3 (MinIO)     ${ep.s3}`);
  console.log(`  MinIO console  ${ep.minioConsole}`);
}

function docker(args: string[]): never {
  if (!dockerEngineAvailable()) {
    console.error('[stack] --docker needs a running Docker engine, and none answers `docker info`. Drop --docker to run the local stack.');
    process.exit(2);
  }
  const res = spawnSync('docker', ['compose', ...args], { cwd: REPO_ROOT, stdio: 'inherit' });
  process.exit(res.status ?? 1);
}

const program = new Command('stack')
  .description('Start, stop and inspect the local PostgreSQL, Kafka (KRaft) and MinIO servers')
  .showHelpAfterError();

program
  .command('up')
  .description('start the servers in the background and wait until they are healthy')
  .option('--docker', 'use docker compose (docker-compose.yml) instead of local processes')
  .action(async (opts: { docker?: boolean }) => {
    if (opts.docker) docker(['up', '-d', '--wait']);
    const config = loadConfig();
    await stackUp(config, say);
    printEndpoints();
  });

program
  .command('down')
  .description('stop the servers that `up` started (by pid)')
  .option('--docker', 'use docker compose')
  .action(async (opts: { docker?: boolean }) => {
    if (opts.docker) docker(['down']);
    await stackDown(loadConfig(), say);
    say('stopped');
  });

program
  .command('status')
  .description('show whether each server runs and answers its health check')
  .option('--docker', 'use docker compose')
  .action(async (opts: { docker?: boolean }) => {
    if (opts.docker) docker(['ps']);
    const rows = await stackStatus(loadConfig());
    for (const r of rows) {
      const state = r.healthy ? 'healthy' : r.running ? 'running, unhealthy' : 'stopped';
      console.log(`${r.service.padEnd(9)} ${state.padEnd(19)} pid ${String(r.pid ?? '-').padEnd(8)} ${r.endpoint}`);
    }
    process.exitCode = rows.every((r) => r.healthy) ? 0 : 1;
  });

program
  .command('reset')
  .description('stop the servers and delete their data (STACK_DIR)')
  .option('--docker', 'use docker compose (removes its volumes)')
  .action(async (opts: { docker?: boolean }) => {
    if (opts.docker) docker(['down', '-v']);
    await stackReset(loadConfig(), say);
  });

program.parseAsync().catch((err: Error) => {
  console.error(`[stack] ${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`);
  process.exit(1);
});
