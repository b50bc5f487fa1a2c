import { describe, expect, it } from 'vitest';
import { decodeChangeEvent, UndecodableEventError } from './change-event.ts';

const source = { version: '0.1.0', connector: 'postgresql', name: 'sport', ts_ms: 1_700_000_000_000, snapshot: 'false', db: 'sport', schema: 'public', table: 'activities', txId: 7, lsn: 42, xmin: null };

describe('decodeChangeEvent', () => {
  it('decodes the Debezium envelope of docs/contracts/change-events.md', () => {
    const value = JSON.stringify({ before: null, after: { activity_id: 1 }, source, op: 'c', ts_ms: 1_700_000_000_123 });
    expect(decodeChangeEvent(Buffer.from(value))).toEqual({ before: null, after: { activity_id: 1 }, source, op: 'c', ts_ms: 1_700_000_000_123 });
  });
  it('returns null for a tombstone', () => {
    expect(decodeChangeEvent(null)).toBeNull();
    expect(decodeChangeEvent(Buffer.alloc(0))).toBeNull();
  });
  it('rejects what is not an envelope, with a stable reason', () => {
    const reason = (v: string) => {
      try {
        decodeChangeEvent(v);
      } catch (err) {
        return (err as UndecodableEventError).reason;
      }
      return null;
    };
    expect(reason('{')).toBe('invalid_json');
    expect(reason('[1]')).toBe('invalid_envelope');
    expect(reason(JSON.stringify({ op: 'x', source }))).toBe('invalid_envelope');
    expect(reason(JSON.stringify({ op: 'c', source: {} }))).toBe('invalid_envelope');
    expect(reason(JSON.stringify({ op: 'c', before: null, after: null, source }))).toBe('invalid_envelope');
    expect(reason(JSON.stringify({ op: 'd', before: null, after: null, source }))).toBe('invalid_envelope');
  });
});
