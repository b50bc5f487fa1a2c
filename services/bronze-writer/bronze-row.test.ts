import { describe, expect, it } from 'vitest';
import { decodeBronzeMessage, type RawMessage } from './bronze-row.ts';
import { decodeChangeEvent, UndecodableEventError } from '../common/contracts/change-event.ts';

const source = { version: '0.1.0', connector: 'postgresql', name: 'sport', ts_ms: 1767258000000, snapshot: 'false', db: 'sport', schema: 'public', table: 'activities', txId: 812, lsn: 24197832, xmin: null };

function message(value: string | null, key: string | null = '{"activity_id":42}', offset = 7): RawMessage {
  return { offset, timestampMs: 1767258000500, key: key === null ? null : Buffer.from(key), value: value === null ? null : Buffer.from(value) };
}

describe('decodeBronzeMessage', () => {
  it('maps an insert to a row with the exact key and row images', () => {
    const after = '{"activity_id":42,"employee_id":7,"sport_type":"Randonnée","distance_m":10000,"started_at":"2026-01-01T08:30:00.000000Z"}';
    const value = `{"before":null,"after":${after},"source":${JSON.stringify(source)},"op":"c","ts_ms":1767258000123}`;
    expect(decodeBronzeMessage(message(value))).toEqual({
      kind: 'row',
      row: {
        offset: 7,
        kafkaTimestampMs: 1767258000500,
        key: '{"activity_id":42}',
        op: 'c',
        lsn: 24197832,
        txId: 812,
        sourceTsMs: 1767258000000,
        eventTsMs: 1767258000123,
        snapshot: 'false',
        sourceSchema: 'public',
        sourceTable: 'activities',
        before: null,
        after,
        schemaId: null,
        unavailable: null,
      },
    });
  });

  it('keeps the schema-link headers (docs/contracts/table-schemas.md), and dead-letters malformed ones', () => {
    const value = `{"before":null,"after":{"id":1,"big":"__debezium_unavailable_value"},"source":${JSON.stringify(source)},"op":"u","ts_ms":1}`;
    const withHeaders = (schemaId: string | null, unavailable: string | null) =>
      decodeBronzeMessage({ ...message(value), schemaId: schemaId === null ? null : Buffer.from(schemaId), unavailable: unavailable === null ? null : Buffer.from(unavailable) });
    expect(withHeaders('0123456789abcdef0123', '["big"]')).toMatchObject({ kind: 'row', row: { schemaId: '0123456789abcdef0123', unavailable: '["big"]' } });
    expect(withHeaders('0123456789abcdef0123', null)).toMatchObject({ kind: 'row', row: { schemaId: '0123456789abcdef0123', unavailable: null } });
    expect(withHeaders('0123456789ABCDEF0123', null)).toEqual({ kind: 'undecodable', reason: 'invalid_header', detail: 'header lakehouse.schema.id is not 20 lower-case hex digits' });
    expect(withHeaders('0123', null)).toMatchObject({ kind: 'undecodable', reason: 'invalid_header' });
    expect(withHeaders(null, 'big')).toEqual({ kind: 'undecodable', reason: 'invalid_header', detail: 'header lakehouse.unavailable is not a JSON array of column names' });
    expect(decodeBronzeMessage({ ...message(value), unavailable: Buffer.from([0x5b, 0xff, 0x5d]) })).toMatchObject({ kind: 'undecodable', reason: 'invalid_header' });
  });

  it('keeps 64-bit integers beyond 2^53 exactly (lsn and row values)', () => {
    const value = `{"before":{"id":9223372036854775807},"after":null,"source":${JSON.stringify({ ...source, lsn: 0 }).replace('"lsn":0', '"lsn":9223372036854775807')},"op":"d","ts_ms":1}`;
    const decoded = decodeBronzeMessage(message(value));
    expect(decoded.kind).toBe('row');
    if (decoded.kind !== 'row') return;
    expect(decoded.row.lsn).toBe(9223372036854775807n);
    expect(decoded.row.before).toBe('{"id":9223372036854775807}');
    expect(decoded.row.after).toBeNull();
  });

  it('treats a null value as a tombstone, and dead-letters an empty one (the shared envelope checks)', () => {
    expect(decodeBronzeMessage(message(null))).toEqual({ kind: 'tombstone' });
    expect(decodeBronzeMessage(message(''))).toEqual({ kind: 'undecodable', reason: 'empty_value', detail: 'empty value (a tombstone has a null value)' });
  });

  it('gives a dead-letter reason for bad input instead of throwing', () => {
    expect(decodeBronzeMessage(message('{"op":'))).toMatchObject({ kind: 'undecodable', reason: 'invalid_json' });
    expect(decodeBronzeMessage(message('{"op":"x","source":{"ts_ms":1}}'))).toMatchObject({ kind: 'undecodable', reason: 'invalid_envelope', detail: 'unknown op "x"' });
    expect(decodeBronzeMessage(message(`{"before":null,"after":null,"source":${JSON.stringify(source)},"op":"c","ts_ms":1}`))).toMatchObject({
      kind: 'undecodable',
      reason: 'invalid_envelope',
    });
    expect(decodeBronzeMessage(message(`{"before":null,"after":{},"source":${JSON.stringify({ ...source, lsn: 'x' })},"op":"c","ts_ms":1}`))).toEqual({
      kind: 'undecodable',
      reason: 'invalid_envelope',
      detail: 'source.lsn is not an integer',
    });
    const hugeLsn = `{"before":null,"after":{},"source":${JSON.stringify({ ...source, lsn: 0 }).replace('"lsn":0', '"lsn":18446744073709551615')},"op":"c","ts_ms":1}`;
    expect(decodeBronzeMessage(message(hugeLsn))).toEqual({ kind: 'undecodable', reason: 'invalid_envelope', detail: 'source.lsn is outside the 64-bit integer range' });
    const notUtf8 = { ...message(null), value: Buffer.from([0x7b, 0xff, 0x7d]) };
    expect(decodeBronzeMessage(notUtf8)).toEqual({ kind: 'undecodable', reason: 'invalid_json', detail: 'value is not valid UTF-8' });
    expect(decodeBronzeMessage(message(`{"before":null,"after":{},"source":${JSON.stringify(source)},"op":"c","ts_ms":1}`, 'id=42'))).toMatchObject({
      kind: 'undecodable',
      reason: 'invalid_key',
    });
  });

  it('accepts a message without key and an envelope without ts_ms', () => {
    const decoded = decodeBronzeMessage(message(`{"before":null,"after":{"a":1},"source":${JSON.stringify(source)},"op":"r"}`, null));
    expect(decoded).toMatchObject({ kind: 'row', row: { key: null, op: 'r', eventTsMs: null } });
  });
});

