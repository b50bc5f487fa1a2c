/**
 * Rendering of PostgreSQL column values as Debezium's JSON converter renders them
 * (Debezium PostgreSQL connector, "Data type mappings", with `decimal.handling.mode=string`,
 * `time.precision.mode=adaptive`, `binary.handling.mode=bytes` rendered base64 as the JSON
 * converter does, `interval.handling.mode=string` (CDC_INTERVAL_HANDLING=iso8601, the default)
 * or `numeric`, `hstore.handling.mode=json`, `schemas.enable=false`). Each renderer follows
 * Debezium 3.6.1's code, named in its comment (PostgresValueConverter and the classes it uses), and
 * services/cdc/debezium-compat.int.test.ts checks the output against a real Debezium run.
 *
 * Input is the server's text output form, produced under the session settings the service always
 * sets ({@link PG_SESSION_OPTIONS}: UTC time zone, ISO dates, hex bytea, ISO-8601 intervals).
 * Output is a JSON *fragment* (text), so int8 and LSN values stay exact beyond 2^53 and the
 * envelope can be assembled without a second serialisation pass.
 *
 * Pure: no I/O. A value that cannot be rendered (e.g. the date `infinity`) throws
 * {@link UnrenderableValueError}; the caller sends the raw text instead and logs it.
 */
import { UNAVAILABLE_VALUE, type IntervalMode } from '../common/contracts/table-schema.ts';

/** How a column's values are rendered; see the table in services/cdc/README.md. */
export type ValueKind =
  | 'int'
  | 'float'
  | 'numeric'
  | 'bool'
  | 'text'
  | 'json'
  | 'uuid'
  | 'bytea'
  | 'date'
  | 'timestamp'
  | 'timestamptz'
  | 'time'
  | 'timetz'
  | 'interval'
  | 'money'
  | 'point'
  | 'hstore'
  | 'array'
  | 'unknown';

/** What the service knows about a PostgreSQL type. */
export interface TypeInfo {
  oid: number;
  /** e.g. "int4", "_text", "mood". */
  name: string;
  kind: ValueKind;
  /** Element type of an array type. */
  elemOid?: number;
}

/**
 * Startup options for every PostgreSQL session whose text output the service renders (snapshot
 * and replication connections), so that the text forms parsed here are fixed.
 */
export const PG_SESSION_OPTIONS = '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c bytea_output=hex -c extra_float_digits=1 -c lc_monetary=C';

/** Debezium's placeholder for an unchanged TOAST value it does not know (`unavailable.value.placeholder`). */
export const UNAVAILABLE_VALUE_PLACEHOLDER = UNAVAILABLE_VALUE;

/** Thrown by a renderer for a value it cannot express in the Debezium form. */
export class UnrenderableValueError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UnrenderableValueError';
  }
}

const scalar = (oid: number, name: string, kind: ValueKind): [number, TypeInfo] => [oid, { oid, name, kind }];
const array = (oid: number, name: string, elemOid: number): [number, TypeInfo] => [oid, { oid, name, kind: 'array', elemOid }];

