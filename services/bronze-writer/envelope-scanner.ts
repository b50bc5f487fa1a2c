/**
 * The bronze writer's fast path for decoding change events: one validating pass over the UTF-8
 * bytes of a message value that finds the envelope's fields (docs/contracts/change-events.md)
 * without creating a string or an object per message. Pure: no I/O.
 *
 * Why: decoding with JSON.parse builds the whole event (every column of both row images) as
 * JavaScript objects only to keep their text, and at 100,000 messages per second that garbage
 * costs more CPU than anything else the writer does (docs/benchmarks.md, bronze). The scanner
 * reports byte ranges instead: the row images go to DuckDB as the exact bytes the producer
 * wrote, integers are read from their digits.
 *
 * Contract with the reference decoder ({@link decodeBronzeMessage}, bronze-row.ts): the scanner
 * either accepts a message, and then every field it reports equals what the reference decoder
 * returns for it, or it declines (returns false) and the caller uses the reference decoder,
 * whose verdict (row or dead letter) is authoritative. It declines on anything unusual, valid
 * or not: invalid JSON (RFC 8259 grammar, checked in full), escapes in member names or in the
 * op/snapshot/schema/table strings, duplicate envelope members, integers that are not plain
 * digits or have more than 15 of them (exactness beyond 2^53 is the reference decoder's job),
 * non-string snapshot/schema/table, a missing op or source.ts_ms, a row image the op needs but
 * lacks, nesting deeper than {@link MAX_DEPTH}. The differential test (envelope-scanner.test.ts)
 * holds it to that contract on valid, mutated and hostile messages.
 *
 * UTF-8 validity is not checked here: callers check it first (Buffer's native `isUtf8`).
 * The scanned array must be exactly the message (a subarray of a larger buffer is fine): the
 * scanner relies on reads past its end giving undefined.
 */

/** Nesting beyond this declines (the reference decoder handles it; CDC rows are flat). */
export const MAX_DEPTH = 64;

/**
 * Where the fields of one scanned envelope are. Ranges are [start, end) byte indexes into the
 * scanned buffer; a start of -1 means JSON null or absent. Integers are NaN when null/absent.
 * One instance is reused for every message (see {@link newScannedEnvelope}).
 */
export interface ScannedEnvelope {
  /** Char code of the op letter: c, u, d, r or t. */
  op: number;
  /** Envelope ts_ms (ms since epoch), NaN when absent or null. */
  eventTsMs: number;
  /** source.ts_ms (ms since epoch); always present when accepted. */
  sourceTsMs: number;
  /** source.lsn, NaN when absent or null. */
  lsn: number;
  /** source.txId, NaN when absent or null. */
  txId: number;
  /** Contents of the source.snapshot / schema / table strings, without the quotes. */
  snapshotStart: number;
  snapshotEnd: number;
  schemaStart: number;
  schemaEnd: number;
  tableStart: number;
  tableEnd: number;
  /** The `before` / `after` objects, braces included. */
  beforeStart: number;
  beforeEnd: number;
  afterStart: number;
  afterEnd: number;
}

/** A blank {@link ScannedEnvelope} to pass to {@link scanEnvelope} again and again. */
export function newScannedEnvelope(): ScannedEnvelope {
  return {
    op: 0,
    eventTsMs: Number.NaN,
    sourceTsMs: Number.NaN,
    lsn: Number.NaN,
    txId: Number.NaN,
    snapshotStart: -1,
    snapshotEnd: -1,
    schemaStart: -1,
    schemaEnd: -1,
    tableStart: -1,
    tableEnd: -1,
    beforeStart: -1,
    beforeEnd: -1,
    afterStart: -1,
    afterEnd: -1,
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const LOWER_F = 0x66;
const LOWER_U = 0x75;

const OP_CODES = new Set([0x63, 0x75, 0x64, 0x72, 0x74]); // c u d r t

/** Set by {@link scanString}: whether the last string scanned had a backslash escape. */
let lastStringEscaped = false;

function skipSpace(b: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = b[i]!;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else break;
  }
  return i;
}

function isHexDigit(c: number): boolean {
  return (c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/** The string starting at `i` (a quote): index after its closing quote, or -1 when invalid. */
function scanString(b: Uint8Array, i: number, end: number): number {
  lastStringEscaped = false;
  i++;
  while (i < end) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      lastStringEscaped = true;
      const e = b[i + 1];
      if (e === LOWER_U) {
        if (i + 5 >= end || !isHexDigit(b[i + 2]!) || !isHexDigit(b[i + 3]!) || !isHexDigit(b[i + 4]!) || !isHexDigit(b[i + 5]!)) return -1;
        i += 6;
        continue;
      }
      // " \ / b f n r t
      if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === LOWER_F || e === LOWER_N || e === 0x72 || e === LOWER_T) {
        i += 2;
        continue;
      }
      return -1;
    }
    if (c < 0x20) return -1; // control characters must be escaped
    i++;
  }
  return -1;
}

