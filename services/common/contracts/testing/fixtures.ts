/**
 * Test fixtures for the contracts: a valid value of each record, to be overridden field by field,
 * so every test writes files exactly as the producers do (through the contract's writer).
 */
import type { RunLogEntry } from '../run-log.ts';

/** A valid run_log record (a successful full run of 4.5 s, no inputs), with `over` applied. */
export function runLogEntryFixture(over: Partial<RunLogEntry> = {}): RunLogEntry {
  return {
    runId: 'r1',
    batch: 1,
    status: 'success',
    mode: 'full',
    startedAt: new Date('2026-06-30T12:00:00.000Z'),
    finishedAt: new Date('2026-06-30T12:00:04.500Z'),
    asOf: new Date('2026-06-30T12:00:00.000Z'),
    rulesFile: 'config/rules.json',
    rulesVersion: 'v1',
    paramsHash: 'h',
    params: {},
    bronzeInputs: [],
    rowCounts: {},
    quality: { checks: 0, passed: 0, skipped: 0, errors: [], warnings: [] },
    bonusCostEur: null,
    wellbeingCostEur: null,
    goldDb: 'data/gold.duckdb',
    reportFile: null,
    error: null,
    trigger: 'manual',
    attempt: 1,
    retryOf: null,
    completeThrough: null,
    published: null,
    ...over,
  };
}