/** Built-in types by OID (pg_type.dat; OIDs of built-in types are fixed across versions). */
export const BUILTIN_TYPES: ReadonlyMap<number, TypeInfo> = new Map<number, TypeInfo>([
  scalar(16, 'bool', 'bool'),
  scalar(17, 'bytea', 'bytea'),
  scalar(18, 'char', 'text'),
  scalar(19, 'name', 'text'),
  scalar(20, 'int8', 'int'),
  scalar(21, 'int2', 'int'),
  scalar(23, 'int4', 'int'),
  scalar(25, 'text', 'text'),
  scalar(26, 'oid', 'int'),
  scalar(114, 'json', 'json'),
  scalar(142, 'xml', 'text'),
  scalar(650, 'cidr', 'text'),
  scalar(700, 'float4', 'float'),
  scalar(701, 'float8', 'float'),
  scalar(829, 'macaddr', 'text'),
  scalar(869, 'inet', 'text'),
  scalar(1042, 'bpchar', 'text'),
  scalar(1043, 'varchar', 'text'),
  scalar(1082, 'date', 'date'),
  scalar(1083, 'time', 'time'),
  scalar(1114, 'timestamp', 'timestamp'),
  scalar(1184, 'timestamptz', 'timestamptz'),
  scalar(1186, 'interval', 'interval'),
  scalar(1266, 'timetz', 'timetz'),
  scalar(1700, 'numeric', 'numeric'),
  scalar(2950, 'uuid', 'uuid'),
  scalar(3802, 'jsonb', 'json'),
  scalar(4072, 'jsonpath', 'text'),
  scalar(790, 'money', 'money'),
  scalar(600, 'point', 'point'),
  scalar(3904, 'int4range', 'text'),
  scalar(3906, 'numrange', 'text'),
  scalar(3908, 'tsrange', 'text'),
  scalar(3910, 'tstzrange', 'text'),
  scalar(3912, 'daterange', 'text'),
  scalar(3926, 'int8range', 'text'),
  array(1000, '_bool', 16),
  array(1001, '_bytea', 17),
  array(1002, '_char', 18),
  array(1003, '_name', 19),
  array(1005, '_int2', 21),
  array(1007, '_int4', 23),
  array(1009, '_text', 25),
  array(1014, '_bpchar', 1042),
  array(1015, '_varchar', 1043),
  array(1016, '_int8', 20),
  array(1021, '_float4', 700),
  array(1022, '_float8', 701),
  array(1028, '_oid', 26),
  array(199, '_json', 114),
  array(143, '_xml', 142),
  array(651, '_cidr', 650),
  array(1040, '_macaddr', 829),
  array(1041, '_inet', 869),
  array(1115, '_timestamp', 1114),
  array(1182, '_date', 1082),
  array(1183, '_time', 1083),
  array(1185, '_timestamptz', 1184),
  array(1187, '_interval', 1186),
  array(1231, '_numeric', 1700),
  array(1270, '_timetz', 1266),
  array(2951, '_uuid', 2950),
  array(3807, '_jsonb', 3802),
]);

/**
 * Classifies a non-built-in type from its pg_type row (as read by the catalog adapter).
 * Domains must already be resolved to their base type by the caller.
 * @param row `typtype` (b base, e enum, r range, c composite, m multirange), `typcategory`
 *   (S string, A array, ...), `typelem` (element OID of an array).
 * @returns enums and string-category types (citext...) as text, the hstore extension's type (found
 *   by name, as Debezium's TypeRegistry does) as hstore, arrays as arrays of `typelem`, everything
 *   else as `unknown` (sent as text and logged).
 */
export function classifyType(row: { oid: number; name: string; typtype: string; typcategory: string; typelem: number }): TypeInfo {
  if (row.name === 'hstore' && row.typtype === 'b') return { oid: row.oid, name: row.name, kind: 'hstore' };
  if (row.typtype === 'e' || row.typcategory === 'S') return { oid: row.oid, name: row.name, kind: 'text' };
  if (row.typtype === 'r' || row.typtype === 'm') return { oid: row.oid, name: row.name, kind: 'text' };
  if (row.typcategory === 'A' && row.typelem !== 0) return { oid: row.oid, name: row.name, kind: 'array', elemOid: row.typelem };
  return { oid: row.oid, name: row.name, kind: 'unknown' };
}

/** Renders one text value to a JSON fragment. @throws UnrenderableValueError */
export type Renderer = (text: string) => string;

/** Rendering modes that differ from the fixed Debezium settings of this module. */
export interface RenderOptions {
  /** CDC_INTERVAL_HANDLING: `iso8601` (default; Debezium's `interval.handling.mode=string`) or `numeric`. */
  interval?: IntervalMode;
}

/** Type lookup used to resolve array element types. */
export type TypeLookup = (oid: number) => TypeInfo | undefined;

// ------------------------------------------------------------------------------------------------
// Calendar arithmetic (proleptic Gregorian, as PostgreSQL and java.time use).

/** Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil); any year, year 0 = 1 BC. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Inverse of {@link daysFromCivil}. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: era * 400 + yoe + (month <= 2 ? 1 : 0), month, day };
}

const DATE_RE = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/;
const TIMESTAMP_RE = /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-]\d{2}(?::?\d{2}){0,2})?( BC)?$/;
const TIME_RE = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-]\d{2}(?::?\d{2}){0,2})?$/;

/**
 * Debezium's values for PostgreSQL's ±infinity (PostgresValueConverter's POSITIVE/NEGATIVE_INFINITY_*
 * constants, from pgjdbc's PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY read as epoch microseconds):
 * dates as the epoch days of -5877611-06-21 (+) and -5877611-06-22 (-), timestamps as those µs (or
 * their ms for precision <= 3), timestamptz as the strings "infinity" and "-infinity".
 */
