/**
 * The Debezium claim, proven against Debezium itself: the same tables and the same changes are
 * captured by this CDC service and by Debezium 3.6.1 (PostgreSQL connector on Kafka Connect 4.3,
 * scripts/lib/debezium-connect.ts), each into its own topics, and every event is compared field by
 * field: topics, partitions, keys, op order, values (both row images, `source`, the envelope),
 * tombstones and headers. The test passes when every difference is on the allow-list in
 * services/cdc/README.md ("Differences from Debezium"); each rule below names its entry there, and
 * the test checks that the README lists every rule and that every rule was needed.
 *
 * Tables: one with every common column type (REPLICA IDENTITY FULL), a composite key with a key
 * change, a keyless table, TOASTed values under REPLICA IDENTITY DEFAULT and FULL, and a TRUNCATE.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, REPO_ROOT, type Config } from '../common/config.ts';
import { DebeziumConnect } from '../../scripts/lib/debezium-connect.ts';
import { adminClient, cdcEnv, dropSlots, runId, startCdc, stopAllCdc } from './testing/harness.ts';
import { testKafka, waitForRecords, type KafkaTarget } from './testing/kafka-read.ts';
import { compareCaptures, readTopics, type Capture, type Difference } from './testing/debezium-diff.ts';
import { ALLOW_LIST } from './testing/debezium-allow-list.ts';
import { testPortBase } from '../../tests/support/test-env.ts';

const RUN = runId();
const OURS = `ours${RUN}`;
const THEIRS = `dbz${RUN}`;
const PUBLICATION = `compat_pub_${RUN}`;
const T = {
  types: `compat_types_${RUN}`,
  composite: `compat_composite_${RUN}`,
  keyless: `compat_keyless_${RUN}`,
  toastDefault: `compat_toast_default_${RUN}`,
  toastFull: `compat_toast_full_${RUN}`,
  truncated: `compat_truncated_${RUN}`,
  done: `compat_done_${RUN}`,
};
const TABLES = Object.values(T);
const REST_PORT = testPortBase() + 83;

let config: Config;
let db: pg.Client;
let kafka: KafkaTarget;
let debezium: DebeziumConnect | undefined;
const slots = [`ours_${RUN}`, `dbz_${RUN}`];

beforeAll(async () => {
  config = loadConfig(cdcEnv({}));
  db = await adminClient(config);
  kafka = testKafka(config.kafka.brokers);
  await db.query('CREATE EXTENSION IF NOT EXISTS hstore');
  await db.query(`DO $$ BEGIN CREATE TYPE compat_mood AS ENUM ('sad', 'ok', 'happy'); EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await db.query(`DO $$ BEGIN CREATE DOMAIN compat_positive AS integer CHECK (VALUE > 0); EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await db.query(`
    CREATE TABLE ${T.types} (
      id bigint PRIMARY KEY,
      c_smallint smallint, c_integer integer, c_bigint bigint, c_real real, c_double double precision,
      c_numeric numeric(12,2), c_numeric_free numeric, c_boolean boolean,
      c_text text, c_varchar varchar(20), c_char char(5), c_enum compat_mood, c_domain compat_positive,
      c_date date, c_timestamp timestamp, c_timestamp3 timestamp(3), c_timestamptz timestamptz, c_timestamptz3 timestamptz(3),
      c_time time, c_time3 time(3), c_timetz timetz, c_interval interval,
      c_uuid uuid, c_json json, c_jsonb jsonb, c_bytea bytea, c_xml xml,
      c_int_array integer[], c_text_array text[],
      c_inet inet, c_cidr cidr, c_macaddr macaddr, c_int4range int4range, c_tstzrange tstzrange,
      c_money money, c_point point, c_hstore hstore, c_oid oid);
    ALTER TABLE ${T.types} REPLICA IDENTITY FULL;
    CREATE TABLE ${T.composite} (region text, code integer, label text, PRIMARY KEY (region, code));
    ALTER TABLE ${T.composite} REPLICA IDENTITY FULL;
    CREATE TABLE ${T.keyless} (name text, amount integer);
    ALTER TABLE ${T.keyless} REPLICA IDENTITY FULL;
    CREATE TABLE ${T.toastDefault} (id integer PRIMARY KEY, big text, n integer);
    CREATE TABLE ${T.toastFull} (id integer PRIMARY KEY, big text, n integer);
    ALTER TABLE ${T.toastFull} REPLICA IDENTITY FULL;
    CREATE TABLE ${T.truncated} (id integer PRIMARY KEY, v text);
    CREATE TABLE ${T.done} (id integer PRIMARY KEY);
    GRANT SELECT ON ${TABLES.join(', ')} TO ${config.postgres.cdc.user};
    CREATE PUBLICATION ${PUBLICATION} FOR TABLE ${TABLES.join(', ')} WITH (publish = 'insert, update, delete, truncate');`);
});

afterAll(async () => {
  await debezium?.stop();
  await stopAllCdc();
  await dropSlots(db, slots);
  await db.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
  await db.query(`DROP TABLE IF EXISTS ${TABLES.join(', ')}`);
  await db.end();
});

const TYPES_ROW_1 = `(1, 1, 2, 9007199254740993, 1.5, 43.567, 42000.50, 123.456789012345678901, true,
  'Bravo "é" ☃', 'varchar', 'ab', 'happy', 7,
  '2024-02-29', '2024-01-01 08:30:00.123456', '2024-01-01 08:30:00.123', '2024-01-01 08:30:00.123456+02', '2024-01-01 08:30:00.5+00',
  '08:30:00.123456', '08:30:00.123', '08:30:00+02', '1 year 2 months 3 days 04:05:06.78',
  '1b4e28ba-2fa1-11d2-883f-0016d3cca427', '{"a": [1, 2]}', '{"b": {"c": null}}', '\\x0001ff', '<a>x</a>',
  '{1,NULL,3}', '{"a b",NULL,"c,d"}',
  '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '[1,5)', '[2024-01-01 00:00:00+00,2024-02-01 00:00:00+00)',
  1234.56, '(1.5,-2)', 'a=>1, "b c"=>NULL, z=>"x\\"y"', 12345)`;

const TYPES_ROW_2 = `(2, -32768, -2147483648, -9223372036854775808, 'NaN', '-Infinity', -0.01, 'NaN', false,
  '', NULL, NULL, 'sad', 1,
  '1970-01-01', '1969-12-31 23:59:59.999999', '2000-01-01 00:00:00', '1900-06-01 12:00:00+00', '2262-04-11 23:47:16.854+00',
  '00:00:00', '23:59:59.999', '23:59:59.999999-05', '-3 days -00:00:01',
  NULL, '[]', '[]', '\\x', NULL,
  '{}', '{}',
  '::1', '::/0', 'ff:ff:ff:ff:ff:ff', 'empty', NULL,
  -9876.5, '(0,0)', '', 0)`;

/** Values with special encodings: infinities, NaN. */
const TYPES_ROW_3 = `(3, 0, 0, 0, 'Infinity', 'NaN', NULL, 'Infinity', NULL,
  NULL, NULL, NULL, NULL, NULL,
  'infinity', 'infinity', '-infinity', 'infinity', '-infinity',
  NULL, NULL, NULL, '-1 year -2 months 3 days',
  NULL, NULL, NULL, NULL, NULL,
  '{{1,2},{3,4}}', NULL,
  NULL, NULL, NULL, '(,)', '[2024-01-01 00:00:00+00,infinity)',
  0, '(-1e+300,NaN)', NULL, 4294967295)`;

