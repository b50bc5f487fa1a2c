/**
 * Turning sealed segments into Parquet files (decode + DuckDB encode), either on worker threads
 * ({@link SegmentEncoderPool}: the main thread then only consumes Kafka and stores objects; each
 * worker runs its own in-memory DuckDB; a request goes to the least busy worker; a worker that
 * dies is replaced and its requests fail, for the caller to retry) or on the calling thread
 * ({@link InlineSegmentEncoder}: one isolate less, so less memory; decoding shares the calling
 * thread, while DuckDB's COPYs of up to three files run on its own threads).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Undecodable } from './bronze-row.ts';
import { DuckDbParquetEncoder, type DuckDbEncoderOptions } from './parquet.ts';
import type { PackedMessages, Segment } from './segment.ts';

/** Main thread -> worker. */
export interface EncodeRequest {
  id: number;
  topic: string;
  partition: number;
  packed: PackedMessages;
  ingestedAtMs: number;
}

/** Worker -> main thread. */
export type EncodeResponse =
  | { id: number; parquet: Uint8Array | null; rows: number; tombstones: number; undecodable: Undecodable[]; error?: undefined }
  | { id: number; error: string };

/** The outcome of encoding one segment. */
export interface EncodedSegment {
  /** The Parquet file; null when the segment holds no row (only tombstones / dead letters). */
  parquet: Buffer | null;
  rows: number;
  tombstones: number;
  /** Messages to dead-letter, in offset order. */
  undecodable: Undecodable[];
}

/** Decodes a sealed segment and encodes its rows as one Parquet file. */
export interface SegmentEncoder {
  /** @throws when decoding or DuckDB fails; nothing is half-done, the caller may retry. */
  encode(segment: Segment, ingestedAt: Date): Promise<EncodedSegment>;
  close(): Promise<void>;
}

/** Decodes `packed` and encodes its rows with `encoder` (one place for the inline and worker paths). */
export async function encodeSegment(encoder: DuckDbParquetEncoder, topic: string, partition: number, packed: PackedMessages, ingestedAt: Date): Promise<EncodedSegment> {
  const { parquet, rows, tombstones, undecodable } = await encoder.encodePacked(topic, partition, packed, ingestedAt);
  return { parquet, rows, tombstones, undecodable };
}

/**
 * `threads` worker threads, or with 0, encoding on the calling thread.
 * @throws when DuckDB cannot start.
 */
export async function openSegmentEncoder(threads: number, options: DuckDbEncoderOptions = {}): Promise<SegmentEncoder> {
  return threads > 0 ? SegmentEncoderPool.open(threads, options) : InlineSegmentEncoder.open(options);
}

/** {@link SegmentEncoder} on the calling thread. */
export class InlineSegmentEncoder implements SegmentEncoder {
  private constructor(private readonly encoder: DuckDbParquetEncoder) {}

  static async open(options: DuckDbEncoderOptions = {}): Promise<InlineSegmentEncoder> {
    return new InlineSegmentEncoder(await DuckDbParquetEncoder.open(options));
  }

  /** The DuckDB encoder runs several files at once (its lanes): COPYs overlap the next file's appends. */
  encode(segment: Segment, ingestedAt: Date): Promise<EncodedSegment> {
    return encodeSegment(this.encoder, segment.topic, segment.partition, segment.packed, ingestedAt);
  }

  async close(): Promise<void> {
    await this.encoder.close();
  }
}

