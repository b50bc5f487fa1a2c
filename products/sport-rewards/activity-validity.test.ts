/**
 * The one definition of a valid activity gives the same verdicts, and the same reasons, in the
 * batch (its quarantine SQL, run by DuckDB on typed silver rows, through the platform's
 * quarantineStatements) and in the Slack notifier (the TypeScript check on the change event's row):
 * the issue-14 cases, every rule's edges, and 3,000 seeded random rows around the thresholds.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import rulesFile from './rules.json' with { type: 'json' };
import { parseRules } from '../../services/batch/rules.ts';
import { QUARANTINE_DDL, quarantineStatements } from '../../services/batch/quarantine.ts';
import { silverColumn, type SilverTable } from '../../services/batch/silver.ts';
import { ident } from '../../services/batch/sql.ts';
import { sportTable } from '../../services/batch/testing/batch-kit.ts';
import { activityValuesFromEvent, checkActivity, zonedTimestampMicros, type BrokenRule } from './activity-validity.ts';
import { bind } from './binding.ts';

const { rules } = parseRules(JSON.stringify(rulesFile));
const b = bind(rules);
const asOf = new Date('2026-06-30T12:00:00Z');
const VALID_EMPLOYEES = [1, 2];

/** An `activities` row as the CDC renders it (Debezium JSON: timestamps as ISO-8601 UTC text). */
interface EventRow {
  activity_id: number;
  employee_id: number | null;
  sport_type: string | null;
  started_at: string | null;
  ended_at: string | null;
  elapsed_seconds: number | null;
  distance_m: number | null;
}

const iso = (ms: number, micros = 0) => `${new Date(ms).toISOString().slice(0, 19)}.${String(((ms % 1000) + 1000) % 1000).padStart(3, '0')}${String(micros).padStart(3, '0')}Z`;

let nextId = 1;
/** A valid 10 km run of 50 min ending at the reference time, with `overrides`. */
function row(overrides: Partial<EventRow> = {}): EventRow {
  const end = asOf.getTime() - 3_600_000;
  return {
    activity_id: nextId++,
    employee_id: 1,
    sport_type: 'Runing',
    started_at: iso(end - 3_000_000),
    ended_at: iso(end),
    elapsed_seconds: 3000,
    distance_m: 10_000,
    ...overrides,
  };
}

/** A row starting at `startMs` lasting `seconds` (start, end and elapsed consistent). */
function span(startMs: number, seconds: number, overrides: Partial<EventRow> = {}): EventRow {
  return row({ started_at: iso(startMs), ended_at: iso(startMs + seconds * 1000), elapsed_seconds: seconds, ...overrides });
}

const HOUR = 3_600_000;

