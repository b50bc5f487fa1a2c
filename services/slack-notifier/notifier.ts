/**
 * The Slack notifier: a consumer group on `<prefix>.public.activities` that announces each new
 * activity exactly once (README.md in this folder has the whole story).
 *
 * Per message, in partition order:
 * skip (not an insert, or an activity the batch would quarantine: products/sport-rewards/activity-validity.ts)
 * | dead-letter (undecodable, malformed row, unknown employee, permanent 4xx)
 * | claim in the ledger -> build the French message -> pace -> post (429: wait Retry-After;
 * 5xx/timeout: backoff, forever) -> mark posted. The offset is committed by the ordered consumer
 * only after that, i.e. after the post succeeded or the event was dead-lettered.
 */
import pg from 'pg';
import pRetry, { AbortError } from 'p-retry';
import { pgConnection, type SlackNotifierConfig } from '../common/config.ts';
import { checkChangeMessage } from '../common/contracts/change-event.ts';
import { connectDeadLetterProducer } from '../common/dead-letter.ts';
import type { Logger } from '../common/logger.ts';
import { ShutdownError, startConsumerWithResources, startOrderedConsumer, type ConsumedMessage, type HandleResult, type HandlerContext } from '../common/ordered-consumer.ts';
import { buildAnnouncement } from '../../products/sport-rewards/slack/announcement.ts';
import { loadRules } from '../batch/rules.ts';
import { decideActivityMessage } from './decide.ts';
import { backoffMs } from './delivery.ts';
import { TokenBucket } from '../common/token-bucket.ts';
import { AnnouncementLedger, EmployeeDirectory, type LedgerKey } from './ledger.ts';
import { DryRunSink, SlackPostError, WebhookSink, type AnnouncementSink } from './sinks.ts';

export const SERVICE_NAME = 'slack-notifier';

/** Topic of the activities change events (docs/contracts/change-events.md). */
export function activitiesTopic(config: SlackNotifierConfig): string {
  return `${config.kafka.topicPrefix}.public.activities`;
}

/** The key columns of public.activities (its primary key, by which the CDC keys its events). */
export const ACTIVITY_KEY = ['activity_id'] as const;

/** Counters since start, for logs and tests. */
export interface NotifierStats {
  posted: number;
  skipped: number;
  /**
   * Messages not announced, by reason: the skip reasons (`snapshot`, `update`...) and, for an
   * activity the batch would quarantine, each rule it breaks (`impossible_speed`, `future_date`...).
   */
  notAnnounced: Record<string, number>;
  alreadyAnnounced: number;
  deadLettered: number;
  retries: number;
  rateLimited: number;
  /** Outcomes (posted, dead-lettered) whose ledger write failed at first and was retried (never re-sent). */
  ledgerWriteFailures: number;
}

export interface RunningNotifier {
  stats: NotifierStats;
  sink: AnnouncementSink;
  /** Commits what is finished, aborts waits, disconnects, closes the pool. Idempotent. */
  stop(): Promise<void>;
  /** Resolves if a fatal error stopped the consumer. */
  crashed: Promise<Error>;
  /** Unhealthy while messages cannot be handled or read (a server outage), with the cause. */
  health(): { healthy: boolean; detail: string };
}

export interface NotifierOptions {
  logger: Logger;
  /** Overrides the sink chosen from config (tests). */
  sink?: AnnouncementSink;
  /** Called after each successful post with commit->post latency in ms (bench). */
  onPosted?: (activityId: number, latencyMs: number) => void;  /** The runtime's stop signal: a stop during start-up (waiting for the topic or the group) ends the start. */
  signal?: AbortSignal;
}

/** Chooses the webhook or the dry-run from configuration. */
export function sinkFromConfig(config: SlackNotifierConfig): AnnouncementSink {
  return config.slack.webhookUrl ? new WebhookSink(config.slack.webhookUrl, config.slack.timeoutMs) : new DryRunSink(config.slack.dryRunFile);
}

/**
 * Starts the notifier.
 * @returns once the consumer group is joined (or waiting for its topic is over).
 * @throws connection errors of Kafka or PostgreSQL at start-up.
 */
