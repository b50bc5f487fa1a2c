import { describe, expect, it } from 'vitest';
import { decideBackpressure } from './backpressure.ts';

const max = 32 * 1024 * 1024;

describe('decideBackpressure', () => {
  it('pauses above the limit and forces a segment out only when no flush would free memory', () => {
    expect(decideBackpressure({ bufferedBytes: max + 1, maxBufferedBytes: max, paused: false, unflushedSegments: 2, sealableOpen: true })).toEqual({ change: 'pause', sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: max + 1, maxBufferedBytes: max, paused: false, unflushedSegments: 0, sealableOpen: true })).toEqual({ change: 'pause', sealLargest: true });
    expect(decideBackpressure({ bufferedBytes: max + 1, maxBufferedBytes: max, paused: true, unflushedSegments: 0, sealableOpen: true })).toEqual({ change: null, sealLargest: true });
  });

  it('resumes only at half the limit (hysteresis), and never resumes what is not paused', () => {
    expect(decideBackpressure({ bufferedBytes: max / 2 + 1, maxBufferedBytes: max, paused: true, unflushedSegments: 1, sealableOpen: true })).toEqual({ change: null, sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: max / 2, maxBufferedBytes: max, paused: true, unflushedSegments: 1, sealableOpen: true })).toEqual({ change: 'resume', sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: 0, maxBufferedBytes: max, paused: false, unflushedSegments: 0, sealableOpen: true })).toEqual({ change: null, sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: max, maxBufferedBytes: max, paused: false, unflushedSegments: 0, sealableOpen: true })).toEqual({ change: null, sealLargest: false });
  });

  it('never pauses for memory held only by segments waiting for their recorded ends (a replay): reading on frees it', () => {
    expect(decideBackpressure({ bufferedBytes: max + 1, maxBufferedBytes: max, paused: false, unflushedSegments: 0, sealableOpen: false })).toEqual({ change: null, sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: max + 1, maxBufferedBytes: max, paused: true, unflushedSegments: 0, sealableOpen: false })).toEqual({ change: 'resume', sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: max + 1, maxBufferedBytes: max, paused: false, unflushedSegments: 1, sealableOpen: false })).toEqual({ change: 'pause', sealLargest: false });
  });
});
