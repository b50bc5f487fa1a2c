/**
 * `npm run slack-notifier`: announces each new activity in Slack (or in dry-run without
 * SLACK_WEBHOOK_URL). Stops gracefully on SIGTERM/SIGINT: the in-flight message finishes or is
 * left uncommitted, then the process exits 0. Exits 1 on a configuration error or a fatal error.
 */
import { runMain } from '../../scripts/lib/cli.ts';
import { loadConfig } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { SERVICE_NAME, startSlackNotifier } from './notifier.ts';

await runMain(SERVICE_NAME, async () => {
  const config = loadConfig();
  const logger = createLogger(SERVICE_NAME, config.logLevel);
  let stop: (() => Promise<void>) | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping');
    if (!stop) process.exit(0); // not consuming yet: nothing to finish or commit
    void stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const notifier = await startSlackNotifier(config, { logger });
  stop = notifier.stop;
  const fatal = await notifier.crashed;
  await notifier.stop();
  throw fatal;
});
