/**
 * The DBLog window of incremental snapshot chunks, on the streaming side (Andreakis and
 * Papapanagiotou, "DBLog: A Watermark Based Change-Data-Capture Framework", 2020; Debezium's
 * AbstractIncrementalSnapshotChangeEventSource): for each chunk,
 *
 * 1. the reader announces the chunk ({@link ChunkWindows.expect}), then writes the low watermark
 *    (`open`) into the WAL, reads the chunk, hands its rows over ({@link ChunkWindows.fill}) and
 *    writes the high watermark (`close`);
 * 2. the stream meets the low watermark: the window opens ({@link ChunkWindows.watermark}); every
 *    change of the table streamed from then on names its key ({@link ChunkWindows.observe});
 * 3. the stream meets the high watermark: the chunk's rows whose key changed inside the window are
 *    dropped (the streamed change is at least as new as the row read), a TRUNCATE inside the
 *    window drops them all; the others are emitted there, at that point of the stream, as op "r".
 *
 * So in the topic, a chunk row comes after every change committed before the chunk was read and
 * before every change committed after it: the latest event per key equals the table.
 *
 * Windows never overlap (the reader writes the next low watermark after the previous high one);
 * several chunks may be announced at once (the reader reads ahead while the stream catches up).
 * A watermark of a chunk this process did not announce (a replay of an earlier run's, after a
 * restart) is ignored. Pure: no I/O.
 */
import type { OutgoingEvent } from './change-mapper.ts';
import type { Watermark } from '../common/contracts/cdc-signal.ts';

/** How a chunk's window ended. */
export type ChunkOutcome =
  /** Emitted: `events` are the rows to send now; `superseded` rows were dropped for a change in the window. */
  | { kind: 'emitted'; events: OutgoingEvent[]; superseded: number }
  /** The window cannot be trusted (its low watermark was not seen): the chunk must be read again. */
  | { kind: 'retry'; reason: string };

interface Chunk {
  id: string;
  topic: string;
  opened: boolean;
  truncated: boolean;
  /** Keys of the table's changes streamed since the low watermark. */
  seen: Set<string>;
  /** Rows read, by key, in key order; null until filled. */
  rows: Map<string, OutgoingEvent> | null;
  settle: (outcome: ChunkOutcome) => void;
}

export class ChunkWindows {
  private readonly chunks = new Map<string, Chunk>();
  private open: Chunk | null = null;

  /**
   * Announces a chunk before its low watermark is written.
   * @param topic the table's topic (changes of this topic are observed in the window).
   * @returns a promise settled when the stream meets the chunk's high watermark.
   */
  expect(id: string, topic: string): Promise<ChunkOutcome> {
    return new Promise((settle) => {
      this.chunks.set(id, { id, topic, opened: false, truncated: false, seen: new Set(), rows: null, settle });
    });
  }

  /**
   * Hands over the rows read, as events (keyed; in key order), before the high watermark is written.
   * @throws Error for a chunk that was not announced.
   */
  fill(id: string, events: readonly OutgoingEvent[]): void {
    const chunk = this.chunks.get(id);
    if (!chunk) throw new Error(`chunk ${id} was not announced`);
    const rows = new Map<string, OutgoingEvent>();
    for (const e of events) if (e.key !== null) rows.set(e.key, e);
    chunk.rows = rows;
  }

  /** True while a window is open (the stream is between a chunk's watermarks). */
  isOpen(): boolean {
    return this.open !== null;
  }

  /** Chunks announced whose high watermark the stream has not met yet. */
  pending(): number {
    return this.chunks.size;
  }

  /**
   * Records the keys of streamed events of the open window's table (call it with every event the
   * stream dispatches, in order). A TRUNCATE of the table drops the whole chunk.
   */
  observe(events: readonly OutgoingEvent[]): void {
    const open = this.open;
    if (!open) return;
    for (const e of events) {
      if (e.topic !== open.topic) continue;
      if (e.op === 't') open.truncated = true;
      else if (e.key !== null) open.seen.add(e.key);
    }
  }

  /**
   * A watermark met in the stream. `open` opens the chunk's window; `close` closes it and settles
   * the chunk: with the rows to emit now (the caller pushes them before the next streamed message),
   * or with 'retry'.
   * @returns the outcome at a `close` of an announced chunk (also given to the reader), else null.
   */
  watermark(w: Pick<Watermark, 'kind' | 'chunk'>): ChunkOutcome | null {
    const chunk = this.chunks.get(w.chunk);
    if (!chunk) return null;
    if (w.kind === 'open') {
      chunk.opened = true;
      this.open = chunk;
      return null;
    }
    this.chunks.delete(chunk.id);
    if (this.open === chunk) this.open = null;
    let outcome: ChunkOutcome;
    if (!chunk.opened) outcome = { kind: 'retry', reason: 'the low watermark was not seen in the stream' };
    else if (!chunk.rows) outcome = { kind: 'retry', reason: 'the chunk was not read before its high watermark' };
    else if (chunk.truncated) outcome = { kind: 'emitted', events: [], superseded: chunk.rows.size };
    else {
      const events: OutgoingEvent[] = [];
      for (const [key, e] of chunk.rows) if (!chunk.seen.has(key)) events.push(e);
      outcome = { kind: 'emitted', events, superseded: chunk.rows.size - events.length };
    }
    chunk.settle(outcome);
    return outcome;
  }

  /** Forgets every announced chunk (settled with 'retry'): the session ended or the snapshot stopped. */
  abandon(reason: string): void {
    for (const chunk of this.chunks.values()) chunk.settle({ kind: 'retry', reason });
    this.chunks.clear();
    this.open = null;
  }
}
