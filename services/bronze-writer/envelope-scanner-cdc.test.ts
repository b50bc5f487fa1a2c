/**
 * The bronze writer's fast path accepts what the CDC service really writes: events built by the
 * CDC's own ChangeMapper (Debezium 3.6.1's envelope, every op, snapshot markers, key changes,
 * TRUNCATE, special values) are scanned without falling back to the reference decoder, and the
 * scanner reports exactly what the reference decoder does.
 */
import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ChangeMapper, type OutgoingEvent } from '../cdc/change-mapper.ts';
import { decodePgoutput, UNCHANGED_TOAST } from '../cdc/pgoutput.ts';
import { encode } from '../cdc/testing/pgoutput-encoder.ts';
import { BUILTIN_TYPES } from '../cdc/value-render.ts';
import { decodeBronzeMessage } from './bronze-row.ts';
import { isJsonValue, newScannedEnvelope, scanEnvelope } from './envelope-scanner.ts';

const lookup = (oid: number) => BUILTIN_TYPES.get(oid);
const COLUMNS = [
  { name: 'id', typeOid: 20 }, { name: 'amount', typeOid: 1700 }, { name: 'price', typeOid: 790 }, { name: 'at', typeOid: 1184 },
  { name: 'day', typeOid: 1082 }, { name: 'spot', typeOid: 600 }, { name: 'note', typeOid: 25 }, { name: 'ratio', typeOid: 701 },
];
const ROW = ['42', 'NaN', '$1,234.56', '2024-01-01 08:30:00+00', 'infinity', '(1.5,-2)', 'Sortie "du" dimanche 🔥 \\', 'NaN'];

function events(): OutgoingEvent[] {
  const mapper = new ChangeMapper({ topicPrefix: 'sport', database: 'sport', version: '0.1.0' });
  const relation = decodePgoutput(encode.relation(16400, 'public', 'things', 'f', COLUMNS));
  if (relation.tag !== 'relation') throw new Error('unreachable');
  mapper.registerRelation(relation, ['id'], lookup);
  const feed = (buf: Buffer, lsn: bigint) => mapper.handle(decodePgoutput(buf), lsn);
  const plan = mapper.plan('public', 'things', COLUMNS.map((c) => ({ ...c, typeMod: -1 })), ['id'], lookup);
  const out: OutgoingEvent[] = [
    mapper.snapshotEvent(plan, ROW, { lsn: 0x90n, txId: 700, tsMs: 1_767_258_000_000, snapshot: 'first' }),
    mapper.snapshotEvent(plan, ROW, { lsn: 0x90n, txId: 700, tsMs: 1_767_258_000_000, snapshot: 'last_in_data_collection' }),
  ];
  feed(encode.begin(0x500n, 1_767_258_000_123, 731), 0x100n);
  feed(encode.origin(0x77n, 'upstream'), 0x100n);
  out.push(...feed(encode.insert(16400, ROW), 0x1a0n));
  out.push(...feed(encode.update(16400, ['42', '1.5', '$0.00', ...ROW.slice(3, 6), UNCHANGED_TOAST, '2'], { kind: 'O', values: ROW }), 0x1b0n));
  out.push(...feed(encode.update(16400, ['43', ...ROW.slice(1)], { kind: 'O', values: ROW }), 0x1c0n)); // key change: d, tombstone, c
  feed(encode.commit(0x500n, 0x530n, 1_767_258_000_123), 0x500n);
  feed(encode.begin(0x600n, 1_767_258_000_200, 732), 0x540n);
  out.push(...feed(encode.update(16400, ['43', ...ROW.slice(1)]), 0x560n)); // no before-image
  out.push(...feed(encode.delete(16400, 'O', ['43', ...ROW.slice(1)]), 0x570n));
  out.push(...feed(encode.truncate([16400]), 0x580n));
  return out;
}

describe('the envelope scanner on the CDC service\'s own events', () => {
  it('takes the fast path for every event and agrees with the reference decoder', () => {
    const all = events();
    const valued = all.filter((e) => e.value !== null);
    expect(valued.map((e) => e.op)).toEqual(['r', 'r', 'c', 'u', 'd', 'c', 'u', 'd', 't']);
    for (const e of valued) {
      const value = Buffer.from(e.value!);
      const key = e.key === null ? null : Buffer.from(e.key);
      expect(key === null || (isUtf8(key) && isJsonValue(key))).toBe(true);
      const scanned = newScannedEnvelope();
      expect(scanEnvelope(value, scanned), e.value!).toBe(true);
      const reference = decodeBronzeMessage({ offset: 1, timestampMs: 1, key, value });
      if (reference.kind !== 'row') throw new Error(`reference decoder: ${JSON.stringify(reference)}`);
      const text = (s: number, t: number) => (s < 0 ? null : value.subarray(s, t).toString('utf8'));
      expect({
        op: String.fromCharCode(scanned.op), lsn: scanned.lsn, txId: scanned.txId, sourceTsMs: scanned.sourceTsMs, eventTsMs: Number.isNaN(scanned.eventTsMs) ? null : scanned.eventTsMs,
        snapshot: text(scanned.snapshotStart, scanned.snapshotEnd), before: text(scanned.beforeStart, scanned.beforeEnd), after: text(scanned.afterStart, scanned.afterEnd),
      }).toEqual({
        op: reference.row.op, lsn: reference.row.lsn, txId: reference.row.txId, sourceTsMs: reference.row.sourceTsMs, eventTsMs: reference.row.eventTsMs,
        snapshot: reference.row.snapshot, before: reference.row.before, after: reference.row.after,
      });
    }
  });
});
