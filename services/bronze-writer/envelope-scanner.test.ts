import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { decodeBronzeMessage, type BronzeRow } from './bronze-row.ts';
import { isJsonValue, newScannedEnvelope, scanEnvelope, type ScannedEnvelope } from './envelope-scanner.ts';
import { activityMessages } from './testing/bronze-kit.ts';

const source = { version: '0.1.0', connector: 'postgresql', name: 'sport', ts_ms: 1767258000000, snapshot: 'false', db: 'sport', schema: 'public', table: 'activities', txId: 812, lsn: 24197832, xmin: null };

const text = (bytes: Uint8Array, start: number, end: number) => (start < 0 ? null : Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8'));
const integer = (v: number) => (Number.isNaN(v) ? null : v);

/** The bronze row the writer stores for a message the scanner accepted. */
function rowFromScan(offset: number, timestampMs: number, key: Buffer | null, value: Buffer, s: ScannedEnvelope): BronzeRow {
  return {
    offset,
    kafkaTimestampMs: timestampMs,
    key: key === null || key.length === 0 ? null : key.toString('utf8'),
    op: String.fromCharCode(s.op) as BronzeRow['op'],
    lsn: integer(s.lsn),
    txId: integer(s.txId),
    sourceTsMs: s.sourceTsMs,
    eventTsMs: integer(s.eventTsMs),
    snapshot: text(value, s.snapshotStart, s.snapshotEnd),
    sourceSchema: text(value, s.schemaStart, s.schemaEnd),
    sourceTable: text(value, s.tableStart, s.tableEnd),
    before: text(value, s.beforeStart, s.beforeEnd),
    after: text(value, s.afterStart, s.afterEnd),
    schemaId: null,
    unavailable: null,
  };
}

/**
 * Checks the scanner's contract on one message: when it accepts, its row equals the reference
 * decoder's. @returns whether it accepted.
 */
function agrees(valueText: string | Buffer, keyText: string | null = '{"activity_id":42}'): boolean {
  const value = typeof valueText === 'string' ? Buffer.from(valueText) : valueText;
  const key = keyText === null ? null : Buffer.from(keyText);
  const scanned = newScannedEnvelope();
  const accepted = (key === null || key.length === 0 || (isUtf8(key) && isJsonValue(key))) && isUtf8(value) && scanEnvelope(value, scanned);
  if (!accepted) return false;
  const reference = decodeBronzeMessage({ offset: 7, timestampMs: 1767258000500, key, value });
  expect(reference, value.toString()).toEqual({ kind: 'row', row: rowFromScan(7, 1767258000500, key, value, scanned) });
  return true;
}

describe('scanEnvelope', () => {
  it('accepts every event the CDC service writes and reports what the reference decoder reports', () => {
    let accepted = 0;
    let valued = 0;
    for (const m of activityMessages(2000, 3)) {
      if (m.value === null) continue;
      valued++;
      if (agrees(Buffer.from(m.value), m.key)) accepted++;
    }
    expect(valued).toBeGreaterThan(1800);
    expect(accepted).toBe(valued);
  });

  it('accepts the usual shapes: snapshot reads, deletes, truncates, no key, no ts_ms, whitespace, unknown members', () => {
    const src = JSON.stringify(source);
    for (const value of [
      `{"before":null,"after":{"id":1,"s":"é \\" \\u00e9"},"source":${src},"op":"r","ts_ms":1}`,
      `{"before":{"id":1},"after":null,"source":${src},"op":"d","ts_ms":3}`,
      `{"before":null,"after":null,"source":${src},"op":"t","ts_ms":4}`,
      `{"after":{"id":2},"source":${src},"op":"c"}`,
      ` { "before" : null , "after" : { "id" : [ 1 , 2.5e-3 , true , false , null ] } ,\n "source" : ${src} , "op" : "u" , "transaction" : {"id":"x"} , "ts_ms" : -5 } `,
      `{"before":null,"after":{},"source":{"ts_ms":0},"op":"c","ts_ms":null}`,
    ]) {
      expect(agrees(value), value).toBe(true);
      expect(agrees(value, null), value).toBe(true);
    }
  });

  it('declines what only the reference decoder may judge', () => {
    const src = JSON.stringify(source);
    const declined = [
      `{"before":{"id":9223372036854775807},"after":null,"source":${src.replace('"lsn":24197832', '"lsn":9223372036854775807')},"op":"d","ts_ms":1}`, // lsn beyond 2^53
      `{"before":null,"after":{},"source":${src.replace('"snapshot":"false"', '"snapshot":false')},"op":"c","ts_ms":1}`, // boolean snapshot
      `{"before":null,"after":{},"source":${src.replace('"schema":"public"', '"schema":"pub\\u006cic"')},"op":"c","ts_ms":1}`, // escaped string
      `{"before":null,"after":{},"source":${src},"op":"c","op":"u","ts_ms":1}`, // duplicate member
      `{"before":null,"after":{},"source":${src},"op":"c","ts_ms":1e3}`, // integer written as an exponent
      `{"before":null,"after":{},"source":${src},"op":"c","ts_ms":1,}`, // trailing comma (invalid JSON)
      `{"before":null,"after":{"a":NaN},"source":${src},"op":"c","ts_ms":1}`, // NaN (invalid JSON)
      `{"before":null,"after":{"a":"tab\there"},"source":${src},"op":"c","ts_ms":1}`, // raw control character
      `{"before":null,"after":{"a":01},"source":${src},"op":"c","ts_ms":1}`, // leading zero
      `{"before":null,"after":null,"source":${src},"op":"c","ts_ms":1}`, // insert without after
      `{"before":null,"after":{},"source":${src},"op":"x","ts_ms":1}`, // unknown op
      `{"before":null,"after":{},"source":{"lsn":1},"op":"c","ts_ms":1}`, // no source.ts_ms
      `{"before":null,"after":{},"source":${src},"op":"c","ts_ms":1} x`, // trailing bytes
      `{"before":null,"after":${'['.repeat(100)}${']'.repeat(100)},"source":${src},"op":"c"}`, // not an object
      `{"before":null,"after":{"a":${'['.repeat(100)}${']'.repeat(100)}},"source":${src},"op":"c"}`, // too deep
      `[1]`,
      `"c"`,
    ];
    for (const value of declined) expect(agrees(value), value).toBe(false);
    expect(agrees(`{"before":null,"after":{},"source":${src},"op":"c","ts_ms":1}`, 'id=42')).toBe(false); // key not JSON
  });

  it('never disagrees with the reference decoder on mutated and truncated messages', () => {
    let seed = 11;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const src = JSON.stringify(source);
    const envelopes = [
      `{"before":null,"after":{"id":1,"s":"é","n":-12.5e+3},"source":${src},"op":"c","ts_ms":1}`,
      `{"before":{"id":1},"after":{"id":1,"x":[1,2,{"y":"\\\\"}]},"source":${src},"op":"u","ts_ms":2}`,
      `{"before":{"id":1},"after":null,"source":${src},"op":"d","ts_ms":3}`,
      `{ "before" : null , "after" : null , "source" : ${src} , "op" : "t" }`,
    ];
    const tokens = ['"c"', '"d"', '"x"', 'null', '{}', '[]', '1.5', '7', '-', '0', 'e', '"', '\\', '\\u', ',', ':', '}', '{', ']', 'true', ' ', '\n', '\t', '"ts_ms":', '"op":', '"lsn":', 'é'];
    let accepted = 0;
    let declined = 0;
    for (const envelope of envelopes) {
      for (let n = 0; n < 4000; n++) {
        let value = envelope;
        const edits = 1 + Math.floor(next() * 3);
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(next() * value.length);
          const cut = Math.floor(next() * 6);
          value = next() < 0.1 ? value.slice(0, at) : value.slice(0, at) + tokens[Math.floor(next() * tokens.length)] + value.slice(at + cut);
        }
        if (agrees(value)) accepted++;
        else declined++;
        // Raw bytes too: a mutation can also cut a multi-byte UTF-8 sequence.
        const bytes = Buffer.from(value);
        const cutAt = Math.floor(next() * bytes.length);
        agrees(Buffer.concat([bytes.subarray(0, cutAt), bytes.subarray(cutAt + 1)]));
      }
    }
    // Both sides of the contract are exercised.
    expect(accepted).toBeGreaterThan(1000);
    expect(declined).toBeGreaterThan(1000);
  });
});

describe('isJsonValue', () => {
  it('accepts one JSON value with surrounding whitespace, nothing else', () => {
    for (const ok of ['{"id":1}', ' {"a":[1,"x"]} ', '42', '"k"', 'null']) expect(isJsonValue(Buffer.from(ok)), ok).toBe(true);
    for (const bad of ['id=42', '{"id":1', '{"id":1}}', '', ' ', '{"a":1,}', "{'a':1}"]) expect(isJsonValue(Buffer.from(bad)), bad).toBe(false);
  });
});
