import { describe, expect, it } from 'vitest';
import {
  BUILTIN_TYPES, civilFromDays, classifyType, daysFromCivil, debeziumIntervalSeconds, isUnknownType, javaHashMapOrder, parseArrayLiteral, parseHstore, rendererFor, UnrenderableValueError, type TypeInfo,
} from './value-render.ts';

const lookup = (oid: number) => BUILTIN_TYPES.get(oid);
/** Renders `text` as a column of built-in type `oid` and parses the JSON fragment. */
const render = (oid: number, text: string, typeMod = -1): unknown => JSON.parse(rendererFor(lookup(oid), typeMod, lookup)(text));
const fragment = (oid: number, text: string, typeMod = -1): string => rendererFor(lookup(oid), typeMod, lookup)(text);

describe('Debezium JSON rendering of PostgreSQL text values', () => {
  it('integers as JSON numbers, int8 exact beyond 2^53', () => {
    expect(render(21, '-7')).toBe(-7);
    expect(render(23, '42')).toBe(42);
    expect(fragment(20, '9007199254740993')).toBe('9007199254740993');
  });

  it('floats as numbers; NaN and infinities as strings', () => {
    expect(render(701, '43.567')).toBe(43.567);
    expect(render(700, '1e+20')).toBe(1e20);
    expect(render(701, 'NaN')).toBe('NaN');
    expect(render(701, '-Infinity')).toBe('-Infinity');
  });

  it('numeric as a string (decimal.handling.mode=string), exactly as PostgreSQL prints it', () => {
    expect(render(1700, '42000.00')).toBe('42000.00');
    expect(render(1700, '-0.000001')).toBe('-0.000001');
  });

  it('numeric NaN and infinities as Debezium\'s SpecialValueDecimal names', () => {
    expect(render(1700, 'NaN')).toBe('NAN');
    expect(render(1700, 'Infinity')).toBe('POSITIVE_INFINITY');
    expect(render(1700, '-Infinity')).toBe('NEGATIVE_INFINITY');
    expect(JSON.parse(rendererFor(lookup(1231), -1, lookup)('{1.5,NaN,NULL}'))).toEqual(['1.5', 'NAN', null]);
  });

  it('money as the plain amount string (PostgresMoney.parse, lc_monetary=C output)', () => {
    expect(render(790, '$1,234.56')).toBe('1234.56');
    expect(render(790, '-$0.50')).toBe('-0.50');
    expect(render(790, '($9,876.50)')).toBe('-9876.50');
    expect(render(790, '$0.00')).toBe('0.00');
    expect(render(790, '-$92,233,720,368,547,758.08')).toBe('-92233720368547758.08');
    expect(() => fragment(790, '€')).toThrow(UnrenderableValueError);
  });

  it('point as the io.debezium.data.geometry.Point struct with its WKB', () => {
    expect(render(600, '(1.5,-2)')).toEqual({ x: 1.5, y: -2, wkb: 'AQEAAAAAAAAAAAD4PwAAAAAAAADA', srid: null });
    expect(render(600, '(0,0)')).toEqual({ x: 0, y: 0, wkb: 'AQEAAAAAAAAAAAAAAAAAAAAAAAAA', srid: null });
    const wkb = Buffer.from((render(600, '(1e+300,-0.001)') as { wkb: string }).wkb, 'base64');
    expect([wkb.length, wkb.readDoubleLE(5), wkb.readDoubleLE(13)]).toEqual([21, 1e300, -0.001]);
    expect(() => fragment(600, '(1,2),(3,4)')).toThrow(UnrenderableValueError);
  });

  it('hstore as a JSON object in a string, members in Java HashMap order as Debezium writes them', () => {
    const hstore = classifyType({ oid: 90001, name: 'hstore', typtype: 'b', typcategory: 'U', typelem: 0 });
    const renderHstore = (text: string) => JSON.parse(rendererFor(hstore, -1, lookup)(text)) as string;
    // Seen from Debezium 3.6.1 for the same value: {"a":"1","b c":null,"z":"x\"y"}
    expect(renderHstore('"a"=>"1", "z"=>"x\\"y", "b c"=>NULL')).toBe('{"a":"1","b c":null,"z":"x\\"y"}');
    expect(renderHstore('')).toBe('{}');
    expect(renderHstore('"k"=>"\u001f\n"')).toBe('{"k":"\\u001F\\n"}'); // Jackson: upper-case hex, short escapes
    expect(parseHstore('"a\\\\b"=>"=>", "c"=>NULL')).toEqual([['a\\b', '=>'], ['c', null]]);
    expect(() => parseHstore('a=>1')).toThrow(UnrenderableValueError);
  });

  it('javaHashMapOrder: bucket of the spread String.hashCode, table grown past 0.75 load', () => {
    // java: new HashMap<>() with "b c", "a", "z" put in this order iterates a, b c, z.
    expect(javaHashMapOrder(['z', 'b c', 'a'])).toEqual([2, 1, 0]);
    // 13 keys grow the table to 32 buckets: "a"=97 -> 1, "q"=113 -> 17 (16 buckets would put both in 1).
    const keys = ['q', 'a', ...'bcdefghijkl'.split('')];
    const order = javaHashMapOrder(keys).map((i) => keys[i]);
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('q'));
    expect(order[0]).toBe('a');
  });

  it('booleans, text, uuid, json and jsonb', () => {
    expect(render(16, 't')).toBe(true);
    expect(render(16, 'f')).toBe(false);
    expect(render(25, 'Bravo "Juliette" \\ 🔥\n')).toBe('Bravo "Juliette" \\ 🔥\n');
    expect(render(1043, 'Vélo/Trottinette/Autres')).toBe('Vélo/Trottinette/Autres');
    expect(render(2950, '1b4e28ba-2fa1-11d2-883f-0016d3cca427')).toBe('1b4e28ba-2fa1-11d2-883f-0016d3cca427');
    expect(render(3802, '{"a": 1, "b": [true, null]}')).toBe('{"a": 1, "b": [true, null]}');
    expect(render(114, '[1, 2]')).toBe('[1, 2]');
  });

  it('bytea as base64', () => {
    expect(render(17, '\\x0001ff')).toBe('AAH/');
    expect(render(17, '\\x')).toBe('');
    expect(() => fragment(17, 'abc')).toThrow(UnrenderableValueError);
  });

  it('date as days since 1970-01-01 (io.debezium.time.Date), BC dates included', () => {
    expect(render(1082, '2024-01-01')).toBe(19723);
    expect(render(1082, '1970-01-01')).toBe(0);
    expect(render(1082, '1969-12-31')).toBe(-1);
    expect(render(1082, '0001-01-01 BC')).toBe(-719528); // java LocalDate.of(0, 1, 1).toEpochDay()
    // ±infinity as Debezium 3.6.1 sends them (the epoch days of -5877611-06-21 and -22)
    expect(fragment(1082, 'infinity')).toBe('-2147472692');
    expect(fragment(1082, '-infinity')).toBe('-2147472691');
    expect(() => fragment(1082, 'tomorrow')).toThrow(UnrenderableValueError);
  });

  it('timestamp as epoch microseconds (MicroTimestamp), or milliseconds for precision <= 3', () => {
    expect(render(1114, '2024-01-01 00:00:00')).toBe(1704067200000000);
    expect(render(1114, '2024-01-01 08:30:00.123456')).toBe(1704097800123456);
    expect(render(1114, '2024-01-01 08:30:00.5')).toBe(1704097800500000);
    expect(render(1114, '1969-12-31 23:59:59.999999')).toBe(-1);
    expect(render(1114, '2024-01-01 08:30:00.123', 3)).toBe(1704097800123);
    expect(fragment(1114, '3000-01-01 00:00:00.000001')).toBe((BigInt(Date.UTC(3000, 0, 1)) * 1000n + 1n).toString());
    // ±infinity as Debezium 3.6.1 sends them (pgjdbc's DATE_POSITIVE/NEGATIVE_INFINITY as µs, or ms)
    expect(fragment(1114, 'infinity')).toBe('9223372036825200000');
    expect(fragment(1114, '-infinity', 3)).toBe('-9223372036832400');
    expect(fragment(1184, '-infinity')).toBe('"-infinity"');
    expect(() => fragment(1114, 'epoch')).toThrow(UnrenderableValueError);
  });

  it('timestamptz as ISO-8601 UTC with the column precision (ZonedTimestamp)', () => {
    expect(render(1184, '2024-01-01 08:30:00+00')).toBe('2024-01-01T08:30:00.000000Z');
    expect(render(1184, '2024-01-01 10:30:00.5+02')).toBe('2024-01-01T08:30:00.500000Z');
    expect(render(1184, '2024-01-01 00:15:00+05:30')).toBe('2023-12-31T18:45:00.000000Z');
    expect(render(1184, '2024-01-01 08:30:00.123+00', 3)).toBe('2024-01-01T08:30:00.123Z');
    expect(render(1184, '2024-01-01 08:30:00+00', 0)).toBe('2024-01-01T08:30:00Z');
    expect(render(1184, '0044-03-15 12:00:00+00 BC')).toBe('-0043-03-15T12:00:00.000000Z');
  });

  it('time as microseconds since midnight (MicroTime), timetz as ISO time in UTC (ZonedTime)', () => {
    expect(render(1083, '08:30:00.123456')).toBe(30600123456);
    expect(render(1083, '08:30:00.123', 3)).toBe(30600123);
    expect(render(1083, '24:00:00')).toBe(86400000000);
    expect(render(1266, '08:30:00+02')).toBe('06:30:00Z');
    expect(render(1266, '23:00:00.25-03')).toBe('02:00:00.25Z');
  });

  it('interval, numeric mode: approximate microseconds (MicroDuration, 365.25/12 days per month)', () => {
    const numeric = (text: string) => rendererFor(lookup(1186), -1, lookup, { interval: 'numeric' })(text);
    expect(numeric('P1Y2M3DT4H5M6.5S')).toBe('37091106500000');
    expect(numeric('PT0S')).toBe('0');
    expect(numeric('PT-1M')).toBe('-60000000');
    // Debezium's own test value (AbstractRecordsProducerTest: durationMicros(1, 2, 3, 4, 5, 6.78, 30.4375)).
    expect(numeric('P1Y2M3DT4H5M6.78S')).toBe(String(Math.trunc(((((14 * 30.4375 + 3) * 24 + 4) * 60 + 5) * 60 + 6.78) * 1e6)));
    // Saturates at the 64-bit range like Java's (long) cast, never prints an exponent.
    expect(numeric('P178000000Y')).toBe('9223372036854775807');
  });

  it('interval, iso8601 mode (the default): Debezium interval.handling.mode=string, parts kept apart', () => {
    // Debezium's own expectation (AbstractRecordsProducerTest.schemaAndValuesForIntervalAsString).
    expect(render(1186, 'P1Y2M3DT4H5M6.78S')).toBe('P1Y2M3DT4H5M6.78S');
    expect(render(1186, 'PT0S')).toBe('P0Y0M0DT0H0M0S');
    // Each part signed on its own, the time part's sign on hours, minutes and seconds.
    expect(render(1186, 'P-1Y-2M3DT-4H-5M-6.78S')).toBe('P-1Y-2M3DT-4H-5M-6.78S');
    expect(render(1186, 'P1M-1D')).toBe('P0Y1M-1DT0H0M0S');
    expect(render(1186, 'PT-0.5S')).toBe('P0Y0M0DT0H0M-0.5S');
    expect(render(1186, 'PT0.000001S')).toBe('P0Y0M0DT0H0M0.000001S');
    expect(render(1186, 'PT1000000H')).toBe('P0Y0M0DT1000000H0M0S');
    expect(render(1186, 'P-178000000Y')).toBe('P-178000000Y0M0DT0H0M0S');
    // pgjdbc's double (1 + 3691 / 1e6 = 1.0036909999999999), truncated to 9 digits, as Debezium prints it.
    expect(render(1186, 'PT1.003691S')).toBe('P0Y0M0DT0H0M1.003690999S');
    expect(() => render(1186, '1 day')).toThrow(UnrenderableValueError);
    expect(render(1187, '{PT1H,NULL}')).toEqual(['P0Y0M0DT1H0M0S', null]);
  });

  it('interval, iso8601 mode: the seconds always round to the exact microseconds', () => {
    for (let whole = 0; whole < 60; whole += 7) {
      for (let micros = 0; micros < 1_000_000; micros += 997) {
        const text = debeziumIntervalSeconds(whole + micros / 1e6);
        expect(Math.round(Number(text) * 1e6)).toBe(whole * 1e6 + micros);
        expect(text.split('.')[1]?.length ?? 0).toBeLessThanOrEqual(9);
      }
    }
  });

  it('arrays as JSON arrays of rendered elements', () => {
    expect(render(1007, '{1,2,3}')).toEqual([1, 2, 3]);
    expect(render(1009, '{"a b",NULL,"q\\"x","back\\\\slash",plain}')).toEqual(['a b', null, 'q"x', 'back\\slash', 'plain']);
    expect(render(1007, '{{1,2},{3,4}}')).toEqual([[1, 2], [3, 4]]);
    expect(render(1007, '[0:1]={5,6}')).toEqual([5, 6]);
    expect(render(1009, '{}')).toEqual([]);
    expect(render(1182, '{2024-01-01,NULL}')).toEqual([19723, null]);
    expect(render(1231, '{1.50,2}')).toEqual(['1.50', '2']);
    expect(render(3807, '{"{\\"a\\": 1}"}')).toEqual(['{"a": 1}']);
    expect(() => parseArrayLiteral('{1,2')).toThrow(UnrenderableValueError);
  });

  it('classifies catalog types: enums and string types as text, arrays by element, the rest unknown', () => {
    expect(classifyType({ oid: 90001, name: 'mood', typtype: 'e', typcategory: 'E', typelem: 0 }).kind).toBe('text');
    expect(classifyType({ oid: 90002, name: 'citext', typtype: 'b', typcategory: 'S', typelem: 0 }).kind).toBe('text');
    expect(classifyType({ oid: 90003, name: '_mood', typtype: 'b', typcategory: 'A', typelem: 90001 })).toEqual({ oid: 90003, name: '_mood', kind: 'array', elemOid: 90001 });
    const point: TypeInfo = classifyType({ oid: 600, name: 'point', typtype: 'b', typcategory: 'G', typelem: 701 });
    expect(point.kind).toBe('unknown');
    expect(isUnknownType(point, lookup)).toBe(true);
    expect(isUnknownType(undefined, lookup)).toBe(true);
    expect(isUnknownType(lookup(1007), lookup)).toBe(false);
    // unknown types still render, as text
    expect(JSON.parse(rendererFor(point, -1, lookup)('(1,2)'))).toBe('(1,2)');
  });

  it('calendar arithmetic round-trips across eras', () => {
    for (const days of [-719528, -1, 0, 19723, 2932896]) {
      const { year, month, day } = civilFromDays(days);
      expect(daysFromCivil(year, month, day)).toBe(days);
    }
    expect(civilFromDays(19723)).toEqual({ year: 2024, month: 1, day: 1 });
  });

  it('renders random timestamps identically through the UTC fast path, offsets and the general path', () => {
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    const wall = (ms: number, micros: number) => {
      const d = new Date(ms);
      return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${micros ? `.${pad(micros, 6).replace(/0+$/, '')}` : ''}`;
    };
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 500; i++) {
      const seconds = Math.floor((random() - 0.3) * 4e9);
      const micros = i % 3 === 0 ? 0 : Math.floor(random() * 1e6);
      const utc = `${wall(seconds * 1000, micros)}+00`;
      const plus0530 = `${wall((seconds + 19800) * 1000, micros)}+05:30`;
      const minus08 = `${wall((seconds - 28800) * 1000, micros)}-08`;
      const expected = `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${pad(micros, 6)}Z`;
      expect(render(1184, utc)).toBe(expected);
      expect(render(1184, plus0530)).toBe(expected);
      expect(render(1184, minus08)).toBe(expected);
      expect(fragment(1114, wall(seconds * 1000, micros))).toBe(String(seconds * 1_000_000 + micros));
    }
  });
});
