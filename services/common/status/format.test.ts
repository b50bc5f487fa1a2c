import { describe, expect, it } from 'vitest';
import { runLogEntryFixture } from '../contracts/testing/fixtures.ts';
import { batchRunOf } from './batch-state.ts';
import { formatAge, formatBytes, formatPipelineStatus } from './format.ts';
import type { PipelineStatus } from './pipeline-status.ts';

const run = batchRunOf(runLogEntryFixture({ bonusCostEur: 12000.5, wellbeingCostEur: 3000 }));

describe('formatting', () => {
  it('formats bytes and ages', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(64 * 1024 * 1024)).toBe('64.0 MiB');
    const now = new Date('2026-06-30T12:00:00Z');
    expect(formatAge('2026-06-30T11:59:18Z', now)).toBe('42 s');
    expect(formatAge('2026-06-30T11:55:00Z', now)).toBe('5 min');
    expect(formatAge('2026-06-30T08:48:00Z', now)).toBe('3.2 h');
    expect(formatAge('2026-06-28T12:00:00Z', now)).toBe('2.0 d');
  });

  it('prints the status for a terminal, with unreachable parts named', () => {
    const status: PipelineStatus = {
      checkedAt: '2026-06-30T12:00:00.000Z',
      kafka: {
        error: null,
        groups: [
          {
            groupId: 'bronze-writer',
            service: 'bronze-writer',
            topics: ['sport.public.activities'],
            partitions: [{ topic: 'sport.public.activities', partition: 0, committed: 90, high: 1290, low: 0, lag: 1200 }],
            totalLag: 1200,
            liveness: { groupId: 'bronze-writer', state: 'Empty', members: 0, live: false },
          },
        ],
        deadLetters: [{ topic: 'sport.public.activities.dlq', messages: 2 }],
      },
      replicationSlot: { slotName: 'sport_cdc_slot', error: 'connect ECONNREFUSED 127.0.0.1:5432' },
      batch: {
        runLogFile: 'x',
        lastRun: run,
        lastSuccess: run,
        runsByStatus: { success: 1, failed_quality: 0, failed: 0, interrupted: 0, skipped: 0 },
        quality: null,
        gold: { file: 'data/gold.duckdb', exists: false, modifiedAt: null, sizeBytes: null },
      },
    };
    expect(formatPipelineStatus(status)).toEqual([
      'Consumer groups (lag = messages not yet consumed)',
      '  bronze-writer            lag      1,200   no live member (Empty)',
      '    sport.public.activities[0]  committed 90  high 1290  lag 1,200',
      'Dead-letter topics',
      '  sport.public.activities.dlq              2 message(s)',
      'Replication slot',
      '  sport_cdc_slot: PostgreSQL unreachable: connect ECONNREFUSED 127.0.0.1:5432',
      'Batch',
      '  last refresh       r1 success (full), finished 2026-06-30T12:00:04.500Z (0 s ago), 4.5 s',
      '  last success       r1 success (full), finished 2026-06-30T12:00:04.500Z (0 s ago), 4.5 s',
      '  costs              bonus 12000.5 EUR, well-being 3000 EUR',
      '  quality            no report yet',
      '  gold               data/gold.duckdb (not built yet)',
    ]);
  });
});
