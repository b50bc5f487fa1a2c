/**
 * `lakehouse replay --group <name> --to-earliest [--topics <t> ...] [--dry-run]`: resets a stopped
 * consumer group to the earliest offsets so that its service, once restarted, rebuilds what it
 * owns (scripts/lib/replay.ts; docs/runbooks/replay.md). Idempotent: a second run resets to the
 * same offsets. Refused (exit 1, naming the members) while the group has live members.
 */
import type { Command } from 'commander';
import { resetGroupToEarliest } from '../replay.ts';
import { withKafkaAdmin } from './connections.ts';
import { EXIT_OK, UsageError } from './errors.ts';
import type { CommandContext } from './program.ts';

const TOPIC_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The topics named by `--topics` (space- and/or comma-separated) (pure).
 * @throws UsageError on a name Kafka would refuse.
 */
export function parseTopics(values: readonly string[] | undefined): string[] | undefined {
  const topics = values?.flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
  const bad = topics?.filter((t) => !TOPIC_NAME.test(t)) ?? [];
  if (bad.length > 0) throw new UsageError(`--topics: invalid topic name(s) ${bad.map((t) => `"${t}"`).join(', ')} (letters, digits, ".", "_" and "-")`);
  return topics?.length ? topics : undefined;
}

export function registerReplay(program: Command, ctx: CommandContext): void {
  program
    .command('replay')
    .description('reset a stopped consumer group to offset zero, so its service rebuilds what it owns')
    .requiredOption('--group <name>', 'consumer group, e.g. bronze-writer, slack-notifier, distance-worker')
    .option('--to-earliest', 'reset to the earliest offset of each partition (required: the only reset offered)')
    .option('--topics <topics...>', 'topics to reset, space- or comma-separated (default: every topic the group committed on)')
    .option('--dry-run', 'print the plan without changing anything')
    .addHelpText('after', '\nStop every instance of the group\'s service first: the reset is refused (exit 1) while it has live members.\nExample: npm run lakehouse -- replay --group bronze-writer --to-earliest --dry-run')
    .action(async (opts: { group: string; toEarliest?: boolean; topics?: string[]; dryRun?: boolean }) => {
      await ctx.run('replay', async () => {
        if (!opts.toEarliest) throw new UsageError('--to-earliest is required (it is the only reset this command performs)');
        const topics = parseTopics(opts.topics);
        const config = ctx.config();
        await withKafkaAdmin(config, 'replay', async (admin) => {
          const plan = await resetGroupToEarliest(admin, opts.group, { topics, dryRun: opts.dryRun });
          console.log(`[replay] group "${plan.groupId}" (state ${plan.state}): ${opts.dryRun ? 'would reset' : 'reset'} to earliest`);
          for (const { topic, partitions } of plan.topics) {
            for (const p of partitions) console.log(`[replay]   ${topic} [${p.partition}]: ${p.committed ?? 'none'} -> ${p.earliest}`);
          }
          if (!opts.dryRun) console.log(`[replay] done: start the service of group "${plan.groupId}" to rebuild`);
        });
        return EXIT_OK;
      });
    });
}
