/**
 * The schema link (docs/contracts/table-schemas.md) against the real test stack: the document of a
 * wide table with every common type, one id for the snapshot and the stream, new versions on ADD
 * COLUMN / DROP COLUMN / ALTER TYPE with every message pointing at the right one, the same ids
 * after a restart, the `lakehouse.unavailable` header, and the interval modes.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { parseTableSchema, SCHEMA_ID_HEADER, schemaTopic, UNAVAILABLE_HEADER, type TableSchema } from '../common/contracts/table-schema.ts';
import { adminClient, cdcEnv, dropSlots, envelope, eventually, runId, startCdc, stopAllCdc } from './testing/harness.ts';
import { readTopic, testKafka, type KafkaTarget, type ReadRecord } from './testing/kafka-read.ts';

const RUN = runId();
const config = loadConfig(cdcEnv({}));
const SCHEMA = `sl_${RUN}`;
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
  await db.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await db.query(`DROP PUBLICATION IF EXISTS ${SCHEMA}_pub`);
  await db.end();
});

/** Every document of the schema topic, by id, verified (shape, format, id = hash of the content, key = id). */
async function schemaDocuments(prefix: string): Promise<Map<string, TableSchema>> {
  const records = await readTopic(kafka, schemaTopic(prefix));
  return new Map(records.map((r) => [r.key!, parseTableSchema(r.value!, r.key!)]));
}

const schemaIdOf = (r: ReadRecord) => r.headers[SCHEMA_ID_HEADER];

const WIDE_DDL = `
  CREATE SCHEMA ${SCHEMA};
  CREATE TYPE ${SCHEMA}.mood AS ENUM ('sad', 'ok', 'happy');
  CREATE DOMAIN ${SCHEMA}.posint AS integer NOT NULL CHECK (VALUE > 0);
  CREATE DOMAIN ${SCHEMA}.price AS numeric(6, 2);
  CREATE TABLE ${SCHEMA}.wide (
    region text, id bigint,
    c_smallint smallint NOT NULL, c_integer integer, c_numeric numeric(30, 10), c_numeric_any numeric, c_real real, c_double double precision,
    c_bool boolean, c_text text, c_varchar varchar(20), c_char char(5), c_date date, c_timestamp timestamp, c_timestamp3 timestamp(3),
    c_timestamptz timestamptz, c_timestamptz0 timestamptz(0), c_time time, c_time3 time(3), c_timetz timetz, c_interval interval,
    c_uuid uuid, c_json json, c_jsonb jsonb, c_bytea bytea, c_int_array integer[], c_text_matrix text[][], c_numeric_array numeric(10, 2)[],
    c_mood ${SCHEMA}.mood, c_moods ${SCHEMA}.mood[], c_posint ${SCHEMA}.posint, c_price ${SCHEMA}.price, c_point point, c_inet inet,
    c_range int4range, c_tsvector tsvector, c_money money,
    c_total numeric GENERATED ALWAYS AS (c_numeric * 2) STORED,
    PRIMARY KEY (region, id));
  CREATE TABLE ${SCHEMA}.toasty (id integer PRIMARY KEY, big text, n integer);
  GRANT USAGE ON SCHEMA ${SCHEMA} TO ${config.postgres.cdc.user};`;

const WIDE_VALUES = `(-7, 42, 12345678901234567890.0123456789, 'NaN', 'Infinity', 1e300, true, 'Bravo "É" 🔥', 'vélo', 'ab',
  'infinity', '2024-01-01 08:30:00.123456', '2024-01-01 08:30:00.123', '2024-01-01 10:30:00.5+02', '2024-01-01 10:30:00+02',
  '08:30:00.123456', '08:30:00.123', '08:30:00+02', '-1 year -2 mons +3 days -04:05:06.78', '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
  '{"a": 1}', '{"b": [1, 2]}', '\\x0001ff', '{1,2,NULL}', '{{a,b},{c,d}}', '{1.50,2}', 'happy', '{sad,happy}', 5, 12.5, '(1,2)',
  '192.168.0.1/24', '[1,5)', 'a fat cat', 12.34)`;
const WIDE_COLUMNS = `c_smallint, c_integer, c_numeric, c_numeric_any, c_real, c_double, c_bool, c_text, c_varchar, c_char, c_date, c_timestamp,
  c_timestamp3, c_timestamptz, c_timestamptz0, c_time, c_time3, c_timetz, c_interval, c_uuid, c_json, c_jsonb, c_bytea, c_int_array,
  c_text_matrix, c_numeric_array, c_mood, c_moods, c_posint, c_price, c_point, c_inet, c_range, c_tsvector, c_money`;