/** The issue's cases and each rule's edges: [label, row, expected codes]. */
const CASES: [string, EventRow, string[]][] = [
  ['a plausible 10 km run', row(), []],
  ['tennis without distance', row({ sport_type: 'Tennis', distance_m: null }), []],
  // Issue 14: announced by Slack while the batch quarantined them.
  ['"50 km de course à pied en 30 min"', span(asOf.getTime() - 2 * HOUR, 1800, { distance_m: 50_000 }), ['impossible_speed']],
  ['"5 km à vélo en 0 s"', span(asOf.getTime() - 2 * HOUR, 0, { sport_type: 'Vélo', distance_m: 5_000 }), ['impossible_speed']],
  ['a 27,777-hour activity ending now', span(asOf.getTime() - 27_777 * HOUR, 27_777 * 3600, { distance_m: 10_000 }), ['implausible_duration']],
  ['a 27,777-hour activity starting now', span(asOf.getTime() - HOUR, 27_777 * 3600, { distance_m: 10_000 }), ['implausible_duration', 'future_date']],
  ['a future date', span(asOf.getTime() + 24 * HOUR, 3000), ['future_date']],
  // Issue 14: neither quarantined nor flagged, and counted in gold.
  ['the 1900-dated activity', span(Date.parse('1900-01-01T09:00:00Z'), 3000), ['too_old']],
  ['an empty sport', row({ sport_type: '' }), ['empty_sport']],
  ['a blank sport', row({ sport_type: ' \t ' }), ['empty_sport']],
  ['a null sport', row({ sport_type: null }), ['empty_sport']],
  ['an elapsed time inconsistent with start and end', row({ elapsed_seconds: 5000 }), ['inconsistent_elapsed']],
  // The other rules.
  ['a negative distance', row({ distance_m: -500 }), ['negative_distance']],
  ['an end before the start', row({ ended_at: iso(asOf.getTime() - 3 * HOUR), elapsed_seconds: 0, distance_m: null }), ['end_before_start', 'inconsistent_elapsed']],
  ['an unknown employee', row({ employee_id: 999 }), ['unknown_employee']],
  // Edges (inclusive limits pass).
  ['exactly 25 km/h running', span(asOf.getTime() - 2 * HOUR, 3600, { distance_m: 25_000 }), []],
  ['just above 25 km/h running', span(asOf.getTime() - 2 * HOUR, 3600, { distance_m: 25_001 }), ['impossible_speed']],
  ['a sport without its own limit: 60 km/h default', span(asOf.getTime() - 2 * HOUR, 3600, { sport_type: 'Roller', distance_m: 60_000 }), []],
  ['above the default limit', span(asOf.getTime() - 2 * HOUR, 3600, { sport_type: 'Roller', distance_m: 60_001 }), ['impossible_speed']],
  ['no distance in no time', span(asOf.getTime() - 2 * HOUR, 0, { distance_m: 0 }), []],
  ['elapsed 60 s off: within tolerance', row({ elapsed_seconds: 3060 }), []],
  ['elapsed 61 s off', row({ elapsed_seconds: 3061 }), ['inconsistent_elapsed']],
  ['elapsed unknown: speed over start to end', row({ elapsed_seconds: null, distance_m: 50_000 }), ['impossible_speed']],
  ['48 h exactly', span(asOf.getTime() - 50 * HOUR, 48 * 3600, { sport_type: 'Voile', distance_m: null }), []],
  ['48 h and 1 s', span(asOf.getTime() - 50 * HOUR, 48 * 3600 + 1, { sport_type: 'Voile', distance_m: null }), ['implausible_duration']],
  ['ends exactly at the reference time + 10 min', span(asOf.getTime() + 600_000 - 3_000_000, 3000), []],
  ['ends 1 µs after it', row({ started_at: iso(asOf.getTime() + 600_000 - 3_000_000), ended_at: iso(asOf.getTime() + 600_000, 1), elapsed_seconds: 3000 }), ['future_date']],
  ['starts on notBefore', span(Date.parse('2000-01-01T00:00:00Z'), 3000), []],
  ['starts 1 µs before notBefore', row({ started_at: iso(Date.parse('2000-01-01T00:00:00Z') - 1, 999), ended_at: iso(Date.parse('2000-01-01T00:50:00Z')), elapsed_seconds: 3000 }), ['too_old']],
  ['infinite end', row({ ended_at: 'infinity' }), []],
];

