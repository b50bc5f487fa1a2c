/**
 * The schema link in bronze (docs/contracts/table-schemas.md) on the real test stack:
 * - the writer keeps `schema_id` and `unavailable` for every row, copies each referenced document
 *   from `<prefix>._schemas` to `_schemas/<topic>/<id>.json` before committing, never writes the
 *   schema topic as bronze rows, and a replay into an empty lake brings the documents back;
 * - end to end on the second (shop) source, through prepare-source, the CDC service and a workload
 *   with ADD COLUMN, DROP COLUMN and a type change: every bronze row names a document the lake
 *   holds, and that document lists exactly the columns of the row's images.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, type Config } from '../common/config.ts';
import {
  encodeTableSchema, parseTableSchema, SCHEMA_ID_HEADER, schemaObjectKey, schemaTopic, UNAVAILABLE_HEADER, withSchemaId, type TableSchema, type TableSchemaBody,
} from '../common/contracts/table-schema.ts';
import { createProducer, KafkaAdmin, type KafkaProducer } from '../common/kafka/index.ts';
import { LakeObjectNotFound, openLake, type LakeStorage } from '../common/lake-storage.ts';
import { createLogger } from '../common/logger.ts';
import { prepareSource } from '../cdc/source-prep/prepare.ts';
import { startCdc, stopAllCdc } from '../cdc/testing/harness.ts';
import { createShopSource, SHOP_CDC_TABLES, type ShopSource } from '../../tests/support/shop-source.ts';
import { activityMessages, bronzeKeys, readBronze, type BronzeRecord } from './testing/bronze-kit.ts';
import { BronzeWriter } from './writer.ts';
import { kafkaTarget, readRecords } from '../../tests/support/kafka.ts';

const RUN = Date.now().toString(36);
const logger = createLogger('bronze-schemas-test', 'warn');
const base = loadConfig();
let admin: KafkaAdmin;
let producer: KafkaProducer;

beforeAll(async () => {
  admin = KafkaAdmin.create(base, 'bronze-schemas-test', logger);
  producer = createProducer(base, 'bronze-schemas-test', logger);
});

afterAll(async () => {
  await stopAllCdc();
  await producer?.close();
  await admin?.close();
});

function scenario(name: string, lakeSuffix = '') {
  return loadConfig({
    ...process.env,
    KAFKA_TOPIC_PREFIX: name,
    BRONZE_CONSUMER_GROUP: `${name}-bronze`,
    LAKE_URL: `s3://${base.s3.bucket}/${name}${lakeSuffix}`,
    BRONZE_MAX_ROWS: '20',
    BRONZE_MAX_AGE_S: '1',
    LOG_LEVEL: 'warn',
  });
}

async function startWriter(config: Config): Promise<BronzeWriter> {
  const writer = new BronzeWriter({ config, logger: createLogger('bronze-writer', 'warn') });
  await writer.start();
  return writer;
}

/** Waits until the group committed every offset of `topics`. */
async function waitForCommitted(group: string, topics: readonly string[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const committed = new Map((await admin.fetchOffsets(group, topics)).flatMap((t) => t.partitions.map((p) => [`${t.topic}/${p.partition}`, BigInt(p.offset)] as const)));
    const behind: string[] = [];
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(p.high) > 0n && committed.get(`${topic}/${p.partition}`) !== BigInt(p.high)) behind.push(`${topic}/${p.partition}`);
      }
    }
    if (behind.length === 0) return;
    if (Date.now() > deadline) throw new Error(`group ${group} behind on ${behind.join(', ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The stored document of `id` for `topic`, or null when the lake does not hold it. */
async function storedDocument(lake: LakeStorage, topic: string, id: string): Promise<{ text: string; doc: TableSchema } | null> {
  try {
    const text = (await lake.get(schemaObjectKey(topic, id))).toString('utf8');
    return { text, doc: parseTableSchema(text, id) };
  } catch (err) {
    if (err instanceof LakeObjectNotFound) return null;
    throw err;
  }
}

function activitiesDocument(prefix: string, extraColumn?: string): TableSchema {
  const column = (name: string, position: number, typeOid: number, pgType: string, keyPosition: number | null = null) => ({
    name, position, attnum: position, typeOid, typeMod: -1, pgType, nullable: keyPosition === null, keyPosition, identity: true,
    category: 'base' as const, baseType: null, baseTypeOid: null, baseCategory: null, enumLabels: null, arrayDimensions: null,
  });
  const columns = [column('activity_id', 1, 20, 'bigint', 1), column('employee_id', 2, 20, 'bigint'), column('comment', 3, 25, 'text')];
  if (extraColumn) columns.push(column(extraColumn, 4, 25, 'text'));
  const body: TableSchemaBody = {
    format: 1, source: { name: prefix, db: 'sport', schema: 'public', table: 'activities' }, topic: `${prefix}.public.activities`,
    replicaIdentity: 'full', primaryKey: ['activity_id'], columns, generatedColumns: [],
    rendering: { decimal: 'string', time: 'adaptive', interval: 'iso8601', binary: 'base64', unavailableValue: '__debezium_unavailable_value' },
  };
  return withSchemaId(body);
}

describe('bronze writer: the schema link', () => {
  it('keeps schema_id and unavailable per row, stores each referenced document before committing, and a replay into an empty lake stores them again', async () => {
    const name = `bs${RUN}a`;
    const config = scenario(name);
    const topic = `${name}.public.activities`;
    const schemas = schemaTopic(name);
    await admin.ensureTopic(topic, 2);
    await admin.ensureTopic(schemas, 1, { configs: { 'cleanup.policy': 'compact' } });
    const v1 = activitiesDocument(name);
    const v2 = activitiesDocument(name, 'note');
    const unknownId = 'abcdefabcdefabcdef00';
    await producer.send({ messages: [v1, v2].map((d) => ({ topic: schemas, key: d.schemaId, value: encodeTableSchema(d), partition: 0 })) });

    const events = activityMessages(60, 3);
    const headersOf = (i: number): Record<string, string> => {
      if (i === 25) return { [SCHEMA_ID_HEADER]: unknownId };
      const h: Record<string, string> = { [SCHEMA_ID_HEADER]: i < 30 ? v1.schemaId : v2.schemaId };
      if (i === 40) h[UNAVAILABLE_HEADER] = '["comment"]';
      return h;
    };
    await producer.send({ messages: events.map((m, i) => ({ topic, key: m.key, value: m.value, headers: headersOf(i), partition: i % 2 })) });

    const writer = await startWriter(config);
    await waitForCommitted(config.bronze.consumerGroup, [topic]);
    await writer.stop();
    const lake = openLake(config);
    const { rows } = await readBronze(lake, await bronzeKeys(lake, topic));

    // Every row keeps its headers: the schema id of its version and the unavailable columns.
    const byValue = new Map(events.map((m, i) => [m.value, i]));
    const expectedLink = (r: BronzeRecord) => {
      const i = events.findIndex((m) => m.expected?.key === r.key && m.expected?.op === r.op && m.expected?.lsn === r.lsn);
      expect(byValue.get(events[i]!.value)).toBe(i);
      const h = headersOf(i);
      return [h[SCHEMA_ID_HEADER], h[UNAVAILABLE_HEADER] ?? null];
    };
    expect(rows.length).toBe(events.filter((m) => m.value !== null).length);
    for (const r of rows) expect([r.schema_id, r.unavailable]).toEqual(expectedLink(r));

    // The two documents the rows name are in the lake, byte for byte the canonical document.
    for (const doc of [v1, v2]) expect((await storedDocument(lake, topic, doc.schemaId))?.text).toBe(encodeTableSchema(doc));
    // An id the schema topic does not hold: the rows are kept, nothing is stored, it is counted.
    expect(await storedDocument(lake, topic, unknownId)).toBeNull();
    expect(writer.stats).toMatchObject({ schemasStored: 2, schemasMissing: 1 });
    // The schema topic is not a data topic: no bronze rows, no dead letters for it.
    expect(await bronzeKeys(lake, schemas)).toEqual([]);
    expect((await admin.listTopics()).filter((t) => t.startsWith(schemas))).toEqual([schemas]);

    // Replay into an empty lake (the lake was lost): bronze and its documents come back.
    await admin.setOffsets(config.bronze.consumerGroup, topic, [0, 1].map((partition) => ({ partition, offset: '0' })));
    const replayConfig = scenario(name, '-replayed');
    const replayLake = openLake(replayConfig);
    const replay = await startWriter(replayConfig);
    await waitForCommitted(config.bronze.consumerGroup, [topic]);
    await replay.stop();
    const replayed = await readBronze(replayLake, await bronzeKeys(replayLake, topic));
    expect(replayed.rows.map((r) => [r.offset, r.schema_id, r.unavailable])).toEqual(rows.map((r) => [r.offset, r.schema_id, r.unavailable]));
    for (const doc of [v1, v2]) expect((await storedDocument(replayLake, topic, doc.schemaId))?.text).toBe(encodeTableSchema(doc));
  });
});

describe('bronze writer: the envelope checks every consumer shares (issue 14)', () => {
  it('dead-letters an insert without key or with a key its row disagrees with (keyed table), and an empty value; stores the rest', async () => {
    const name = `bs${RUN}k`;
    const config = scenario(name);
    const topic = `${name}.public.activities`;
    const schemas = schemaTopic(name);
    await admin.ensureTopic(topic, 1);
    await admin.ensureTopic(schemas, 1, { configs: { 'cleanup.policy': 'compact' } });
    const doc = activitiesDocument(name);
    await producer.send({ messages: [{ topic: schemas, key: doc.schemaId, value: encodeTableSchema(doc), partition: 0 }] });

    const good = activityMessages(16, 5); // inserts, a snapshot read, an update, a delete and its tombstone
    const insert = good.find((m) => m.expected?.op === 'c')!;
    const deletion = good.find((m) => m.expected?.op === 'd')!;
    const header = { [SCHEMA_ID_HEADER]: doc.schemaId };
    const poison = [
      { key: null, value: insert.value, reason: 'missing_key' }, // became a phantom row in silver and gold
      { key: '{"activity_id":1}', value: insert.value, reason: 'key_mismatch' },
      { key: '{"id":1}', value: deletion.value, reason: 'key_mismatch' },
      { key: insert.key, value: '', reason: 'empty_value' }, // was skipped as a tombstone
    ];
    const sent = [...good.slice(0, 6), ...poison, ...good.slice(6)];
    await producer.send({ messages: sent.map((m) => ({ topic, key: m.key, value: m.value, headers: header, partition: 0 })) });

    const writer = await startWriter(config);
    await waitForCommitted(config.bronze.consumerGroup, [topic]);
    await writer.stop();
    const lake = openLake(config);
    const { rows } = await readBronze(lake, await bronzeKeys(lake, topic));
    const stored = sent.flatMap((m, offset) => (good.includes(m as (typeof good)[number]) && m.value !== null ? [BigInt(offset)] : []));
    expect(stored).toHaveLength(16);
    expect(rows.map((r) => BigInt(r.offset))).toEqual(stored);
    expect(writer.stats.deadLetters).toBe(4);
    const dead = await readRecords(kafkaTarget(base.kafka.brokers), `${topic}.dlq`);
    const bySource = (r: (typeof dead)[number]) => Number(r.headers['dlq.source.offset']?.toString());
    dead.sort((x, y) => bySource(x) - bySource(y)); // the dead-letter topic's partitions follow the keys
    expect(dead.map((r) => [r.key?.toString() ?? null, r.value?.toString(), r.headers['dlq.reason']?.toString(), r.headers['dlq.source.offset']?.toString()])).toEqual(
      poison.map((m, i) => [m.key, m.value, m.reason, String(6 + i)]),
    );
  });
});

describe('bronze writer: several sources and tables without rows', () => {
  it('one writer consuming two prefixes stores the documents of both, and those of a table that has no row', async () => {
    const [p1, p2] = [`bs${RUN}b1`, `bs${RUN}b2`];
    const config = loadConfig({ ...process.env, KAFKA_TOPIC_PREFIX: p1, BRONZE_TOPIC_PATTERN: `^(${p1}|${p2})\\.`, BRONZE_CONSUMER_GROUP: `${p1}-bronze`, LAKE_URL: `s3://${base.s3.bucket}/${p1}`, BRONZE_MAX_AGE_S: '1', BRONZE_TOPIC_REFRESH_S: '1', LOG_LEVEL: 'warn' });
    const [t1, t2, empty] = [`${p1}.public.activities`, `${p2}.public.activities`, `${p2}.public.empty`];
    const [d1, d2] = [activitiesDocument(p1), activitiesDocument(p2)];
    const dEmpty = withSchemaId({ ...activitiesDocument(p2, 'note'), topic: empty, source: { ...d2.source, table: 'empty' } });
    for (const t of [t1, t2, empty]) await admin.ensureTopic(t, 1);
    for (const [prefix, docs] of [[p1, [d1]], [p2, [d2, dEmpty]]] as const) {
      await admin.ensureTopic(schemaTopic(prefix), 1, { configs: { 'cleanup.policy': 'compact' } });
      await producer.send({ messages: docs.map((d) => ({ topic: schemaTopic(prefix), key: d.schemaId, value: encodeTableSchema(d), partition: 0 })) });
    }
    const events = activityMessages(10, 5).filter((m) => m.value !== null);
    await producer.send({ messages: [
      ...events.map((m) => ({ topic: t1, key: m.key, value: m.value, headers: { [SCHEMA_ID_HEADER]: d1.schemaId }, partition: 0 })),
      ...events.map((m) => ({ topic: t2, key: m.key, value: m.value, headers: { [SCHEMA_ID_HEADER]: d2.schemaId }, partition: 0 })),
    ] });
    const writer = await startWriter(config);
    await waitForCommitted(config.bronze.consumerGroup, [t1, t2]);
    const lake = openLake(config);
    // The empty table's document arrives in the background: no row names it.
    const deadline = Date.now() + 60_000;
    while (!(await storedDocument(lake, empty, dEmpty.schemaId))) {
      if (Date.now() > deadline) throw new Error('the document of the table without rows never reached the lake');
      await new Promise((r) => setTimeout(r, 250));
    }
    await writer.stop();
    expect((await storedDocument(lake, t1, d1.schemaId))?.text).toBe(encodeTableSchema(d1));
    expect((await storedDocument(lake, t2, d2.schemaId))?.text).toBe(encodeTableSchema(d2));
    expect((await storedDocument(lake, empty, dEmpty.schemaId))?.text).toBe(encodeTableSchema(dEmpty));
    expect(writer.stats.schemasMissing).toBe(0);
    const rows = (await readBronze(lake, [...(await bronzeKeys(lake, t1)), ...(await bronzeKeys(lake, t2))])).rows;
    expect(rows.map((r) => [r.topic, r.schema_id])).toEqual([...events.map(() => [t1, d1.schemaId]), ...events.map(() => [t2, d2.schemaId])]);
  });
});