const INFINITY_DATE: Record<string, string> = { infinity: '-2147472692', '-infinity': '-2147472691' };
const INFINITY_TIMESTAMP_MICROS: Record<string, string> = { infinity: '9223372036825200000', '-infinity': '-9223372036832400000' };
const INFINITY_TIMESTAMP_MILLIS: Record<string, string> = { infinity: '9223372036825200', '-infinity': '-9223372036832400' };

function infinityCheck(text: string, type: string): void {
  if (text === 'infinity' || text === '-infinity') {
    throw new UnrenderableValueError(`${type} ${text} has no Debezium representation`);
  }
}

function astronomicalYear(yearText: string, bc: string | undefined): number {
  const y = Number(yearText);
  return bc ? 1 - y : y;
}

/** Microseconds of a fraction string of 1-6 digits ("5" = 500000). */
function fractionMicros(frac: string | undefined): number {
  if (!frac) return 0;
  return Number(frac.padEnd(6, '0'));
}

/** Offset "+05", "+05:30", "-08:00:15" in seconds. */
function offsetSeconds(offset: string | undefined): number {
  if (!offset) return 0;
  const sign = offset[0] === '-' ? -1 : 1;
  const parts = offset.slice(1).split(':');
  const [h, m = '0', s = '0'] = parts.length === 1 && parts[0]!.length > 2
    ? [parts[0]!.slice(0, 2), parts[0]!.slice(2, 4), parts[0]!.slice(4, 6) || '0']
    : parts;
  return sign * (Number(h) * 3600 + Number(m) * 60 + Number(s));
}

