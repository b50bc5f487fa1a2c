/**
 * The offset ranges earlier runs recorded in the manifest for one topic-partition, read lazily
 * from the lake so that a restarted or replayed writer rotates where the earlier run did and
 * rewrites the same object keys (see segment.ts, {@link Boundary}).
 */
import type { LakeStorage } from '../common/lake-storage.ts';
import type { Logger } from '../common/logger.ts';
import { manifestPrefix, manifestStartAfter, parseManifestKey } from '../common/contracts/bronze-object.ts';
import { boundaryFor, type Boundary } from './segment.ts';

/** Manifest entries listed per request. */
const PAGE = 1000;

export class RecordedRanges {
  private ranges: { firstOffset: number; lastOffset: number }[] = [];
  private lastListedKey: string | undefined;
  /** True once the listing reached the end: later ranges can only be this writer's own. */
  private exhausted = false;

  constructor(
    private readonly lake: LakeStorage,
    private readonly topic: string,
    private readonly partition: number,
    private readonly logger: Logger,
  ) {}

  /**
   * The boundary for a segment starting at `firstOffset` (offsets only grow between calls).
   * A listing failure (storage unreachable) yields no boundary rather than blocking consumption:
   * the file then gets a new key and its rows duplicate, by (topic, partition, offset), rows
   * that silver removes.
   */
  async boundaryFor(firstOffset: number): Promise<Boundary> {
    for (;;) {
      while (this.ranges.length > 0 && this.ranges[0]!.firstOffset < firstOffset) this.ranges.shift();
      if (this.ranges.length > 0 || this.exhausted) return boundaryFor(firstOffset, this.ranges);
      try {
        await this.listPage(firstOffset);
      } catch (err) {
        this.logger.warn({ err, topic: this.topic, partition: this.partition }, 'cannot list the bronze manifest; rotating without recorded boundaries');
        return {};
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
