import { describe, expect, it } from 'vitest';
import { backoffMs, classifyFailure, parseRetryAfter } from './delivery.ts';

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP-dates', () => {
    expect(parseRetryAfter('30')).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(5_000);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
  });
});

describe('classifyFailure', () => {
  it('waits on 429, retries 5xx/408/no response, dead-letters other 4xx', () => {
    expect(classifyFailure(429, 'rate_limited', 2_000)).toEqual({ kind: 'rate-limited', retryAfterMs: 2_000 });
    expect(classifyFailure(429, '', null, 1_000)).toEqual({ kind: 'rate-limited', retryAfterMs: 1_000 });
    expect(classifyFailure(500, 'oops', null)).toMatchObject({ kind: 'transient' });
    expect(classifyFailure(503, '', null)).toMatchObject({ kind: 'transient' });
    expect(classifyFailure(408, '', null)).toMatchObject({ kind: 'transient' });
    expect(classifyFailure(undefined, 'ECONNREFUSED', null)).toMatchObject({ kind: 'transient' });
    expect(classifyFailure(400, 'invalid_blocks', null)).toEqual({ kind: 'permanent', reason: 'slack_http_400', detail: 'HTTP 400: invalid_blocks' });
    expect(classifyFailure(404, 'no_service', null)).toMatchObject({ kind: 'permanent', reason: 'slack_http_404' });
    expect(classifyFailure(410, 'channel_is_archived', null)).toMatchObject({ kind: 'permanent', reason: 'slack_http_410' });
  });
});

describe('backoffMs', () => {
  it('doubles from the minimum up to the cap', () => {
    expect([0, 1, 2, 3, 10].map((r) => backoffMs(r, 1_000, 5_000))).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
  });
});