/** seconds * 10^scale + sub, exact even when the result exceeds 2^53. */
function exactScaled(seconds: number, scale: 1000 | 1_000_000, sub: number): string {
  const approx = seconds * scale + sub;
  if (Number.isSafeInteger(approx) && Math.abs(seconds) < Number.MAX_SAFE_INTEGER / scale) return String(approx);
  return (BigInt(seconds) * BigInt(scale) + BigInt(sub)).toString();
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** java.time ISO_LOCAL_DATE year: 4 digits, "+" beyond 9999, "-" before year 0. */
function isoYear(year: number): string {
  if (year > 9999) return `+${year}`;
  if (year < 0) return `-${pad(-year, 4)}`;
  return pad(year, 4);
}

/**
 * Fraction of a second for java.time formatting: exactly `width` digits (Debezium's column
 * precision formatter), or, for width 0, the minimal digits (none when zero; ISO_OFFSET_DATE_TIME).
 */
function isoFraction(micros: number, width: number): string {
  const six = pad(micros, 6);
  if (width >= 1) return `.${width <= 6 ? six.slice(0, width) : six.padEnd(width, '0')}`;
  if (micros === 0) return '';
  return `.${six.replace(/0+$/, '')}`;
}

// ------------------------------------------------------------------------------------------------
// Scalar renderers

const renderInt: Renderer = (text) => text;

const renderFloat: Renderer = (text) => {
  // JSON has no NaN/Infinity; Debezium's JSON would not be valid JSON there either.
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return `"${text}"`;
  return text;
};

const renderQuotedVerbatim: Renderer = (text) => `"${text}"`;

/**
 * numeric with `decimal.handling.mode=string`: the text PostgreSQL prints (it never uses an
 * exponent, so it equals Java's BigDecimal.toPlainString); NaN and ±Infinity as the names of
 * Debezium's SpecialValueDecimal (PostgresValueConverter.toSpecialValue): "NAN",
 * "POSITIVE_INFINITY", "NEGATIVE_INFINITY".
 */
const renderNumeric: Renderer = (text) => {
  if (text === 'NaN') return '"NAN"';
  if (text === 'Infinity') return '"POSITIVE_INFINITY"';
  if (text === '-Infinity') return '"NEGATIVE_INFINITY"';
  return `"${text}"`;
};

const MONEY_DIGITS_RE = /^\d*\.?\d*$/;

/**
 * money with `decimal.handling.mode=string`: the amount without currency symbol and thousands
 * separators, as Debezium's PostgresMoney.parse then BigDecimal.toPlainString: `$1,234.56` ->
 * "1234.56", `-$0.50` -> "-0.50". Sessions set `lc_monetary=C` (PG_SESSION_OPTIONS), so the
 * server prints `$` and `,` whatever the database's locale.
 */
const renderMoney: Renderer = (text) => {
  const negative = text[0] === '-' || text[0] === '(';
  let value = text[0] === '-' ? text.slice(1) : text;
  if (value[0] === '(' && value[value.length - 1] === ')') value = value.slice(1, -1);
  if (value.length > 0 && !(value[0]! >= '0' && value[0]! <= '9') && value[0] !== '.') value = value.slice(1);
  value = value.replaceAll(',', '');
  if (value === '' || value === '.' || !MONEY_DIGITS_RE.test(value)) throw new UnrenderableValueError('unexpected money format');
  // BigDecimal: no leading zeros, a leading "." gets a 0, and zero has no sign.
  value = value.replace(/^0+(?=\d)/, '');
  if (value[0] === '.') value = `0${value}`;
  if (value[value.length - 1] === '.') value = value.slice(0, -1);
  const zero = !/[1-9]/.test(value);
  return `"${negative && !zero ? '-' : ''}${value}"`;
};

/** A double as Jackson writes it into JSON: a number, or "NaN"/"Infinity"/"-Infinity" as a string. */
function jsonDouble(n: number): string {
  if (Number.isNaN(n)) return '"NaN"';
  if (n === Infinity) return '"Infinity"';
  if (n === -Infinity) return '"-Infinity"';
  return Object.is(n, -0) ? '-0.0' : String(n);
}

const POINT_RE = /^\(([^,]+),([^,]+)\)$/;

/**
 * point: Debezium's io.debezium.data.geometry.Point struct `{"x","y","wkb","srid"}` (Point.createValue):
 * x and y as doubles, wkb the 21-byte OGC WKB point (little-endian) in base64, srid null.
 */
const renderPoint: Renderer = (text) => {
  const m = POINT_RE.exec(text);
  if (!m) throw new UnrenderableValueError('unexpected point format');
  const x = Number(m[1]);
  const y = Number(m[2]);
  if ((Number.isNaN(x) && m[1] !== 'NaN') || (Number.isNaN(y) && m[2] !== 'NaN')) throw new UnrenderableValueError('unexpected point format');
  const wkb = Buffer.alloc(21);
  wkb[0] = 1; // little-endian
  wkb.writeUInt32LE(1, 1); // wkbPoint
  wkb.writeDoubleLE(x, 5);
  wkb.writeDoubleLE(y, 13);
  return `{"x":${jsonDouble(x)},"y":${jsonDouble(y)},"wkb":"${wkb.toString('base64')}","srid":null}`;
};

/** Java's String.hashCode (UTF-16 code units, 32-bit overflow). */
function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * The iteration order of a java.util.HashMap filled with `keys` in this order (Java 8+: bucket index
 * of the spread hash in the final table, insertion order within a bucket; bins that would be
 * treeified, 9+ keys in one bucket, are not modelled).
 */
export function javaHashMapOrder(keys: string[]): number[] {
  let capacity = 16;
  while (keys.length > capacity * 0.75) capacity *= 2;
  const bucket = keys.map((k) => {
    const h = javaStringHash(k);
    return (h ^ (h >>> 16)) & (capacity - 1);
  });
  return keys.map((_, i) => i).sort((a, b) => bucket[a]! - bucket[b]! || a - b);
}

/** A JSON string as Jackson writes it: like JSON.stringify, but \u00XX escapes in upper case. */
function jacksonString(s: string): string {
  const json = JSON.stringify(s);
  return json.includes('\\u00') ? json.replace(/\\u00([0-9a-f]{2})/g, (_, hex: string) => `\\u00${hex.toUpperCase()}`) : json;
}

/**
 * Parses hstore's output, e.g. `"a"=>"1", "b c"=>NULL`: keys and values in double quotes with
 * backslash escapes, NULL unquoted.
 * @throws UnrenderableValueError on anything else.
 */
export function parseHstore(text: string): [string, string | null][] {
  const out: [string, string | null][] = [];
  let pos = 0;
  const quoted = (): string => {
    if (text[pos] !== '"') throw new UnrenderableValueError('malformed hstore');
    pos++;
    let value = '';
    for (;;) {
      const c = text[pos];
      if (c === undefined) throw new UnrenderableValueError('unterminated hstore string');
      if (c === '\\') {
        value += text[pos + 1] ?? '';
        pos += 2;
      } else if (c === '"') {
        pos++;
        return value;
      } else {
        value += c;
        pos++;
      }
    }
  };
  while (pos < text.length) {
    const key = quoted();
    if (text.slice(pos, pos + 2) !== '=>') throw new UnrenderableValueError('malformed hstore');
    pos += 2;
    let value: string | null;
    if (text.startsWith('NULL', pos)) {
      value = null;
      pos += 4;
    } else value = quoted();
    out.push([key, value]);
    if (pos < text.length) {
      if (text.slice(pos, pos + 2) !== ', ') throw new UnrenderableValueError('malformed hstore');
      pos += 2;
    }
  }
  return out;
}

/**
 * hstore with `hstore.handling.mode=json` (Debezium's default): a string holding a JSON object
 * (io.debezium.data.Json). Debezium parses the text with pgjdbc's HStoreConverter into a HashMap
 * and writes it with Jackson, so the members come in Java HashMap order; so do ours.
 */
const renderHstore: Renderer = (text) => {
  const pairs = parseHstore(text);
  let json = '{';
  for (const i of javaHashMapOrder(pairs.map((p) => p[0]))) {
    const [k, v] = pairs[i]!;
    if (json.length > 1) json += ',';
    json += `${jacksonString(k)}:${v === null ? 'null' : jacksonString(v)}`;
  }
  return JSON.stringify(`${json}}`);
};

const renderBool: Renderer = (text) => {
  if (text === 't') return 'true';
  if (text === 'f') return 'false';
  throw new UnrenderableValueError(`not a boolean: ${text.length} chars`);
};

const renderText: Renderer = (text) => JSON.stringify(text);

const renderBytea: Renderer = (text) => {
  if (!text.startsWith('\\x')) throw new UnrenderableValueError('bytea not in hex output format');
  return `"${Buffer.from(text.slice(2), 'hex').toString('base64')}"`;
};

const renderDate: Renderer = (text) => {
  if (text.length === 10 && text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45) {
    const year = digitsAt(text, 0, 4);
    const month = digitsAt(text, 5, 2);
    const day = digitsAt(text, 8, 2);
    if ((year | month | day) >= 0) return String(daysFromCivil(year, month, day));
  }
  const m = DATE_RE.exec(text);
  if (!m) {
    if (text === 'infinity' || text === '-infinity') return INFINITY_DATE[text]!;
    infinityCheck(text, 'date');
    throw new UnrenderableValueError('unexpected date format');
  }
  return String(daysFromCivil(astronomicalYear(m[1]!, m[4]), Number(m[2]), Number(m[3])));
};

interface ParsedTimestamp {
  /** Whole seconds since the epoch, UTC. */
  seconds: number;
  micros: number;
}

/** Digits of text[from, from + n) as a number, or -1 if any is not a digit. */
function digitsAt(text: string, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * Allocation-free parse of the common form `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]`; null for
 * anything else (BC, 5-digit years, seconds in the offset), which takes the regular expression.
 */
function parseTimestampFast(text: string): ParsedTimestamp | null {
  const n = text.length;
  if (n < 19 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return null;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hh = digitsAt(text, 11, 2);
  const mi = digitsAt(text, 14, 2);
  const ss = digitsAt(text, 17, 2);
  if ((year | month | day | hh | mi | ss) < 0) return null;
  let pos = 19;
  let micros = 0;
  if (pos < n && text.charCodeAt(pos) === 46) {
    let digits = 0;
    pos++;
    while (pos < n && digits < 6) {
      const d = text.charCodeAt(pos) - 48;
      if (d < 0 || d > 9) break;
      micros = micros * 10 + d;
      digits++;
      pos++;
    }
    if (digits === 0) return null;
    for (let i = digits; i < 6; i++) micros *= 10;
  }
  let offset = 0;
  if (pos < n) {
    const sign = text.charCodeAt(pos);
    if ((sign !== 43 && sign !== 45) || (n !== pos + 3 && n !== pos + 6)) return null;
    const oh = digitsAt(text, pos + 1, 2);
    const om = n === pos + 6 ? (text.charCodeAt(pos + 3) === 58 ? digitsAt(text, pos + 4, 2) : -1) : 0;
    if (oh < 0 || om < 0) return null;
    offset = (sign === 45 ? -1 : 1) * (oh * 3600 + om * 60);
  }
  return { seconds: daysFromCivil(year, month, day) * 86400 + hh * 3600 + mi * 60 + ss - offset, micros };
}

function parseTimestamp(text: string, type: string): ParsedTimestamp {
  const fast = parseTimestampFast(text);
  if (fast) return fast;
  const m = TIMESTAMP_RE.exec(text);
  if (!m) {
    infinityCheck(text, type);
    throw new UnrenderableValueError(`unexpected ${type} format`);
  }
  const days = daysFromCivil(astronomicalYear(m[1]!, m[9]), Number(m[2]), Number(m[3]));
  const seconds = days * 86400 + Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]) - offsetSeconds(m[8]);
  return { seconds, micros: fractionMicros(m[7]) };
}

/** timestamp(p): io.debezium.time.Timestamp (ms) for p <= 3, MicroTimestamp (µs) otherwise. */
function timestampRenderer(typeMod: number): Renderer {
  const millis = typeMod >= 0 && typeMod <= 3;
  const infinity = millis ? INFINITY_TIMESTAMP_MILLIS : INFINITY_TIMESTAMP_MICROS;
  return (text) => {
    if (text === 'infinity' || text === '-infinity') return infinity[text]!;
    const { seconds, micros } = parseTimestamp(text, 'timestamp');
    return millis ? exactScaled(seconds, 1000, Math.floor(micros / 1000)) : exactScaled(seconds, 1_000_000, micros);
  };
}

/** timestamptz(p): io.debezium.time.ZonedTimestamp, ISO-8601 in UTC with p fraction digits (6 by default). */
function timestamptzRenderer(typeMod: number): Renderer {
  const width = typeMod < 0 ? 6 : typeMod;
  return (text) => {
    // Sessions run in UTC, so the usual text is already the UTC wall time: re-shape it.
    const n = text.length;
    if (n >= 22 && n <= 29 && text.charCodeAt(n - 3) === 43 && text.charCodeAt(n - 2) === 48 && text.charCodeAt(n - 1) === 48 && text.charCodeAt(4) === 45 && text.charCodeAt(10) === 32) {
      const frac = n > 22 && text.charCodeAt(19) === 46 ? text.slice(20, n - 3) : '';
      const fraction = width >= 1 ? `.${(frac + '000000').slice(0, width)}${width > 6 ? '0'.repeat(width - 6) : ''}` : frac.replace(/0+$/, '') ? `.${frac.replace(/0+$/, '')}` : '';
      return `"${text.slice(0, 10)}T${text.slice(11, 19)}${fraction}Z"`;
    }
    if (text === 'infinity' || text === '-infinity') return `"${text}"`;
    const { seconds, micros } = parseTimestamp(text, 'timestamptz');
    const days = Math.floor(seconds / 86400);
    const secOfDay = seconds - days * 86400;
    const { year, month, day } = civilFromDays(days);
    const hh = Math.floor(secOfDay / 3600);
    const mm = Math.floor((secOfDay % 3600) / 60);
    const ss = secOfDay % 60;
    return `"${isoYear(year)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hh, 2)}:${pad(mm, 2)}:${pad(ss, 2)}${isoFraction(micros, width)}Z"`;
  };
}

/** time(p): io.debezium.time.Time (ms since midnight) for p <= 3, MicroTime (µs) otherwise. */
function timeRenderer(typeMod: number): Renderer {
  const millis = typeMod >= 0 && typeMod <= 3;
  return (text) => {
    const m = TIME_RE.exec(text);
    if (!m || m[5]) throw new UnrenderableValueError('unexpected time format');
    const seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
    const micros = fractionMicros(m[4]);
    return millis ? String(seconds * 1000 + Math.floor(micros / 1000)) : String(seconds * 1_000_000 + micros);
  };
}

/** timetz: io.debezium.time.ZonedTime, ISO-8601 time in UTC (java ISO_OFFSET_TIME: minimal fraction). */
const renderTimetz: Renderer = (text) => {
  const m = TIME_RE.exec(text);
  if (!m) throw new UnrenderableValueError('unexpected timetz format');
  let seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) - offsetSeconds(m[5]);
  seconds = ((seconds % 86400) + 86400) % 86400;
  const micros = fractionMicros(m[4]);
  return `"${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor((seconds % 3600) / 60), 2)}:${pad(seconds % 60, 2)}${isoFraction(micros, 0)}Z"`;
};

