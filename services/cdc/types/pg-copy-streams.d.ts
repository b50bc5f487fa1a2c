/**
 * Types of pg-copy-streams' copy-both stream, which its published types (@types/pg-copy-streams
 * 1.2.5) do not declare: `both(text, options)` returns a node-postgres Submittable Duplex
 * (pg-copy-streams/copy-both.js). Only what services/cdc/replication-stream.ts uses.
 */
declare module 'pg-copy-streams' {
  import type { Duplex, DuplexOptions } from 'node:stream';
  import type { Connection, Submittable } from 'pg';

  /** A COPY BOTH query: readable side = CopyData payloads from the server, writable side = CopyData to it. */
  export class CopyBothQueryStream extends Duplex implements Submittable {
    text: string;
    submit(connection: Connection): void;
  }

  /** @param options.alignOnCopyDataFrame push one whole CopyData frame per chunk. */
  export function both(text: string, options?: DuplexOptions & { alignOnCopyDataFrame?: boolean }): CopyBothQueryStream;
}
