/**
 * What the notifier does with one message of `<prefix>.public.activities` (pure).
 *
 * Only inserts are announced: op "c" outside a snapshot. Snapshot reads ("r"), updates, deletes,
 * truncates and tombstones are skipped (DOMAIN.md: "never for snapshot rows"). Replays and
 * re-deliveries of a "c" are filtered later, by the idempotency ledger. An insert of an activity
 * that ended long before the commit (an import of past activities, e.g. a history load) is not a
 * new activity and is skipped too (SLACK_MAX_ACTIVITY_AGE_HOURS). An activity the batch would
 * quarantine (the sport-rewards product's one definition of a valid activity,
 * products/sport-rewards/activity-validity.ts, checked at the commit time of the insert) is
 * never announced: skipped with the rules it breaks (`invalid_activity`). A message that cannot
 * be decoded, or whose row lacks the fields an announcement needs, is dead-lettered with a reason.
 */
import { z } from 'zod';
import { decodeOrDeadLetter } from '../common/contracts/change-event.ts';
import type { Rules } from '../batch/rules.ts';
import type { ActivityFacts } from '../../products/sport-rewards/slack/announcement.ts';
import { activityValuesFromEvent, checkActivity, type BrokenRule } from '../../products/sport-rewards/activity-validity.ts';

export type SkipReason = 'tombstone' | 'snapshot' | 'update' | 'delete' | 'truncate' | 'imported_past_activity' | 'invalid_activity';

export type Decision =
  | {
      kind: 'announce';
      activity: ActivityFacts;
      /** Commit time of the inserting transaction (source.ts_ms), ms since epoch. */
      committedAtMs: number;
      lsn: number | null;
    }
  | { kind: 'skip'; reason: Exclude<SkipReason, 'invalid_activity'> }
  /** An activity the batch quarantines: never announced; `broken` = the rules it breaks, with reasons. */
  | { kind: 'skip'; reason: 'invalid_activity'; broken: BrokenRule[] }
  | { kind: 'dead-letter'; reason: 'invalid_json' | 'invalid_envelope' | 'invalid_activity'; detail: string };

/**
 * What an announcement needs of the row (structure only: whether the values make a valid
 * activity is the product's validity rules' business, so an empty sport or a negative distance
 * is skipped as invalid, not dead-lettered as malformed).
 */
const activityRow = z.object({
  activity_id: z.number().int().positive(),
  employee_id: z.number().int(),
  sport_type: z.string().nullable(),
  elapsed_seconds: z.number().int().min(0),
  distance_m: z.number().int().nullable(),
  comment: z.string().nullable().optional(),
  started_at: z.string().nullable().optional(),
  ended_at: z.string().nullable().optional(),
});

export interface DecideOptions {
  /** Skip an insert whose `ended_at` is more than this before the commit (source.ts_ms), in ms; 0 or absent = no limit. */
  maxActivityAgeMs?: number;
  /** The sport-rewards rules (validity parameters); absent = validity not checked (tests of the envelope only). */
  rules?: Rules;
}

/**
 * @param value raw Kafka message value (null = tombstone).
 * @returns the decision; never throws.
 */
export function decideActivityMessage(value: Buffer | string | null, options: DecideOptions = {}): Decision {
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
  const { ended_at: endedAt, started_at: _startedAt, ...row } = parsed.data;
  const endedAtMs = endedAt ? Date.parse(endedAt) : Number.NaN;
  if (options.maxActivityAgeMs && Number.isFinite(endedAtMs) && event.source.ts_ms - endedAtMs > options.maxActivityAgeMs) {
    return { kind: 'skip', reason: 'imported_past_activity' };
  }
  if (options.rules) {
    // Reference time = the commit of the insert: the verdict is the same on every re-delivery,
    // and an activity valid then is valid for every later batch run (activity-validity.ts).
    const broken = checkActivity(activityValuesFromEvent(event.after as Record<string, unknown>), options.rules, new Date(event.source.ts_ms));
    if (broken.length > 0) return { kind: 'skip', reason: 'invalid_activity', broken };
  }
  return {
    kind: 'announce',
    activity: { ...row, sport_type: row.sport_type ?? '', comment: row.comment ?? null },
    committedAtMs: event.source.ts_ms,
    lsn: typeof event.source.lsn === 'number' ? event.source.lsn : null,
  };
}
