import { describe, expect, it } from 'vitest';
import { Health } from './health.ts';

describe('Health: /healthz and one warning per outage', () => {
  it('is unhealthy while starting, healthy while snapshotting or streaming', () => {
    const h = new Health(0);
    expect(h.report(0)).toEqual({ httpStatus: 503, body: { status: 'unhealthy', state: 'starting', since: '1970-01-01T00:00:00.000Z' } });
    h.snapshotting(1_000);
    expect(h.report(1_000).httpStatus).toBe(200);
    expect(h.streaming(2_000)).toBeNull();
    expect(h.report(2_000)).toEqual({ httpStatus: 200, body: { status: 'ok', state: 'streaming', since: '1970-01-01T00:00:02.000Z' } });
  });

  it('an outage opens at the first failure, counts the attempts, and ends when streaming again', () => {
    const h = new Health(0);
    h.streaming(0);
    expect(h.failed('postgres', '57P01: terminating connection', 10_000)).toBe(true);
    h.connecting(10_500); // still recovering while reconnecting
    expect(h.failed('postgres', 'connect ECONNREFUSED', 11_000)).toBe(false);
    expect(h.failed('postgres', 'the database system is starting up', 13_000)).toBe(false);
    expect(h.report(15_000)).toEqual({
      httpStatus: 503,
      body: {
        status: 'unhealthy', state: 'recovering', since: '1970-01-01T00:00:10.000Z',
        outage: { component: 'postgres', reason: 'the database system is starting up', since: '1970-01-01T00:00:10.000Z', attempts: 3, seconds: 5 },
      },
    });
    expect(h.streaming(16_000)).toEqual({ component: 'postgres', reason: 'the database system is starting up', since: 10_000, attempts: 3 });
    expect(h.report(16_000).httpStatus).toBe(200);
    expect(h.failed('kafka', 'ECONNREFUSED', 20_000)).toBe(true); // a new outage
  });

  it('is unhealthy while stopping', () => {
    const h = new Health(0);
    h.streaming(0);
    h.stopping(5);
    expect(h.report(5).body).toMatchObject({ status: 'unhealthy', state: 'stopping' });
  });
});
