/**
 * The Parquet encoder on its own (in-process DuckDB, temp files): a packed segment mixing
 * messages for the envelope scanner, messages only the reference decoder may judge, tombstones
 * and dead letters gives a file whose rows are exactly what the reference decoder says.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBronzeMessage, type BronzeRow } from './bronze-row.ts';
import { DuckDbParquetEncoder } from './parquet.ts';
import { SegmentBuilder } from './segment.ts';
import { activityMessages } from './testing/bronze-kit.ts';

const source = { version: '0.1.0', connector: 'postgresql', name: 'sport', ts_ms: 1767258000000, snapshot: 'false', db: 'sport', schema: 'public', table: 'activities', txId: 812, lsn: 24197832, xmin: null };
const src = JSON.stringify(source);

let dir: string;
let encoder: DuckDbParquetEncoder;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'parquet-encoder-test-'));
  encoder = await DuckDbParquetEncoder.open({ tempDir: dir });
});

afterAll(async () => {
  await encoder.close();
  await rm(dir, { recursive: true, force: true });
});

/** Rows of a Parquet file, as BronzeRow plus the per-file columns. */
async function readParquet(bytes: Buffer): Promise<Record<string, unknown>[]> {
  const file = path.join(dir, `read-${Date.now()}.parquet`);
  await writeFile(file, bytes);
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const reader = await conn.runAndReadAll(`SELECT * FROM read_parquet('${file}') ORDER BY "offset"`);
  const rows = reader.getRowObjectsJS();
  conn.closeSync();
  db.closeSync();
  return rows;
}

/** The Parquet row the contract expects for a reference-decoded row. */
function expected(row: BronzeRow, ingestedAt: Date): Record<string, unknown> {
  const big = (v: number | bigint | null) => (v === null ? null : BigInt(v));
  return {
    topic: 'sport.public.activities',
    partition: 2,
    offset: BigInt(row.offset),
    kafka_timestamp_ms: BigInt(row.kafkaTimestampMs),
    key: row.key,
    op: row.op,
    lsn: big(row.lsn),
    tx_id: big(row.txId),
    source_ts_ms: big(row.sourceTsMs),
    event_ts_ms: big(row.eventTsMs),
    snapshot: row.snapshot,
    source_schema: row.sourceSchema,
    source_table: row.sourceTable,
    before: row.before,
    after: row.after,
    schema_id: row.schemaId ?? null,
    unavailable: row.unavailable ?? null,
    ingested_at: ingestedAt,
  };
}

