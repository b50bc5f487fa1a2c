/**
 * Decoder of PostgreSQL's logical replication protocol, as written by the `pgoutput` plugin
 * (protocol version 1; https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
 *
 * Pure and stateless: one XLogData payload in, one message out. Column values stay in PostgreSQL's
 * text output form (`'t'` columns), so value rendering (value-render.ts) sees exactly what the
 * server printed, with no driver-side type parsing (which would lose microseconds, int8 precision
 * and time zones), unlike parsers that convert values through node-postgres type parsers.
 */

/** Marks a column whose value is an unchanged TOASTed datum that the server did not send ('u'). */
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged-toast');

/** One tuple: per column, the text value, `null`, or {@link UNCHANGED_TOAST}. */
export type TupleValue = string | null | typeof UNCHANGED_TOAST;
export type Tuple = TupleValue[];

/** Difference between the PostgreSQL epoch (2000-01-01) and the Unix epoch, in microseconds. */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

export interface BeginMessage {
  tag: 'begin';
  /** LSN of the commit record. */
  finalLsn: bigint;
  /** Commit time, microseconds since the Unix epoch. */
  commitTimeUs: bigint;
  /** Transaction id (32-bit xid). */
  xid: number;
}

export interface CommitMessage {
  tag: 'commit';
  flags: number;
  /** LSN of the commit record. */
  commitLsn: bigint;
  /** End of the commit record: the position to confirm once the transaction is durable downstream. */
  endLsn: bigint;
  commitTimeUs: bigint;
}

export interface OriginMessage {
  tag: 'origin';
  originLsn: bigint;
  name: string;
}

export interface RelationColumn {
  /** Part of the replica identity (with REPLICA IDENTITY FULL, every column is). */
  isIdentity: boolean;
  name: string;
  typeOid: number;
  /** atttypmod: precision for timestamps, -1 when none was declared. */
  typeMod: number;
}

export interface RelationMessage {
  tag: 'relation';
  relationId: number;
  /** Schema name; PostgreSQL sends "" for pg_catalog. */
  schema: string;
  name: string;
  /** pg_class.relreplident: d = default (primary key), n = nothing, f = full, i = index. */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  columns: RelationColumn[];
}

export interface TypeMessage {
  tag: 'type';
  typeOid: number;
  schema: string;
  name: string;
}

export interface InsertMessage {
  tag: 'insert';
  relationId: number;
  newTuple: Tuple;
}

export interface UpdateMessage {
  tag: 'update';
  relationId: number;
  /** 'K': only the replica identity columns of the old row (the others are null). */
  keyTuple: Tuple | null;
  /** 'O': the whole old row (REPLICA IDENTITY FULL). */
  oldTuple: Tuple | null;
  newTuple: Tuple;
}

export interface DeleteMessage {
  tag: 'delete';
  relationId: number;
  keyTuple: Tuple | null;
  oldTuple: Tuple | null;
}

export interface TruncateMessage {
  tag: 'truncate';
  cascade: boolean;
  restartIdentity: boolean;
  relationIds: number[];
}

export interface LogicalMessage {
  tag: 'message';
  transactional: boolean;
  lsn: bigint;
  prefix: string;
  content: Buffer;
}

export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage;

