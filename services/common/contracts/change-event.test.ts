import { describe, expect, it } from 'vitest';
import { checkChangeMessage, decodeChangeEvent, UndecodableEventError } from './change-event.ts';

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

describe('checkChangeMessage (the envelope checks of every consumer, issue 14)', () => {
  const insert = (after: Record<string, unknown>) => JSON.stringify({ before: null, after, source, op: 'c', ts_ms: 1 });
  const key = ['activity_id'];
  const verdict = (k: string | Buffer | null, v: string | Buffer | null, columns?: readonly string[]) => {
    const out = checkChangeMessage({ key: k, value: v }, columns);
    return out.kind === 'event' ? (out.event === null ? 'tombstone' : out.event.op) : out.reason;
  };

  it('accepts an event whose key is the table key and matches the row image, a tombstone with its key, a truncate without key', () => {
    expect(verdict('{"activity_id":1}', insert({ activity_id: 1, sport_type: 'Vélo' }), key)).toBe('c');
    expect(verdict('{"activity_id":1}', null, key)).toBe('tombstone');
    expect(verdict(null, JSON.stringify({ before: null, after: null, source, op: 't', ts_ms: 1 }), key)).toBe('t');
    expect(verdict('{"activity_id":1}', JSON.stringify({ before: { activity_id: 1 }, after: null, source, op: 'd', ts_ms: 1 }), key)).toBe('d');
    expect(verdict(null, insert({ id: 1 }), [])).toBe('c');
    expect(verdict(null, insert({ id: 1 }))).toBe('c');
  });

  it('dead-letters a c event with a null key on a keyed table (it became a phantom row in silver)', () => {
    expect(checkChangeMessage({ key: null, value: insert({ activity_id: 1 }) }, key)).toEqual({ kind: 'dead-letter', reason: 'missing_key', detail: "no key; the table's key is (activity_id)" });
    expect(verdict(Buffer.alloc(0), insert({ activity_id: 1 }), key)).toBe('missing_key');
    expect(verdict(null, null, key)).toBe('missing_key');
  });

  it('dead-letters a key that is not JSON (the notifier posted it), not an object, or not the table key', () => {
    expect(verdict('activity-1', insert({ activity_id: 1 }), key)).toBe('invalid_key');
    expect(verdict('activity-1', insert({ activity_id: 1 }))).toBe('invalid_key');
    expect(verdict(Buffer.from([0xff, 0xfe]), insert({ activity_id: 1 }), key)).toBe('invalid_key');
    expect(verdict('1', insert({ activity_id: 1 }), key)).toBe('invalid_key');
    expect(verdict('{"id":1}', insert({ activity_id: 1 }), key)).toBe('key_mismatch');
    expect(verdict('{"activity_id":1,"x":2}', insert({ activity_id: 1 }), key)).toBe('key_mismatch');
    expect(verdict('{"id":1}', insert({ id: 1 }), [])).toBe('key_mismatch');
  });

  it('dead-letters a row image that disagrees with its key', () => {
    expect(checkChangeMessage({ key: '{"activity_id":2}', value: insert({ activity_id: 1 }) }, key)).toEqual({ kind: 'dead-letter', reason: 'key_mismatch', detail: 'key activity_id=2 but the after image has 1' });
    expect(verdict('{"activity_id":1}', insert({ sport_type: 'Vélo' }), key)).toBe('key_mismatch');
    expect(verdict('{"activity_id":"1"}', insert({ activity_id: 1 }), key)).toBe('key_mismatch');
    expect(verdict('{"activity_id":2}', JSON.stringify({ before: { activity_id: 1 }, after: null, source, op: 'd', ts_ms: 1 }), key)).toBe('key_mismatch');
  });

  it('dead-letters an empty value (it was skipped silently as a tombstone), an unknown op, undecodable values', () => {
    expect(checkChangeMessage({ key: '{"activity_id":1}', value: Buffer.alloc(0) }, key)).toEqual({ kind: 'dead-letter', reason: 'empty_value', detail: 'empty value (a tombstone has a null value)' });
    expect(verdict('{"activity_id":1}', '')).toBe('empty_value');
    const unknownOp = checkChangeMessage({ key: '{"activity_id":1}', value: JSON.stringify({ before: null, after: { activity_id: 1 }, source, op: 'x' }) }, key);
    expect(unknownOp).toMatchObject({ kind: 'dead-letter', reason: 'invalid_envelope', detail: expect.stringContaining('unknown op "x"') });
    expect(verdict('{"activity_id":1}', '{', key)).toBe('invalid_json');
    expect(verdict('{"activity_id":1}', Buffer.from([0x7b, 0xff]), key)).toBe('invalid_json');
  });
});
