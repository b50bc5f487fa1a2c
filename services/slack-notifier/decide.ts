/**
 * What the notifier does with one message of `<prefix>.public.activities` (pure).
 *
 * Only inserts are announced: op "c" outside a snapshot. Snapshot reads ("r"), updates, deletes,
 * truncates and tombstones are skipped (DOMAIN.md: "never for snapshot rows"). Replays and
 * re-deliveries of a "c" are filtered later, by the idempotency ledger. An insert of an activity
 * that ended long before the commit (an import of past activities, e.g. a history load) is not a
 * new activity and is skipped too (SLACK_MAX_ACTIVITY_AGE_HOURS). A message that cannot be
 * decoded, or whose row lacks the fields an announcement needs, is dead-lettered with a reason.
 */
import { z } from 'zod';
import { decodeOrDeadLetter } from '../common/contracts/change-event.ts';
import type { ActivityFacts } from '../../products/sport-rewards/slack/announcement.ts';

export type SkipReason = 'tombstone' | 'snapshot' | 'update' | 'delete' | 'truncate' | 'imported_past_activity';

export type Decision =
  | {
      kind: 'announce';
      activity: ActivityFacts;
      /** Commit time of the inserting transaction (source.ts_ms), ms since epoch. */
      committedAtMs: number;
      lsn: number | null;
    }
  | { kind: 'skip'; reason: SkipReason }
  | { kind: 'dead-letter'; reason: 'invalid_json' | 'invalid_envelope' | 'invalid_activity'; detail: string };

const activityRow = z.object({
  activity_id: z.number().int().positive(),
  employee_id: z.number().int(),
  sport_type: z.string().trim().min(1),
  elapsed_seconds: z.number().int().min(0),
  distance_m: z.number().int().min(0).nullable(),
  comment: z.string().nullable().optional(),
  ended_at: z.string().nullable().optional(),
});

/**
 * @param value raw Kafka message value (null = tombstone).
 * @param options.maxActivityAgeMs skip an insert whose `ended_at` is more than this before the
 *   commit (source.ts_ms), in ms; 0 or absent = no limit.
 * @returns the decision; never throws.
 */
export function decideActivityMessage(value: Buffer | string | null, options: { maxActivityAgeMs?: number } = {}): Decision {
  const decoded = decodeOrDeadLetter(value);
  if (decoded.kind === 'dead-letter') return decoded;
  const event = decoded.event;
  if (event === null) return { kind: 'skip', reason: 'tombstone' };
  switch (event.op) {
    case 'r':
      return { kind: 'skip', reason: 'snapshot' };
    case 'u':
      return { kind: 'skip', reason: 'update' };
    case 'd':
      return { kind: 'skip', reason: 'delete' };
    case 't':
      return { kind: 'skip', reason: 'truncate' };
    case 'c':
      break;
  }
  if (event.source.snapshot !== 'false' && event.source.snapshot !== undefined) return { kind: 'skip', reason: 'snapshot' };
  const parsed = activityRow.safeParse(event.after);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    return { kind: 'dead-letter', reason: 'invalid_activity', detail };
  }
  const { ended_at: endedAt, ...row } = parsed.data;
  const endedAtMs = endedAt ? Date.parse(endedAt) : Number.NaN;
  if (options.maxActivityAgeMs && Number.isFinite(endedAtMs) && event.source.ts_ms - endedAtMs > options.maxActivityAgeMs) {
    return { kind: 'skip', reason: 'imported_past_activity' };
  }
  return {
    kind: 'announce',
    activity: { ...row, comment: row.comment ?? null },
    committedAtMs: event.source.ts_ms,
    lsn: typeof event.source.lsn === 'number' ? event.source.lsn : null,
  };
}
