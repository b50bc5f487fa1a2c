import { describe, expect, it } from 'vitest';
import { decodeChangeEvent, UndecodableEventError } from './change-event.ts';
import { deadLetterMessage, deadLetterTopic } from './dead-letter.ts';

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

describe('deadLetterMessage', () => {
  it('keeps key, value and headers and adds the reason headers', () => {
    const message = deadLetterMessage(
      { topic: 'sport.public.activities', partition: 2, offset: '17', key: '{"activity_id":1}', value: '{', headers: { trace: 'abc' } },
      'slack-notifier',
      'invalid_json',
      'value is not JSON',
      new Date('2024-05-02T07:00:00Z'),
    );
    expect(message).toEqual({
      key: '{"activity_id":1}',
      value: '{',
      headers: {
        trace: 'abc',
        'dlq.reason': 'invalid_json',
        'dlq.detail': 'value is not JSON',
        'dlq.service': 'slack-notifier',
        'dlq.source.topic': 'sport.public.activities',
        'dlq.source.partition': '2',
        'dlq.source.offset': '17',
        'dlq.failed_at': '2024-05-02T07:00:00.000Z',
      },
    });
    expect(deadLetterTopic('sport.public.activities')).toBe('sport.public.activities.dlq');
  });
});
