import { describe, expect, it } from 'vitest';
import type { PipelineStatus } from '../../../services/common/status/pipeline-status.ts';
import { caughtUpProgress, walTarget } from './status.ts';

/** A status with a readable slot and a bronze group (the parts `--wait-caught-up` reads). */
function statusWith(slot: PipelineStatus['replicationSlot'], bronze: { topics: string[]; totalLag: number } | null, kafkaError: string | null = null): PipelineStatus {
  return {
    checkedAt: '2026-12-05T04:00:00.000Z',
    kafka: {
      error: kafkaError,
      groups: bronze ? [{ groupId: 'shop-bronze', service: 'bronze-writer', topics: bronze.topics, partitions: [], totalLag: bronze.totalLag, liveness: null }] : [],
      deadLetters: [],
    },
    replicationSlot: slot,
    batch: { error: 'not read in this test' },
  };
}

const slotAt = (confirmed: string, lagBytes: number) => ({ slotName: 'shop_cdc_slot', exists: true, active: true, activePid: 4242, confirmedFlushLsn: confirmed, lagBytes, walStatus: 'reserved' });

describe('lakehouse status --wait-caught-up', () => {
  it('targets the source WAL position when the wait starts: confirmed LSN + the slot lag', () => {
    expect(walTarget(statusWith(slotAt('0/1000', 0x200), null))).toBe(0x1200n);
    expect(walTarget(statusWith(slotAt('1/FFFFFF00', 0x100), null))).toBe(0x2_0000_0000n);
    expect(walTarget(statusWith({ slotName: 'shop_cdc_slot', error: 'connection refused' }, null))).toBeNull();
    expect(walTarget(statusWith({ ...slotAt('0/0', 0), exists: false, confirmedFlushLsn: null, lagBytes: null }, null))).toBeNull();
  });

  it('is caught up only when the slot confirmed the target and the bronze group stored every message', () => {
    const target = 0x1200n;
    expect(caughtUpProgress(statusWith(slotAt('0/1200', 0), { topics: ['shop.hr.employees'], totalLag: 0 }), target)).toEqual({ done: true, waitingFor: [] });
    expect(caughtUpProgress(statusWith(slotAt('0/1300', 0), { topics: ['shop.hr.employees'], totalLag: 0 }), target).done).toBe(true);

    expect(caughtUpProgress(statusWith(slotAt('0/1000', 0x200), { topics: ['shop.hr.employees'], totalLag: 0 }), target)).toEqual({
      done: false,
      waitingFor: ["CDC to confirm the source's WAL (slot shop_cdc_slot 512 B behind)"],
    });
    expect(caughtUpProgress(statusWith(slotAt('0/1200', 0), { topics: ['shop.hr.employees'], totalLag: 17 }), target)).toEqual({
      done: false,
      waitingFor: ['bronze writer group shop-bronze (17 messages not stored yet)'],
    });
  });

  it('names what is missing before the capture has started', () => {
    const noSlot = { slotName: 'shop_cdc_slot', exists: false, active: false, activePid: null, confirmedFlushLsn: null, lagBytes: null, walStatus: null };
    expect(caughtUpProgress(statusWith(noSlot, { topics: [], totalLag: 0 }), null).waitingFor).toEqual([
      'replication slot shop_cdc_slot (not created yet: is the CDC service running?)',
      "the bronze writer's topics (none yet: has the CDC service created them?)",
    ]);
    expect(caughtUpProgress(statusWith(slotAt('0/1200', 0), null, 'broker 127.0.0.1:9092 unreachable'), 0x1200n).waitingFor).toEqual(['Kafka: broker 127.0.0.1:9092 unreachable']);
  });
});
