/**
 * CDC service against the real test stack (PostgreSQL 15 + Kafka): exact events for the sport
 * tables, a many-types table captured by configuration alone, schema change, partitioned and
 * keyless tables, TRUNCATE, metrics, and a restart after idling.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { CdcSetupError } from './postgres-setup.ts';
import { CdcService } from './service.ts';
import { createLogger } from '../common/logger.ts';
import {
  adminClient, cdcEnv, confirmedFlushLsn, currentWalLsn, dropSlots, envelope, eventually, runId, startCdc, stopAllCdc, type Envelope,
} from './testing/harness.ts';
import { readTopic, testKafka, waitForRecords, type KafkaTarget, type ReadRecord } from './testing/kafka-read.ts';

const RUN = runId();
const config = loadConfig(cdcEnv({}));
let db: pg.Client;
let kafka: KafkaTarget;
const slots: string[] = [];

beforeAll(async () => {
  db = await adminClient(config);
  kafka = testKafka(config.kafka.brokers);
});

afterAll(async () => {
  await stopAllCdc();
  await dropSlots(db, slots);
  await db.end();
});

const days = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;
const forKey = (records: ReadRecord[], key: string) => records.filter((r) => r.key === key);
const values = (records: ReadRecord[]) => records.map((r) => envelope(r.value));

describe('sport tables', () => {
  it('inserts, updates and deletes give exactly the expected events, field by field', async () => {
    const prefix = `s${RUN}`;
    const slot = `s_${RUN}`;
    slots.push(slot);
    const empSnapshot = 9_100_001;
    const emp = 9_100_002;
    await db.query('DELETE FROM activities WHERE employee_id IN ($1, $2)', [empSnapshot, emp]);
    await db.query('DELETE FROM employees WHERE employee_id IN ($1, $2)', [empSnapshot, emp]);
    const insertEmployee = `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date,
        gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode, updated_at)
      VALUES ($1, 'Mendes', 'Juliette', '1990-05-01', 'Marketing', '2020-09-01', 42000, 'CDI', 25,
        '1362 Av. des Platanes', '34970', 'Lattes', 43.567, 3.899, 'Marche/running', '2024-01-01 08:30:00+00')`;
    await db.query(insertEmployee, [empSnapshot]);

    const cdc = await startCdc({ KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot });
    const walBefore = await currentWalLsn(db);
    const t0 = Date.now();

    await db.query('BEGIN');
    await db.query(insertEmployee, [emp]);
    await db.query("INSERT INTO declared_sports (employee_id, sport, declared_at) VALUES ($1, 'Runing', '2024-01-02 09:00:00+00')", [emp]);
    const activityId = Number((await db.query<{ id: string }>(
      `INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment, created_at, updated_at)
       VALUES ($1, 'Runing', '2024-01-07 07:00:00+00', '2024-01-07 07:46:00+00', 2760, 10800, 'Sortie du dimanche', '2024-01-07 08:00:00+00', '2024-01-07 08:00:00+00')
       RETURNING activity_id::text AS id`, [emp])).rows[0]!.id);
    const txId = Number((await db.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]!.x);
    await db.query('COMMIT');
    // Big enough (and random enough) to be stored out of line: unchanged later, it is not re-sent.
    const longComment = randomBytes(15_000).toString('base64');
    await db.query('UPDATE activities SET distance_m = 11000, comment = $2 WHERE activity_id = $1', [activityId, longComment]);
    await db.query('UPDATE activities SET elapsed_seconds = 2800 WHERE activity_id = $1', [activityId]);
    await db.query('DELETE FROM activities WHERE activity_id = $1', [activityId]);
    await db.query('DELETE FROM declared_sports WHERE employee_id = $1', [emp]);
    await db.query('DELETE FROM employees WHERE employee_id = $1', [emp]);
    const walAfter = await currentWalLsn(db);
    const t1 = Date.now();

    const employeesTopic = `${prefix}.public.employees`;
    const activitiesTopic = `${prefix}.public.activities`;
    const sportsTopic = `${prefix}.public.declared_sports`;
    await waitForRecords(kafka, activitiesTopic, 5);
    await waitForRecords(kafka, sportsTopic, 3);
    const employees = await eventually('employee events', async () => {
      const r = await readTopic(kafka, employeesTopic);
      return forKey(r, `{"employee_id":${emp}}`).length >= 3 ? r : null;
    });
    const activities = forKey(await readTopic(kafka, activitiesTopic), `{"activity_id":${activityId}}`);
    const sports = forKey(await readTopic(kafka, sportsTopic), `{"employee_id":${emp}}`);

    const employeeRow = (id: number) => ({
      employee_id: id, last_name: 'Mendes', first_name: 'Juliette', birth_date: days('1990-05-01'), business_unit: 'Marketing',
      hire_date: days('2020-09-01'), gross_annual_salary_eur: '42000.00', contract_type: 'CDI', paid_leave_days: 25,
      home_address: '1362 Av. des Platanes', home_postcode: '34970', home_city: 'Lattes', home_lat: 43.567, home_lon: 3.899,
      commute_mode: 'Marche/running', updated_at: '2024-01-01T08:30:00.000000Z',
    });
    const source = (table: string, extra: Partial<Envelope['source']> = {}) => ({
      version: '0.1.0', connector: 'postgresql', name: prefix, snapshot: 'false', db: config.postgres.database, schema: 'public', table, xmin: null,
      origin: null, origin_lsn: null, ...extra,
    });
    /** The fields derived from the commit time, the LSN and the processing time (Debezium 3.6.1's). */
    const derived = (e: Envelope) => {
      const s = e.source as Envelope['source'] & { ts_us: number; sequence: string };
      expect(Math.floor(s.ts_us / 1000)).toBe(s.ts_ms);
      const [lastCommit, lsn] = JSON.parse(s.sequence) as [string | null, string];
      expect([lastCommit === null || /^\d+$/.test(lastCommit), lsn]).toEqual([true, String(s.lsn)]);
      return { source: { ts_us: s.ts_us, ts_ns: s.ts_us * 1000, sequence: s.sequence }, envelope: { transaction: null, ts_us: e.ts_ms * 1000, ts_ns: e.ts_ms * 1_000_000 } };
    };

    // Snapshot row: op r, before null, the snapshot's LSN.
    const snap = values(forKey(employees, `{"employee_id":${empSnapshot}}`));
    expect(snap).toHaveLength(1);
    expect(snap[0]).toMatchObject({ op: 'r', before: null, after: employeeRow(empSnapshot), source: source('employees', { snapshot: snap[0]!.source.snapshot }) });
    expect(['first', 'first_in_data_collection', 'true', 'last_in_data_collection', 'last']).toContain(snap[0]!.source.snapshot);
    expect(snap[0]!.source.lsn).toBeLessThanOrEqual(Number(walBefore));

    // Employee: c then d then tombstone, one partition, commit order.
    const emps = forKey(employees, `{"employee_id":${emp}}`);
    expect(new Set(emps.map((r) => r.partition)).size).toBe(1);
    const [ec, ed, etomb] = values(emps);
    expect(ec).toEqual({ before: null, after: employeeRow(emp), source: { ...source('employees'), ts_ms: ec!.source.ts_ms, txId, lsn: ec!.source.lsn, ...derived(ec!).source }, op: 'c', ts_ms: ec!.ts_ms, ...derived(ec!).envelope });
    expect(ed).toMatchObject({ op: 'd', before: employeeRow(emp), after: null, source: source('employees') });
    expect(etomb).toBeNull();
    expect(emps).toHaveLength(3);

    // Activity: c, u (with the before-image), u (unchanged TOAST comment kept), d, tombstone.
    expect(new Set(activities.map((r) => r.partition)).size).toBe(1);
    expect(activities.map((r) => r.offset)).toEqual([...activities.map((r) => r.offset)].sort((a, b) => a - b));
    const [ac, au1, au2, ad, atomb, ...extra] = values(activities);
    expect(extra).toEqual([]);
    const activityRow = {
      activity_id: activityId, employee_id: emp, sport_type: 'Runing', started_at: '2024-01-07T07:00:00.000000Z', ended_at: '2024-01-07T07:46:00.000000Z',
      elapsed_seconds: 2760, distance_m: 10800, comment: 'Sortie du dimanche', source: 'simulator', created_at: '2024-01-07T08:00:00.000000Z', updated_at: '2024-01-07T08:00:00.000000Z',
    };
    expect(ac).toEqual({ before: null, after: activityRow, source: { ...source('activities'), ts_ms: ac!.source.ts_ms, txId, lsn: ac!.source.lsn, ...derived(ac!).source }, op: 'c', ts_ms: ac!.ts_ms, ...derived(ac!).envelope });
    expect(au1).toMatchObject({ op: 'u', before: activityRow, after: { ...activityRow, distance_m: 11000, comment: longComment }, source: source('activities') });
    expect(au2).toMatchObject({ op: 'u', after: { ...activityRow, distance_m: 11000, comment: longComment, elapsed_seconds: 2800 } });
    expect(au2!.before).toMatchObject({ comment: longComment, elapsed_seconds: 2760 });
    expect(ad).toMatchObject({ op: 'd', after: null, before: { ...activityRow, distance_m: 11000, comment: longComment, elapsed_seconds: 2800 } });
    expect(atomb).toBeNull();
    expect(activities[4]!.key).toBe(`{"activity_id":${activityId}}`);

    // Declared sport: c, d, tombstone.
    expect(values(sports).map((e) => e?.op ?? 'tombstone')).toEqual(['c', 'd', 'tombstone']);
    expect(values(sports)[0]!.after).toEqual({ employee_id: emp, sport: 'Runing', declared_at: '2024-01-02T09:00:00.000000Z' });

    // One transaction, one txId and one commit time; later transactions their own.
    const firstTx = [ec!, ac!, values(sports)[0]!];
    expect(new Set(firstTx.map((e) => e.source.txId))).toEqual(new Set([txId]));
    expect(new Set(firstTx.map((e) => e.source.ts_ms)).size).toBe(1);
    expect(ec!.source.ts_ms).toBeGreaterThanOrEqual(t0 - 1000);
    expect(ec!.source.ts_ms).toBeLessThanOrEqual(t1 + 1000);
    expect(new Set([au1, au2, ad].map((e) => e!.source.txId)).size).toBe(3);
    expect(au1!.source.txId).not.toBe(txId);
    // LSNs: inside the WAL written by the test, increasing in commit order.
    const lsns = [ac, au1, au2, ad].map((e) => e!.source.lsn);
    expect(lsns).toEqual([...lsns].sort((a, b) => a - b));
    expect(lsns[0]).toBeGreaterThan(Number(walBefore));
    expect(lsns[3]).toBeLessThan(Number(walAfter));

    // SIGTERM path: flush, then confirm; the slot is past every delivered change.
    await cdc.stop();
    const confirmed = await confirmedFlushLsn(db, slot);
    expect(confirmed).not.toBeNull();
    expect(Number(confirmed)).toBeGreaterThan(ed!.source.lsn);
    await db.query('DELETE FROM employees WHERE employee_id = $1', [empSnapshot]);
  });
});