const INTERVAL_RE = /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?)(\d+)(?:\.(\d{1,6}))?S)?)?$/;
/** Debezium MicroDuration.DAYS_PER_MONTH_AVG. */
const DAYS_PER_MONTH_AVG = 365.25 / 12;

/** An interval as PostgreSQL keeps it apart: years/months (one field), days, and the time part. */
interface IntervalParts {
  years: number;
  months: number;
  days: number;
  hours: number;
  minutes: number;
  /** Seconds and microseconds of the time part, both carrying its sign. */
  wholeSeconds: number;
  micros: number;
}

/**
 * Parses PostgreSQL's `IntervalStyle=iso_8601` output (EncodeInterval): each of Y, M, D, H, M
 * signed on its own, the seconds with their sign and up to 6 fraction digits; "PT0S" for zero.
 */
function parseIsoInterval(text: string): IntervalParts {
  const m = INTERVAL_RE.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) throw new UnrenderableValueError('unexpected interval format');
  const n = (i: number) => Number(m[i] ?? 0) || 0;
  const sign = m[7] === '-' ? -1 : 1;
  return {
    years: n(1),
    months: n(2),
    days: n(3) * 7 + n(4),
    hours: n(5),
    minutes: n(6),
    wholeSeconds: sign * n(8),
    micros: sign * Number((m[9] ?? '').padEnd(6, '0')),
  };
}