/** The number starting at `i`: index after it, or -1 when it breaks the JSON grammar. */
function scanNumber(b: Uint8Array, i: number, end: number): number {
  if (b[i] === MINUS) i++;
  if (i >= end) return -1;
  const first = b[i]!;
  if (first === ZERO) i++;
  else if (first > ZERO && first <= NINE) {
    i++;
    while (i < end && b[i]! >= ZERO && b[i]! <= NINE) i++;
  } else return -1;
  if (i < end && b[i] === DOT) {
    i++;
    if (!(i < end && b[i]! >= ZERO && b[i]! <= NINE)) return -1;
    while (i < end && b[i]! >= ZERO && b[i]! <= NINE) i++;
  }
  if (i < end && (b[i] === LOWER_E || b[i] === UPPER_E)) {
    i++;
    if (i < end && (b[i] === PLUS || b[i] === MINUS)) i++;
    if (!(i < end && b[i]! >= ZERO && b[i]! <= NINE)) return -1;
    while (i < end && b[i]! >= ZERO && b[i]! <= NINE) i++;
  }
  return i;
}

/** The integer in b[start, end) when it is plain digits (optionally negative), at most 15 of them; else NaN. */
function plainInteger(b: Uint8Array, start: number, end: number): number {
  let i = start;
  const negative = b[i] === MINUS;
  if (negative) i++;
  const digits = end - i;
  if (digits < 1 || digits > 15 || (digits > 1 && b[i] === ZERO)) return Number.NaN;
  let value = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c < ZERO || c > NINE) return Number.NaN;
    value = value * 10 + (c - ZERO);
  }
  return negative ? (value === 0 ? Number.NaN : -value) : value; // "-0" declines: JSON.parse gives -0
}

function matches(b: Uint8Array, i: number, end: number, literal: readonly number[]): boolean {
  if (i + literal.length > end) return false;
  for (let k = 0; k < literal.length; k++) if (b[i + k] !== literal[k]) return false;
  return true;
}

const TRUE = [...'true'].map((c) => c.charCodeAt(0));
const FALSE = [...'false'].map((c) => c.charCodeAt(0));
const NULL = [...'null'].map((c) => c.charCodeAt(0));

/** The JSON value starting at `i`: index after it, or -1 when invalid or nested too deep. */
function scanValue(b: Uint8Array, i: number, end: number, depth: number): number {
  const c = b[i];
  if (c === QUOTE) return scanString(b, i, end);
  if (c === OPEN_BRACE) return scanObject(b, i, end, depth + 1);
  if (c === OPEN_BRACKET) return scanArray(b, i, end, depth + 1);
  if (c === LOWER_T) return matches(b, i, end, TRUE) ? i + 4 : -1;
  if (c === LOWER_F) return matches(b, i, end, FALSE) ? i + 5 : -1;
  if (c === LOWER_N) return matches(b, i, end, NULL) ? i + 4 : -1;
  if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return scanNumber(b, i, end);
  return -1;
}

function scanObject(b: Uint8Array, i: number, end: number, depth: number): number {
  if (depth > MAX_DEPTH) return -1;
  i = skipSpace(b, i + 1, end);
  if (b[i] === CLOSE_BRACE) return i + 1;
  for (;;) {
    if (b[i] !== QUOTE) return -1;
    i = scanString(b, i, end);
    if (i < 0) return -1;
    i = skipSpace(b, i, end);
    if (b[i] !== COLON) return -1;
    i = scanValue(b, skipSpace(b, i + 1, end), end, depth);
    if (i < 0) return -1;
    i = skipSpace(b, i, end);
    if (b[i] === COMMA) i = skipSpace(b, i + 1, end);
    else return b[i] === CLOSE_BRACE ? i + 1 : -1;
  }
}

function scanArray(b: Uint8Array, i: number, end: number, depth: number): number {
  if (depth > MAX_DEPTH) return -1;
  i = skipSpace(b, i + 1, end);
  if (b[i] === CLOSE_BRACKET) return i + 1;
  for (;;) {
    i = scanValue(b, i, end, depth);
    if (i < 0) return -1;
    i = skipSpace(b, i, end);
    if (b[i] === COMMA) i = skipSpace(b, i + 1, end);
    else return b[i] === CLOSE_BRACKET ? i + 1 : -1;
  }
}

