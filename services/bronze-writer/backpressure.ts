/**
 * The bronze writer's back-pressure rule (pure): consumption pauses when the bytes it holds
 * (messages received but not yet packed, open segments, sealed segments not yet stored) exceed
 * `BRONZE_MAX_BUFFERED_BYTES`, and resumes once they fall to half of it, so it does not flap.
 * While paused with nothing being written, nothing would ever free memory: the largest open
 * segment must then be sealed ("forced") and written.
 */

/** What the writer holds and whether it is paused. */
export interface BackpressureInput {
  bufferedBytes: number;
  maxBufferedBytes: number;
  paused: boolean;
  /** Sealed segments not stored yet (their flushes will free memory). */
  unflushedSegments: number;
}

/** `pause`/`resume`: change the consumption state; `sealLargest`: force the largest open segment out. */
export interface BackpressureDecision {
  change: 'pause' | 'resume' | null;
  sealLargest: boolean;
}

/** The decision for `input` (see the module documentation). */
export function decideBackpressure(input: BackpressureInput): BackpressureDecision {
  if (input.bufferedBytes > input.maxBufferedBytes) return { change: input.paused ? null : 'pause', sealLargest: input.unflushedSegments === 0 };
  if (input.paused && input.bufferedBytes <= input.maxBufferedBytes / 2) return { change: 'resume', sealLargest: false };
  return { change: null, sealLargest: false };
}
