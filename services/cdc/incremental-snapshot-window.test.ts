import { describe, expect, it } from 'vitest';
import type { OutgoingEvent } from './change-mapper.ts';
import { ChunkWindows } from './incremental-snapshot-window.ts';

const row = (topic: string, id: number): OutgoingEvent => ({ topic, key: `{"id":${id}}`, value: `{"op":"r","id":${id}}`, lsn: 100n, op: 'r' });
const change = (topic: string, id: number, op: OutgoingEvent['op'] = 'u'): OutgoingEvent => ({ topic, key: `{"id":${id}}`, value: '{}', lsn: 150n, op });

describe('DBLog chunk windows', () => {
  it('drops the chunk rows whose key changed between the watermarks and emits the others at the high watermark', async () => {
    const w = new ChunkWindows();
    const outcome = w.expect('ab12cd34ef567890-1', 't');
    w.observe([change('t', 1)]); // before the low watermark: the chunk read sees it
    w.watermark({ kind: 'open', chunk: 'ab12cd34ef567890-1' });
    expect(w.isOpen()).toBe(true);
    w.observe([change('t', 2), change('other', 3), change('t', 4, 'd'), { ...change('t', 4), key: null, op: 'tombstone', value: null }]);
    w.fill('ab12cd34ef567890-1', [1, 2, 3, 4, 5].map((id) => row('t', id)));
    w.observe([change('t', 5)]); // still inside the window (the high watermark is not met yet)
    const closed = w.watermark({ kind: 'close', chunk: 'ab12cd34ef567890-1' });
    expect(closed).toMatchObject({ kind: 'emitted', superseded: 3 });
    expect(closed?.kind === 'emitted' ? closed.events.map((e) => e.key) : []).toEqual(['{"id":1}', '{"id":3}']);
    await expect(outcome).resolves.toBe(closed);
    expect(w.isOpen()).toBe(false);
    w.observe([change('t', 1)]); // after the window: nothing to drop any more
    expect(w.pending()).toBe(0);
  });

  it('a TRUNCATE inside the window drops the whole chunk', () => {
    const w = new ChunkWindows();
    void w.expect('c-1'.replace('c', 'ab12cd34ef567890'), 't');
    w.watermark({ kind: 'open', chunk: 'ab12cd34ef567890-1' });
    w.observe([{ topic: 't', key: null, value: '{}', lsn: 1n, op: 't', allPartitions: true }]);
    w.fill('ab12cd34ef567890-1', [row('t', 1), row('t', 2)]);
    expect(w.watermark({ kind: 'close', chunk: 'ab12cd34ef567890-1' })).toEqual({ kind: 'emitted', events: [], superseded: 2 });
  });

  it('ignores watermarks of chunks it did not announce; a window without its low watermark is read again', async () => {
    const w = new ChunkWindows();
    expect(w.watermark({ kind: 'open', chunk: 'ffffffffffffffff-9' })).toBeNull();
    expect(w.isOpen()).toBe(false);
    const outcome = w.expect('ab12cd34ef567890-2', 't');
    w.fill('ab12cd34ef567890-2', [row('t', 1)]);
    expect(w.watermark({ kind: 'close', chunk: 'ab12cd34ef567890-2' })).toEqual({ kind: 'retry', reason: 'the low watermark was not seen in the stream' });
    await expect(outcome).resolves.toMatchObject({ kind: 'retry' });
    const abandoned = w.expect('ab12cd34ef567890-3', 't');
    w.abandon('session closed');
    await expect(abandoned).resolves.toEqual({ kind: 'retry', reason: 'session closed' });
    expect(() => w.fill('ab12cd34ef567890-3', [])).toThrow('was not announced');
  });
});