/** Member names the scanner looks for, as bytes. */
const name = (s: string) => [...s].map((c) => c.charCodeAt(0));
const N_BEFORE = name('before');
const N_AFTER = name('after');
const N_SOURCE = name('source');
const N_OP = name('op');
const N_TS_MS = name('ts_ms');
const N_LSN = name('lsn');
const N_TX_ID = name('txId');
const N_SNAPSHOT = name('snapshot');
const N_SCHEMA = name('schema');
const N_TABLE = name('table');

/** Whether b[start, end) is exactly `expected`. */
function nameIs(b: Uint8Array, start: number, end: number, expected: readonly number[]): boolean {
  if (end - start !== expected.length) return false;
  for (let k = 0; k < expected.length; k++) if (b[start + k] !== expected[k]) return false;
  return true;
}

/**
 * Scans a string member value that must be a plain string (no escapes) or null.
 * @returns index after it, or -1 to decline; sets `range[0..1]`.
 */
const stringRange = [-1, -1];
function plainStringOrNull(b: Uint8Array, i: number, end: number): number {
  if (b[i] === LOWER_N) {
    stringRange[0] = stringRange[1] = -1;
    return matches(b, i, end, NULL) ? i + 4 : -1;
  }
  if (b[i] !== QUOTE) return -1;
  const after = scanString(b, i, end);
  if (after < 0 || lastStringEscaped) return -1;
  stringRange[0] = i + 1;
  stringRange[1] = after - 1;
  return after;
}

/** Scans an integer member value that must be plain digits or null; sets `integerValue`. */
let integerValue = Number.NaN;
function plainIntegerOrNull(b: Uint8Array, i: number, end: number): number {
  if (b[i] === LOWER_N) {
    integerValue = Number.NaN;
    return matches(b, i, end, NULL) ? i + 4 : -1;
  }
  const after = scanNumber(b, i, end);
  if (after < 0) return -1;
  integerValue = plainInteger(b, i, after);
  return Number.isNaN(integerValue) ? -1 : after;
}

/** The `source` object starting at `i`: index after it, or -1 to decline. */
function scanSource(b: Uint8Array, i: number, end: number, out: ScannedEnvelope): number {
  if (b[i] !== OPEN_BRACE) return -1;
  let seen = 0;
  out.sourceTsMs = out.lsn = out.txId = Number.NaN;
  out.snapshotStart = out.snapshotEnd = out.schemaStart = out.schemaEnd = out.tableStart = out.tableEnd = -1;
  i = skipSpace(b, i + 1, end);
  if (b[i] === CLOSE_BRACE) return -1; // no ts_ms
  for (;;) {
    if (b[i] !== QUOTE) return -1;
    const nameStart = i + 1;
    i = scanString(b, i, end);
    if (i < 0 || lastStringEscaped) return -1;
    const nameEnd = i - 1;
    i = skipSpace(b, i, end);
    if (b[i] !== COLON) return -1;
    i = skipSpace(b, i + 1, end);
    let bit = 0;
    if (nameIs(b, nameStart, nameEnd, N_TS_MS)) {
      bit = 1;
      i = plainIntegerOrNull(b, i, end);
      if (i < 0 || Number.isNaN(integerValue)) return -1;
      out.sourceTsMs = integerValue;
    } else if (nameIs(b, nameStart, nameEnd, N_LSN)) {
      bit = 2;
      i = plainIntegerOrNull(b, i, end);
      out.lsn = integerValue;
    } else if (nameIs(b, nameStart, nameEnd, N_TX_ID)) {
      bit = 4;
      i = plainIntegerOrNull(b, i, end);
      out.txId = integerValue;
    } else if (nameIs(b, nameStart, nameEnd, N_SNAPSHOT)) {
      bit = 8;
      i = plainStringOrNull(b, i, end);
      out.snapshotStart = stringRange[0]!;
      out.snapshotEnd = stringRange[1]!;
    } else if (nameIs(b, nameStart, nameEnd, N_SCHEMA)) {
      bit = 16;
      i = plainStringOrNull(b, i, end);
      out.schemaStart = stringRange[0]!;
      out.schemaEnd = stringRange[1]!;
    } else if (nameIs(b, nameStart, nameEnd, N_TABLE)) {
      bit = 32;
      i = plainStringOrNull(b, i, end);
      out.tableStart = stringRange[0]!;
      out.tableEnd = stringRange[1]!;
    } else {
      i = scanValue(b, i, end, 2);
    }
    if (i < 0 || (seen & bit) !== 0) return -1; // a duplicate member: JSON.parse keeps the last one, decline
    seen |= bit;
    i = skipSpace(b, i, end);
    if (b[i] === COMMA) i = skipSpace(b, i + 1, end);
    else if (b[i] === CLOSE_BRACE) return (seen & 1) === 1 ? i + 1 : -1;
    else return -1;
  }
}