const insertWide = (region: string, id: number) => `INSERT INTO ${SCHEMA}.wide (region, id, ${WIDE_COLUMNS}) VALUES ('${region}', ${id}, ${WIDE_VALUES.slice(1)}`;

/** [name, pgType, category, baseType, baseCategory, nullable, keyPosition, identity, enumLabels, arrayDimensions] of each column. */
const EXPECTED_COLUMNS: [string, string, string, string | null, string | null, boolean, number | null, boolean, string[] | null, number | null][] = [
  ['region', 'text', 'base', null, null, false, 1, true, null, null],
  ['id', 'bigint', 'base', null, null, false, 2, true, null, null],
  ['c_smallint', 'smallint', 'base', null, null, false, null, false, null, null],
  ['c_integer', 'integer', 'base', null, null, true, null, false, null, null],
  ['c_numeric', 'numeric(30,10)', 'base', null, null, true, null, false, null, null],
  ['c_numeric_any', 'numeric', 'base', null, null, true, null, false, null, null],
  ['c_real', 'real', 'base', null, null, true, null, false, null, null],
  ['c_double', 'double precision', 'base', null, null, true, null, false, null, null],
  ['c_bool', 'boolean', 'base', null, null, true, null, false, null, null],
  ['c_text', 'text', 'base', null, null, true, null, false, null, null],
  ['c_varchar', 'character varying(20)', 'base', null, null, true, null, false, null, null],
  ['c_char', 'character(5)', 'base', null, null, true, null, false, null, null],
  ['c_date', 'date', 'base', null, null, true, null, false, null, null],
  ['c_timestamp', 'timestamp without time zone', 'base', null, null, true, null, false, null, null],
  ['c_timestamp3', 'timestamp(3) without time zone', 'base', null, null, true, null, false, null, null],
  ['c_timestamptz', 'timestamp with time zone', 'base', null, null, true, null, false, null, null],
  ['c_timestamptz0', 'timestamp(0) with time zone', 'base', null, null, true, null, false, null, null],
  ['c_time', 'time without time zone', 'base', null, null, true, null, false, null, null],
  ['c_time3', 'time(3) without time zone', 'base', null, null, true, null, false, null, null],
  ['c_timetz', 'time with time zone', 'base', null, null, true, null, false, null, null],
  ['c_interval', 'interval', 'base', null, null, true, null, false, null, null],
  ['c_uuid', 'uuid', 'base', null, null, true, null, false, null, null],
  ['c_json', 'json', 'base', null, null, true, null, false, null, null],
  ['c_jsonb', 'jsonb', 'base', null, null, true, null, false, null, null],
  ['c_bytea', 'bytea', 'base', null, null, true, null, false, null, null],
  ['c_int_array', 'integer[]', 'array', 'integer', 'base', true, null, false, null, 1],
  ['c_text_matrix', 'text[]', 'array', 'text', 'base', true, null, false, null, 2],
  ['c_numeric_array', 'numeric(10,2)[]', 'array', 'numeric(10,2)', 'base', true, null, false, null, 1],
  ['c_mood', `${SCHEMA}.mood`, 'enum', null, null, true, null, false, ['sad', 'ok', 'happy'], null],
  ['c_moods', `${SCHEMA}.mood[]`, 'array', `${SCHEMA}.mood`, 'enum', true, null, false, ['sad', 'ok', 'happy'], 1],
  ['c_posint', `${SCHEMA}.posint`, 'domain', 'integer', 'base', false, null, false, null, null],
  ['c_price', `${SCHEMA}.price`, 'domain', 'numeric(6,2)', 'base', true, null, false, null, null],
  ['c_point', 'point', 'base', null, null, true, null, false, null, null],
  ['c_inet', 'inet', 'base', null, null, true, null, false, null, null],
  ['c_range', 'int4range', 'range', null, null, true, null, false, null, null],
  ['c_tsvector', 'tsvector', 'base', null, null, true, null, false, null, null],
  ['c_money', 'money', 'base', null, null, true, null, false, null, null],
];
const columnFacts = (doc: TableSchema) =>
  doc.columns.map((c) => [c.name, c.pgType, c.category, c.baseType, c.baseCategory, c.nullable, c.keyPosition, c.identity, c.enumLabels, c.arrayDimensions]);

