import { describe, expect, it } from 'vitest';
import { decideBackpressure } from './backpressure.ts';

const max = 32 * 1024 * 1024;

describe('decideBackpressure', () => {
  it('pauses above the limit and forces a segment out only when no flush would free memory', () => {
    expect(decideBackpressure({ bufferedBytes: max + 1, maxBufferedBytes: max, paused: false, unflushedSegments: 2 })).toEqual({ change: 'pause', sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: max + 1, maxBufferedBytes: max, paused: false, unflushedSegments: 0 })).toEqual({ change: 'pause', sealLargest: true });
    expect(decideBackpressure({ bufferedBytes: max + 1, maxBufferedBytes: max, paused: true, unflushedSegments: 0 })).toEqual({ change: null, sealLargest: true });
  });

  it('resumes only at half the limit (hysteresis), and never resumes what is not paused', () => {
    expect(decideBackpressure({ bufferedBytes: max / 2 + 1, maxBufferedBytes: max, paused: true, unflushedSegments: 1 })).toEqual({ change: null, sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: max / 2, maxBufferedBytes: max, paused: true, unflushedSegments: 1 })).toEqual({ change: 'resume', sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: 0, maxBufferedBytes: max, paused: false, unflushedSegments: 0 })).toEqual({ change: null, sealLargest: false });
    expect(decideBackpressure({ bufferedBytes: max, maxBufferedBytes: max, paused: false, unflushedSegments: 0 })).toEqual({ change: null, sealLargest: false });
  });
});
