/**
 * The shared key checks of the change-event contract ({@link keyProblem},
 * services/common/contracts/change-event.ts) on the bronze writer's packed bytes. Pure: no I/O.
 *
 * A message whose `lakehouse.schema.id` names a table schema document with a key (its
 * `primaryKey`, docs/contracts/table-schemas.md) must have a key: a JSON object holding exactly
 * those columns, with the values of the row image (`after`; `before` for a delete). Otherwise it
 * is dead-lettered like in every other consumer (`missing_key`, `invalid_key`, `key_mismatch`),
 * instead of reaching silver as a row without identity. Truncates carry no key and are not
 * checked; nor are messages whose schema is not known to the writer when the segment is encoded
 * (no header, or a document not in the schema topic).
 *
 * Fast path: the key's members and the row image's key members are compared as bytes, without
 * building strings or objects (CDC keys and rows render a column's value the same way). Anything
 * else (different spelling of an equal value, escapes in names, a missing member) goes to the
 * contract's {@link keyProblem} on parsed values, whose verdict stands.
 */
import { keyProblem, type ChangeMessageProblem, type ChangeOp, type RowImage } from '../common/contracts/change-event.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Index just past the string whose opening quote is at `i`. */
function skipString(bytes: Uint8Array, i: number, end: number): number {
  for (i++; i < end; i++) {
    const c = bytes[i];
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return end;
}

/** Index just past the JSON value starting at `i` (valid JSON assumed). */
function skipValue(bytes: Uint8Array, i: number, end: number): number {
  const c = bytes[i];
  if (c === QUOTE) return skipString(bytes, i, end);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    while (i < end) {
      const d = bytes[i];
      if (d === QUOTE) {
        i = skipString(bytes, i, end);
        continue;
      }
      if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return end;
  }
  while (i < end) {
    const d = bytes[i];
    if (d === COMMA || d === 0x7d || d === 0x5d || isSpace(d)) return i;
    i++;
  }
  return end;
}

/** Scratch for {@link nextMember}: name start, name end, value start, value end. */
const member = new Int32Array(4);

/**
 * Reads the member starting at `i` (at its name's quote, or at whitespace before it) of a JSON
 * object in `bytes[.., end)` (valid JSON assumed) into {@link member}.
 * @returns the index after the member and its comma, or -1 when there is no member at `i`.
 */
function nextMember(bytes: Uint8Array, i: number, end: number): number {
  while (isSpace(bytes[i])) i++;
  if (i >= end || bytes[i] !== QUOTE) return -1;
  member[0] = i;
  i = skipString(bytes, i, end);
  member[1] = i;
  while (isSpace(bytes[i])) i++;
  if (bytes[i] !== COLON) return -1;
  i++;
  while (isSpace(bytes[i])) i++;
  member[2] = i;
  i = skipValue(bytes, i, end);
  member[3] = i;
  while (isSpace(bytes[i])) i++;
  return bytes[i] === COMMA ? i + 1 : end;
}

/** Number of top-level members of the object at `bytes[start, end)`. */
function countMembers(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let i = start + 1; i < end; n++) {
    i = nextMember(bytes, i, end);
    if (i < 0) break;
  }
  return n;
}

function equalBytes(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let k = 0; k < aEnd - aStart; k++) if (a[aStart + k] !== b[bStart + k]) return false;
  return true;
}

/** Whether the object at `bytes[start, end)` has a member named `name` (JSON-encoded); its value range is then in member[2..3]. */
function findMember(bytes: Uint8Array, start: number, end: number, name: Uint8Array): boolean {
  for (let i = start + 1; i >= 0 && i < end; ) {
    i = nextMember(bytes, i, end);
    if (i < 0) return false;
    if (equalBytes(bytes, member[0]!, member[1]!, name, 0, name.length)) return true;
  }
  return false;
}

/** One table's key, ready for byte comparisons. */
interface TableKey {
  columns: readonly string[];
  /** JSON.stringify of each column name, as UTF-8 bytes. */
  names: Uint8Array[];
}

function utf8(bytes: Uint8Array, start = 0, end = bytes.length): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
}

/** The key checks of one segment: its schema ids' key columns. */
export class KeyChecks {
  private readonly tables = new Map<string, TableKey>();
  private lastId: Uint8Array | null = null;
  private lastTable: TableKey | undefined;

  /** @param keyColumns schema id -> the table's key columns (`[]` = keyless), for the ids known. */
  constructor(keyColumns: Readonly<Record<string, readonly string[]>> | undefined) {
    for (const [id, columns] of Object.entries(keyColumns ?? {})) this.tables.set(id, { columns, names: columns.map((c) => Buffer.from(JSON.stringify(c))) });
  }

  /** True when no schema's key is known (nothing to check). */
  get isEmpty(): boolean {
    return this.tables.size === 0;
  }

  private table(schemaId: Uint8Array | null): TableKey | undefined {
    if (schemaId === null || this.tables.size === 0) return undefined;
    if (this.lastId !== null && equalBytes(schemaId, 0, schemaId.length, this.lastId, 0, this.lastId.length)) return this.lastTable;
    this.lastId = schemaId;
    this.lastTable = this.tables.get(Buffer.from(schemaId.buffer, schemaId.byteOffset, schemaId.length).toString('latin1'));
    return this.lastTable;
  }

  /**
   * Checks the key of one message against its table's key and row image.
   * @param key the key bytes (null or empty = none; UTF-8 JSON already checked when present).
   * @param op the op, or null for a tombstone.
   * @param row the bytes holding the row image (`after`; `before` for a delete), with its range;
   *   `rowStart` < 0 = none.
   * @returns the dead-letter reason and detail, or null when consistent or not checkable.
   */
  problem(schemaId: Uint8Array | null, key: Uint8Array | null, op: ChangeOp | null, row: Uint8Array | null, rowStart: number, rowEnd: number): { reason: ChangeMessageProblem; detail: string } | null {
    const table = this.table(schemaId);
    if (table === undefined || op === 't') return null;
    const hasKey = key !== null && key.length > 0;
    if (hasKey && table.columns.length > 0 && op !== null && row !== null && rowStart >= 0 && this.matches(table, key, row, rowStart, rowEnd)) return null;
    if (!hasKey && table.columns.length === 0) return null;
    // Slow path: the contract decides on parsed values.
    let parsedRow: RowImage | null = null;
    if (op !== null && row !== null && rowStart >= 0) {
      try {
        parsedRow = JSON.parse(utf8(row, rowStart, rowEnd)) as RowImage;
      } catch {
        parsedRow = null;
      }
    }
    let parsedKey: unknown;
    if (hasKey) {
      try {
        parsedKey = JSON.parse(utf8(key));
      } catch (err) {
        return { reason: 'invalid_key', detail: `key is not JSON: ${(err as Error).message}` };
      }
    }
    return keyProblem(parsedKey, op, parsedRow, table.columns);
  }

  /** Byte-level match: the key object has exactly the key columns, each spelled as in the row. */
  private matches(table: TableKey, key: Uint8Array, row: Uint8Array, rowStart: number, rowEnd: number): boolean {
    let k = 0;
    while (isSpace(key[k])) k++;
    if (key[k] !== 0x7b) return false;
    if (countMembers(key, k, key.length) !== table.columns.length) return false;
    for (const name of table.names) {
      if (!findMember(key, k, key.length, name)) return false;
      const keyStart = member[2]!;
      const keyEnd = member[3]!;
      if (!findMember(row, rowStart, rowEnd, name) || !equalBytes(key, keyStart, keyEnd, row, member[2]!, member[3]!)) return false;
    }
    return true;
  }
}