describe('schema documents and the schema id header', () => {
  it('documents every column of a wide table; snapshot and stream share the id; ADD/DROP COLUMN and ALTER TYPE make new versions; a restart re-emits the same id', async () => {
    const prefix = `sl${RUN}`;
    const slot = `sl_${RUN}`;
    slots.push(slot);
    await db.query(WIDE_DDL);
    await db.query(insertWide('eu', 1));
    const env = { KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_PUBLICATION: `${SCHEMA}_pub`, CDC_TABLES: `${SCHEMA}.wide,${SCHEMA}.toasty`, KAFKA_TOPIC_PARTITIONS: '2' };
    let cdc = await startCdc(env);

    await db.query(insertWide('eu', 2));
    await db.query(`ALTER TABLE ${SCHEMA}.wide ADD COLUMN c_added text DEFAULT 'new'`);
    await db.query(insertWide('eu', 3));
    await db.query(`ALTER TABLE ${SCHEMA}.wide DROP COLUMN c_money`);
    await db.query(insertWide('eu', 4).replace(', c_money)', ')').replace(', 12.34)', ')'));
    await db.query(`ALTER TABLE ${SCHEMA}.wide ALTER COLUMN c_integer TYPE bigint`);
    await db.query(`UPDATE ${SCHEMA}.wide SET c_integer = 9007199254740993 WHERE id = 1`);
    await db.query(`DELETE FROM ${SCHEMA}.wide WHERE id = 2`);
    await db.query(`TRUNCATE ${SCHEMA}.wide`);
    await db.query(insertWide('eu', 5).replace(', c_money)', ')').replace(', 12.34)', ')'));
    await cdc.stop();
    // Stopped and started again: the new Relation message gives the same document and id.
    await db.query(insertWide('eu', 6).replace(', c_money)', ')').replace(', 12.34)', ')'));
    cdc = await startCdc(env);

    const topic = `${prefix}.${SCHEMA}.wide`;
    const records = await eventually('the wide table events', async () => {
      const r = await readTopic(kafka, topic);
      return r.some((m) => m.key === '{"region":"eu","id":6}') ? r : null;
    });
    await cdc.stop();
    const docs = await schemaDocuments(prefix);

    // Every message of the table topic carries a schema id that the schema topic holds.
    expect(records.every((r) => docs.has(schemaIdOf(r)!))).toBe(true);
    const idOfKey = (id: number, op: string) => {
      const r = records.find((m) => m.key === `{"region":"eu","id":${id}}` && (envelope(m.value)?.op ?? 'tombstone') === op);
      return schemaIdOf(r!)!;
    };
    const v1 = idOfKey(1, 'r');
    const [v2, v3, v4] = [idOfKey(3, 'c'), idOfKey(4, 'c'), idOfKey(5, 'c')];
    // Snapshot rows and the first streamed change share one document (catalog and Relation message agree).
    expect(idOfKey(2, 'c')).toBe(v1);
    expect(new Set([v1, v2, v3, v4]).size).toBe(4);
    // Later events of a version carry its id: update, delete, tombstone, truncate; and after the restart.
    expect([idOfKey(1, 'u'), idOfKey(2, 'd'), idOfKey(2, 'tombstone'), idOfKey(6, 'c')]).toEqual([v4, v4, v4, v4]);
    const truncates = records.filter((r) => r.key === null && envelope(r.value)?.op === 't');
    expect(truncates.map((r) => schemaIdOf(r))).toEqual([v4, v4]);

    // Version 1: every type as the catalog and the Relation message describe it.
    const doc1 = docs.get(v1)!;
    expect(doc1).toMatchObject({
      format: 1, source: { name: prefix, db: config.postgres.database, schema: SCHEMA, table: 'wide' }, topic,
      replicaIdentity: 'default', primaryKey: ['region', 'id'], generatedColumns: ['c_total'],
      rendering: { decimal: 'string', time: 'adaptive', interval: 'iso8601', binary: 'base64', unavailableValue: '__debezium_unavailable_value' },
    });
    expect(columnFacts(doc1)).toEqual(EXPECTED_COLUMNS);
    expect(doc1.columns.map((c) => c.position)).toEqual(EXPECTED_COLUMNS.map((_, i) => i + 1));
    const typeOids = Object.fromEntries((await db.query<{ attname: string; atttypid: number; atttypmod: number }>(
      `SELECT attname, atttypid::int AS atttypid, atttypmod FROM pg_attribute WHERE attrelid = '${SCHEMA}.wide'::regclass AND attnum > 0`)).rows.map((r) => [r.attname, [r.atttypid, r.atttypmod]]));
    expect(doc1.columns.filter((c) => c.name !== 'c_money').map((c) => [c.name, [c.typeOid, c.typeMod]])).toEqual(
      doc1.columns.filter((c) => c.name !== 'c_money').map((c) => [c.name, c.name === 'c_integer' ? [23, -1] : typeOids[c.name]]));
    // The events render every value of the version: the payload is unchanged Debezium JSON.
    expect(envelope(records.find((m) => m.key === '{"region":"eu","id":1}')!.value)!.after).toMatchObject({
      c_numeric: '12345678901234567890.0123456789', c_numeric_any: 'NAN', c_interval: 'P-1Y-2M3DT-4H-5M-6.78S', c_moods: ['sad', 'happy'], c_posint: 5, c_price: '12.50',
    });

    // ADD COLUMN: the column appended; DROP COLUMN: gone; ALTER TYPE: the new type.
    const names = (id: string) => docs.get(id)!.columns.map((c) => c.name);
    expect(names(v2)).toEqual([...EXPECTED_COLUMNS.map(([n]) => n), 'c_added']);
    expect(docs.get(v2)!.columns.at(-1)).toMatchObject({ name: 'c_added', pgType: 'text', nullable: true, position: EXPECTED_COLUMNS.length + 1 });
    expect(names(v3)).toEqual([...EXPECTED_COLUMNS.map(([n]) => n).filter((n) => n !== 'c_money'), 'c_added']);
    expect(docs.get(v3)!.columns.find((c) => c.name === 'c_integer')).toMatchObject({ pgType: 'integer', typeOid: 23 });
    expect(docs.get(v4)!.columns.find((c) => c.name === 'c_integer')).toMatchObject({ pgType: 'bigint', typeOid: 20 });
    expect(names(v4)).toEqual(names(v3));
  });

  it('a restart behind DROP COLUMN and ALTER TYPE re-emits the ids the first run emitted', async () => {
    const prefix = `sr${RUN}`;
    const slot = `sr_${RUN}`;
    const behind = `srb_${RUN}`;
    slots.push(slot, behind);
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA};
      CREATE TABLE ${SCHEMA}.evolving (id integer PRIMARY KEY, keep text NOT NULL, gone numeric(10, 2) NOT NULL, retyped integer);
      GRANT USAGE ON SCHEMA ${SCHEMA} TO ${config.postgres.cdc.user}`);
    const env = { KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_PUBLICATION: `${SCHEMA}_pub`, CDC_TABLES: `${SCHEMA}.evolving` };
    let cdc = await startCdc(env);
    // A second slot, created before the DDL: streaming from it later is a restart behind the DDL.
    await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [behind]);
    await db.query(`INSERT INTO ${SCHEMA}.evolving VALUES (1, 'a', 1.5, 1)`);
    await db.query(`ALTER TABLE ${SCHEMA}.evolving DROP COLUMN gone`);
    await db.query(`INSERT INTO ${SCHEMA}.evolving VALUES (2, 'b', 2)`);
    await db.query(`ALTER TABLE ${SCHEMA}.evolving ALTER COLUMN retyped TYPE bigint`);
    await db.query(`INSERT INTO ${SCHEMA}.evolving VALUES (3, 'c', 3)`);
    const topic = `${prefix}.${SCHEMA}.evolving`;
    const first = await eventually('the first run\'s events', async () => {
      const r = await readTopic(kafka, topic);
      return r.filter((m) => m.value !== null && envelope(m.value)!.op === 'c').length >= 3 ? r : null;
    });
    await cdc.stop();
    const idsOf = (records: typeof first) => Object.fromEntries(records.filter((m) => m.value !== null && envelope(m.value)!.op === 'c').map((m) => [m.key!, schemaIdOf(m)]));
    const firstIds = idsOf(first);
    expect(new Set(Object.values(firstIds)).size).toBe(3);

    // The same prefix, from the older slot: the three inserts are sent again, with the Relation
    // messages of their time, while the catalog has neither `gone` nor the integer `retyped`.
    cdc = await startCdc({ ...env, CDC_SLOT_NAME: behind });
    const again = await eventually('the re-sent events', async () => {
      const r = await readTopic(kafka, topic);
      return r.length >= first.length * 2 ? r : null;
    });
    await cdc.stop();
    // Each insert is in the topic twice (once per run), both times with the id of its version.
    const inserts = again.filter((m) => m.value !== null && envelope(m.value)!.op === 'c');
    expect(inserts).toHaveLength(6);
    for (const m of inserts) expect([m.key, schemaIdOf(m)]).toEqual([m.key, firstIds[m.key!]]);
    const docs = await schemaDocuments(prefix);
    expect(docs.get(firstIds['{"id":1}']!)!.columns.find((c) => c.name === 'gone')).toMatchObject({ pgType: 'numeric(10,2)', nullable: false, attnum: 3 });
  });

  it('an unchanged TOASTed value without a before-image: header lakehouse.unavailable, the payload keeps the placeholder', async () => {
    const prefix = `su${RUN}`;
    const slot = `su_${RUN}`;
    slots.push(slot);
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}; CREATE TABLE IF NOT EXISTS ${SCHEMA}.toasty (id integer PRIMARY KEY, big text, n integer);
      GRANT USAGE ON SCHEMA ${SCHEMA} TO ${config.postgres.cdc.user}`);
    const cdc = await startCdc({ KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_PUBLICATION: `${SCHEMA}_pub`, CDC_TABLES: `${SCHEMA}.toasty` });
    // Random, so not compressible: stored out of line, and not re-sent when unchanged.
    const big = randomBytes(15_000).toString('base64');
    await db.query(`INSERT INTO ${SCHEMA}.toasty VALUES (1, $1, 1)`, [big]);
    await db.query(`UPDATE ${SCHEMA}.toasty SET n = 2 WHERE id = 1`);
    const topic = `${prefix}.${SCHEMA}.toasty`;
    const records = await eventually('the toasty events', async () => {
      const r = await readTopic(kafka, topic);
      return r.length >= 2 ? r : null;
    });
    await cdc.stop();
    const [insert, update] = records;
    expect(insert!.headers[UNAVAILABLE_HEADER]).toBeUndefined();
    expect(envelope(insert!.value)!.after).toEqual({ id: 1, big, n: 1 });
    expect(update!.headers[UNAVAILABLE_HEADER]).toBe('["big"]');
    expect(envelope(update!.value)!.after).toEqual({ id: 1, big: '__debezium_unavailable_value', n: 2 });
    expect(update!.headers[SCHEMA_ID_HEADER]).toBe(insert!.headers[SCHEMA_ID_HEADER]);
    const doc = (await schemaDocuments(prefix)).get(insert!.headers[SCHEMA_ID_HEADER]!)!;
    expect(doc).toMatchObject({ replicaIdentity: 'default', primaryKey: ['id'] });
    expect(doc.columns.map((c) => [c.name, c.identity])).toEqual([['id', true], ['big', false], ['n', false]]);
  });

  it('CDC_INTERVAL_HANDLING=numeric renders Debezium\'s microseconds and says so in the document; every captured table has its document from the start', async () => {
    const prefix = `sn${RUN}`;
    const slot = `sn_${RUN}`;
    slots.push(slot);
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}; CREATE TABLE ${SCHEMA}.spans (id integer PRIMARY KEY, took interval);
      CREATE TABLE ${SCHEMA}.never_written (id integer PRIMARY KEY, note text);
      GRANT USAGE ON SCHEMA ${SCHEMA} TO ${config.postgres.cdc.user}`);
    const cdc = await startCdc({
      KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_PUBLICATION: `${SCHEMA}_pub`, CDC_TABLES: `${SCHEMA}.spans,${SCHEMA}.never_written`,
      CDC_INTERVAL_HANDLING: 'numeric', CDC_SNAPSHOT_MODE: 'never',
    });
    // No snapshot, no row ever: the table's document is produced at start all the same.
    const atStart = [...(await schemaDocuments(prefix)).values()];
    expect(atStart.map((d) => d.source.table).sort()).toEqual(['never_written', 'spans']);
    expect(atStart.find((d) => d.source.table === 'never_written')!.columns.map((c) => [c.name, c.pgType])).toEqual([['id', 'integer'], ['note', 'text']]);
    await db.query(`INSERT INTO ${SCHEMA}.spans VALUES (1, '1 year 2 mons 3 days 04:05:06.5')`);
    const records = await eventually('the spans event', async () => {
      const r = await readTopic(kafka, `${prefix}.${SCHEMA}.spans`);
      return r.length >= 1 ? r : null;
    });
    await cdc.stop();
    expect(envelope(records[0]!.value)!.after).toEqual({ id: 1, took: 37091106500000 });
    const doc = (await schemaDocuments(prefix)).get(records[0]!.headers[SCHEMA_ID_HEADER]!)!;
    expect(doc.rendering.interval).toBe('numeric');
  });
});
