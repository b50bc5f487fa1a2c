/**
 * Types of pg-copy-streams' COPY FROM stream (pg-copy-streams/copy-from.js), which services/batch/
 * pg-publish.ts uses to bulk-load gold into PostgreSQL: `from(text)` returns a node-postgres
 * Submittable Writable; the bytes written to it are the COPY data. Merges with the copy-both
 * declaration of services/cdc/types/pg-copy-streams.d.ts.
 */
declare module 'pg-copy-streams' {
  import type { Writable, WritableOptions } from 'node:stream';
  import type { Connection, Submittable } from 'pg';

  /** A COPY ... FROM STDIN query; finishes ('finish') once the server acknowledged the data. */
  export class CopyFromQueryStream extends Writable implements Submittable {
    text: string;
    /** Rows the server reported as copied, once finished. */
    rowCount: number;
    submit(connection: Connection): void;
  }

  export function from(text: string, options?: WritableOptions): CopyFromQueryStream;
}