/** Thrown for bytes that are not a well-formed pgoutput v1 message. */
export class PgoutputDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgoutputDecodeError';
  }
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new PgoutputDecodeError(`message truncated: needed ${n} bytes at offset ${this.pos} of ${this.buf.length}`);
    }
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  i16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new PgoutputDecodeError(`unterminated string at offset ${this.pos}`);
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  text(n: number): string {
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

function readTuple(r: Reader): Tuple {
  const n = r.i16();
  const tuple: Tuple = new Array<TupleValue>(n);
  for (let i = 0; i < n; i++) {
    const kind = r.u8();
    switch (kind) {
      case 0x74: // 't' text
        tuple[i] = r.text(r.i32());
        break;
      case 0x6e: // 'n' null
        tuple[i] = null;
        break;
      case 0x75: // 'u' unchanged TOAST datum
        tuple[i] = UNCHANGED_TOAST;
        break;
      case 0x62: // 'b' binary: only sent with the `binary` option, which the service never sets
        throw new PgoutputDecodeError('binary tuple data is not supported (the service does not request it)');
      default:
        throw new PgoutputDecodeError(`unknown tuple data kind 0x${kind.toString(16)}`);
    }
  }
  return tuple;
}

function expectByte(r: Reader, expected: string): void {
  const b = r.u8();
  if (b !== expected.charCodeAt(0)) throw new PgoutputDecodeError(`expected '${expected}', got 0x${b.toString(16)}`);
}

const REPLICA_IDENTITIES = new Set(['d', 'n', 'f', 'i']);

/**
 * Decodes one pgoutput message (the payload of an XLogData message, after its 25-byte header).
 * @param buf the message bytes; the first byte is the message type ('B', 'C', 'R', 'I', ...).
 * @returns the decoded message; column values are PostgreSQL text output, `null` or UNCHANGED_TOAST.
 * @throws PgoutputDecodeError on an unknown message type or truncated/malformed bytes.
 */
export function decodePgoutput(buf: Buffer): PgoutputMessage {
  const r = new Reader(buf);
  const tag = r.u8();
  switch (tag) {
    case 0x42: // 'B'
      return { tag: 'begin', finalLsn: r.u64(), commitTimeUs: r.i64() + PG_EPOCH_OFFSET_US, xid: r.u32() };
    case 0x43: // 'C'
      return { tag: 'commit', flags: r.u8(), commitLsn: r.u64(), endLsn: r.u64(), commitTimeUs: r.i64() + PG_EPOCH_OFFSET_US };
    case 0x4f: // 'O'
      return { tag: 'origin', originLsn: r.u64(), name: r.cstring() };
    case 0x52: { // 'R'
      const relationId = r.u32();
      const schema = r.cstring();
      const name = r.cstring();
      const identity = String.fromCharCode(r.u8());
      if (!REPLICA_IDENTITIES.has(identity)) throw new PgoutputDecodeError(`unknown replica identity '${identity}'`);
      const n = r.i16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.u8();
        columns.push({ isIdentity: (flags & 1) === 1, name: r.cstring(), typeOid: r.u32(), typeMod: r.i32() });
      }
      return { tag: 'relation', relationId, schema, name, replicaIdentity: identity as RelationMessage['replicaIdentity'], columns };
    }
    case 0x59: // 'Y'
      return { tag: 'type', typeOid: r.u32(), schema: r.cstring(), name: r.cstring() };
    case 0x49: { // 'I'
      const relationId = r.u32();
      expectByte(r, 'N');
      return { tag: 'insert', relationId, newTuple: readTuple(r) };
    }
    case 0x55: { // 'U'
      const relationId = r.u32();
      let keyTuple: Tuple | null = null;
      let oldTuple: Tuple | null = null;
      let sub = r.u8();
      if (sub === 0x4b) { // 'K'
        keyTuple = readTuple(r);
        sub = r.u8();
      } else if (sub === 0x4f) { // 'O'
        oldTuple = readTuple(r);
        sub = r.u8();
      }
      if (sub !== 0x4e) throw new PgoutputDecodeError(`update: expected 'N', got 0x${sub.toString(16)}`);
      return { tag: 'update', relationId, keyTuple, oldTuple, newTuple: readTuple(r) };
    }
    case 0x44: { // 'D'
      const relationId = r.u32();
      const sub = r.u8();
      if (sub === 0x4b) return { tag: 'delete', relationId, keyTuple: readTuple(r), oldTuple: null };
      if (sub === 0x4f) return { tag: 'delete', relationId, keyTuple: null, oldTuple: readTuple(r) };
      throw new PgoutputDecodeError(`delete: expected 'K' or 'O', got 0x${sub.toString(16)}`);
    }
    case 0x54: { // 'T'
      const n = r.i32();
      const options = r.u8();
      const relationIds: number[] = [];
      for (let i = 0; i < n; i++) relationIds.push(r.u32());
      return { tag: 'truncate', cascade: (options & 1) === 1, restartIdentity: (options & 2) === 2, relationIds };
    }
    case 0x4d: { // 'M'
      const flags = r.u8();
      const lsn = r.u64();
      const prefix = r.cstring();
      // Copied: the driver reuses its receive buffer once this callback returns.
      return { tag: 'message', transactional: (flags & 1) === 1, lsn, prefix, content: Buffer.from(r.bytes(r.i32())) };
    }
    default:
      throw new PgoutputDecodeError(`unknown pgoutput message type 0x${tag.toString(16)}`);
  }
}
