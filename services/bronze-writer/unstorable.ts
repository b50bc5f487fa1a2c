/**
 * Telling a message bronze cannot store from an encoder that cannot work right now (issue 14:
 * one message must never block a partition, and an outage must never dead-letter good data).
 *
 * When encoding a segment keeps failing (after the writer's few plain attempts), the segment is
 * bisected: halves that encode are fine, a half that fails is split again, down to single
 * messages. A single message that fails twice in a row cannot be stored, whatever retrying does:
 * it goes to the dead-letter topic with reason {@link UNSTORABLE} and the encoder's error as
 * detail, and the segment is encoded without it (its offset stays inside the file's range, like
 * any dead letter). If every message fails on its own, a valid canary message is tried: when even
 * that fails, the encoder itself is broken (no memory, no disk for its temporary files), nothing
 * is dead-lettered and the caller keeps retrying (transient).
 *
 * Cost: a segment with k bad messages out of n is encoded about 2k·log2(n) times, once; a segment
 * that encodes when this runs costs one encoding.
 */
import type { Undecodable } from './bronze-row.ts';
import type { EncodedSegment } from './encoder-pool.ts';
import { SegmentBuilder, subSegment, SPANS_PER_MESSAGE, type Segment } from './segment.ts';

/** Dead-letter reason of a decodable message that the Parquet encoder refuses. */
export const UNSTORABLE = 'unstorable';

/** Encodes one segment (the writer's encoder); throws when it cannot. */
export type EncodeFn = (segment: Segment) => Promise<EncodedSegment>;

/** Thrown when the encoder fails on a valid canary message too: the failure is the encoder's, not the data's. */
export class EncoderUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the Parquet encoder fails on a valid message too (not a data problem; retrying): ${messageOf(cause)}`, { cause });
    this.name = 'EncoderUnavailableError';
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A one-message segment of the same topic-partition that any working encoder stores. */
export function canarySegment(segment: Pick<Segment, 'topic' | 'partition'>): Segment {
  const builder = new SegmentBuilder(segment.topic, segment.partition, { maxRows: 1, maxBytes: 1 << 20, maxAgeMs: 1 });
  builder.add(0, 0, Buffer.from('{"id":1}'), Buffer.from('{"before":null,"after":{"id":1},"source":{"ts_ms":0},"op":"c","ts_ms":0}'), 0);
  return builder.seal('forced');
}

/**
 * Encodes `segment`, dead-lettering (reason {@link UNSTORABLE}) the messages that make the
 * encoder fail on their own; see the module documentation.
 * @returns the encoding of the rest, whose `undecodable` also lists the unstorable messages (offset order).
 * @throws EncoderUnavailableError when every message fails and so does the canary; the encoder's
 *   error when the rest fails to encode (the caller retries either).
 */
export async function encodeIsolatingUnstorable(segment: Segment, encode: EncodeFn): Promise<EncodedSegment> {
  const unstorable = new Map<number, string>();
  const attempt = async (indexes: readonly number[]): Promise<string | null> => {
    try {
      await encode(subSegment(segment, indexes));
      return null;
    } catch (err) {
      return messageOf(err);
    }
  };
  const bisect = async (indexes: readonly number[]): Promise<void> => {
    if (indexes.length === 0) return;
    const failure = await attempt(indexes);
    if (failure === null) return;
    if (indexes.length === 1) {
      const again = await attempt(indexes); // a passing hiccup is not the message's fault
      if (again !== null) unstorable.set(indexes[0]!, again);
      return;
    }
    const middle = indexes.length >> 1;
    await bisect(indexes.slice(0, middle));
    await bisect(indexes.slice(middle));
  };
  try {
    return await encode(segment); // it may pass now
  } catch {
    // narrow it down
  }
  const { count, spans } = segment.packed;
  const all = [...Array(count).keys()];
  const valued = all.filter((i) => spans[SPANS_PER_MESSAGE * i + 3]! >= 0);
  const middle = valued.length >> 1;
  await bisect(valued.slice(0, middle));
  await bisect(valued.slice(middle));
  if (unstorable.size > 0 && unstorable.size === valued.length) {
    try {
      await encode(canarySegment(segment));
    } catch (err) {
      throw new EncoderUnavailableError(err);
    }
  }
  const encoded = await encode(unstorable.size === 0 ? segment : subSegment(segment, all.filter((i) => !unstorable.has(i))));
  if (unstorable.size === 0) return encoded;
  const dead: Undecodable[] = [...unstorable].map(([i, detail]) => ({ offset: segment.packed.offsets[i]!, reason: UNSTORABLE, detail: `the Parquet encoder refuses this message: ${detail}` }));
  return { ...encoded, undecodable: [...encoded.undecodable, ...dead].sort((a, b) => a.offset - b.offset) };
}