/** 3,000 seeded rows around every threshold. */
function randomRows(count: number, seed: number): EventRow[] {
  let s = seed >>> 0;
  const rand = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const sports = ['Runing', 'Vélo', 'Marche', 'Natation', 'Triathlon', 'Tennis', 'Inconnu', '', ' ', null];
  const out: EventRow[] = [];
  for (let i = 0; i < count; i++) {
    const sport = pick(sports);
    const elapsed = pick([0, 1, 59, 60, 61, 3600, 3601, 48 * 3600, 48 * 3600 + 1, Math.floor(rand() * 20_000), Math.floor(rand() * 300_000), null]);
    const limitKmh = sport !== null && sport in rules.quarantine.maxSpeedKmhBySport ? rules.quarantine.maxSpeedKmhBySport[sport]! : rules.quarantine.defaultMaxSpeedKmh;
    const atLimit = elapsed ? Math.round((limitKmh * elapsed) / 3.6) : 1000;
    const distance = pick([null, -1, 0, 1, atLimit, atLimit + 1, atLimit - 1, Math.floor(rand() * 100_000)]);
    const anchor = pick([asOf.getTime() + 600_000, Date.parse('2000-01-01T00:00:00Z'), asOf.getTime() - 30 * 24 * HOUR, Date.parse('1900-06-01T00:00:00Z')]);
    const startMs = anchor + pick([-1, 0, 1, -1000, 1000, -HOUR, Math.floor((rand() - 0.5) * 10 * HOUR)]);
    const skewS = pick([0, 0, 0, 60, -60, 61, -61, Math.floor((rand() - 0.5) * 10_000)]);
    const endMs = startMs + ((elapsed ?? Math.floor(rand() * 10_000)) + skewS) * 1000;
    out.push({
      activity_id: 100_000 + i,
      employee_id: pick([1, 2, 3, null]),
      sport_type: sport,
      started_at: rand() < 0.03 ? null : iso(startMs, Math.floor(rand() * 1000)),
      ended_at: rand() < 0.03 ? pick([null, 'infinity']) : iso(endMs, Math.floor(rand() * 1000)),
      elapsed_seconds: elapsed,
      distance_m: distance,
    });
  }
  return out;
}

let instance: DuckDBInstance;
let conn: DuckDBConnection;
let table: SilverTable;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  const doc = sportTable('activities');
  const columns = doc.columns.map((c) => silverColumn(c, doc));
  table = {
    name: b.tables.activities,
    topic: 'sport.public.activities',
    source: { source: 'sport', schema: 'public', table: 'activities', primaryKey: doc.primaryKey, columns, replicaIdentity: 'full', generatedColumns: [], schemaId: doc.schemaId },
    stateColumns: columns,
    history: false,
  };
  await conn.run('CREATE SCHEMA silver; CREATE SCHEMA state');
  await conn.run(QUARANTINE_DDL);
  await conn.run(`CREATE TABLE silver.${ident(table.name)} (${columns.map((c) => `${ident(c.name)} ${c.duckType}`).join(', ')})`);
  await conn.run(`CREATE TABLE ${b.rel('employees', '_valid')} (employee_id INTEGER)`);
  for (const id of VALID_EMPLOYEES) {
    const insert = await conn.prepare(`INSERT INTO ${b.rel('employees', '_valid')} VALUES (CAST($1 AS INTEGER))`);
    insert.bind([id]);
    await insert.run();
  }
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

/** Loads `rows` into the silver table (values bound, timestamps parsed by DuckDB) and returns the batch's verdicts by activity id. */
async function batchVerdicts(rows: readonly EventRow[]): Promise<Map<number, BrokenRule[]>> {
  await conn.run(`DELETE FROM silver.${ident(table.name)}`);
  // One bound JSON document; DuckDB parses every value itself (timestamps from their ISO text).
  const insert = await conn.prepare(
    `INSERT INTO silver.${ident(table.name)} (activity_id, employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m)
     SELECT r.activity_id, r.employee_id, r.sport_type, CAST(r.started_at AS TIMESTAMPTZ), CAST(r.ended_at AS TIMESTAMPTZ), r.elapsed_seconds, r.distance_m
     FROM (SELECT unnest(from_json(CAST($1 AS VARCHAR), '[{"activity_id":"BIGINT","employee_id":"INTEGER","sport_type":"VARCHAR","started_at":"VARCHAR","ended_at":"VARCHAR","elapsed_seconds":"INTEGER","distance_m":"INTEGER"}]')) AS r)`,
  );
  insert.bind([JSON.stringify(rows)]);
  await insert.run();
  for (const sql of quarantineStatements(table, rules, asOf, 'test-run', b)) await conn.run(sql);
  const result = await conn.runAndReadAll(`SELECT activity_id::DOUBLE AS id, rules, reasons FROM state.${ident(`${table.name}__quarantined`)}`);
  const out = new Map<number, BrokenRule[]>();
  for (const r of result.getRowObjectsJson() as { id: number; rules: string[]; reasons: string[] }[]) {
    // The platform's own rule (a NULL in a NOT NULL source column) is not the product's.
    const broken = r.rules.map((code, i) => ({ code, reason: r.reasons[i] })).filter((x) => x.code !== 'missing_required_value');
    if (broken.length > 0) out.set(r.id, broken as BrokenRule[]);
  }
  return out;
}