/** pgjdbc's PGInterval.getSeconds(): `wholeSeconds + (double) microSeconds / 1e6`, the double Debezium starts from. */
function pgjdbcSeconds(p: IntervalParts): number {
  return p.wholeSeconds + p.micros / 1_000_000;
}

/** Java's `(long) x`: truncation toward zero, saturating at the 64-bit range; exact text. */
function javaLong(x: number): string {
  if (Number.isNaN(x)) return '0';
  const t = Math.trunc(x);
  if (Number.isSafeInteger(t)) return String(t);
  const big = BigInt(t);
  const max = 2n ** 63n - 1n;
  const min = -(2n ** 63n);
  return (big > max ? max : big < min ? min : big).toString();
}

/**
 * interval, `interval.handling.mode=numeric` (Debezium's default): io.debezium.time.MicroDuration,
 * approximate µs with 365.25/12 days per month, computed as MicroDuration.durationMicros does
 * (same double operations, same truncation).
 */
const renderIntervalNumeric: Renderer = (text) => {
  const p = parseIsoInterval(text);
  const numberOfDays = (p.years * 12 + p.months) * DAYS_PER_MONTH_AVG + p.days;
  const numberOfSeconds = ((numberOfDays * 24 + p.hours) * 60 + p.minutes) * 60 + pgjdbcSeconds(p);
  return javaLong(numberOfSeconds * 1e6);
};

