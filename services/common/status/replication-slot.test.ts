import { describe, expect, it } from 'vitest';
import { slotStatusFromRow } from './replication-slot.ts';

describe('replication slot', () => {
  it('reads the lag in bytes and whether the slot is held', () => {
    expect(slotStatusFromRow('s', { active: true, active_pid: 42, confirmed_flush_lsn: '0/16B3748', wal_status: 'reserved', lag_bytes: '1048576' })).toEqual({
      slotName: 's',
      exists: true,
      active: true,
      activePid: 42,
      confirmedFlushLsn: '0/16B3748',
      lagBytes: 1048576,
      walStatus: 'reserved',
    });
    expect(slotStatusFromRow('s', undefined)).toEqual({ slotName: 's', exists: false, active: false, activePid: null, confirmedFlushLsn: null, lagBytes: null, walStatus: null });
    expect(slotStatusFromRow('s', { active: false, active_pid: null, confirmed_flush_lsn: null, wal_status: 'lost', lag_bytes: null }).lagBytes).toBeNull();
  });
});
