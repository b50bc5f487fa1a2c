/**
 * `lakehouse kafka-access [--dry-run]`: gives the configured source namespace (KAFKA_TOPIC_PREFIX)
 * its Kafka principals and ACLs (services/common/kafka/access.ts; docs/security.md, "Kafka"):
 * the SCRAM users of the CDC service, the bronze writer, the Slack notifier, the distance worker
 * and the monitor (passwords from their *_KAFKA_PASSWORD variables), and the least-privilege ACLs.
 * Runs as the admin principal (KAFKA_ADMIN_USER, a super user of the broker). Idempotent: run it
 * again after adding a table to CDC_TABLES or changing a password. `npm run stack -- up` does it
 * for the local stack's configuration. `--dry-run` prints the ACLs as `kafka-acls.sh` command
 * lines and changes nothing (no password is printed). `--acls-only` leaves the users to the
 * broker's own tool (Redpanda has no AlterUserScramCredentials; docker-compose.yml uses rpk).
 */
import type { Command } from 'commander';
import { aclCommands, applyKafkaAccess, kafkaAccessPlan } from '../../../services/common/kafka/access.ts';
import { withKafkaAdmin } from './connections.ts';
import { EXIT_OK, UsageError } from './errors.ts';
import type { CommandContext } from './program.ts';

export function registerKafkaAccess(program: Command, ctx: CommandContext): void {
  program
    .command('kafka-access')
    .description('create the Kafka SCRAM users and ACLs of every service for the configured topic prefix (as the admin principal)')
    .option('--dry-run', 'print the ACLs (as kafka-acls.sh commands) without changing anything')
    .option('--acls-only', 'create the ACLs only, not the users (a broker whose users are managed by its own tool, e.g. Redpanda\'s rpk)')
    .addHelpText('after', '\nRun it again after adding a table to CDC_TABLES (the bronze writer\'s dead-letter topics are granted by name).\nExample: npm run lakehouse -- kafka-access --dry-run')
    .action(async (opts: { dryRun?: boolean; aclsOnly?: boolean }) => {
      await ctx.run('kafka-access', async () => {
        const config = ctx.config();
        const plan = kafkaAccessPlan(config);
        if (opts.dryRun) {
          for (const line of aclCommands(config, plan)) console.log(line);
          return EXIT_OK;
        }
        if (config.kafka.security.mechanism === 'none') throw new UsageError('KAFKA_SASL_MECHANISM=none: the broker has no authentication, there are no users or ACLs to create');
        await withKafkaAdmin(config, 'kafka-access', async (admin) => {
          const rules = await applyKafkaAccess(config, admin, { users: !opts.aclsOnly });
          const principals = [...new Set(rules.map((r) => r.principal))];
          console.log(`[kafka-access] ${config.kafka.topicPrefix}.*: ${opts.aclsOnly ? '' : `SCRAM users (${config.kafka.security.mechanism}) and `}${rules.length} ACL rules for ${principals.map((p) => config.kafka.principals[p].username).join(', ')}`);
        });
        return EXIT_OK;
      });
    });
}
