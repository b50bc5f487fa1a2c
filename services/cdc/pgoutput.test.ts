import { describe, expect, it } from 'vitest';
import { decodePgoutput, PgoutputDecodeError, UNCHANGED_TOAST } from './pgoutput.ts';
import { encode } from './testing/pgoutput-encoder.ts';

describe('decodePgoutput', () => {
  it('decodes Begin and Commit with Unix-epoch commit times', () => {
    const t = Date.UTC(2024, 0, 1, 8, 30);
    expect(decodePgoutput(encode.begin(0x1234n, t, 742))).toEqual({ tag: 'begin', finalLsn: 0x1234n, commitTimeUs: BigInt(t) * 1000n, xid: 742 });
    expect(decodePgoutput(encode.commit(0x1234n, 0x1260n, t))).toEqual({ tag: 'commit', flags: 0, commitLsn: 0x1234n, endLsn: 0x1260n, commitTimeUs: BigInt(t) * 1000n });
  });

  it('decodes a Relation with column flags, types and type modifiers', () => {
    const msg = decodePgoutput(encode.relation(16384, 'public', 'activities', 'f', [
      { name: 'activity_id', typeOid: 20, key: true },
      { name: 'started_at', typeOid: 1184, typeMod: 3 },
    ]));
    expect(msg).toEqual({
      tag: 'relation', relationId: 16384, schema: 'public', name: 'activities', replicaIdentity: 'f',
      columns: [
        { isIdentity: true, name: 'activity_id', typeOid: 20, typeMod: -1 },
        { isIdentity: false, name: 'started_at', typeOid: 1184, typeMod: 3 },
      ],
    });
  });

  it('keeps values as text, nulls as null and unchanged TOAST as a marker', () => {
    expect(decodePgoutput(encode.insert(7, ['42', null, 'Élodie "É"']))).toEqual({ tag: 'insert', relationId: 7, newTuple: ['42', null, 'Élodie "É"'] });
    expect(decodePgoutput(encode.update(7, ['42', UNCHANGED_TOAST], { kind: 'O', values: ['42', 'long text'] }))).toEqual({
      tag: 'update', relationId: 7, keyTuple: null, oldTuple: ['42', 'long text'], newTuple: ['42', UNCHANGED_TOAST],
    });
    expect(decodePgoutput(encode.update(7, ['43', 'x'], { kind: 'K', values: ['42', null] }))).toMatchObject({ keyTuple: ['42', null], oldTuple: null });
    expect(decodePgoutput(encode.update(7, ['42', 'x']))).toMatchObject({ keyTuple: null, oldTuple: null, newTuple: ['42', 'x'] });
  });

  it('decodes Delete (K and O), Truncate, Type, Origin and logical Messages', () => {
    expect(decodePgoutput(encode.delete(7, 'K', ['42', null]))).toEqual({ tag: 'delete', relationId: 7, keyTuple: ['42', null], oldTuple: null });
    expect(decodePgoutput(encode.delete(7, 'O', ['42', 'a']))).toEqual({ tag: 'delete', relationId: 7, keyTuple: null, oldTuple: ['42', 'a'] });
    expect(decodePgoutput(encode.truncate([7, 8], 3))).toEqual({ tag: 'truncate', cascade: true, restartIdentity: true, relationIds: [7, 8] });
    expect(decodePgoutput(encode.type(90000, 'public', 'mood'))).toEqual({ tag: 'type', typeOid: 90000, schema: 'public', name: 'mood' });
    expect(decodePgoutput(encode.origin(5n, 'node_a'))).toEqual({ tag: 'origin', originLsn: 5n, name: 'node_a' });
    const m = decodePgoutput(encode.message(99n, 'sport', 'hello', true));
    expect(m).toMatchObject({ tag: 'message', transactional: true, lsn: 99n, prefix: 'sport' });
    expect(m.tag === 'message' && m.content.toString()).toBe('hello');
  });

  it('rejects unknown message types and truncated messages', () => {
    expect(() => decodePgoutput(Buffer.from('Z'))).toThrow(PgoutputDecodeError);
    const full = encode.insert(7, ['42']);
    expect(() => decodePgoutput(full.subarray(0, full.length - 1))).toThrow(/truncated/);
    expect(() => decodePgoutput(Buffer.from([0x44, 0, 0, 0, 7, 0x58]))).toThrow(/expected 'K' or 'O'/);
  });
});
