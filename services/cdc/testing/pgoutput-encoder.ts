/**
 * Test support: encodes pgoutput v1 messages byte for byte as PostgreSQL writes them
 * (https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html), so unit tests
 * can drive the decoder and the mapper without a server.
 */
import { UNCHANGED_TOAST, type TupleValue } from '../pgoutput.ts';

const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

class Writer {
  private parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  char(c: string): this {
    return this.u8(c.charCodeAt(0));
  }
  i16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  i32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }
  i64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    this.parts.push(b);
    return this;
  }
  cstring(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'), Buffer.from([0]));
    return this;
  }
  bytes(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  tuple(values: TupleValue[]): this {
    this.i16(values.length);
    for (const v of values) {
      if (v === null) this.char('n');
      else if (v === UNCHANGED_TOAST) this.char('u');
      else {
        const b = Buffer.from(v, 'utf8');
        this.char('t').i32(b.length).bytes(b);
      }
    }
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export const encode = {
  begin: (finalLsn: bigint, commitTimeMs: number, xid: number) =>
    new Writer().char('B').u64(finalLsn).i64(BigInt(commitTimeMs) * 1000n - PG_EPOCH_OFFSET_US).u32(xid).done(),
  commit: (commitLsn: bigint, endLsn: bigint, commitTimeMs: number) =>
    new Writer().char('C').u8(0).u64(commitLsn).u64(endLsn).i64(BigInt(commitTimeMs) * 1000n - PG_EPOCH_OFFSET_US).done(),
  relation: (id: number, schema: string, name: string, identity: 'd' | 'n' | 'f' | 'i', columns: { name: string; typeOid: number; typeMod?: number; key?: boolean }[]) => {
    const w = new Writer().char('R').u32(id).cstring(schema).cstring(name).char(identity).i16(columns.length);
    for (const c of columns) w.u8(c.key ? 1 : 0).cstring(c.name).u32(c.typeOid).i32(c.typeMod ?? -1);
    return w.done();
  },
  type: (oid: number, schema: string, name: string) => new Writer().char('Y').u32(oid).cstring(schema).cstring(name).done(),
  insert: (id: number, values: TupleValue[]) => new Writer().char('I').u32(id).char('N').tuple(values).done(),
  update: (id: number, values: TupleValue[], old?: { kind: 'K' | 'O'; values: TupleValue[] }) => {
    const w = new Writer().char('U').u32(id);
    if (old) w.char(old.kind).tuple(old.values);
    return w.char('N').tuple(values).done();
  },
  delete: (id: number, kind: 'K' | 'O', values: TupleValue[]) => new Writer().char('D').u32(id).char(kind).tuple(values).done(),
  truncate: (ids: number[], options = 0) => {
    const w = new Writer().char('T').i32(ids.length).u8(options);
    for (const id of ids) w.u32(id);
    return w.done();
  },
  message: (lsn: bigint, prefix: string, content: string, transactional = false) => {
    const b = Buffer.from(content, 'utf8');
    return new Writer().char('M').u8(transactional ? 1 : 0).u64(lsn).cstring(prefix).i32(b.length).bytes(b).done();
  },
  origin: (lsn: bigint, name: string) => new Writer().char('O').u64(lsn).cstring(name).done(),
};
