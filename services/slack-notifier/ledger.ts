/**
 * The notifier's PostgreSQL adapters: the idempotency ledger (table `slack_announcement_log`,
 * migration 004) and the employee-name lookup. Both use the notifier's own role
 * (NOTIFIER_DB_USER), which may INSERT into and SELECT from the ledger and nothing more: the
 * ledger is append-only, so no application role can erase the record of a post.
 *
 * Ledger protocol, per (target, activity_id), every step an INSERT:
 * 1. {@link AnnouncementLedger.claim} appends a `claimed` row for attempt n+1, unless the
 *    announcement already has an outcome (`posted` / `dead_lettered`): then it returns `null`: skip.
 * 2. After Slack accepted the post: {@link AnnouncementLedger.markPosted}; after the DLQ accepted
 *    the event: {@link AnnouncementLedger.markDeadLettered}. Only then is the offset committed. A
 *    unique index allows one outcome per announcement.
 * 3. A claim whose attempts all failed before a clean stop: {@link AnnouncementLedger.release}
 *    (a `released` row), so the next run starts counting attempts afresh.
 * The notifier retries a failed step-2 write (PostgreSQL restarting, connection lost) on its own,
 * with capped backoff, and never posts again meanwhile; steps 2 are idempotent, so a write whose
 * commit succeeded but whose answer was lost is simply confirmed on retry.
 * The one remaining duplicate window (services/slack-notifier/README.md, "Exactly once"): the
 * process ends (kill -9, crash, or a stop while PostgreSQL still refuses the write) after Slack's
 * 200 and before the `posted` row is committed: the claim stays open, the offset uncommitted, and
 * the next run posts again and logs it (at-least-once).
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
      `WITH prior AS (
         SELECT COALESCE(max(attempt), 0) AS last,
                COALESCE(max(attempt) FILTER (WHERE status = 'claimed'), 0) - COALESCE(max(attempt) FILTER (WHERE status = 'released'), 0) AS open,
                COALESCE(bool_or(status IN ('posted', 'dead_lettered')), false) AS final
           FROM slack_announcement_log WHERE target = $1 AND activity_id = $2),
       ins AS (
         INSERT INTO slack_announcement_log (target, activity_id, attempt, status, source_topic, source_partition, source_offset, source_lsn, committed_at)
         SELECT $1, $2, last + 1, 'claimed', $3, $4, $5, $6, to_timestamp($7::double precision / 1000) FROM prior WHERE NOT final
         RETURNING attempt)
       SELECT (SELECT open FROM prior)::int + 1 AS attempts FROM ins`,
      [key.target, key.activityId, source.topic, source.partition, source.offset, source.lsn, source.committedAtMs],
    );
    const row = result.rows[0];
    return row ? { attempts: row.attempts } : null;
  }

  /**
   * Records a successful post (final). Idempotent: when the outcome `posted` is already recorded
   * (an earlier call's INSERT committed but its answer was lost, e.g. PostgreSQL went down right
   * after the commit), it resolves too, so the caller may simply retry until it resolves.
   * @throws Error when there is no claim to finish, or another outcome is recorded.
   */
  async markPosted(key: LedgerKey): Promise<void> {
    await this.finish(key, 'posted', null);
  }

  /** Records that the event went to the DLQ with `reason` (final; idempotent as {@link markPosted}). */
  async markDeadLettered(key: LedgerKey, reason: string): Promise<void> {
    await this.finish(key, 'dead_lettered', reason);
  }

  private async finish(key: LedgerKey, status: 'posted' | 'dead_lettered', reason: string | null): Promise<void> {
    if ((await this.append(key, status, reason)) === 1) return;
    const recorded = await this.pool.query<{ status: string }>(
      `SELECT status FROM slack_announcement_log WHERE target = $1 AND activity_id = $2 AND status IN ('posted', 'dead_lettered')`,
      [key.target, key.activityId],
    );
    const outcome = recorded.rows[0]?.status;
    if (outcome === status) return;
    throw new Error(`ledger: cannot record ${status} for ${key.target}/${key.activityId}: ${outcome ? `${outcome} is already recorded` : 'no claim to finish'}`);
  }

  /** Closes a claim whose attempts all failed before stopping, so the next run starts clean. */
  async release(key: LedgerKey): Promise<void> {
    await this.append(key, 'released', null);
  }

  /** Appends `status` for the latest claimed attempt; @returns the rows inserted (0 without a claim). */
  private async append(key: LedgerKey, status: 'posted' | 'dead_lettered' | 'released', reason: string | null): Promise<number> {
    const result = await this.pool.query(
      `INSERT INTO slack_announcement_log (target, activity_id, attempt, status, reason)
       SELECT $1, $2, max(attempt), $3, $4 FROM slack_announcement_log
        WHERE target = $1 AND activity_id = $2 AND status = 'claimed'
       HAVING max(attempt) IS NOT NULL
       ON CONFLICT DO NOTHING`,
      [key.target, key.activityId, status, reason],
    );
    return result.rowCount ?? 0;
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
