/**
 * `npm run replay -- --group <name> --to-earliest [--topics <t> ...] [--dry-run]`
 *
 * Resets a stopped consumer group to the earliest offsets so that its service, once restarted,
 * rebuilds everything it owns (for the bronze writer: the same object keys, see
 * docs/runbooks/replay.md). Refuses, naming the members, while the group has live members.
 * Exit codes: 0 done, 1 refused or failed, 2 bad arguments.
 */
import { Command } from 'commander';
import { KafkaAdmin } from '../services/common/kafka/index.ts';
import { createLogger } from '../services/common/logger.ts';
import { loadConfig } from '../services/common/config.ts';
import { runMain } from './lib/cli.ts';
import { resetGroupToEarliest } from './lib/replay.ts';

const program = new Command('replay')
  .description('Reset a stopped consumer group to the earliest offsets, so its service rebuilds what it owns.')
  .requiredOption('--group <name>', 'consumer group to reset, e.g. bronze-writer')
  .option('--to-earliest', 'reset to the earliest offset of each partition (the only reset offered)')
  .option('--topics <topics...>', 'topics to reset (space- or comma-separated); default: every topic the group has committed offsets for')
  .option('--dry-run', 'print the plan without changing anything')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
program.parse();
const options = program.opts<{ group: string; toEarliest?: boolean; topics?: string[]; dryRun?: boolean }>();
if (!options.toEarliest) {
  program.error('error: --to-earliest is required (it is the only reset this command performs)', { exitCode: 2 });
}
const topics = options.topics?.flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
if (topics?.some((t) => !/^[A-Za-z0-9._-]+$/.test(t))) {
  program.error(`error: --topics: invalid topic name in "${topics.join(',')}"`, { exitCode: 2 });
}

await runMain('replay', async () => {
  const config = loadConfig();
  const admin = KafkaAdmin.create(config, 'replay', createLogger('replay', 'warn'));
  try {
    const plan = await resetGroupToEarliest(admin, options.group, { topics, dryRun: options.dryRun });
    const verb = options.dryRun ? 'would reset' : 'reset';
    console.log(`[replay] group "${plan.groupId}" (state ${plan.state}): ${verb} to earliest`);
    for (const { topic, partitions } of plan.topics) {
      for (const p of partitions) console.log(`[replay]   ${topic} [${p.partition}]: ${p.committed ?? 'none'} -> ${p.earliest}`);
    }
    if (!options.dryRun) console.log(`[replay] done: start the service of group "${plan.groupId}" to rebuild`);
  } finally {
    await admin.close();
  }
});