/** A row image: an object (range set in `imageRange`) or null (range -1). -1 declines. */
const imageRange = [-1, -1];
function rowImage(b: Uint8Array, i: number, end: number): number {
  if (b[i] === LOWER_N) {
    imageRange[0] = imageRange[1] = -1;
    return matches(b, i, end, NULL) ? i + 4 : -1;
  }
  if (b[i] !== OPEN_BRACE) return -1;
  const after = scanObject(b, i, end, 2);
  imageRange[0] = i;
  imageRange[1] = after;
  return after;
}

/**
 * Scans the change event `bytes` (a whole message value, valid UTF-8) into `out`; its ranges
 * index `bytes`.
 * @returns true when the fast path accepts the message (every field of `out` is then set and
 *   equals the reference decoder's result); false to fall back to the reference decoder.
 */
export function scanEnvelope(bytes: Uint8Array, out: ScannedEnvelope): boolean {
  // Every read past the end gives undefined, which matches no expected byte: no bounds checks.
  const end = bytes.length;
  let i = skipSpace(bytes, 0, end);
  if (bytes[i] !== OPEN_BRACE) return false;
  let seen = 0;
  out.op = 0;
  out.eventTsMs = Number.NaN;
  out.beforeStart = out.beforeEnd = out.afterStart = out.afterEnd = -1;
  i = skipSpace(bytes, i + 1, end);
  if (bytes[i] === CLOSE_BRACE) return false;
  for (;;) {
    if (bytes[i] !== QUOTE) return false;
    const nameStart = i + 1;
    i = scanString(bytes, i, end);
    if (i < 0 || lastStringEscaped) return false;
    const nameEnd = i - 1;
    i = skipSpace(bytes, i, end);
    if (bytes[i] !== COLON) return false;
    i = skipSpace(bytes, i + 1, end);
    let bit = 0;
    if (nameIs(bytes, nameStart, nameEnd, N_AFTER)) {
      bit = 1;
      i = rowImage(bytes, i, end);
      out.afterStart = imageRange[0]!;
      out.afterEnd = imageRange[1]!;
    } else if (nameIs(bytes, nameStart, nameEnd, N_BEFORE)) {
      bit = 2;
      i = rowImage(bytes, i, end);
      out.beforeStart = imageRange[0]!;
      out.beforeEnd = imageRange[1]!;
    } else if (nameIs(bytes, nameStart, nameEnd, N_SOURCE)) {
      bit = 4;
      i = scanSource(bytes, i, end, out);
    } else if (nameIs(bytes, nameStart, nameEnd, N_OP)) {
      bit = 8;
      if (bytes[i] !== QUOTE || bytes[i + 2] !== QUOTE || !OP_CODES.has(bytes[i + 1]!)) return false;
      out.op = bytes[i + 1]!;
      i += 3;
    } else if (nameIs(bytes, nameStart, nameEnd, N_TS_MS)) {
      bit = 16;
      i = plainIntegerOrNull(bytes, i, end);
      out.eventTsMs = integerValue;
    } else {
      i = scanValue(bytes, i, end, 1);
    }
    if (i < 0 || (seen & bit) !== 0) return false;
    seen |= bit;
    i = skipSpace(bytes, i, end);
    if (bytes[i] === COMMA) i = skipSpace(bytes, i + 1, end);
    else if (bytes[i] === CLOSE_BRACE) break;
    else return false;
  }
  if (skipSpace(bytes, i + 1, end) !== end) return false; // trailing bytes
  if ((seen & 12) !== 12) return false; // op and source are required
  const op = out.op;
  if ((op === 0x63 || op === 0x72 || op === 0x75) && out.afterStart < 0) return false;
  if (op === 0x64 && out.beforeStart < 0) return false;
  return true;
}

/**
 * Whether `bytes` (whole) is one JSON value, optionally surrounded by whitespace (a message
 * key). Declines (false) on nesting deeper than {@link MAX_DEPTH}, like the scanner.
 */
export function isJsonValue(bytes: Uint8Array): boolean {
  const end = bytes.length;
  const i = scanValue(bytes, skipSpace(bytes, 0, end), end, 0);
  return i >= 0 && skipSpace(bytes, i, end) === end;
}
