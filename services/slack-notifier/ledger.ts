/**
 * The notifier's PostgreSQL adapters: the idempotency ledger (table `slack_announcements`,
 * migration 003) and the employee-name lookup. Both use the application role.
 *
 * Ledger protocol, per (target, activity_id):
 * 1. {@link AnnouncementLedger.claim} inserts a `posting` row, or re-claims a `posting` row left by
 *    a crash; it returns `null` when the row is already final (`posted` / `dead_lettered`): skip.
 * 2. After Slack accepted the post: {@link AnnouncementLedger.markPosted}; after the DLQ accepted
 *    the event: {@link AnnouncementLedger.markDeadLettered}. Only then is the offset committed.
 * A crash between Slack's 200 and step 2 leaves `posting`: the next run posts again and logs it
 * (at-least-once; the only window where a duplicate is possible, milliseconds wide).
 */
import type pg from 'pg';
import type { EmployeeName } from '../../products/sport-rewards/slack/announcement.ts';

export interface LedgerKey {
  target: 'slack' | 'dry-run';
  activityId: number;
}

export interface LedgerSource {
  topic: string;
  partition: number;
  offset: string;
  lsn: number | null;
  /** Commit time of the source transaction, ms since epoch. */
  committedAtMs: number;
}

export interface Claim {
  /** 1 on a first claim; more when earlier attempts ended without a final status. */
  attempts: number;
}

export class AnnouncementLedger {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * @returns the claim, or null when the activity was already posted or dead-lettered.
   */
  async claim(key: LedgerKey, source: LedgerSource): Promise<Claim | null> {
    const result = await this.pool.query<{ attempts: number }>(
      `INSERT INTO slack_announcements AS a
         (target, activity_id, status, source_topic, source_partition, source_offset, source_lsn, committed_at)
       VALUES ($1, $2, 'posting', $3, $4, $5, $6, to_timestamp($7::double precision / 1000))
       ON CONFLICT (target, activity_id) DO UPDATE
         SET attempts = a.attempts + 1, claimed_at = now(),
             source_topic = EXCLUDED.source_topic, source_partition = EXCLUDED.source_partition,
             source_offset = EXCLUDED.source_offset
         WHERE a.status = 'posting'
       RETURNING attempts`,
      [key.target, key.activityId, source.topic, source.partition, source.offset, source.lsn, source.committedAtMs],
    );
    const row = result.rows[0];
    return row ? { attempts: row.attempts } : null;
  }

  /** Records a successful post (final). */
  async markPosted(key: LedgerKey): Promise<void> {
    await this.finish(key, 'posted', null);
  }

  /** Records that the event went to the DLQ with `reason` (final). */
  async markDeadLettered(key: LedgerKey, reason: string): Promise<void> {
    await this.finish(key, 'dead_lettered', reason);
  }

  /** Drops a claim whose attempts all failed before stopping, so the next run starts clean. */
  async release(key: LedgerKey): Promise<void> {
    await this.pool.query(`DELETE FROM slack_announcements WHERE target = $1 AND activity_id = $2 AND status = 'posting'`, [key.target, key.activityId]);
  }

  private async finish(key: LedgerKey, status: 'posted' | 'dead_lettered', reason: string | null): Promise<void> {
    const result = await this.pool.query(
      `UPDATE slack_announcements SET status = $3, reason = $4, finished_at = now()
       WHERE target = $1 AND activity_id = $2`,
      [key.target, key.activityId, status, reason],
    );
    if (result.rowCount !== 1) throw new Error(`ledger row ${key.target}/${key.activityId} vanished before it was finished`);
  }
}

/**
 * Looks up employee names, and nothing else, from `employees` (the activity's foreign key
 * guarantees the employee existed when the activity was inserted).
 */
export class EmployeeDirectory {
  constructor(private readonly pool: pg.Pool) {}

  /** @returns the name, or null when no employee has this id (any more). */
  async nameOf(employeeId: number): Promise<EmployeeName | null> {
    const result = await this.pool.query<{ first_name: string; last_name: string }>(
      'SELECT first_name, last_name FROM employees WHERE employee_id = $1',
      [employeeId],
    );
    const row = result.rows[0];
    return row ? { firstName: row.first_name, lastName: row.last_name } : null;
  }
}