/** The notifier's verdict on the same row, as it arrives in a change event. */
function notifierVerdict(r: EventRow): BrokenRule[] {
  const values = activityValuesFromEvent(r as unknown as Record<string, unknown>);
  return checkActivity(values, rules, asOf, { employeeKnown: r.employee_id === null ? null : VALID_EMPLOYEES.includes(r.employee_id) });
}

describe('one definition of a valid activity', () => {
  it('gives each issue case and edge its rules, with the same reasons in the batch (SQL) and the notifier (TypeScript)', async () => {
    const batch = await batchVerdicts(CASES.map(([, r]) => r));
    for (const [label, r, codes] of CASES) {
      const ts = notifierVerdict(r);
      expect(ts.map((x) => x.code), label).toEqual(codes);
      expect(batch.get(r.activity_id) ?? [], label).toEqual(ts);
    }
  });

  it('words the reasons for a reader', async () => {
    const reasons = Object.fromEntries(CASES.map(([label, r]) => [label, notifierVerdict(r).map((x) => x.reason)]));
    expect(reasons['"50 km de course à pied en 30 min"']).toEqual(['average 100.0 km/h is above the 25.0 km/h limit for Runing']);
    expect(reasons['"5 km à vélo en 0 s"']).toEqual(['5000 m covered in 0 s']);
    expect(reasons['the 1900-dated activity']).toEqual(['starts 1900-01-01 09:00:00 UTC, before 2000-01-01']);
    expect(reasons['an elapsed time inconsistent with start and end']).toEqual(['elapsed time 5000 s, but it ends 3000 s after its start (tolerance 60 s)']);
    expect(reasons['a future date']).toEqual(['starts 2026-07-01 12:00:00 UTC, ends 2026-07-01 12:50:00 UTC: after the reference time 2026-06-30 12:00:00 UTC (+10 min)']);
    expect(reasons['a 27,777-hour activity ending now']).toEqual(['lasts 27777.0 h, more than the 48 h an activity may last']);
  });

  it('agrees with the batch on 3,000 random rows around every threshold', { timeout: 60_000 }, async () => {
    const rows = randomRows(3000, 14);
    const batch = await batchVerdicts(rows);
    const disagreements = rows
      .map((r) => ({ r, ts: notifierVerdict(r), sql: batch.get(r.activity_id) ?? [] }))
      .filter(({ ts, sql }) => JSON.stringify(ts) !== JSON.stringify(sql));
    expect(disagreements.slice(0, 5)).toEqual([]);
    // The sample exercises every rule, and valid rows too.
    const seen = new Set(rows.flatMap((r) => notifierVerdict(r).map((x) => x.code)));
    expect([...seen].sort()).toEqual(
      ['empty_sport', 'end_before_start', 'future_date', 'implausible_duration', 'impossible_speed', 'inconsistent_elapsed', 'negative_distance', 'too_old', 'unknown_employee'].sort(),
    );
    expect(rows.filter((r) => notifierVerdict(r).length === 0).length).toBeGreaterThan(100);
  });

  it('reads Debezium ZonedTimestamp text to the microsecond', () => {
    expect(zonedTimestampMicros('2026-06-30T12:00:00.123456Z')).toBe(Date.parse('2026-06-30T12:00:00Z') * 1000 + 123_456);
    expect(zonedTimestampMicros('2026-06-30T12:00:00Z')).toBe(Date.parse('2026-06-30T12:00:00Z') * 1000);
    expect(zonedTimestampMicros('1900-01-01T09:00:00.5Z')).toBe(Date.parse('1900-01-01T09:00:00Z') * 1000 + 500_000);
    expect(zonedTimestampMicros('infinity')).toBeNull();
    expect(zonedTimestampMicros(null)).toBeNull();
  });
});
