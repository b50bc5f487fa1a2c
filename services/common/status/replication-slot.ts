/**
 * Pipeline status, source of truth PostgreSQL: the CDC replication slot, its lag
 * (`pg_current_wal_lsn() - confirmed_flush_lsn`, bytes of WAL PostgreSQL retains for it) and
 * whether a walsender holds it. {@link SLOT_STATUS_SQL} is the one query of it: the CDC service's
 * `cdc_replication_lag_bytes`, the monitor and `lakehouse status` all read the slot through
 * {@link readSlotStatus}.
 */
import type pg from 'pg';

/** The CDC service's replication slot as PostgreSQL reports it. */
export interface SlotStatus {
  slotName: string;
  exists: boolean;
  /** A walsender (the CDC service) is connected to the slot. */
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: string | null;
  /** WAL retained for the slot: pg_current_wal_lsn() - confirmed_flush_lsn, bytes; null without a slot. */
  lagBytes: number | null;
  /** reserved | extended | unreserved | lost (PostgreSQL 13+); null without a slot. */
  walStatus: string | null;
}

/** Reads one slot; `$1` = slot name. Any role may read pg_replication_slots and the WAL position. */
export const SLOT_STATUS_SQL = `SELECT slot_name, active, active_pid, confirmed_flush_lsn::text AS confirmed_flush_lsn, wal_status,
  pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag_bytes
  FROM pg_replication_slots WHERE slot_name = $1`;

/** A row of {@link SLOT_STATUS_SQL} (or none) as a {@link SlotStatus} (pure). */
export function slotStatusFromRow(
  slotName: string,
  row: { active: boolean; active_pid: number | null; confirmed_flush_lsn: string | null; wal_status: string | null; lag_bytes: string | null } | undefined,
): SlotStatus {
  if (!row) return { slotName, exists: false, active: false, activePid: null, confirmedFlushLsn: null, lagBytes: null, walStatus: null };
  return {
    slotName,
    exists: true,
    active: row.active,
    activePid: row.active_pid,
    confirmedFlushLsn: row.confirmed_flush_lsn,
    lagBytes: row.lag_bytes === null ? null : Math.max(0, Number(row.lag_bytes)),
    walStatus: row.wal_status,
  };
}

/** Reads the slot `slotName` through `db` (any connected pg client or pool). */
export async function readSlotStatus(db: Pick<pg.ClientBase, 'query'>, slotName: string): Promise<SlotStatus> {
  const res = await db.query(SLOT_STATUS_SQL, [slotName]);
  return slotStatusFromRow(slotName, res.rows[0]);
}
