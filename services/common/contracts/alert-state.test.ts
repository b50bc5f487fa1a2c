import { describe, expect, it } from 'vitest';
import { encodeAlertState, parseAlertState, type SavedAlertState } from './alert-state.ts';

const condition = { key: 'consumer_lag:bronze-writer', rule: 'consumer_lag' as const, severity: 'warning' as const, summary: 'behind', labels: { group: 'bronze-writer' } };
const saved: SavedAlertState = {
  version: 1,
  alerts: { [condition.key]: { condition, state: 'firing', since: 1_000, firedAt: 61_000 } },
  outbox: [{ kind: 'firing', condition, since: 1_000, at: 61_000 }],
};

describe('alert state contract', () => {
  it('reads back what it writes', () => {
    expect(parseAlertState(encodeAlertState(saved))).toEqual(saved);
  });

  it('rejects an unknown rule, state or version instead of casting', () => {
    const text = (over: object) => JSON.stringify({ ...saved, ...over });
    expect(() => parseAlertState(text({ version: 2 }))).toThrow('alert state: version: Invalid input: expected 1');
    expect(() => parseAlertState(text({ outbox: [{ ...saved.outbox[0], condition: { ...condition, rule: 'disk_full' } }] }))).toThrow('outbox[0].condition.rule: Invalid option');
    expect(() => parseAlertState(text({ alerts: { k: { condition, state: 'snoozed', since: 1 } } }))).toThrow('alerts.k.state: Invalid option');
    expect(() => parseAlertState('{')).toThrow('alert state: not valid JSON');
  });
});