export async function startSlackNotifier(config: SlackNotifierConfig, options: NotifierOptions): Promise<RunningNotifier> {
  const { logger } = options;
  const topic = activitiesTopic(config);
  const sink = options.sink ?? sinkFromConfig(config);
  const stats: NotifierStats = { posted: 0, skipped: 0, notAnnounced: {}, alreadyAnnounced: 0, deadLettered: 0, retries: 0, rateLimited: 0, ledgerWriteFailures: 0 };
  const count = (reason: string) => (stats.notAnnounced[reason] = (stats.notAnnounced[reason] ?? 0) + 1);
  // The product's rules: an activity they reject is never announced (the batch quarantines it).
  const { rules } = await loadRules(config.batch.rulesFile);

  const pool = new pg.Pool({ ...pgConnection(config, 'notifier'), max: 2, application_name: SERVICE_NAME });
  // An idle connection ended by the server (restart: 57P01): one line; the next query reconnects.
  pool.on('error', (err: Error & { code?: string }) => logger.warn({ code: err.code, reason: err.message }, 'idle PostgreSQL connection failed'));
  await pool.query('SELECT 1 FROM slack_announcement_log LIMIT 0');
  const ledger = new AnnouncementLedger(pool);
  const directory = new EmployeeDirectory(pool);

  const { producer, deadLetters } = await connectDeadLetterProducer(config, SERVICE_NAME, topic, logger, options.signal);
  const pacer = new TokenBucket(config.slack.ratePerSecond, config.slack.burst);

  logger.info(
    { topic, group: config.slack.consumerGroup, target: sink.target, ...(sink instanceof DryRunSink ? { dryRunFile: sink.file } : { webhookHost: new URL(config.slack.webhookUrl ?? 'http://x').host }) },
    sink.target === 'dry-run' ? 'starting in dry-run (no SLACK_WEBHOOK_URL): messages go to stdout and the JSONL file' : 'starting',
  );

  /** Posts with pacing and the retry policy; resolves on success, throws SlackPostError if permanent. */
  async function deliver(key: LedgerKey, employeeId: number, announcement: ReturnType<typeof buildAnnouncement>, ctx: HandlerContext): Promise<void> {
    await pRetry(
      async () => {
        await ctx.sleep(pacer.waitMs());
        pacer.take();
        try {
          await sink.post(announcement, { activityId: key.activityId, employeeId });
        } catch (err) {
          if (err instanceof SlackPostError && err.failure.kind === 'permanent') throw new AbortError(err);
          throw err;
        }
      },
      {
        retries: Number.POSITIVE_INFINITY,
        // Waits happen in onFailedAttempt, which heartbeats and stops on shutdown.
        minTimeout: 0,
        onFailedAttempt: async ({ error, retriesConsumed }) => {
          if (error instanceof ShutdownError) throw error;
          const failure = error instanceof SlackPostError ? error.failure : { kind: 'transient' as const, detail: error.message };
          if (failure.kind === 'rate-limited') {
            stats.rateLimited += 1;
            pacer.holdUntil(Date.now() + failure.retryAfterMs);
            logger.warn({ activityId: key.activityId, retryAfterMs: failure.retryAfterMs }, 'Slack rate limit (429): waiting for Retry-After');
            return; // the pacer holds the next attempt
          }
          stats.retries += 1;
          const delay = backoffMs(retriesConsumed, config.slack.retryMinMs, config.slack.retryMaxMs);
          logger.warn({ activityId: key.activityId, attempt: retriesConsumed + 1, delayMs: delay, detail: failure.kind === 'transient' ? failure.detail : failure.kind }, 'Slack post failed; retrying');
          await ctx.sleep(delay);
        },
        shouldConsumeRetry: ({ error }) => !(error instanceof SlackPostError && error.failure.kind === 'rate-limited'),
      },
    );
  }

  /**
   * Records the outcome of a side effect that already happened (a post Slack accepted, an event the
   * DLQ accepted): retried with capped backoff until PostgreSQL takes it, so the side effect is not
   * redone (the ledger writes are idempotent). One warning when it first fails, one info line when
   * it is recorded. Stopping meanwhile leaves the claim open: the next run redoes the side effect,
   * which is logged at error level here (the only duplicate window, README "Exactly once").
   */
  async function recordOutcome(key: LedgerKey, outcome: 'posted' | 'dead_lettered', write: () => Promise<void>, ctx: HandlerContext): Promise<void> {
    for (let failures = 0; ; failures++) {
      try {
        await write();
        if (failures > 0) logger.info({ activityId: key.activityId, outcome, failures }, 'ledger write recorded after PostgreSQL came back');
        return;
      } catch (err) {
        if (failures === 0) {
          stats.ledgerWriteFailures += 1;
          logger.warn({ err, activityId: key.activityId, outcome }, `${outcome === 'posted' ? 'Slack accepted the post' : 'the event was dead-lettered'} but the ledger write failed: retrying the ledger write only (nothing is sent again)`);
        }
        try {
          await ctx.sleep(backoffMs(failures, config.slack.retryMinMs, config.slack.retryMaxMs));
        } catch (stopping) {
          logger.error({ activityId: key.activityId, outcome }, `stopping before the ledger recorded ${outcome}: the next run will do it again (at-least-once)`);
          throw stopping;
        }
      }
    }
  }

  async function handle(message: ConsumedMessage, ctx: HandlerContext): Promise<HandleResult> {
    // The envelope checks every consumer shares (key, empty value, envelope), before any decision.
    const checked = checkChangeMessage(message, ACTIVITY_KEY);
    if (checked.kind === 'dead-letter') {
      await deadLetters.publish(message, checked.reason, checked.detail);
      stats.deadLettered += 1;
      logger.warn({ partition: message.partition, offset: message.offset, reason: checked.reason, detail: checked.detail }, 'dead-lettered');
      return;
    }
    const decision = decideActivityMessage(message.value, { maxActivityAgeMs: config.slack.maxActivityAgeHours * 3_600_000, rules });
    const where = { partition: message.partition, offset: message.offset };
    if (decision.kind === 'skip') {
      stats.skipped += 1;
      if (decision.reason === 'invalid_activity') {
        for (const b of decision.broken) count(b.code);
        logger.info(
          { ...where, reason: decision.reason, rules: decision.broken.map((b) => b.code), detail: decision.broken.map((b) => `${b.code}: ${b.reason}`).join('; ') },
          'not announced: the batch quarantines this activity',
        );
      } else {
        count(decision.reason);
        logger.debug({ ...where, reason: decision.reason }, 'not announced');
      }
      return 'no-op';
    }
    if (decision.kind === 'dead-letter') {
      await deadLetters.publish(message, decision.reason, decision.detail);
      stats.deadLettered += 1;
      logger.warn({ ...where, reason: decision.reason, detail: decision.detail }, 'dead-lettered');
      return;
    }
    const { activity } = decision;
    const key: LedgerKey = { target: sink.target, activityId: activity.activity_id };
    const claim = await ledger.claim(key, { topic: message.topic, partition: message.partition, offset: message.offset, lsn: decision.lsn, committedAtMs: decision.committedAtMs });
    if (claim === null) {
      stats.alreadyAnnounced += 1;
      logger.debug({ ...where, activityId: activity.activity_id }, 'already announced or dead-lettered: skipped (re-delivery or replay)');
      return 'no-op';
    }
    if (claim.attempts > 1) logger.warn({ ...where, activityId: activity.activity_id, attempts: claim.attempts }, 'an earlier attempt ended without a recorded outcome; posting again (at-least-once)');

    const name = await directory.nameOf(activity.employee_id);
    if (name === null) {
      const detail = `employee ${activity.employee_id} not found in employees`;
      await deadLetters.publish(message, 'unknown_employee', detail);
      await recordOutcome(key, 'dead_lettered', () => ledger.markDeadLettered(key, 'unknown_employee'), ctx);
      stats.deadLettered += 1;
      logger.warn({ ...where, activityId: activity.activity_id, reason: 'unknown_employee' }, 'dead-lettered');
      return;
    }

    const announcement = buildAnnouncement(activity, name);
    try {
      await deliver(key, activity.employee_id, announcement, ctx);
    } catch (err) {
      if (err instanceof SlackPostError && err.failure.kind === 'permanent') {
        const { reason } = err.failure;
        await deadLetters.publish(message, reason, err.failure.detail);
        await recordOutcome(key, 'dead_lettered', () => ledger.markDeadLettered(key, reason), ctx);
        stats.deadLettered += 1;
        logger.error({ ...where, activityId: activity.activity_id, reason: err.failure.reason, detail: err.failure.detail }, 'Slack refused the message permanently: dead-lettered');
        return;
      }
      if (err instanceof ShutdownError) await ledger.release(key).catch(() => undefined);
      throw err;
    }
    // Slack accepted it: from here on the post is never repeated by this process; only the ledger
    // write is retried until PostgreSQL takes it (issue 14: a restart here double-posted).
    await recordOutcome(key, 'posted', () => ledger.markPosted(key), ctx);
    stats.posted += 1;
    const latencyMs = Date.now() - decision.committedAtMs;
    options.onPosted?.(activity.activity_id, latencyMs);
    logger.info({ ...where, activityId: activity.activity_id, target: sink.target, commitToPostMs: latencyMs }, 'announced');
  }

  const { stop, crashed, consumer } = await startConsumerWithResources(
    () => startOrderedConsumer({ config, service: SERVICE_NAME, groupId: config.slack.consumerGroup, topic, logger, handle, signal: options.signal }),
    async () => {
      await producer.close();
      await pool.end();
    },
    () => logger.info({ ...stats }, 'stopped'),
  );
  return { stats, sink, stop, crashed, health: () => consumer.health() };
}
