/**
 * `npm run lakehouse -- <command>`: the operator's CLI.
 *
 * - `status`      lag per consumer group, replication slot lag (bytes), dead-letter counts, last
 *                 refresh and quality state (services/common/pipeline-status.ts);
 * - `replay`      reset a stopped consumer group to offset zero (scripts/replay.ts);
 * - `refresh`     one incremental batch run (services/batch/cli.ts);
 * - `backfill`    rebuild silver and gold from all of bronze with the current rules (refresh --full);
 * - `reset-slot`  drop the CDC replication slot after a confirmation prompt: the next CDC start
 *                 takes a new consistent snapshot (docs/runbooks/ops.md, "A stuck slot").
 * - `prepare-source` prepare a PostgreSQL database for capture: CDC role, publication, replica
 *                 identity (services/cdc/source-prep; docs/guides/capture-another-database.md).
 *
 * Commands that already exist as scripts run as child processes with the same arguments, so
 * there is one implementation of each. `--help` works on every command.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { loadConfig, REPO_ROOT } from '../services/common/config.ts';
import { formatPipelineStatus, readPipelineStatus } from '../services/common/pipeline-status.ts';
import { cdcConnection, dropSlotIfExists, readSlot, snapshotMarkerSlot } from '../services/cdc/postgres-setup.ts';
import { prepareSourceCommand } from '../services/cdc/source-prep/cli.ts';
import { runMain } from './lib/cli.ts';

/** Runs a TypeScript entry point of the repository with `args`, stdio inherited; resolves its exit code. */
function runScript(entry: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, entry), ...args], { cwd: REPO_ROOT, stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

interface BatchOptions {
  asOf?: string;
  rules?: string;
}

/** Runs the batch job (services/batch/cli.ts) with `extra` flags and the shared options; resolves its exit code. */
function runBatch(opts: BatchOptions, extra: string[] = []): Promise<number> {
  const args = [...extra];
  if (opts.asOf) args.push('--as-of', opts.asOf);
  if (opts.rules) args.push('--rules', opts.rules);
  return runScript('services/batch/cli.ts', args);
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^(y|yes|o|oui)$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

const program = new Command('lakehouse').description('Operate the sport rewards lakehouse').showHelpAfterError();

program
  .command('status')
  .description('lag per consumer group, replication slot lag, dead letters, last refresh and quality')
  .option('--json', 'print the status as JSON')
  .action(async (opts: { json?: boolean }) => {
    await runMain('lakehouse status', async () => {
      const config = loadConfig();
      const kafka = new Kafka({ clientId: `${config.kafka.clientId}-status`, brokers: config.kafka.brokers, logLevel: logLevel.NOTHING, retry: { retries: 1 } });
      const status = await readPipelineStatus(config, async () => {
        const admin = kafka.admin();
        await admin.connect();
        return admin;
      });
      if (opts.json) console.log(JSON.stringify(status, null, 2));
      else for (const line of formatPipelineStatus(status)) console.log(line);
    });
  });

program
  .command('replay')
  .description('reset a stopped consumer group to offset zero, so its service rebuilds what it owns')
  .requiredOption('--group <name>', 'consumer group, e.g. bronze-writer')
  .option('--to-earliest', 'reset to the earliest offset (required: the only reset offered)')
  .option('--topics <topics...>', 'topics to reset (default: every topic the group committed on)')
  .option('--dry-run', 'print the plan without changing anything')
  .action(async (opts: { group: string; toEarliest?: boolean; topics?: string[]; dryRun?: boolean }) => {
    const args = ['--group', opts.group];
    if (opts.toEarliest) args.push('--to-earliest');
    if (opts.topics?.length) args.push('--topics', ...opts.topics);
    if (opts.dryRun) args.push('--dry-run');
    process.exitCode = await runScript('scripts/replay.ts', args);
  });

program
  .command('refresh')
  .description('run the batch job incrementally: new bronze files -> silver -> gold')
  .option('--as-of <time>', 'reference time (ISO-8601) for freshness and future-date checks')
  .option('--rules <file>', 'rules file (default config/rules.json)')
  .action(async (opts: BatchOptions) => {
    process.exitCode = await runBatch(opts);
  });

program
  .command('backfill')
  .description('rebuild silver and gold from all of bronze, e.g. after a rule or parameter change')
  .option('--rules <file>', 'rules file (default config/rules.json)')
  .option('--as-of <time>', 'reference time (ISO-8601)')
  .action(async (opts: BatchOptions) => {
    process.exitCode = await runBatch(opts, ['--full']);
  });

program
  .command('reset-slot')
  .description('drop the CDC replication slot (after a prompt); the next CDC start takes a new snapshot')
  .option('--yes', 'do not ask for confirmation (for scripts)')
  .action(async (opts: { yes?: boolean }) => {
    await runMain('lakehouse reset-slot', async () => {
      const config = loadConfig();
      const db = new pg.Client(cdcConnection(config));
      await db.connect();
      try {
        const slot = await readSlot(db, config.cdc.slotName);
        if (!slot) {
          console.log(`slot ${config.cdc.slotName} does not exist: nothing to reset`);
          return;
        }
        if (slot.active) {
          throw new Error(`slot ${config.cdc.slotName} is held by a running CDC process (pid ${slot.activePid}): stop the CDC service first`);
        }
        console.log(
          `Dropping slot ${config.cdc.slotName} releases the WAL it retains. Changes made until the next CDC start are not\n` +
            'streamed one by one: the new initial snapshot publishes the current rows (op "r") instead, and deletes in between are lost.',
        );
        if (!opts.yes && !(await confirm(`Drop replication slot ${config.cdc.slotName}?`))) {
          throw new Error(process.stdin.isTTY ? 'not confirmed: nothing changed' : 'no terminal to confirm on: pass --yes to drop the slot');
        }
        for (const name of [config.cdc.slotName, snapshotMarkerSlot(config.cdc.slotName)]) {
          if (await dropSlotIfExists(db, name)) console.log(`dropped slot ${name}`);
        }
        console.log('done: the next `npm run cdc` creates the slot again and takes a new snapshot');
      } finally {
        await db.end();
      }
    });
  });

program.addCommand(prepareSourceCommand());

await program.parseAsync();
