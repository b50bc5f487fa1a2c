import { describe, expect, it } from 'vitest';
import { AckTracker } from './ack-tracker.ts';

describe('AckTracker', () => {
  it('confirms a transaction only when all its events are acknowledged and it is committed', () => {
    const t = new AckTracker(100n);
    const tx = t.open();
    t.add(tx, 3);
    t.ack(tx, 3);
    expect(t.confirmable()).toBe(100n); // acknowledged but not committed yet
    t.close(tx, 200n);
    expect(t.confirmable()).toBe(200n);
  });

  it('never confirms past an earlier transaction with unacknowledged events', () => {
    const t = new AckTracker(0n);
    const a = t.open();
    t.add(a, 2);
    t.close(a, 10n);
    const b = t.open();
    t.add(b, 1);
    t.close(b, 20n);
    t.ack(b);
    expect(t.confirmable()).toBe(0n);
    t.ack(a);
    expect(t.confirmable()).toBe(0n);
    t.ack(a);
    expect(t.confirmable()).toBe(20n);
  });

  it('lets keepalives advance an idle stream, but only behind pending transactions', () => {
    const t = new AckTracker(50n);
    t.marker(60n);
    expect(t.confirmable()).toBe(60n);
    const tx = t.open();
    t.add(tx);
    t.close(tx, 70n);
    t.marker(80n);
    t.marker(90n);
    expect(t.confirmable()).toBe(60n);
    expect(t.pendingPositions()).toBe(2); // the two markers collapsed
    t.ack(tx);
    expect(t.confirmable()).toBe(90n);
    expect(t.pendingPositions()).toBe(0);
  });

  it('keeps a marker inside an open transaction behind that transaction', () => {
    const t = new AckTracker(0n);
    const tx = t.open();
    t.add(tx, 1000);
    t.marker(40n); // keepalive sent while the transaction's changes stream
    expect(t.confirmable()).toBe(0n);
    t.ack(tx, 1000);
    t.close(tx, 100n);
    expect(t.confirmable()).toBe(100n);
  });

  it('never goes backwards and rejects inconsistent use', () => {
    const t = new AckTracker(500n);
    t.marker(400n);
    expect(t.confirmable()).toBe(500n);
    const tx = t.open();
    t.close(tx, 600n);
    expect(() => t.close(tx, 700n)).toThrow(/closed twice/);
    expect(() => t.ack(tx)).toThrow(/more acknowledgements/);
  });

  it('stays compact over many transactions', () => {
    const t = new AckTracker(0n);
    for (let i = 1; i <= 10_000; i++) {
      const tx = t.open();
      t.add(tx);
      t.close(tx, BigInt(i));
      t.ack(tx);
    }
    expect(t.confirmable()).toBe(10_000n);
    expect(t.pendingPositions()).toBe(0);
  });
});
