/**
 * The bronze writer's back-pressure rule (pure): consumption pauses when the bytes it holds
 * (messages received but not yet packed, open segments, sealed segments not yet stored) exceed
 * `BRONZE_MAX_BUFFERED_BYTES`, and resumes once they fall to half of it, so it does not flap.
 * While paused with nothing being written, nothing would ever free memory: the largest open
 * segment must then be sealed ("forced") and written. A segment that follows a recorded range
 * (a replay) may not be cut early (segment.ts): when only such segments hold the memory, the only
 * way to free it is to read on to their recorded ends, so consumption is not paused (the writer
 * then holds more than the limit, by at most the size of those recorded ranges).
 */

/** What the writer holds and whether it is paused. */
export interface BackpressureInput {
  bufferedBytes: number;
  maxBufferedBytes: number;
  paused: boolean;
  /** Sealed segments not stored yet (their flushes will free memory). */
  unflushedSegments: number;
  /** An open segment exists that may be sealed early (one not waiting for its recorded end). */
  sealableOpen: boolean;
}

/** `pause`/`resume`: change the consumption state; `sealLargest`: force the largest open segment out. */
export interface BackpressureDecision {
  change: 'pause' | 'resume' | null;
  sealLargest: boolean;
}

/** The decision for `input` (see the module documentation). */
export function decideBackpressure(input: BackpressureInput): BackpressureDecision {
  if (input.bufferedBytes > input.maxBufferedBytes) {
    // Pausing helps only if something will free memory: a flush under way, or a segment to force out.
    if (input.unflushedSegments === 0 && !input.sealableOpen) return { change: input.paused ? 'resume' : null, sealLargest: false };
    return { change: input.paused ? null : 'pause', sealLargest: input.unflushedSegments === 0 };
  }
  if (input.paused && input.bufferedBytes <= input.maxBufferedBytes / 2) return { change: 'resume', sealLargest: false };
  return { change: null, sealLargest: false };
}
