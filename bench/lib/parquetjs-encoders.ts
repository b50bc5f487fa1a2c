/**
 * The two pure-JavaScript Parquet writers the bronze benchmark compares with DuckDB
 * (docs/decisions/0003-parquet-writer.md): parquetjs-lite 0.8 and @dsnp/parquetjs 1.8, writing
 * the same bronze columns. Neither offers zstd (their codecs: UNCOMPRESSED, GZIP, SNAPPY, plus
 * BROTLI in @dsnp/parquetjs), so they are measured with SNAPPY and GZIP.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import * as dsnp from '@dsnp/parquetjs';
import type { ParquetEncoder, ParquetInput } from '../../services/bronze-writer/parquet.ts';

/** The subset of the parquetjs API both libraries share. */
interface ParquetJsModule {
  ParquetSchema: new (fields: Record<string, unknown>) => unknown;
  ParquetWriter: {
    openFile(schema: unknown, file: string): Promise<{ setRowGroupSize(n: number): void; appendRow(row: Record<string, unknown>): Promise<void>; close(): Promise<void> }>;
  };
}

const require = createRequire(import.meta.url);
const lite = require('parquetjs-lite') as ParquetJsModule;

export type JsCodec = 'SNAPPY' | 'GZIP';

function schema(lib: ParquetJsModule, codec: JsCodec): unknown {
  const col = (type: string, optional = false) => ({ type, optional, compression: codec });
  return new lib.ParquetSchema({
    topic: col('UTF8'),
    partition: col('INT32'),
    offset: col('INT64'),
    kafka_timestamp_ms: col('INT64'),
    key: col('UTF8', true),
    op: col('UTF8'),
    lsn: col('INT64', true),
    tx_id: col('INT64', true),
    source_ts_ms: col('INT64', true),
    event_ts_ms: col('INT64', true),
    snapshot: col('UTF8', true),
    source_schema: col('UTF8', true),
    source_table: col('UTF8', true),
    before: col('UTF8', true),
    after: col('UTF8', true),
    ingested_at: col('TIMESTAMP_MILLIS'),
  });
}

/** A {@link ParquetEncoder} over parquetjs-lite or @dsnp/parquetjs, writing through a temp file. */
export function parquetJsEncoder(library: 'parquetjs-lite' | '@dsnp/parquetjs', codec: JsCodec, tempDir: string): ParquetEncoder {
  const lib = library === 'parquetjs-lite' ? lite : (dsnp as unknown as ParquetJsModule);
  const s = schema(lib, codec);
  return {
    async encode({ topic, partition, batches, ingestedAt }: ParquetInput): Promise<Buffer> {
      const file = path.join(tempDir, `${randomBytes(8).toString('hex')}.parquet`);
      const writer = await lib.ParquetWriter.openFile(s, file);
      const rows = [...batches].flat();
      writer.setRowGroupSize(rows.length);
      for (const r of rows) {
        // parquetjs writes optional columns by omission, not null.
        const row: Record<string, unknown> = { topic, partition, offset: r.offset, kafka_timestamp_ms: r.kafkaTimestampMs, op: r.op, ingested_at: ingestedAt };
        if (r.key !== null) row.key = r.key;
        if (r.lsn !== null) row.lsn = r.lsn;
        if (r.txId !== null) row.tx_id = r.txId;
        if (r.sourceTsMs !== null) row.source_ts_ms = r.sourceTsMs;
        if (r.eventTsMs !== null) row.event_ts_ms = r.eventTsMs;
        if (r.snapshot !== null) row.snapshot = r.snapshot;
        if (r.sourceSchema !== null) row.source_schema = r.sourceSchema;
        if (r.sourceTable !== null) row.source_table = r.sourceTable;
        if (r.before !== null) row.before = r.before;
        if (r.after !== null) row.after = r.after;
        await writer.appendRow(row);
      }
      await writer.close();
      try {
        return await readFile(file);
      } finally {
        await rm(file, { force: true });
      }
    },
    async close() {},
  };
}