describe('DuckDbParquetEncoder.encodePacked', () => {
  it('writes exactly the rows of the reference decoder, whichever path decoded them; lists dead letters and counts tombstones', async () => {
    const ID_A = '0123456789abcdef0123';
    const ID_B = 'fedcba9876543210fedc';
    const messages: { key: string | null; value: string | Buffer | null; schemaId?: string; unavailable?: string }[] = [
      // The envelope scanner's path.
      { key: '{"activity_id":1}', value: `{"before":null,"after":{"activity_id":1,"comment":"\\"Top\\" 🚴 C:\\\\tmp","big":9007199254740993},"source":${src},"op":"c","ts_ms":1767258000123}`, schemaId: ID_A },
      { key: '{"activity_id":1}', value: `{"before":{"activity_id":1},"after":{"activity_id":1,"x":1.50},"source":${src},"op":"u","ts_ms":1767258000124}`, schemaId: ID_B, unavailable: '["comment"]' },
      { key: '{"activity_id":1}', value: `{"before":{"activity_id":1},"after":null,"source":${src},"op":"d","ts_ms":1767258000125}` },
      { key: '{"activity_id":1}', value: null }, // tombstone
      { key: null, value: `{"before":null,"after":{"id":2},"source":${JSON.stringify({ ...source, snapshot: 'true', table: 'employees' })},"op":"r"}` },
      { key: '', value: `{"before":null,"after":null,"source":${src},"op":"t","ts_ms":1}` },
      // The reference decoder's path: lsn beyond 2^53, an escaped schema, a boolean snapshot.
      { key: '{"activity_id":3}', value: `{"before":null,"after":{"activity_id":3},"source":${src.replace('"lsn":24197832', '"lsn":9223372036854775807')},"op":"c","ts_ms":1}`, schemaId: ID_B, unavailable: '["x","y"]' },
      { key: '{"activity_id":4}', value: `{"before":null,"after":{"activity_id":4},"source":${src.replace('"schema":"public"', '"schema":"pub\\u006cic"')},"op":"c","ts_ms":1}` },
      { key: '{"activity_id":5}', value: `{"before":null,"after":{"activity_id":5},"source":${src.replace('"snapshot":"false"', '"snapshot":false')},"op":"c","ts_ms":1}` },
      // Dead letters.
      { key: '{"activity_id":6}', value: '{"op":' },
      { key: 'id=7', value: `{"before":null,"after":{},"source":${src},"op":"c","ts_ms":1}` },
      { key: '{"activity_id":8}', value: Buffer.from([0x7b, 0xff, 0x7d]) },
      { key: '{"activity_id":9}', value: `{"before":null,"after":{},"source":${src},"op":"c","ts_ms":1}`, schemaId: 'NOT-AN-ID' },
    ];
    const builder = new SegmentBuilder('sport.public.activities', 2, { maxRows: 1000, maxBytes: 1_000_000, maxAgeMs: 60_000 });
    const raw = messages.map((m, i) => ({
      offset: 100 + i,
      timestampMs: 1767258000500 + i,
      key: m.key === null ? null : Buffer.from(m.key),
      value: m.value === null ? null : Buffer.isBuffer(m.value) ? m.value : Buffer.from(m.value),
      schemaId: m.schemaId === undefined ? null : Buffer.from(m.schemaId),
      unavailable: m.unavailable === undefined ? null : Buffer.from(m.unavailable),
    }));
    for (const m of raw) {
      const headers: Record<string, Buffer> = {};
      if (m.schemaId) headers['lakehouse.schema.id'] = m.schemaId;
      if (m.unavailable) headers['lakehouse.unavailable'] = m.unavailable;
      builder.add(m.offset, m.timestampMs, m.key, m.value, 0, headers);
    }
    const ingestedAt = new Date('2026-11-21T08:00:00.123Z');

    const encoded = await encoder.encodePacked('sport.public.activities', 2, builder.seal('forced').packed, ingestedAt);

    const reference = raw.map((m) => decodeBronzeMessage(m));
    const referenceRows = reference.flatMap((d) => (d.kind === 'row' ? [d.row] : []));
    expect(encoded.rows).toBe(8);
    expect(encoded.scanned).toBe(5); // the first five rows took the fast path
    expect(encoded.tombstones).toBe(1);
    expect(encoded.undecodable).toEqual([
      { offset: 109, reason: 'invalid_json', detail: expect.stringContaining('value is not JSON') },
      { offset: 110, reason: 'invalid_key', detail: expect.stringContaining('key is not JSON') },
      { offset: 111, reason: 'invalid_json', detail: 'value is not valid UTF-8' },
      { offset: 112, reason: 'invalid_header', detail: 'header lakehouse.schema.id is not 20 lower-case hex digits' },
    ]);
    const rows = await readParquet(encoded.parquet!);
    expect(rows).toEqual(referenceRows.map((r) => expected(r, ingestedAt)));
    // Spot checks of what the comparison above relies on.
    expect(rows[0]!.after).toBe('{"activity_id":1,"comment":"\\"Top\\" 🚴 C:\\\\tmp","big":9007199254740993}');
    expect(rows[1]!.after).toBe('{"activity_id":1,"x":1.50}');
    expect(rows[5]!.lsn).toBe(9223372036854775807n);
    expect(rows[6]!.source_schema).toBe('public');
    expect(rows[7]!.snapshot).toBe('false');
    expect(rows.map((r) => [r.schema_id, r.unavailable])).toEqual([
      [ID_A, null], [ID_B, '["comment"]'], [null, null], [null, null], [null, null], [ID_B, '["x","y"]'], [null, null], [null, null],
    ]);
  });

  it('keeps every row exact across data chunks (5,000 rows: three chunks, nulls and 64-bit values in each)', async () => {
    const builder = new SegmentBuilder('sport.public.activities', 2, { maxRows: 10_000, maxBytes: 100_000_000, maxAgeMs: 60_000 });
    const raw = activityMessages(5000, 4).map((m, i) => ({ offset: i, timestampMs: 1767258000000 + i, key: Buffer.from(m.key), value: m.value === null ? null : Buffer.from(m.value) }));
    for (const m of raw) builder.add(m.offset, m.timestampMs, m.key, m.value, 0);
    const ingestedAt = new Date('2026-11-21T08:00:00Z');
    const encoded = await encoder.encodePacked('sport.public.activities', 2, builder.seal('rows').packed, ingestedAt);
    const referenceRows = raw.flatMap((m) => {
      const d = decodeBronzeMessage(m);
      return d.kind === 'row' ? [d.row] : [];
    });
    expect(encoded.scanned).toBe(referenceRows.length);
    expect(await readParquet(encoded.parquet!)).toEqual(referenceRows.map((r) => expected(r, ingestedAt)));
  });

  it('stores values SQL would choke on exactly as sent: no SQL text is built from message data (issue 14)', async () => {
    // A NUL byte in source.table made DuckDB fail with "unterminated quoted string" (the value was
    // spliced into the COPY statement), and the writer retried that segment forever.
    const odd = ['nul\u0000table', "it's", "x'); DROP TABLE bronze_segment; --", '\u0000', 'tab\tle\nnew'];
    const builder = new SegmentBuilder('sport.public.activities', 0, { maxRows: 100, maxBytes: 1_000_000, maxAgeMs: 60_000 });
    const raw = odd.map((name, i) => {
      const oddSource = { ...source, table: name, schema: name, snapshot: name };
      return { offset: i, timestampMs: 1767258000000 + i, key: Buffer.from(`{"id":${i}}`), value: Buffer.from(`{"before":null,"after":{"id":${i}},"source":${JSON.stringify(oddSource)},"op":"c","ts_ms":1}`), schemaId: null, unavailable: null };
    });
    for (const m of raw) builder.add(m.offset, m.timestampMs, m.key, m.value, 0);
    const ingestedAt = new Date('2026-11-21T08:00:00Z');

    const encoded = await encoder.encodePacked('sport.public.activities', 0, builder.seal('forced').packed, ingestedAt);

    expect(encoded.undecodable).toEqual([]);
    const rows = await readParquet(encoded.parquet!);
    expect(rows.map((r) => [r.source_table, r.source_schema, r.snapshot])).toEqual(odd.map((name) => [name, name, name]));
    expect(rows).toEqual(raw.map((m) => expected((decodeBronzeMessage(m) as { row: BronzeRow }).row, ingestedAt)).map((r) => ({ ...r, partition: 0 })));
  });

  it('returns no file for a segment of tombstones and dead letters only', async () => {
    const builder = new SegmentBuilder('t', 0, { maxRows: 10, maxBytes: 1_000_000, maxAgeMs: 60_000 });
    builder.add(0, 1, Buffer.from('{"id":1}'), null, 0);
    builder.add(1, 2, Buffer.from('{"id":2}'), Buffer.from('nope'), 0);
    const encoded = await encoder.encodePacked('t', 0, builder.seal('forced').packed, new Date());
    expect(encoded).toMatchObject({ parquet: null, rows: 0, tombstones: 1, undecodable: [{ offset: 1, reason: 'invalid_json' }] });
  });
});