describe('CDC -> bronze on the shop source', () => {
  const ROLE = `sl_cdc_${RUN}`;
  const PASSWORD = 'sl-cdc-local-only';
  let shop: ShopSource | undefined;

  afterAll(async () => {
    await stopAllCdc();
    await shop?.close();
    const root = new pg.Client(pgConnection(base, 'admin', 'postgres'));
    await root.connect();
    await root.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => undefined);
    await root.end();
  });

  it('every bronze row names a document the lake holds, listing exactly the columns of its images, across ADD COLUMN, DROP COLUMN and a type change', async () => {
    shop = await createShopSource(base, `shop_sl_${RUN}`);
    const publication = `shop_sl_pub_${RUN}`;
    const prepared = { ...shop.config, postgres: { ...shop.config.postgres, cdc: { user: ROLE, password: PASSWORD }, publication } };
    await prepareSource({ config: prepared, role: ROLE, publication, tables: SHOP_CDC_TABLES.split(','), keepIdentity: ['catalog.documents'] }, () => undefined);
    const prefix = `shop${RUN}`;
    const cdc = await startCdc({
      POSTGRES_DB: shop.database, CDC_DB_USER: ROLE, CDC_DB_PASSWORD: PASSWORD, CDC_PUBLICATION: publication, CDC_ADMIN_SETUP: 'false',
      CDC_TABLES: SHOP_CDC_TABLES, KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: `shop_sl_${RUN}`,
    });
    await shop.runWorkload();
    // A marker after the workload: once bronze has it, it has everything before it.
    const marker = await shop.admin();
    await marker.query('INSERT INTO ops.import_batches (batch_id, source_file, row_count) VALUES (987654321, $1, 0)', [randomUUID()]);
    await marker.end();
    const config = scenario(prefix);
    const topics = SHOP_CDC_TABLES.split(',').map((t) => `${prefix}.${t}`);
    const writer = await startWriter(config);
    const deadline = Date.now() + 120_000;
    const lake = openLake(config);
    for (;;) {
      const keys = await bronzeKeys(lake, `${prefix}.ops.import_batches`);
      const { rows } = await readBronze(lake, keys);
      if (rows.some((r) => r.key === '{"batch_id":987654321}')) break;
      if (Date.now() > deadline) throw new Error('the marker row never reached bronze');
      await new Promise((r) => setTimeout(r, 500));
    }
    await waitForCommitted(config.bronze.consumerGroup, topics);
    await writer.stop();
    await cdc.stop();

    let checked = 0;
    let unavailableRows = 0;
    const versions = new Map<string, Set<string>>();
    for (const topic of topics) {
      const { rows } = await readBronze(lake, await bronzeKeys(lake, topic));
      for (const r of rows) {
        expect(r.schema_id, `${topic} offset ${r.offset}`).toMatch(/^[0-9a-f]{20}$/);
        const stored = await storedDocument(lake, topic, r.schema_id!);
        expect(stored, `${topic}: document ${r.schema_id} in the lake`).not.toBeNull();
        const names = stored!.doc.columns.map((c) => c.name);
        if (r.after !== null) expect(Object.keys(JSON.parse(r.after) as object), `${topic} offset ${r.offset} after`).toEqual(names);
        if (r.before !== null) expect(Object.keys(JSON.parse(r.before) as object), `${topic} offset ${r.offset} before`).toEqual(names);
        if (r.unavailable !== null) {
          unavailableRows++;
          const columns = JSON.parse(r.unavailable) as string[];
          for (const c of columns) expect((JSON.parse(r.after!) as Record<string, unknown>)[c]).toBe('__debezium_unavailable_value');
        }
        let set = versions.get(topic);
        if (!set) versions.set(topic, (set = new Set()));
        set.add(r.schema_id!);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
    // catalog.documents stays at REPLICA IDENTITY DEFAULT: its TOAST-skipping updates name the columns.
    expect(unavailableRows).toBeGreaterThan(0);
    // The workload's ADD COLUMN, ADD COLUMN ... DEFAULT and DROP COLUMN on sales.customers, and its type change, made new versions.
    expect(versions.get(`${prefix}.sales.customers`)!.size).toBeGreaterThanOrEqual(4);

    // catalog.all_types (every common type; not altered): one version, and its document says what
    // the catalog says, read here independently as the admin role.
    const allTypes = [...versions.get(`${prefix}.catalog.all_types`)!];
    expect(allTypes).toHaveLength(1);
    const doc = (await storedDocument(lake, `${prefix}.catalog.all_types`, allTypes[0]!))!.doc;
    const db = await shop.admin();
    const catalog = (await db.query<{ name: string; pg_type: string; oid: number; typmod: number; not_null: boolean; dims: number }>(
      `SELECT attname AS name, format_type(atttypid, atttypmod) AS pg_type, atttypid::int AS oid, atttypmod AS typmod, attnotnull AS not_null, attndims AS dims
         FROM pg_attribute WHERE attrelid = 'catalog.all_types'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)).rows;
    await db.end();
    expect(doc.columns.map((c) => [c.name, c.pgType, c.typeOid, c.typeMod, c.nullable])).toEqual(catalog.map((c) => [c.name, c.pg_type, c.oid, c.typmod, !c.not_null]));
    expect(doc).toMatchObject({ primaryKey: ['id'], replicaIdentity: 'full', source: { schema: 'catalog', table: 'all_types', db: shop.database } });
    const col = (name: string) => doc.columns.find((c) => c.name === name)!;
    expect(col('id')).toMatchObject({ keyPosition: 1, identity: true, nullable: false });
    expect(col('c_numeric_wide')).toMatchObject({ pgType: 'numeric(45,5)', category: 'base' });
    expect(col('c_positive')).toMatchObject({ category: 'domain', baseType: 'integer', baseTypeOid: 23, baseCategory: 'base' });
    expect(col('c_email')).toMatchObject({ category: 'domain', baseType: 'text' });
    expect(col('c_mood')).toMatchObject({ category: 'enum', enumLabels: ['sad', 'ok', 'happy'] });
    expect(col('c_mood_array')).toMatchObject({ category: 'array', baseType: 'catalog.mood', baseCategory: 'enum', enumLabels: ['sad', 'ok', 'happy'] });
    expect(col('c_int_matrix')).toMatchObject({ category: 'array', baseType: 'integer', arrayDimensions: catalog.find((c) => c.name === 'c_int_matrix')!.dims });
    expect(col('c_tstzrange')).toMatchObject({ category: 'range' });
  });
});