/**
 * Debezium's seconds text: `BigDecimal.valueOf(seconds)` (Java's shortest decimal of the double,
 * as JavaScript's), at most 9 fraction digits (RoundingMode.DOWN), `stripTrailingZeros()`,
 * `toPlainString()`. The double is pgjdbc's, so about 1.6 % of the values carry a binary
 * artefact (1.003691 s prints "1.003690999"): rounded to microseconds, the text is always exact.
 */
export function debeziumIntervalSeconds(seconds: number): string {
  let text = String(seconds);
  if (/e/i.test(text)) text = seconds.toFixed(20); // below 1e-6 (not reachable from microseconds)
  const negative = text.startsWith('-');
  if (negative) text = text.slice(1);
  let [whole = '0', fraction = ''] = text.split('.');
  fraction = fraction.slice(0, 9).replace(/0+$/, '');
  whole = whole.replace(/^0+(?=\d)/, '');
  const body = fraction ? `${whole}.${fraction}` : whole;
  return negative && body !== '0' ? `-${body}` : body;
}

/**
 * interval, `interval.handling.mode=string`: io.debezium.time.Interval, Debezium's
 * `Interval.toIsoString(years, months, days, hours, minutes, seconds)`:
 * `P<y>Y<m>M<d>DT<h>H<min>M<s>S`, every part present and signed on its own (years and months
 * split from PostgreSQL's month count, the time part's sign on hours, minutes and seconds), e.g.
 * "P1Y2M3DT4H5M6.78S", "P-1Y-2M3DT-4H-5M-6.78S", "P0Y0M0DT0H0M0S". Lossless: months, days and
 * microseconds stay apart (seconds rounded to microseconds, see {@link debeziumIntervalSeconds}).
 */
const renderIntervalIso: Renderer = (text) => {
  const p = parseIsoInterval(text);
  return `"P${p.years}Y${p.months}M${p.days}DT${p.hours}H${p.minutes}M${debeziumIntervalSeconds(pgjdbcSeconds(p))}S"`;
};

// ------------------------------------------------------------------------------------------------
// Arrays

