/**
 * The replication connection: a walsender session of node-postgres running
 * `START_REPLICATION SLOT ... LOGICAL` with the pgoutput plugin, read and written through
 * pg-copy-streams' copy-both stream (a public node-postgres Submittable, by node-postgres'
 * author, made for replication; `alignOnCopyDataFrame` hands over one CopyData frame at a time).
 *
 * What this module does itself (PostgreSQL's streaming replication protocol,
 * https://www.postgresql.org/docs/current/protocol-replication.html):
 * - frames: XLogData (`w`: start LSN, WAL end, send time, then the pgoutput message, decoded by
 *   pgoutput.ts with text values as the server printed them) and the primary keepalive (`k`: WAL
 *   end, send time, reply requested); {@link parseCopyData} is the pure part;
 * - the standby status update (`r`): written = flushed = applied = the LSN the service allows
 *   ({@link ReplicationStream.confirm}), never an LSN only received: the broker must have
 *   acknowledged every event up to it first (offset-context.ts);
 * - backpressure: {@link ReplicationStream.pause} pauses the stream, so node stops reading the
 *   socket once its buffer is full (TCP then holds the walsender back); messages stay in WAL order,
 *   keepalives included, and status updates keep flowing on the writable side, so the walsender
 *   does not time out.
 * It replaces pg-logical-replication, whose pausing needed its private `_connection`.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import pg from 'pg';
import { both as copyBoth } from 'pg-copy-streams';
import { formatLsn } from './lsn.ts';
import { decodePgoutput, type PgoutputMessage } from './pgoutput.ts';

/** What the 'data' listener gets: the decoded message, or why it failed. */
export type DecodedPayload = { ok: true; message: PgoutputMessage } | { ok: false; error: Error };

/** One CopyData frame of the replication stream. */
export type CopyDataFrame =
  | { kind: 'xlogdata'; lsn: bigint; walEnd: bigint; payload: Buffer }
  | { kind: 'keepalive'; walEnd: bigint; replyRequested: boolean }
  | { kind: 'unknown'; tag: number };

/** PostgreSQL's epoch (2000-01-01) in ms since the Unix epoch. */
const PG_EPOCH_MS = 946_684_800_000;

/**
 * Parses one CopyData frame of the walsender. Pure.
 * @throws RangeError when the frame is shorter than its header.
 */
export function parseCopyData(frame: Buffer): CopyDataFrame {
  const tag = frame[0];
  if (tag === 0x77 /* w */) return { kind: 'xlogdata', lsn: frame.readBigUInt64BE(1), walEnd: frame.readBigUInt64BE(9), payload: frame.subarray(25) };
  if (tag === 0x6b /* k */) return { kind: 'keepalive', walEnd: frame.readBigUInt64BE(1), replyRequested: frame[17] === 1 };
  return { kind: 'unknown', tag: tag ?? -1 };
}

/**
 * The standby status update: written, flushed and applied all `lsn`, the client clock, no reply
 * requested. Pure.
 * @param nowMs the clock, ms since the Unix epoch.
 */
export function standbyStatusUpdate(lsn: bigint, nowMs: number): Buffer {
  const b = Buffer.alloc(34);
  b[0] = 0x72; // r
  b.writeBigUInt64BE(lsn, 1);
  b.writeBigUInt64BE(lsn, 9);
  b.writeBigUInt64BE(lsn, 17);
  b.writeBigInt64BE(BigInt(nowMs - PG_EPOCH_MS) * 1000n, 25);
  b[33] = 0;
  return b;
}

/**
 * The START_REPLICATION command (identifiers quoted; the LSN is formatted, never user text).
 * `messages 'true'` (PostgreSQL 14+) streams the messages of pg_logical_emit_message too: the
 * incremental snapshot's signals and watermarks (incremental-snapshot-source.ts).
 */
