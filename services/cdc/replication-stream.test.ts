import { describe, expect, it } from 'vitest';
import { parseCopyData, standbyStatusUpdate, startReplicationCommand } from './replication-stream.ts';

describe('replication protocol frames', () => {
  it('parses XLogData: start LSN, WAL end and the pgoutput payload', () => {
    const frame = Buffer.concat([Buffer.from('w'), Buffer.from('0000000100000200', 'hex'), Buffer.from('00000001000003ff', 'hex'), Buffer.alloc(8), Buffer.from('B...')]);
    const f = parseCopyData(frame);
    expect(f).toMatchObject({ kind: 'xlogdata', lsn: 0x1_0000_0200n, walEnd: 0x1_0000_03ffn });
    expect(f.kind === 'xlogdata' && f.payload.toString()).toBe('B...');
  });

  it('parses a primary keepalive and whether it asks for a reply', () => {
    const keepalive = (reply: number) => Buffer.concat([Buffer.from('k'), Buffer.from('0000000000abcdef', 'hex'), Buffer.alloc(8), Buffer.from([reply])]);
    expect(parseCopyData(keepalive(1))).toEqual({ kind: 'keepalive', walEnd: 0xabcdefn, replyRequested: true });
    expect(parseCopyData(keepalive(0))).toEqual({ kind: 'keepalive', walEnd: 0xabcdefn, replyRequested: false });
    expect(parseCopyData(Buffer.from('z'))).toEqual({ kind: 'unknown', tag: 0x7a });
  });

  it('writes the standby status update: written = flushed = applied = the LSN, clock in µs since 2000-01-01', () => {
    const b = standbyStatusUpdate(0x16_b374_d848n, Date.UTC(2000, 0, 1, 0, 0, 1));
    expect(b.length).toBe(34);
    expect(String.fromCharCode(b[0]!)).toBe('r');
    expect([b.readBigUInt64BE(1), b.readBigUInt64BE(9), b.readBigUInt64BE(17)]).toEqual([0x16_b374_d848n, 0x16_b374_d848n, 0x16_b374_d848n]);
    expect(b.readBigInt64BE(25)).toBe(1_000_000n);
    expect(b[33]).toBe(0);
  });

  it('quotes the slot and publication names in START_REPLICATION', () => {
    expect(startReplicationCommand('sport_cdc_slot', 0x16_b374_d848n, 'sport_cdc')).toBe(`START_REPLICATION SLOT "sport_cdc_slot" LOGICAL 16/B374D848 (proto_version '1', publication_names '"sport_cdc"', messages 'true')`);
    expect(startReplicationCommand('s', 1n, `we"ird'pub`)).toBe(`START_REPLICATION SLOT "s" LOGICAL 0/1 (proto_version '1', publication_names '"we""ird''pub"', messages 'true')`);
  });
});
