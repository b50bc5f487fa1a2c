/**
 * Where alert notifications go: a Slack-compatible incoming webhook (ALERT_WEBHOOK_URL, posted
 * with @slack/webhook; any receiver accepting Slack's `{ text, blocks }` JSON works), or, without
 * one, a dry-run that prints each message on stdout and appends it to ALERT_DRY_RUN_FILE as one
 * JSON line: `{ "at", "kind", "rule", "key", "severity", "labels", "since", "message" }`.
 *
 * Delivery is at-least-once: the monitor queues each transition in its persisted outbox and drops
 * it only once `deliver` resolved, so a webhook outage delays notifications without losing them.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { IncomingWebhook } from '@slack/webhook';
import pRetry from 'p-retry';
import type { Transition } from '../common/contracts/alert-state.ts';
import type { AlertMessage } from './alerts.ts';

export interface AlertSink {
  /** Human description for logs (never the webhook URL, a secret). */
  readonly description: string;
  /** Resolves once the message is delivered. @throws after the retries are exhausted. */
  deliver(message: AlertMessage, transition: Transition): Promise<void>;
}

/** Posts to an incoming webhook, 3 attempts with backoff (0.5 s, 1 s) per delivery. */
export class WebhookAlertSink implements AlertSink {
  readonly description = 'alert webhook';
  private readonly webhook: IncomingWebhook;

  /** @param timeoutMs per-request timeout. */
  constructor(url: string, timeoutMs = 10_000) {
    this.webhook = new IncomingWebhook(url, { timeout: timeoutMs, retryConfig: { retries: 0 } });
  }

  async deliver(message: AlertMessage): Promise<void> {
    await pRetry(() => this.webhook.send(message), { retries: 2, minTimeout: 500, factor: 2 });
  }
}

/** Prints each message and appends it to a JSONL file. */
export class DryRunAlertSink implements AlertSink {
  readonly description: string;

  constructor(
    readonly file: string,
    private readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {
    this.description = `dry-run (${file})`;
  }

  async deliver(message: AlertMessage, t: Transition): Promise<void> {
    const line = JSON.stringify({
      at: new Date(t.at).toISOString(),
      kind: t.kind,
      rule: t.condition.rule,
      key: t.condition.key,
      severity: t.condition.severity,
      labels: t.condition.labels,
      since: new Date(t.since).toISOString(),
      message,
    });
    await mkdir(path.dirname(this.file), { recursive: true });
    await appendFile(this.file, `${line}\n`);
    this.print(`[alert dry-run] ${message.text}`);
  }
}