async function capture(prefix: string): Promise<Capture> {
  const records = await readTopics(kafka, TABLES.map((t) => `${prefix}.public.${t}`));
  return new Map(TABLES.map((t) => [t, records.get(`${prefix}.public.${t}`)!]));
}

describe('compatibility with Debezium 3.6.1', () => {
  it('captures the same changes as Debezium, every difference on the documented allow-list', async () => {
    // Before both start: rows for the snapshots.
    const big = () => randomBytes(12_000).toString('base64'); // incompressible: stored out of line
    await db.query(`INSERT INTO ${T.types} VALUES ${TYPES_ROW_1}`);
    await db.query(`INSERT INTO ${T.composite} VALUES ('north', 1, 'one'), ('south', 2, 'two')`);
    await db.query(`INSERT INTO ${T.keyless} VALUES ('snap', 1)`);
    await db.query(`INSERT INTO ${T.toastDefault} VALUES (1, $1, 1)`, [big()]);
    await db.query(`INSERT INTO ${T.toastFull} VALUES (1, $1, 1)`, [big()]);

    // The CDC service first (its snapshot), then Debezium on a slot of its own (its snapshot).
    await startCdc({
      KAFKA_TOPIC_PREFIX: OURS, CDC_SLOT_NAME: slots[0]!, CDC_PUBLICATION: PUBLICATION, CDC_ADMIN_SETUP: 'false',
      CDC_TABLES: TABLES.map((t) => `public.${t}`).join(','), KAFKA_TOPIC_PARTITIONS: '3',
    });
    debezium = DebeziumConnect.start(config, {
      dir: path.join(REPO_ROOT, '.local', `debezium-compat-${RUN}`),
      restPort: REST_PORT,
      topicPrefix: THEIRS,
      slot: slots[1]!,
      publication: PUBLICATION,
      tables: TABLES.map((t) => `public.${t}`),
      snapshotMode: 'initial',
      partitions: 3,
      // Debezium's rendering of interval matching the service's CDC_INTERVAL_HANDLING (D17).
      connector: { 'skipped.operations': 'none', 'interval.handling.mode': config.cdc.intervalHandling === 'iso8601' ? 'string' : 'numeric' },
    });
    await debezium.waitStreaming();

    // The changes, streamed by both.
    await db.query(`INSERT INTO ${T.types} VALUES ${TYPES_ROW_2}`);
    await db.query(`INSERT INTO ${T.types} VALUES ${TYPES_ROW_3}`);
    await db.query(`UPDATE ${T.types} SET c_text = 'changed', c_money = '-0.5', c_hstore = 'k=>v' WHERE id = 1`);
    await db.query(`DELETE FROM ${T.types} WHERE id = 2`);
    await db.query('BEGIN');
    await db.query(`INSERT INTO ${T.composite} VALUES ('east', 3, 'three')`);
    await db.query(`UPDATE ${T.composite} SET code = 30, label = 'thirty' WHERE region = 'east' AND code = 3`);
    await db.query(`UPDATE ${T.composite} SET label = 'uno' WHERE region = 'north' AND code = 1`);
    await db.query('COMMIT');
    await db.query(`DELETE FROM ${T.composite} WHERE region = 'south'`);
    await db.query(`INSERT INTO ${T.keyless} VALUES ('a', 1), ('b', 2), ('a', 1)`);
    await db.query(`UPDATE ${T.keyless} SET amount = 20 WHERE name = 'b'`);
    await db.query(`DELETE FROM ${T.keyless} WHERE name = 'a'`);
    await db.query(`UPDATE ${T.toastDefault} SET n = 2 WHERE id = 1`);
    await db.query(`UPDATE ${T.toastFull} SET n = 2 WHERE id = 1`);
    await db.query(`INSERT INTO ${T.toastDefault} VALUES (2, $1, 1)`, [big()]);
    await db.query(`UPDATE ${T.toastDefault} SET id = 3 WHERE id = 2`);
    await db.query(`DELETE FROM ${T.toastDefault} WHERE id = 3`);
    await db.query(`DELETE FROM ${T.toastFull} WHERE id = 1`);
    await db.query(`INSERT INTO ${T.truncated} VALUES (1, 'x'), (2, 'y')`);
    await db.query(`TRUNCATE ${T.truncated}`);
    await db.query(`INSERT INTO ${T.truncated} VALUES (3, 'z')`);
    await db.query(`INSERT INTO ${T.done} VALUES (1)`);

    // Both have streamed everything once the last insert is in both topics (each produces in WAL order).
    await waitForRecords(kafka, `${OURS}.public.${T.done}`, 1);
    await waitForRecords(kafka, `${THEIRS}.public.${T.done}`, 1, 120_000);

    const ours = await capture(OURS);
    const theirs = await capture(THEIRS);
    const differences = compareCaptures(ours, theirs, { ours: OURS, theirs: THEIRS });
    const report = (ds: Difference[]) => ds.map((d) => `${d.table} ${d.where}: ${d.path} ours=${JSON.stringify(d.ours)} debezium=${JSON.stringify(d.theirs)}`).join('\n');
    console.log(report(differences));

    const unexplained = differences.filter((d) => !ALLOW_LIST.some((rule) => rule.allows(d)));
    expect(report(unexplained)).toBe('');
    // Every rule was needed (a rule nothing matches is stale documentation).
    const unused = ALLOW_LIST.filter((rule) => !differences.some((d) => rule.allows(d)) && !rule.optional);
    expect(unused.map((r) => r.id)).toEqual([]);
    // Every rule is documented in the README's allow-list, by its id.
    const readme = readFileSync(path.join(REPO_ROOT, 'services/cdc/README.md'), 'utf8');
    expect(ALLOW_LIST.filter((rule) => !readme.includes(`| ${rule.id} |`)).map((r) => r.id)).toEqual([]);
  });
});
