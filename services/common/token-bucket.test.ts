import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('lets one post per second through at 1/s', () => {
    const pacer = new TokenBucket(1, 1, 0);
    expect(pacer.waitMs(0)).toBe(0);
    pacer.take(0);
    expect(pacer.waitMs(0)).toBe(1_000);
    expect(pacer.waitMs(400)).toBe(600);
    expect(pacer.waitMs(1_000)).toBe(0);
    pacer.take(1_000);
    expect(pacer.waitMs(1_500)).toBe(500);
  });
  it('allows a burst, then paces', () => {
    const pacer = new TokenBucket(2, 3, 0);
    for (let i = 0; i < 3; i++) {
      expect(pacer.waitMs(0)).toBe(0);
      pacer.take(0);
    }
    expect(pacer.waitMs(0)).toBe(500);
  });
  it('holds every post until Retry-After is over, then lets one through', () => {
    const pacer = new TokenBucket(1, 5, 0);
    pacer.take(0);
    pacer.holdUntil(30_000);
    expect(pacer.waitMs(1_000)).toBe(29_000);
    expect(pacer.waitMs(30_000)).toBe(0);
    pacer.take(30_000);
    expect(pacer.waitMs(30_000)).toBe(1_000);
  });
});