describe('decodeBronzeMessage and the shared decodeChangeEvent', () => {
  it('agree on every variant and mutation of an envelope (same verdict, op and row images)', () => {
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const envelopes = [
      `{"before":null,"after":{"id":1,"s":"é"},"source":${JSON.stringify(source)},"op":"c","ts_ms":1}`,
      `{"before":{"id":1},"after":{"id":1,"x":[1,2]},"source":${JSON.stringify(source)},"op":"u","ts_ms":2}`,
      `{"before":{"id":1},"after":null,"source":${JSON.stringify(source)},"op":"d","ts_ms":3}`,
      `{"before":null,"after":null,"source":${JSON.stringify(source)},"op":"t","ts_ms":4}`,
      `{"before":null,"after":{"id":2},"source":${JSON.stringify({ ...source, snapshot: 'true' })},"op":"r"}`,
    ];
    const tokens = ['"c"', '"d"', '"x"', 'null', '{}', '[]', '1.5', '7', '"', ',', '}', 'true'];
    let agreedRows = 0;
    for (const envelope of envelopes) {
      for (let n = 0; n < 1500; n++) {
        let text = envelope;
        if (n > 0) {
          const at = Math.floor(next() * text.length);
          const cut = Math.floor(next() * 8);
          text = text.slice(0, at) + tokens[Math.floor(next() * tokens.length)] + text.slice(at + cut);
        }
        let shared: ReturnType<typeof decodeChangeEvent> | Error;
        try {
          shared = decodeChangeEvent(text);
        } catch (err) {
          shared = err as Error;
        }
        const ours = decodeBronzeMessage(message(text, null));
        if (shared instanceof UndecodableEventError) {
          expect(ours, text).toMatchObject({ kind: 'undecodable', reason: shared.reason });
        } else if (shared === null) {
          expect(ours.kind).toBe('tombstone');
        } else if (ours.kind === 'undecodable') {
          // Only bronze's own rules (integers that fit the BIGINT columns) may reject more.
          expect(ours.detail, text).toMatch(/is not an integer|outside the 64-bit integer range/);
        } else {
          expect(ours.kind).toBe('row');
          if (ours.kind !== 'row') continue;
          agreedRows++;
          expect(ours.row.op).toBe((shared as { op: string }).op);
          expect(ours.row.before === null ? null : JSON.parse(ours.row.before)).toEqual((shared as { before: unknown }).before);
          expect(ours.row.after === null ? null : JSON.parse(ours.row.after)).toEqual((shared as { after: unknown }).after);
        }
      }
    }
    expect(agreedRows).toBeGreaterThan(500);
  });
});
