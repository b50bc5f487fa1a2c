/**
 * What the notifier does with one message of `<prefix>.public.activities` (pure).
 *
 * Only inserts are announced: op "c" outside a snapshot. Snapshot reads ("r"), updates, deletes,
 * truncates and tombstones are skipped (DOMAIN.md: "never for snapshot rows"). Replays and
 * re-deliveries of a "c" are filtered later, by the idempotency ledger. A message that cannot be
 * decoded, or whose row lacks the fields an announcement needs, is dead-lettered with a reason.
 */
import { z } from 'zod';
import { decodeChangeEvent, UndecodableEventError } from '../common/change-event.ts';
import type { ActivityFacts } from './announcement.ts';

export type SkipReason = 'tombstone' | 'snapshot' | 'update' | 'delete' | 'truncate';

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
});

/**
 * @param value raw Kafka message value (null = tombstone).
 * @returns the decision; never throws.
 */
export function decideActivityMessage(value: Buffer | string | null): Decision {
  let event;
  try {
    event = decodeChangeEvent(value);
  } catch (err) {
    if (err instanceof UndecodableEventError) return { kind: 'dead-letter', reason: err.reason, detail: err.message };
    throw err;
  }
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
  const row = parsed.data;
  return {
    kind: 'announce',
    activity: { ...row, comment: row.comment ?? null },
    committedAtMs: event.source.ts_ms,
    lsn: typeof event.source.lsn === 'number' ? event.source.lsn : null,
  };
}
