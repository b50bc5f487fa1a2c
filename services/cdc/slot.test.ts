import { describe, expect, it } from 'vitest';
import { CdcSetupError, type SlotInfo } from './postgres-setup.ts';
import { planSlot } from './slot.ts';

const slot = (over: Partial<SlotInfo> = {}): SlotInfo => ({
  name: 'sport_cdc_slot', plugin: 'pgoutput', slotType: 'logical', database: 'sport', active: false, activePid: null, confirmedFlushLsn: 0x500n, restartLsn: 0x400n, ...over,
});
const marker: SlotInfo = { ...slot(), name: 'sport_cdc_slot_snapshot_pending', plugin: null, slotType: 'physical', database: null, confirmedFlushLsn: null };
const base = { slotName: 'sport_cdc_slot', database: 'sport' };

describe('planSlot: what to do with the replication slot at start-up', () => {
  it('resumes from an existing slot at its confirmed LSN', () => {
    expect(planSlot({ ...base, snapshotMode: 'initial', slot: slot(), marker: null })).toEqual({ action: 'resume', lsn: 0x500n, abandonMarker: false, warning: null });
  });

  it('takes the initial snapshot when there is no slot (snapshot mode initial)', () => {
    expect(planSlot({ ...base, snapshotMode: 'initial', slot: null, marker: null })).toEqual({ action: 'snapshot', warning: null });
  });

  it('takes the snapshot again when the marker says the last one did not finish', () => {
    const plan = planSlot({ ...base, snapshotMode: 'initial', slot: slot(), marker });
    expect(plan).toEqual({ action: 'snapshot', warning: 'the previous initial snapshot did not finish: dropping the slot and taking it again' });
    expect(planSlot({ ...base, snapshotMode: 'initial', slot: null, marker }).action).toBe('snapshot');
  });

  it('snapshot mode never: creates the slot without a snapshot, or abandons an unfinished one', () => {
    expect(planSlot({ ...base, snapshotMode: 'never', slot: null, marker: null })).toEqual({ action: 'create', abandonMarker: false });
    expect(planSlot({ ...base, snapshotMode: 'never', slot: null, marker })).toEqual({ action: 'create', abandonMarker: true });
    expect(planSlot({ ...base, snapshotMode: 'never', slot: slot(), marker })).toMatchObject({ action: 'resume', lsn: 0x500n, abandonMarker: true });
  });

  it('refuses a slot of another output plugin or database, naming the way out', () => {
    expect(() => planSlot({ ...base, snapshotMode: 'initial', slot: slot({ plugin: 'wal2json' }), marker: null })).toThrow(CdcSetupError);
    expect(() => planSlot({ ...base, snapshotMode: 'initial', slot: slot({ database: 'other' }), marker: null })).toThrow(/exists for plugin pgoutput \/ database other.*drop-slot/);
  });
});