export function startReplicationCommand(slotName: string, startLsn: bigint, publication: string): string {
  const slot = slotName.replace(/"/g, '""');
  const pub = publication.replace(/'/g, "''").replace(/"/g, '""');
  return `START_REPLICATION SLOT "${slot}" LOGICAL ${formatLsn(startLsn)} (proto_version '1', publication_names '"${pub}"', messages 'true')`;
}

/**
 * Events: `data` (lsn: bigint, payload: DecodedPayload), `heartbeat` (walEnd: bigint,
 * replyRequested: boolean), `error` (Error: the connection or the server failed).
 */
export class ReplicationStream extends EventEmitter {
  private client: pg.Client | null = null;
  private copy: Duplex | null = null;

  /** @param clientConfig connection settings of the CDC role; `replication: 'database'` is added. */
  constructor(private readonly clientConfig: pg.ClientConfig) {
    super();
  }

  /**
   * Connects and starts streaming `slotName` from `startLsn`.
   * @returns once the server entered the copy-both mode: `ended` settles when the stream ends
   *   (resolves on a clean end, rejects with the connection's or the server's error).
   * @throws the connection's or START_REPLICATION's error (e.g. the slot is active for another PID).
   */
  async start(slotName: string, startLsn: bigint, publication: string): Promise<{ ended: Promise<void> }> {
    const client = new pg.Client({ ...this.clientConfig, replication: 'database' } as pg.ClientConfig);
    this.client = client;
    let fail: (err: Error) => void = () => undefined;
    const ended = new Promise<void>((resolve, reject) => {
      fail = reject;
      client.once('end', () => resolve());
    });
    ended.catch(() => undefined);
    client.on('error', (err: Error) => {
      fail(err);
      this.emit('error', err);
    });
    await client.connect();
    const copy = client.query(copyBoth(startReplicationCommand(slotName, startLsn, publication), { alignOnCopyDataFrame: true })) as unknown as Duplex;
    this.copy = copy;
    let running = false;
    let rejectStart: (err: Error) => void = () => undefined;
    // One listener for the stream's life: before the start it fails the start, after it the stream.
    copy.on('error', (err: Error) => {
      if (!running) {
        rejectStart(err);
        return;
      }
      fail(err);
      this.emit('error', err);
    });
    copy.on('data', (frame: Buffer) => this.onFrame(frame));
    await new Promise<void>((resolve, reject) => {
      rejectStart = reject;
      // The writable side opens once the server answered CopyBothResponse: the first status
      // update (the start LSN, already confirmed) is written then.
      copy.write(standbyStatusUpdate(startLsn, Date.now()), (err) => (err ? reject(err) : resolve()));
    });
    running = true;
    copy.once('end', () => void client.end().catch(() => undefined));
    return { ended };
  }

  private onFrame(frame: Buffer): void {
    if (frame[0] === 0x77 /* w */ && frame.length >= 25) {
      // XLogData, read in place (parseCopyData's object and the unused WAL end are skipped: once per change).
      let payload: DecodedPayload;
      try {
        payload = { ok: true, message: decodePgoutput(frame.subarray(25)) };
      } catch (error) {
        payload = { ok: false, error: error as Error };
      }
      this.emit('data', frame.readBigUInt64BE(1), payload);
      return;
    }
    const f = parseCopyData(frame);
    if (f.kind === 'xlogdata') {
      let payload: DecodedPayload;
      try {
        payload = { ok: true, message: decodePgoutput(f.payload) };
      } catch (error) {
        payload = { ok: false, error: error as Error };
      }
      this.emit('data', f.lsn, payload);
    } else if (f.kind === 'keepalive') {
      this.emit('heartbeat', f.walEnd, f.replyRequested);
    }
  }

  /** Stops reading from the server (frames already read are still delivered). */
  pause(): void {
    this.copy?.pause();
  }

  resume(): void {
    this.copy?.resume();
  }

  /**
   * Sends a standby status update reporting `lsn` as written, flushed and applied: PostgreSQL
   * moves the slot's confirmed_flush_lsn there and may recycle WAL before it.
   * @returns false when the stream is not running.
   */
  confirm(lsn: bigint): boolean {
    const copy = this.copy;
    if (!copy || copy.destroyed || copy.writableEnded || lsn <= 0n) return false;
    copy.write(standbyStatusUpdate(lsn, Date.now()));
    return true;
  }

  /** Closes the connection (the server ends the walsender; the slot keeps the confirmed LSN). */
  async stop(): Promise<void> {
    const client = this.client;
    this.copy = null;
    this.client = null;
    if (client) await client.end().catch(() => undefined);
  }
}
