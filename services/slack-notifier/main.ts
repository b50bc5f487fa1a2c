/**
 * `npm run slack-notifier`: announces each new activity in Slack (or in dry-run without
 * SLACK_WEBHOOK_URL). Stops gracefully on SIGTERM/SIGINT: the in-flight message finishes or is
 * left uncommitted, then the process exits 0. Exits 1 on a configuration error or a fatal error.
 */
import { runConsumerService } from '../common/service-main.ts';
import { SERVICE_NAME, startSlackNotifier } from './notifier.ts';

await runConsumerService(SERVICE_NAME, (config, logger) => startSlackNotifier(config, { logger }));
