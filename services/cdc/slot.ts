/**
 * The replication slot at start-up: resume from it, create it, or take the initial snapshot
 * (Debezium's slot handling in PostgresConnectorTask and its snapshotter's `shouldSnapshot`).
 *
 * {@link planSlot} is the decision, pure: from the slot, the snapshot marker slot
 * (`<slot>_snapshot_pending`, which exists while an initial snapshot is unfinished) and
 * CDC_SNAPSHOT_MODE it says what to do. {@link prepareSlot} carries it out on the catalog
 * connection and a replication connection (postgres-setup.ts holds the SQL); the snapshot itself
 * is the snapshot source's (snapshot-source.ts), passed in.
 *
 * Snapshot bookkeeping (services/cdc/README.md, "Initial snapshot"): the marker is created before
 * the logical slot is (re)created with an exported snapshot, and dropped only once every snapshot
 * event is acknowledged. Finding it at start-up means the last snapshot did not finish, so the
 * logical slot is dropped and the snapshot taken again.
 */
import type pg from 'pg';
import type { Logger } from '../common/logger.ts';
import { formatLsn } from './lsn.ts';
import { CdcSetupError, createMarkerSlot, createSlotWithSnapshot, dropSlotIfExists, readSlot, snapshotMarkerSlot, type SlotInfo } from './postgres-setup.ts';

/** What to do with the slot at start-up. */
export type SlotPlan =
  /** Stream from the slot's confirmed LSN. `abandonMarker`: drop a marker left by an unfinished snapshot first (snapshot mode `never`). */
  | { action: 'resume'; lsn: bigint; abandonMarker: boolean; warning: string | null }
  /** Create the slot without a snapshot (snapshot mode `never`) and stream from its consistent point. */
  | { action: 'create'; abandonMarker: boolean }
  /** Drop the slot if any, take the initial snapshot on a new one, stream from its consistent point. */
  | { action: 'snapshot'; warning: string | null };

/**
 * Decides what to do with the slot.
 * @param slot the logical slot, null when it does not exist.
 * @param marker the snapshot marker slot, null when no snapshot is unfinished.
 * @throws CdcSetupError when the slot exists for another output plugin or database.
 */
export function planSlot(input: { slotName: string; database: string; snapshotMode: 'initial' | 'never'; slot: SlotInfo | null; marker: SlotInfo | null }): SlotPlan {
  const { slotName, slot, marker } = input;
  if (slot && (slot.plugin !== 'pgoutput' || slot.database !== input.database)) {
    throw new CdcSetupError(`replication slot ${slotName} exists for plugin ${slot.plugin} / database ${slot.database}; choose another CDC_SLOT_NAME or drop it (npm run lakehouse -- cdc drop-slot)`);
  }
  if (slot && !marker) return { action: 'resume', lsn: slot.confirmedFlushLsn ?? 0n, abandonMarker: false, warning: null };
  if (input.snapshotMode === 'never') {
    if (slot) {
      return { action: 'resume', lsn: slot.confirmedFlushLsn ?? 0n, abandonMarker: true, warning: 'an unfinished snapshot is abandoned (CDC_SNAPSHOT_MODE=never): resuming from the slot' };
    }
    return { action: 'create', abandonMarker: marker !== null };
  }
  return { action: 'snapshot', warning: marker ? 'the previous initial snapshot did not finish: dropping the slot and taking it again' : null };
}

/** Opens a replication (walsender) connection, runs `fn`, closes it. */
export type WithReplicationConnection = <T>(fn: (replication: pg.Client) => Promise<T>) => Promise<T>;

/**
 * Takes the initial snapshot on a new slot (snapshot-source.ts).
 * @returns the slot's consistent point, or null when stopped midway.
 */
export type SnapshotRunner = () => Promise<bigint | null>;

/**
 * Reads the slot and the marker, and carries out {@link planSlot}.
 * @param db the catalog connection (the CDC role).
 * @returns the LSN to stream from and whether the slot existed (`resumed`: its LSN may then be raised
 *   to what this process already confirmed), or null when the snapshot was stopped midway (the
 *   marker stays, so the next start takes it again).
 * @throws CdcSetupError (slot of another plugin/database, slot in use), PostgreSQL errors.
 */
export async function prepareSlot(
  deps: { db: Pick<pg.Client, 'query'>; withReplication: WithReplicationConnection; snapshot: SnapshotRunner; logger: Logger },
  settings: { slotName: string; database: string; snapshotMode: 'initial' | 'never' },
): Promise<{ lsn: bigint; resumed: boolean } | null> {
  const { db, logger } = deps;
  const { slotName } = settings;
  const marker = await readSlot(db, snapshotMarkerSlot(slotName));
  const slot = await readSlot(db, slotName);
  const plan = planSlot({ ...settings, slot, marker });
  switch (plan.action) {
    case 'resume':
      if (plan.abandonMarker) await dropSlotIfExists(db, snapshotMarkerSlot(slotName));
      if (plan.warning) logger.warn({ slot: slotName }, plan.warning);
      else logger.info({ slot: slotName, confirmedFlushLsn: formatLsn(plan.lsn) }, 'resuming from the slot');
      return { lsn: plan.lsn, resumed: true };
    case 'create': {
      if (plan.abandonMarker) await dropSlotIfExists(db, snapshotMarkerSlot(slotName));
      const created = await deps.withReplication((repl) => createSlotWithSnapshot(repl, slotName, false));
      logger.info({ slot: slotName, consistentPoint: formatLsn(created.consistentPoint) }, 'created slot (CDC_SNAPSHOT_MODE=never: no snapshot)');
      return { lsn: created.consistentPoint, resumed: false };
    }
    case 'snapshot': {
      if (plan.warning) logger.warn({ slot: slotName }, plan.warning);
      await createMarkerSlot(db, slotName);
      await dropSlotIfExists(db, slotName);
      const consistentPoint = await deps.snapshot();
      if (consistentPoint === null) return null;
      await dropSlotIfExists(db, snapshotMarkerSlot(slotName));
      return { lsn: consistentPoint, resumed: false };
    }
  }
}
