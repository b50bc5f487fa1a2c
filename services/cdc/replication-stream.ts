/**
 * The replication connection, on pg-logical-replication's LogicalReplicationService.
 *
 * What the service takes from the library: the walsender connection, START_REPLICATION, the
 * XLogData / keepalive framing and the standby status message. What it changes:
 * - the output plugin: {@link RawPgoutputPlugin} starts pgoutput and decodes with this service's
 *   decoder (text values as the server printed them, see pgoutput.ts) instead of the library's
 *   parser, which converts values through node-postgres type parsers;
 * - acknowledgement: the library's automatic acknowledgement confirms every *received* LSN, which
 *   would confirm events the broker has not acknowledged; it is switched off and the service
 *   confirms only the LSN its AckTracker allows ({@link ReplicationStream.confirm});
 * - backpressure: {@link ReplicationStream.pause} stops reading the socket while the broker lags,
 *   keeping the stream ordered (the library's flow-control mode delivers keepalives out of order
 *   with queued data, which would make a keepalive LSN unsafe to confirm).
 */
import { LogicalReplicationService } from 'pg-logical-replication';
import type pg from 'pg';
import { decodePgoutput, type PgoutputMessage } from './pgoutput.ts';

/** What the plugin hands to the 'data' listener: the decoded message, or why it failed. */
export type DecodedPayload = { ok: true; message: PgoutputMessage } | { ok: false; error: Error };

/**
 * pgoutput, protocol version 1, decoded by services/cdc/pgoutput.ts. Shaped like the library's
 * AbstractPlugin (options, name, start, parse), which its index does not export.
 */
export class RawPgoutputPlugin {
  constructor(readonly options: { publication: string }) {}

  get name(): string {
    return 'pgoutput';
  }

  start(client: pg.Client, slotName: string, lastLsn: string): Promise<unknown> {
    const publication = this.options.publication.replace(/"/g, '""');
    return client.query(`START_REPLICATION SLOT "${slotName}" LOGICAL ${lastLsn} (proto_version '1', publication_names '"${publication}"')`);
  }

  /** Called synchronously by the library for each XLogData payload; never throws. */
  parse(buffer: Buffer): DecodedPayload {
    try {
      return { ok: true, message: decodePgoutput(buffer) };
    } catch (error) {
      return { ok: false, error: error as Error };
    }
  }
}

/** The library keeps its connection private; pausing needs the socket underneath. */
interface WithConnection {
  _connection?: { stream?: { pause?: () => void; resume?: () => void } } | null;
}

export class ReplicationStream extends LogicalReplicationService {
  constructor(clientConfig: pg.ClientConfig) {
    super(clientConfig, { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } });
  }

  /** Stops reading from the server (messages already received are still delivered). */
  pause(): void {
    (this as unknown as WithConnection)._connection?.stream?.pause?.();
  }

  resume(): void {
    (this as unknown as WithConnection)._connection?.stream?.resume?.();
  }

  /**
   * Sends a standby status update reporting `lsn` as written, flushed and applied: PostgreSQL
   * moves the slot's confirmed_flush_lsn there and may recycle WAL before it.
   * The library reports "LSN + 1" (it expects the last byte received), so pass `lsn - 1`.
   * @returns false when the stream is not running.
   */
  async confirm(lsn: bigint): Promise<boolean> {
    if (lsn <= 0n) return false;
    const prev = lsn - 1n;
    return this.acknowledge(`${(prev >> 32n).toString(16).toUpperCase()}/${(prev & 0xffffffffn).toString(16).toUpperCase()}`);
  }
}
