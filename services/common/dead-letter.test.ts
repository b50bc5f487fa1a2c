import { describe, expect, it } from 'vitest';
import { deadLetterMessage, deadLetterTopic } from './dead-letter.ts';

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
