/**
 * CDC service against the real test stack (PostgreSQL 15 + Kafka): exact events for the sport
 * tables, a many-types table captured by configuration alone, schema change, partitioned and
 * keyless tables, TRUNCATE, metrics, and a restart after idling.
 */
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { CdcSetupError } from './postgres-setup.ts';
import { CdcService } from './service.ts';
import { createLogger } from '../common/logger.ts';
import {
  adminClient, cdcEnv, confirmedFlushLsn, currentWalLsn, dropSlots, envelope, eventually, runId, startCdc, type Envelope,
} from './testing/harness.ts';
import { readTopic, testKafka, waitForRecords, type ReadRecord } from './testing/kafka-read.ts';

const RUN = runId();
const config = loadConfig(cdcEnv({}));
let db: pg.Client;
let kafka: Kafka;
const slots: string[] = [];

beforeAll(async () => {
  db = await adminClient(config);
  kafka = testKafka(config.kafka.brokers);
});

afterAll(async () => {
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
      version: '0.1.0', connector: 'postgresql', name: prefix, snapshot: 'false', db: config.postgres.database, schema: 'public', table, xmin: null, ...extra,
    });

    // Snapshot row: op r, before null, the snapshot's LSN.
    const snap = values(forKey(employees, `{"employee_id":${empSnapshot}}`));
    expect(snap).toHaveLength(1);
    expect(snap[0]).toMatchObject({ op: 'r', before: null, after: employeeRow(empSnapshot), source: source('employees', { snapshot: snap[0]!.source.snapshot }) });
    expect(['true', 'last']).toContain(snap[0]!.source.snapshot);
    expect(snap[0]!.source.lsn).toBeLessThanOrEqual(Number(walBefore));

    // Employee: c then d then tombstone, one partition, commit order.
    const emps = forKey(employees, `{"employee_id":${emp}}`);
    expect(new Set(emps.map((r) => r.partition)).size).toBe(1);
    const [ec, ed, etomb] = values(emps);
    expect(ec).toEqual({ before: null, after: employeeRow(emp), source: { ...source('employees'), ts_ms: ec!.source.ts_ms, txId, lsn: ec!.source.lsn }, op: 'c', ts_ms: ec!.ts_ms });
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
    expect(ac).toEqual({ before: null, after: activityRow, source: { ...source('activities'), ts_ms: ac!.source.ts_ms, txId, lsn: ac!.source.lsn }, op: 'c', ts_ms: ac!.ts_ms });
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
