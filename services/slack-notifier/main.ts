/**
 * `npm run slack-notifier`: announces each new activity in Slack (or in dry-run without
 * SLACK_WEBHOOK_URL), under the service runtime (services/common/runtime.ts): exit 0 after a
 * graceful stop, 1 on a runtime failure, 2 on a bad configuration.
 */
import { runService } from '../common/runtime.ts';
import { slackNotifierService } from './definition.ts';

await runService(slackNotifierService);