/** A parsed array literal: nested arrays of element texts or null. */
export type ArrayNode = (string | null | ArrayNode)[];

/**
 * Parses PostgreSQL's array output, e.g. `{1,2}`, `{"a b",NULL}`, `{{1,2},{3,4}}`, `[0:1]={1,2}`.
 * @throws UnrenderableValueError on malformed input.
 */
export function parseArrayLiteral(text: string): ArrayNode {
  let pos = 0;
  if (text[0] === '[') {
    const eq = text.indexOf('=');
    if (eq < 0) throw new UnrenderableValueError('malformed array bounds');
    pos = eq + 1;
  }
  const parseLevel = (): ArrayNode => {
    if (text[pos] !== '{') throw new UnrenderableValueError('malformed array literal');
    pos++;
    const out: ArrayNode = [];
    if (text[pos] === '}') {
      pos++;
      return out;
    }
    for (;;) {
      const c = text[pos];
      if (c === '{') {
        out.push(parseLevel());
      } else if (c === '"') {
        pos++;
        let value = '';
        for (;;) {
          const ch = text[pos];
          if (ch === undefined) throw new UnrenderableValueError('unterminated quoted array element');
          if (ch === '\\') {
            value += text[pos + 1] ?? '';
            pos += 2;
          } else if (ch === '"') {
            pos++;
            break;
          } else {
            value += ch;
            pos++;
          }
        }
        out.push(value);
      } else {
        let end = pos;
        while (end < text.length && text[end] !== ',' && text[end] !== '}') end++;
        const raw = text.slice(pos, end);
        out.push(raw.toUpperCase() === 'NULL' ? null : raw);
        pos = end;
      }
      const sep = text[pos];
      pos++;
      if (sep === '}') return out;
      if (sep !== ',') throw new UnrenderableValueError('malformed array literal');
    }
  };
  const result = parseLevel();
  if (pos !== text.length) throw new UnrenderableValueError('trailing characters after array literal');
  return result;
}

function renderArrayNode(node: ArrayNode, element: Renderer): string {
  let out = '[';
  for (let i = 0; i < node.length; i++) {
    if (i > 0) out += ',';
    const item = node[i]!;
    out += item === null ? 'null' : Array.isArray(item) ? renderArrayNode(item, element) : element(item);
  }
  return `${out}]`;
}

// ------------------------------------------------------------------------------------------------

/**
 * The renderer for a column.
 * @param type the column's type (domains resolved to their base type).
 * @param typeMod the column's atttypmod (timestamp/time precision; -1 when not declared).
 * @param lookup resolves array element types.
 * @param options rendering modes (interval: iso8601 by default).
 * @returns a renderer; for `unknown` types, one that sends the text as a JSON string (the caller
 *   logs that once per column).
 */
export function rendererFor(type: TypeInfo | undefined, typeMod: number, lookup: TypeLookup, options: RenderOptions = {}): Renderer {
  switch (type?.kind) {
    case 'int':
      return renderInt;
    case 'float':
      return renderFloat;
    case 'numeric':
      return renderNumeric;
    case 'uuid':
      return renderQuotedVerbatim;
    case 'money':
      return renderMoney;
    case 'point':
      return renderPoint;
    case 'hstore':
      return renderHstore;
    case 'bool':
      return renderBool;
    case 'text':
    case 'json':
      return renderText;
    case 'bytea':
      return renderBytea;
    case 'date':
      return renderDate;
    case 'timestamp':
      return timestampRenderer(typeMod);
    case 'timestamptz':
      return timestamptzRenderer(typeMod);
    case 'time':
      return timeRenderer(typeMod);
    case 'timetz':
      return renderTimetz;
    case 'interval':
      return (options.interval ?? 'iso8601') === 'iso8601' ? renderIntervalIso : renderIntervalNumeric;
    case 'array': {
      const elemType = type.elemOid === undefined ? undefined : lookup(type.elemOid);
      const element = rendererFor(elemType, typeMod, lookup, options);
      return (text) => renderArrayNode(parseArrayLiteral(text), element);
    }
    default:
      return renderText;
  }
}

/** True when values of this type are sent as plain text because the service does not know the type. */
export function isUnknownType(type: TypeInfo | undefined, lookup: TypeLookup): boolean {
  if (!type || type.kind === 'unknown') return true;
  if (type.kind === 'array') return isUnknownType(type.elemOid === undefined ? undefined : lookup(type.elemOid), lookup);
  return false;
}
