/**
 * The Slack notifier as the service runtime runs it (services/common/runtime.ts): `npm run
 * slack-notifier` (main.ts). Stops gracefully on SIGTERM/SIGINT (the in-flight message finishes
 * or is left uncommitted), exit 0; 1 on a fatal error; 2 on a bad configuration (including an invalid rules file).
 */
import type { ServiceDefinition } from '../common/runtime.ts';
import { RulesError } from '../batch/rules.ts';
import { SERVICE_NAME, startSlackNotifier } from './notifier.ts';

export const slackNotifierService: ServiceDefinition<'slack-notifier'> = {
  name: SERVICE_NAME,
  config: 'slack-notifier',
  healthListener: (config) => ({ host: config.slack.healthHost, port: config.slack.healthPort }),
  describe: (config) => ({ brokers: config.kafka.brokers, group: config.slack.consumerGroup, target: config.slack.webhookUrl ? 'webhook' : 'dry-run' }),
  start: ({ config, logger, signal }) => startSlackNotifier(config, { logger, signal }),
  // The product's rules file (BATCH_RULES_FILE) is read first: invalid = exit 2, before any connection.
  isConfigurationError: (err) => err instanceof RulesError,
};