interface Pending {
  resolve: (value: EncodedSegment) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

interface Queued {
  request: EncodeRequest;
  pending: Pending;
}

/**
 * Requests a worker holds at once: one being encoded by DuckDB while the next is decoded.
 * More would only hold more decoded rows in the worker's memory.
 */
const IN_FLIGHT_PER_WORKER = 2;

/**
 * A new worker running encoder-worker. From TypeScript sources (tsx, vitest), the worker first
 * registers tsx's loader itself: Node 20 does not apply `--import` loaders to worker threads.
 */
function startWorker(workerData: unknown): Worker {
  const extension = path.extname(fileURLToPath(import.meta.url));
  const script = new URL(`./encoder-worker${extension}`, import.meta.url);
  if (extension !== '.ts') return new Worker(script, { workerData });
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(script.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** {@link SegmentEncoder} on worker threads. */
export class SegmentEncoderPool implements SegmentEncoder {
  private nextId = 0;
  private closed = false;
  private readonly queue: Queued[] = [];

  private constructor(
    private readonly slots: Slot[],
    private readonly options: DuckDbEncoderOptions,
  ) {}

  /**
   * Starts `size` workers and waits until each has opened DuckDB.
   * @throws when a worker fails to start (DuckDB cannot load, temp directory not writable).
   */
  static async open(size: number, options: DuckDbEncoderOptions = {}): Promise<SegmentEncoderPool> {
    const pool = new SegmentEncoderPool([], options);
    for (let i = 0; i < size; i++) pool.slots.push(await pool.spawn());
    return pool;
  }

  private spawn(): Promise<Slot> {
    const worker = startWorker(this.options);
    const slot: Slot = { worker, pending: new Map() };
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: EncodeResponse | 'ready') => {
        if (message === 'ready') {
          ready = true;
          resolve(slot);
          return;
        }
        const pending = slot.pending.get(message.id);
        if (!pending) return;
        slot.pending.delete(message.id);
        this.dispatch();
        if (message.error !== undefined) pending.reject(new Error(`encoder worker: ${message.error}`));
        else {
          const { parquet, rows, tombstones, undecodable } = message;
          pending.resolve({ parquet: parquet ? Buffer.from(parquet.buffer, parquet.byteOffset, parquet.byteLength) : null, rows, tombstones, undecodable });
        }
      });
      const fail = (err: Error) => {
        for (const p of slot.pending.values()) p.reject(err);
        slot.pending.clear();
        if (!ready) {
          reject(err);
          return;
        }
        if (this.closed) return;
        // Replace the dead worker; its requests were rejected and will be retried.
        this.slots.splice(this.slots.indexOf(slot), 1);
        void this.spawn().then(
          (fresh) => {
            this.slots.push(fresh);
            this.dispatch();
          },
          () => undefined,
        );
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!this.closed) fail(new Error(`encoder worker exited with code ${code}`));
      });
    });
  }

  /**
   * Decodes and encodes `segment` in a worker.
   * @throws when the worker fails (DuckDB error, worker crash); nothing is half-done.
   */
  encode(segment: Segment, ingestedAt: Date): Promise<EncodedSegment> {
    if (this.closed) return Promise.reject(new Error('encoder pool closed'));
    const request: EncodeRequest = { id: this.nextId++, topic: segment.topic, partition: segment.partition, packed: segment.packed, ingestedAtMs: ingestedAt.getTime() };
    return new Promise((resolve, reject) => {
      this.queue.push({ request, pending: { resolve, reject } });
      this.dispatch();
    });
  }

  /** Hands queued requests to the least busy workers that have room. */
  private dispatch(): void {
    while (this.queue.length > 0 && this.slots.length > 0) {
      const slot = this.slots.reduce((best, s) => (s.pending.size < best.pending.size ? s : best));
      if (slot.pending.size >= IN_FLIGHT_PER_WORKER) return;
      const { request, pending } = this.queue.shift()!;
      slot.pending.set(request.id, pending);
      // Copied, not transferred: the segment stays intact for retries and dead letters.
      slot.worker.postMessage(request);
    }
  }

  /** Stops the workers (after their current work) and removes their temp directories. */
  async close(): Promise<void> {
    this.closed = true;
    for (const { pending } of this.queue.splice(0)) pending.reject(new Error('encoder pool closed'));
    await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            slot.worker.once('exit', () => resolve());
            slot.worker.postMessage('close');
            setTimeout(() => void slot.worker.terminate(), 5000).unref();
          }),
      ),
    );
  }
}
