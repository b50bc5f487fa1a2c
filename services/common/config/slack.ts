/** Configuration of the Slack notifier (services/slack-notifier/README.md). */
import { z } from 'zod';
import { defineBlock, variable } from './define.ts';
import { failIf, fromRepoRoot, httpListenerVariables, nonEmpty } from './shared.ts';

/** The notifier's consumer group (the monitor and the status watch it). */
export const slackGroupBlock = defineBlock({
  title: 'Slack notifier: consumer group',
  fields: {
    slack: { consumerGroup: variable('SLACK_CONSUMER_GROUP', nonEmpty.default('slack-notifier'), 'Consumer group of the Slack notifier.') },
  },
});

const SLACK_HEALTH = httpListenerVariables('SLACK_HEALTH', 9466, "the Slack notifier's /healthz and /metrics");

export const slackBlock = defineBlock({
  title: 'Slack notifier (`npm run slack-notifier`)',
  fields: {
    slack: {
      healthHost: SLACK_HEALTH.host,
      healthPort: SLACK_HEALTH.port,
      webhookUrl: variable('SLACK_WEBHOOK_URL', z.url().optional(), 'Incoming-webhook URL of your channel; unset = dry-run (each message printed and appended to SLACK_DRY_RUN_FILE).', { secret: true }),
      dryRunFile: variable('SLACK_DRY_RUN_FILE', nonEmpty.default('data/slack-dry-run.jsonl').transform(fromRepoRoot), 'Dry-run: JSONL file each message is appended to.'),
      ratePerSecond: variable('SLACK_RATE_PER_SECOND', z.coerce.number().positive().max(100).default(1), 'Sustained posts per second (Slack incoming webhooks: about 1 per second).'),
      burst: variable('SLACK_BURST', z.coerce.number().int().min(1).max(100).default(1), 'Posts allowed back to back before pacing applies.'),
      timeoutMs: variable('SLACK_TIMEOUT_MS', z.coerce.number().int().min(100).default(10_000), 'Milliseconds per POST; a timeout is retried with backoff.'),
      retryMinMs: variable('SLACK_RETRY_MIN_MS', z.coerce.number().int().min(1).default(1_000), 'First backoff of 5xx/timeout retries, milliseconds (doubles up to SLACK_RETRY_MAX_MS).'),
      retryMaxMs: variable('SLACK_RETRY_MAX_MS', z.coerce.number().int().min(1).default(60_000), 'Longest backoff, milliseconds.'),
      maxActivityAgeHours: variable(
        'SLACK_MAX_ACTIVITY_AGE_HOURS',
        z.coerce.number().min(0).default(24),
        'An insert whose activity ended more than this many hours before its commit is an import (history, backfill), not announced; 0 = no limit.',
      ),
    },
  },
  finish: (c) => {
    failIf([c.slack.retryMinMs > c.slack.retryMaxMs && 'SLACK_RETRY_MIN_MS: must not exceed SLACK_RETRY_MAX_MS']);
    return c;
  },
});
