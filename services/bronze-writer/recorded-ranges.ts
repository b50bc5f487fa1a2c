/**
 * The offset ranges earlier runs recorded in the manifest for one topic-partition, read lazily
 * from the lake so that a restarted or replayed writer rotates where the earlier run did and
 * rewrites the same object keys (see segment.ts, {@link Boundary}).
 */
import type { LakeStorage } from '../common/lake-storage.ts';
import { manifestPrefix, manifestStartAfter, parseManifestKey } from '../common/contracts/bronze-object.ts';
import { boundaryFor, type Boundary } from './segment.ts';

/** Manifest entries listed per request. */
const PAGE = 1000;

export class RecordedRanges {
  private ranges: { firstOffset: number; lastOffset: number }[] = [];
  private lastListedKey: string | undefined;
  /** True once the listing reached the end: later ranges can only be this writer's own. */
  private exhausted = false;

  /**
   * @param retrying runs an operation until it succeeds (the writer's storage retry policy);
   *   rejects only when the writer is shutting down.
   */
  constructor(
    private readonly lake: LakeStorage,
    private readonly topic: string,
    private readonly partition: number,
    private readonly retrying: <T>(what: string, op: () => Promise<T>) => Promise<T>,
  ) {}

  /**
   * The boundary for a segment starting at `firstOffset` (offsets only grow between calls).
   * A listing failure (storage unreachable) is retried until the listing succeeds: rotating
   * without the recorded boundaries would give a replayed range new keys and overlapping
   * manifests (issue 14), and nothing can be stored meanwhile anyway. At shutdown: no boundary
   * (the segment is not stored then).
   */
  async boundaryFor(firstOffset: number): Promise<Boundary> {
    for (;;) {
      while (this.ranges.length > 0 && this.ranges[0]!.firstOffset < firstOffset) this.ranges.shift();
      if (this.ranges.length > 0 || this.exhausted) return boundaryFor(firstOffset, this.ranges);
      try {
        await this.retrying(`list the bronze manifest of ${this.topic}/${this.partition}`, () => this.listPage(firstOffset));
      } catch {
        return {}; // shutting down
      }
    }
  }

  private async listPage(firstOffset: number): Promise<void> {
    const fromOffset = manifestStartAfter(this.topic, this.partition, firstOffset);
    const startAfter = this.lastListedKey !== undefined && this.lastListedKey > fromOffset ? this.lastListedKey : fromOffset;
    let count = 0;
    for await (const object of this.lake.list(manifestPrefix(this.topic, this.partition), { startAfter })) {
      this.lastListedKey = object.key;
      const range = parseManifestKey(object.key);
      if (range) this.ranges.push(range);
      if (++count >= PAGE) return;
    }
    this.exhausted = true;
  }
}