describe('tables chosen by configuration', () => {
  const TYPES_DDL = `
    DROP TABLE IF EXISTS cdc_types, cdc_measures, cdc_nopk CASCADE;
    DROP PUBLICATION IF EXISTS cdc_types_pub;
    DROP TYPE IF EXISTS cdc_mood;
    DROP DOMAIN IF EXISTS cdc_positive;
    CREATE TYPE cdc_mood AS ENUM ('happy', 'sad');
    CREATE DOMAIN cdc_positive AS integer CHECK (VALUE > 0);
    CREATE TABLE cdc_types (
      id integer PRIMARY KEY, c_smallint smallint, c_integer integer, c_bigint bigint, c_numeric numeric(12, 2), c_real real,
      c_double double precision, c_bool boolean, c_text text, c_varchar varchar(20), c_char char(3), c_date date,
      c_timestamp timestamp, c_timestamp3 timestamp(3), c_timestamptz timestamptz, c_time time, c_timetz timetz, c_interval interval,
      c_json json, c_jsonb jsonb, c_uuid uuid, c_bytea bytea, c_int_array integer[], c_text_array text[], c_mood cdc_mood,
      c_positive cdc_positive, c_box box, c_inet inet);
    CREATE TABLE cdc_measures (id integer, taken_on date, v numeric, PRIMARY KEY (id, taken_on)) PARTITION BY RANGE (taken_on);
    CREATE TABLE cdc_measures_2024 PARTITION OF cdc_measures FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE cdc_measures_2025 PARTITION OF cdc_measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE cdc_nopk (note text, n integer);`;
  const TYPES_VALUES = `(-7, 42, 9007199254740993, 12345.67, 1.5, 43.567, true, 'Bravo "É" 🔥', 'vélo', 'ab', '2024-01-01',
      '2024-01-01 08:30:00.123456', '2024-01-01 08:30:00.123', '2024-01-01 10:30:00.5+02', '08:30:00.123456', '08:30:00+02',
      '1 year 2 mons 3 days 04:05:06.5', '{"a": 1}', '{"b": [1, 2]}', '1b4e28ba-2fa1-11d2-883f-0016d3cca427', '\\x0001ff',
      '{1,2,NULL}', '{"a b",NULL,"c\\"d"}', 'happy', 5, '(1,2),(0,0)', '192.168.0.1/24')`;
  const COLUMNS = 'c_smallint, c_integer, c_bigint, c_numeric, c_real, c_double, c_bool, c_text, c_varchar, c_char, c_date, c_timestamp, c_timestamp3, c_timestamptz, c_time, c_timetz, c_interval, c_json, c_jsonb, c_uuid, c_bytea, c_int_array, c_text_array, c_mood, c_positive, c_box, c_inet';
  const rendered = (id: number) => ({
    id, c_smallint: -7, c_integer: 42, c_bigint: 9007199254740992 /* JSON.parse rounds; the raw text is checked below */, c_numeric: '12345.67',
    c_real: 1.5, c_double: 43.567, c_bool: true, c_text: 'Bravo "É" 🔥', c_varchar: 'vélo', c_char: 'ab ', c_date: 19723,
    c_timestamp: 1704097800123456, c_timestamp3: 1704097800123, c_timestamptz: '2024-01-01T08:30:00.500000Z', c_time: 30600123456,
    c_timetz: '06:30:00Z', c_interval: 'P1Y2M3DT4H5M6.5S', c_json: '{"a": 1}', c_jsonb: '{"b": [1, 2]}', c_uuid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
    c_bytea: 'AAH/', c_int_array: [1, 2, null], c_text_array: ['a b', null, 'c"d'], c_mood: 'happy', c_positive: 5,
    c_box: '(1,2),(0,0)', c_inet: '192.168.0.1/24',
  });

  it('refuses, naming the SQL to run, when the publication lacks a table and admin setup is off', async () => {
    await db.query('DROP TABLE IF EXISTS cdc_unpublished; CREATE TABLE cdc_unpublished (id integer PRIMARY KEY)');
    const cfg = loadConfig(cdcEnv({ CDC_TABLES: 'public.cdc_unpublished', CDC_ADMIN_SETUP: 'false', CDC_SLOT_NAME: `never_${RUN}`, KAFKA_TOPIC_PREFIX: `n${RUN}` }));
    const service = new CdcService(cfg, createLogger('cdc-test', 'silent'));
    const error = await service.run().then(() => null, (e: Error) => e);
    expect(error).toBeInstanceOf(CdcSetupError);
    expect(error!.message).toMatch(/GRANT SELECT ON "public"."cdc_unpublished"/);
    expect(error!.message).toMatch(/ALTER PUBLICATION "sport_cdc" ADD TABLE "public"."cdc_unpublished"/);
    expect((await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`never_${RUN}`])).rowCount).toBe(0);
    await db.query('DROP TABLE cdc_unpublished');
  });

  it('captures a many-types table, a partitioned table and a keyless table by configuration alone', async () => {
    const prefix = `t${RUN}`;
    const slot = `t_${RUN}`;
    slots.push(slot);
    await db.query(TYPES_DDL);
    await db.query(`INSERT INTO cdc_types (id, ${COLUMNS}) VALUES (0, ${TYPES_VALUES.slice(1)}`);
    await db.query("INSERT INTO cdc_measures VALUES (1, '2024-06-01', 1.5)");

    const cdc = await startCdc({
      KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_PUBLICATION: 'cdc_types_pub', KAFKA_TOPIC_PARTITIONS: '3',
      CDC_TABLES: 'public.cdc_types,cdc_measures,public.cdc_nopk',
    });
    // What admin setup did: a publication via the partition root, SELECT for the CDC role, FULL identity for the keyless table.
    const pub = await db.query<{ pubviaroot: boolean; tables: string[] }>(
      "SELECT pubviaroot, (SELECT array_agg(tablename::text ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'cdc_types_pub') AS tables FROM pg_publication WHERE pubname = 'cdc_types_pub'");
    expect(pub.rows[0]).toEqual({ pubviaroot: true, tables: ['cdc_measures', 'cdc_nopk', 'cdc_types'] });
    expect((await db.query("SELECT relreplident FROM pg_class WHERE relname = 'cdc_nopk'")).rows[0]).toEqual({ relreplident: 'f' });

    await db.query(`INSERT INTO cdc_types (id, ${COLUMNS}) VALUES (1, ${TYPES_VALUES.slice(1)}`);
    await db.query('INSERT INTO cdc_types (id) VALUES (2)');
    await db.query('UPDATE cdc_types SET c_integer = 43 WHERE id = 1');
    await db.query("ALTER TABLE cdc_types ADD COLUMN c_added text DEFAULT 'new'");
    await db.query('INSERT INTO cdc_types (id) VALUES (3)');
    await db.query("INSERT INTO cdc_measures VALUES (2, '2025-02-01', 2.5)");
    await db.query("UPDATE cdc_measures SET v = 3.5 WHERE id = 2");
    await db.query("INSERT INTO cdc_nopk VALUES ('a', 1), ('b', 2)");
    await db.query("UPDATE cdc_nopk SET n = 3 WHERE note = 'a'");
    await db.query("DELETE FROM cdc_nopk WHERE note = 'b'");
    await db.query('TRUNCATE cdc_types');

    const typesTopic = `${prefix}.public.cdc_types`;
    await waitForRecords(kafka, typesTopic, 5 + 3);
    await waitForRecords(kafka, `${prefix}.public.cdc_nopk`, 4);
    await waitForRecords(kafka, `${prefix}.public.cdc_measures`, 3);
    const types = await readTopic(kafka, typesTopic);
    const byId = (id: number) => types.filter((r) => r.key === `{"id":${id}}`).map((r) => envelope(r.value)!);

    // Snapshot and stream render every type identically.
    const [snapshotRow] = byId(0);
    expect(snapshotRow).toMatchObject({ op: 'r', before: null, after: rendered(0) });
    const [insert1, update1] = byId(1);
    expect(insert1).toMatchObject({ op: 'c', before: null, after: rendered(1) });
    expect(types.find((r) => r.key === '{"id":1}')!.value).toContain('"c_bigint":9007199254740993,');
    // REPLICA IDENTITY DEFAULT: no before-image on update.
    expect(update1).toMatchObject({ op: 'u', before: null, after: { ...rendered(1), c_integer: 43 } });
    const [nulls] = byId(2);
    expect(nulls!.after).toEqual(Object.fromEntries(Object.keys(rendered(2)).map((k) => [k, k === 'id' ? 2 : null])));
    // ADD COLUMN while streaming: the next event has the column.
    expect(byId(3)[0]!.after).toMatchObject({ id: 3, c_integer: null, c_added: 'new' });
    // TRUNCATE: one op t event (key null) in every partition, after the partition's other events.
    const truncates = types.filter((r) => r.key === null);
    expect(truncates.map((r) => r.partition).sort()).toEqual([0, 1, 2]);
    for (const t of truncates) {
      expect(envelope(t.value)).toMatchObject({ op: 't', before: null, after: null, source: { table: 'cdc_types' } });
      expect(t.offset).toBe(Math.max(...types.filter((r) => r.partition === t.partition).map((r) => r.offset)));
    }
    expect(new Set(truncates.map((t) => envelope(t.value)!.source.lsn)).size).toBe(1);

    // Partitioned table: every partition's rows under the root's topic.
    const measures = values(await readTopic(kafka, `${prefix}.public.cdc_measures`));
    expect(measures.map((e) => [e!.op, e!.source.table, e!.after])).toEqual(expect.arrayContaining([
      ['r', 'cdc_measures', { id: 1, taken_on: days('2024-06-01'), v: '1.5' }],
      ['c', 'cdc_measures', { id: 2, taken_on: days('2025-02-01'), v: '2.5' }],
      ['u', 'cdc_measures', { id: 2, taken_on: days('2025-02-01'), v: '3.5' }],
    ]));

    // Keyless table: null key, partition 0, in order, no tombstone.
    const nopk = await readTopic(kafka, `${prefix}.public.cdc_nopk`);
    expect(nopk.map((r) => [r.partition, r.key])).toEqual([[0, null], [0, null], [0, null], [0, null]]);
    expect(values(nopk).map((e) => [e!.op, e!.before, e!.after])).toEqual([
      ['c', null, { note: 'a', n: 1 }],
      ['c', null, { note: 'b', n: 2 }],
      ['u', { note: 'a', n: 1 }, { note: 'a', n: 3 }],
      ['d', { note: 'b', n: 2 }, null],
    ]);

    // Metrics on the configured port.
    const metrics = await (await fetch(`http://127.0.0.1:${cdc.service.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`cdc_events_total\\{topic="${typesTopic.replace(/\./g, '\\.')}",op="c"\\} 3`));
    expect(metrics).toMatch(/cdc_replication_lag_bytes \d+/);
    expect(metrics).toMatch(/cdc_last_received_lsn \d+/);
    expect(metrics).toMatch(/cdc_confirmed_lsn \d+/);
    expect(metrics).toMatch(/cdc_errors_total\{kind="unknown_type"\} [1-9]/); // the box column, sent as text
    expect(metrics).toMatch(/cdc_events_per_second \d/);
    expect(metrics).toMatch(/process_resident_memory_bytes \d+/);

    await cdc.stop();
    await db.query('DROP TABLE cdc_types, cdc_measures, cdc_nopk; DROP PUBLICATION cdc_types_pub; DROP TYPE cdc_mood; DROP DOMAIN cdc_positive');
  });
});

describe('restart after idle', () => {
  it('keeps the slot up to date while idle, resumes from the confirmed LSN and re-sends nothing', async () => {
    const prefix = `i${RUN}`;
    const slot = `i_${RUN}`;
    slots.push(slot);
    await db.query(`DROP TABLE IF EXISTS cdc_idle, cdc_idle_noise; DROP PUBLICATION IF EXISTS cdc_idle_pub;
      CREATE TABLE cdc_idle (id integer PRIMARY KEY, v text); CREATE TABLE cdc_idle_noise (n integer)`);
    const env = { KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_PUBLICATION: 'cdc_idle_pub', CDC_TABLES: 'cdc_idle' };
    const topic = `${prefix}.public.cdc_idle`;
    // WAL that is not a captured change: the slot must still follow it.
    const noise = async () => {
      await db.query('INSERT INTO cdc_idle_noise SELECT generate_series(1, 2000)');
      return currentWalLsn(db);
    };

    let cdc = await startCdc(env);
    await db.query("INSERT INTO cdc_idle VALUES (1, 'first')");
    await waitForRecords(kafka, topic, 1);
    const walAfterNoise = await noise();
    await eventually('slot confirmed past idle WAL', async () => ((await confirmedFlushLsn(db, slot))! >= walAfterNoise ? true : null), 15_000);
    await cdc.service.metrics.readLag();
    expect(await cdc.service.metrics.lagBytes.get().then((g) => g.values[0]?.value ?? Infinity)).toBeLessThan(64 * 1024);
    await cdc.stop();

    const walWhileStopped = await noise();
    cdc = await startCdc(env);
    await db.query("INSERT INTO cdc_idle VALUES (2, 'second')");
    await waitForRecords(kafka, topic, 2);
    await eventually('slot confirmed past the WAL written while stopped', async () => ((await confirmedFlushLsn(db, slot))! >= walWhileStopped ? true : null), 15_000);
    await new Promise((r) => setTimeout(r, 500));
    const records = values(await readTopic(kafka, topic));
    // One snapshot-free start, no re-delivery after the graceful stop.
    expect(records.map((e) => [e!.op, e!.after])).toEqual([['c', { id: 1, v: 'first' }], ['c', { id: 2, v: 'second' }]]);
    await cdc.stop();
    await db.query('DROP TABLE cdc_idle, cdc_idle_noise; DROP PUBLICATION cdc_idle_pub');
  });
});
