/**
 * Where announcements go: a Slack incoming webhook through the official @slack/webhook client,
 * or, without a webhook URL, a dry-run that prints each message to stdout and appends it to a
 * JSONL file (so the demo works offline).
 */
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, IncomingWebhook, type FetchFunction } from '@slack/webhook';
import type { Announcement } from '../../products/sport-rewards/slack/announcement.ts';
import { classifyFailure, parseRetryAfter, type FailureClass } from './delivery.ts';

/** A failed post, classified by {@link classifyFailure}. */
export class SlackPostError extends Error {
  constructor(readonly failure: FailureClass) {
    super(failure.kind === 'rate-limited' ? `rate limited, retry after ${failure.retryAfterMs} ms` : failure.detail);
    this.name = 'SlackPostError';
  }
}

/** Context recorded with a dry-run message (no HR data beyond the ids). */
export interface PostMeta {
  activityId: number;
  employeeId: number;
}

export interface AnnouncementSink {
  /** Ledger target: posts to Slack and dry-run prints are tracked separately. */
  readonly target: 'slack' | 'dry-run';
  /** Resolves once the message is accepted. @throws SlackPostError */
  post(announcement: Announcement, meta: PostMeta): Promise<void>;
}

/**
 * Posts through `IncomingWebhook.send`. The client's own retries are off (the notifier owns the
 * retry policy); a fetch wrapper keeps the last Retry-After header, which the client's error type
 * does not expose. Posts are never concurrent (the notifier paces them), so one field suffices.
 */
export class WebhookSink implements AnnouncementSink {
  readonly target = 'slack' as const;
  private readonly webhook: IncomingWebhook;
  private lastRetryAfter: string | null = null;

  /**
   * @param url the incoming-webhook URL (a secret: never logged).
   * @param timeoutMs per-request timeout; a timeout is a transient failure.
   */
  constructor(url: string, timeoutMs: number) {
    const recordingFetch: FetchFunction = async (input, init) => {
      const response = await globalThis.fetch(input, init as RequestInit);
      this.lastRetryAfter = response.headers.get('retry-after');
      return response;
    };
    this.webhook = new IncomingWebhook(url, { timeout: timeoutMs, fetch: recordingFetch, retryConfig: { retries: 0 } });
  }

  async post(announcement: Announcement): Promise<void> {
    this.lastRetryAfter = null;
    try {
      await this.webhook.send({ text: announcement.text, blocks: announcement.blocks, unfurl_links: false, unfurl_media: false });
    } catch (err) {
      const e = err as { code?: string; statusCode?: number; body?: string; message?: string };
      if (e.code === ErrorCode.HTTPError) {
        throw new SlackPostError(classifyFailure(e.statusCode, String(e.body ?? ''), parseRetryAfter(this.lastRetryAfter)));
      }
      // Request errors (DNS, refused, reset, timeout) never reached Slack's HTTP layer.
      throw new SlackPostError(classifyFailure(undefined, e.message ?? String(err), null));
    }
  }
}

/** Dry-run: one line on stdout and one durable JSONL record per message. */
export class DryRunSink implements AnnouncementSink {
  readonly target = 'dry-run' as const;

  /**
   * @param file JSONL file (created with its directory); each line is
   *   `{ activity_id, employee_id, text, blocks, printed_at }`.
   * @param out where the human-readable line goes (stdout by default).
   */
  constructor(
    readonly file: string,
    private readonly out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  async post(announcement: Announcement, meta: PostMeta): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const record = { activity_id: meta.activityId, employee_id: meta.employeeId, text: announcement.text, blocks: announcement.blocks, printed_at: new Date().toISOString() };
    const handle = await open(this.file, 'a');
    try {
      await handle.write(`${JSON.stringify(record)}\n`);
      // Durable before the offset is committed, like a real post.
      await handle.datasync();
    } finally {
      await handle.close();
    }
    this.out(`[slack dry-run] ${announcement.text.replace(/\n/g, ' ')}`);
  }
}
