import { describe, expect, it } from 'vitest';
import { outsidePosition } from './ack-tracker.ts';
import { OffsetContext } from './offset-context.ts';

describe('OffsetContext', () => {
  it('counts acknowledgements by token runs, in any order across transactions', () => {
    const o = new OffsetContext(10n, 10_000);
    const a = o.begin();
    o.dispatched(a, 3);
    o.commit(20n);
    const b = o.begin();
    o.dispatched(b, 2);
    o.commit(30n);
    expect(o.current()).toBeNull();
    o.acknowledged([b, null, a, b]); // null: snapshot rows, not tracked
    expect(o.confirmable()).toBe(10n);
    o.acknowledged([a, a]);
    expect(o.confirmable()).toBe(30n);
    expect(o.pendingPositions()).toBe(0);
  });

  it('rejects more acknowledgements than dispatched events', () => {
    const o = new OffsetContext(0n, 10_000);
    const a = o.begin();
    o.dispatched(a, 1);
    expect(() => o.acknowledged([a, a])).toThrow(/more acknowledgements than events/);
  });

  it('sends a status update when asked, when the LSN moved, or after the heartbeat interval', () => {
    const o = new OffsetContext(100n, 1_000);
    expect(o.statusUpdate(0, false)).toBe(100n); // first one
    expect(o.statusUpdate(500, false)).toBeNull();
    expect(o.statusUpdate(600, true)).toBe(100n); // the server asked
    o.keepalive(150n);
    expect(o.statusUpdate(700, false)).toBe(150n); // moved
    expect(o.statusUpdate(1_600, false)).toBeNull();
    expect(o.statusUpdate(1_700, false)).toBe(150n); // heartbeat
  });
});

describe('OffsetContext.hold (signals) and positions outside the stream (incremental snapshot chunks)', () => {
  it('a held point is confirmed only once released; a chunk token settles on its last acknowledgement', () => {
    const o = new OffsetContext(100n, 10_000);
    o.keepalive(110n);
    const release = o.hold(120n);
    o.keepalive(130n);
    expect(o.confirmable()).toBe(110n);
    release();
    release();
    expect(o.confirmable()).toBe(130n);
    let settled = 0;
    const chunk = outsidePosition(3, () => settled++);
    o.acknowledged([chunk, chunk]);
    expect(settled).toBe(0);
    o.acknowledged([chunk]);
    expect(settled).toBe(1);
    expect(o.confirmable()).toBe(130n);
  });
});
