import { describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { encodeRunLogLine, parseRunLogLine } from '../common/contracts/run-log.ts';
import { fullSchedule, retryDelayMs, skippedEntry, WatchConfigError } from './watch.ts';

describe('refresh watch settings', () => {
  it('reads the full-refresh schedule in its time zone; none when empty', () => {
    const cron = fullSchedule(loadConfig({ REFRESH_FULL_CRON: '30 2 * * *', REFRESH_CRON_TIMEZONE: 'Europe/Paris' }))!;
    // 02:30 in Paris in winter is 01:30 UTC.
    expect(cron.nextRun(new Date('2026-12-05T00:00:00Z'))!.toISOString()).toBe('2026-12-05T01:30:00.000Z');
    expect(fullSchedule(loadConfig({ REFRESH_FULL_CRON: 'off' }))).toBeNull();
  });

  it('names the variable of an invalid cron expression or time zone', () => {
    expect(() => fullSchedule(loadConfig({ REFRESH_FULL_CRON: '61 * * * *' }))).toThrow(WatchConfigError);
    expect(() => fullSchedule(loadConfig({ REFRESH_FULL_CRON: '61 * * * *' }))).toThrow(/^REFRESH_FULL_CRON "61 \* \* \* \*"/);
    expect(() => fullSchedule(loadConfig({ REFRESH_CRON_TIMEZONE: 'Mars/Olympus' }))).toThrow(/REFRESH_CRON_TIMEZONE Mars\/Olympus/);
  });

  it('backs off exponentially from the minimum, capped at the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => retryDelayMs(a, 5_000, 120_000))).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 120_000, 120_000]);
  });

  it('logs a skipped run as a run_log record the contract accepts', () => {
    const config = loadConfig({});
    const entry = skippedEntry(config, 'bronze', 'incremental', 'another refresh is running', new Date('2026-12-05T03:00:00.123Z'));
    const back = parseRunLogLine(encodeRunLogLine(entry));
    expect(back).toMatchObject({ runId: 'skipped-20261205T030000Z', status: 'skipped', trigger: 'bronze', error: 'another refresh is running', batch: 0, completeThrough: null });
  });
});
