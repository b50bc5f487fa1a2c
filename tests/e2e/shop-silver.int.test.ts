/**
 * Issue 13's end-to-end test: a database that is not the sport one (tests/fixtures/shop-source),
 * prepared by prepare-source (least-privilege role, hr.employees.salary kept out by a column
 * list, catalog.documents left at REPLICA IDENTITY DEFAULT), captured by the real CDC service and
 * bronze writer next to the sport source in ONE lake, refreshed; then silver is compared with
 * PostgreSQL value for value and type for type, reading both independently
 * (tests/support/silver-compare.ts), after the snapshot and again after the mixed workload.
 *
 * The one accepted difference: `sales.customers.tier`, added with a DEFAULT, on rows not changed
 * since. PostgreSQL fills existing rows without logging them, so no event can carry the value;
 * silver leaves it NULL and typed silver reports it (issue 13 item 3).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, type Config } from '../../services/common/config.ts';
import { createLogger } from '../../services/common/logger.ts';
import { BronzeWriter } from '../../services/bronze-writer/writer.ts';
import { refresh } from '../../services/batch/refresh.ts';
import { adminClient, confirmedFlushLsn, currentWalLsn, dropSlots, runId, startCdc, type InProcessCdc } from '../../services/cdc/testing/harness.ts';
import { prepareSource } from '../../services/cdc/source-prep/prepare.ts';
import { generateHrData } from '../../scripts/lib/hr-data.ts';
import { connectTestBroker, waitUntil, type TestBroker } from '../support/debezium-events.ts';
import { createShopSource, SHOP_CDC_TABLES, SHOP_TABLES, type ShopSource } from '../support/shop-source.ts';
import { compareSilver, SPORT_TABLES, type TableComparison } from '../support/silver-compare.ts';

const RUN = runId();
const SHOP = `shop${RUN}`;
const SPORT = `sport${RUN}`;
const SHOP_ROLE = `shop_cdc_${RUN}`;
const SHOP_PASSWORD = 'shop-cdc-local-only';
const SHOP_PUB = `shop_pub_${RUN}`;
const SHOP_SLOT = `shop_${RUN}`;
const SPORT_SLOT = `sportsbs_${RUN}`;
const FIRST_EMPLOYEE = 880_001;
const logger = createLogger('shop-silver-test', process.env.LOG_LEVEL ?? 'warn');

/** Silver table of a source table (`<source>__<schema>__<table>`, services/batch/silver-names.ts, plain names only). */
const silverTable = (source: string, t: { schema: string; table: string }) => `silver.${source}__${t.schema}__${t.table}`;

let base: Config;
let shop: ShopSource;
let shopDb: pg.Client;
let sportDb: pg.Client;
let shopCdc: InProcessCdc;
let sportCdc: InProcessCdc;
let config: Config;
/** The lake and batch settings both sources' bronze writers and the refresh share. */
let lakeEnv: Record<string, string>;
let broker: TestBroker;
let dir: string;
let rulesFile: string;

async function seedSport(db: pg.Client): Promise<void> {
  await db.query('DELETE FROM activities WHERE employee_id >= $1 AND employee_id < $2', [FIRST_EMPLOYEE, FIRST_EMPLOYEE + 100]);
  await db.query('DELETE FROM employees WHERE employee_id >= $1 AND employee_id < $2', [FIRST_EMPLOYEE, FIRST_EMPLOYEE + 100]);
  const hr = generateHrData(13, 6, FIRST_EMPLOYEE);
  for (const e of hr.employees) {
    await db.query(
      `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type,
         paid_leave_days, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [e.employee_id, e.last_name, e.first_name, e.birth_date, e.business_unit, e.hire_date, e.gross_annual_salary_eur, e.contract_type, e.paid_leave_days,
        e.home_address, e.home_postcode, e.home_city, e.home_lat, e.home_lon, e.commute_mode],
    );
  }
  for (const s of hr.declaredSports) await db.query('INSERT INTO declared_sports (employee_id, sport) VALUES ($1, $2)', [s.employee_id, s.sport]);
  // Every sport table has rows (an empty table has no schema document yet, so no silver table).
  for (const e of hr.employees.slice(0, 2)) {
    await db.query(
      `INSERT INTO commute_distances (employee_id, origin_address, destination_address, travel_mode, distance_m, duration_s, provider, status)
       VALUES ($1, $2, '1362 Av. des Platanes, 34970 Lattes, France', 'walking', 4200, 3000, 'offline', 'OK')`,
      [e.employee_id, `${e.home_address}, ${e.home_postcode} ${e.home_city}, France`],
    );
  }
  await db.query(
    `INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment)
     VALUES ($1, 'Runing', '2026-06-02 06:30:00+00', '2026-06-02 07:20:00+00', 3000, 10000, 'footing')`,
    [FIRST_EMPLOYEE],
  );
}

/** Waits until both CDC services confirmed the current WAL and the bronze writer stored every event. */
async function bronzeCaughtUp(): Promise<void> {
  for (const [db, slot] of [[shopDb, SHOP_SLOT], [sportDb, SPORT_SLOT]] as const) {
    const target = await currentWalLsn(db);
    await waitUntil(`CDC slot ${slot} to confirm the workload`, async () => ((await confirmedFlushLsn(db, slot)) ?? 0n) >= target, 60_000);
  }
  // One bronze writer per source (each copies its own `<prefix>._schemas` documents), one lake.
  for (const [prefix, tables] of [[SHOP, SHOP_TABLES], [SPORT, SPORT_TABLES]] as const) {
    const writerConfig = loadConfig({ ...process.env, ...lakeEnv, KAFKA_TOPIC_PREFIX: prefix, BRONZE_CONSUMER_GROUP: `${prefix}-bronze` });
    const writer = new BronzeWriter({ config: writerConfig, logger });
    await writer.start();
    try {
      for (const t of tables) await broker.waitForGroupCaughtUp(writerConfig.bronze.consumerGroup, `${prefix}.${t.schema}.${t.table}`, 60_000);
    } finally {
      await writer.stop();
    }
  }
}

/** Opens silver read-only and compares every shop and sport table. */
async function compareAll(): Promise<{ shop: TableComparison[]; sport: TableComparison[] }> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn: DuckDBConnection = await instance.connect();
  try {
    await conn.run(`ATTACH '${config.batch.silverDb}' AS sdb (READ_ONLY); USE sdb`);
    const shopResults: TableComparison[] = [];
    for (const t of SHOP_TABLES) {
      shopResults.push(await compareSilver(shopDb, conn, t, silverTable(SHOP, t), {
        publication: SHOP_PUB,
        accept: (d) => t.table === 'customers' && d.column === 'tier' && d.source === 'standard' && d.silver === null,
      }));
    }
    const sportResults: TableComparison[] = [];
    for (const t of SPORT_TABLES) sportResults.push(await compareSilver(sportDb, conn, t, silverTable(SPORT, t)));
    return { shop: shopResults, sport: sportResults };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

describe('silver equals the shop source, next to the sport source in one lake', () => {
  beforeAll(async () => {
    base = loadConfig();
    dir = await mkdtemp(path.join(tmpdir(), 'shop-silver-'));
    shop = await createShopSource(base, `shop_e2e_${RUN}`);
    shopDb = await shop.admin();
    sportDb = await adminClient(base);
    await seedSport(sportDb);
    const shopConfig: Config = { ...shop.config, postgres: { ...shop.config.postgres, cdc: { user: SHOP_ROLE, password: SHOP_PASSWORD }, publication: SHOP_PUB } };
    await prepareSource({
      config: shopConfig, tables: SHOP_CDC_TABLES.split(','), excludeColumns: ['hr.employees.salary'], keepIdentity: ['catalog.documents'],
    }, () => undefined);
    shopCdc = await startCdc({
      POSTGRES_DB: shop.database, CDC_DB_USER: SHOP_ROLE, CDC_DB_PASSWORD: SHOP_PASSWORD, CDC_PUBLICATION: SHOP_PUB, CDC_TABLES: SHOP_CDC_TABLES,
      CDC_ADMIN_SETUP: 'false', CDC_SLOT_NAME: SHOP_SLOT, KAFKA_TOPIC_PREFIX: SHOP, CDC_SNAPSHOT_MODE: 'initial',
    });
    sportCdc = await startCdc({ KAFKA_TOPIC_PREFIX: SPORT, CDC_SLOT_NAME: SPORT_SLOT, CDC_SNAPSHOT_MODE: 'initial' });
    // The sport product binds to its source by namespace (config/rules.json "source"): this run's prefix.
    const rules = JSON.parse(await readFile(base.batch.rulesFile, 'utf8')) as Record<string, unknown>;
    rulesFile = path.join(dir, 'rules.json');
    await writeFile(rulesFile, JSON.stringify({ ...rules, source: { namespace: SPORT, schema: 'public' } }, null, 2));
    lakeEnv = {
      LAKE_URL: `s3://${base.s3.bucket}/${RUN}/`,
      BRONZE_MAX_AGE_S: '1',
      BATCH_STATE_DIR: path.join(dir, 'state'),
      BATCH_GOLD_DB: path.join(dir, 'gold.duckdb'),
      BATCH_RULES_FILE: rulesFile,
      BATCH_THREADS: '2',
    };
    config = loadConfig({ ...process.env, ...lakeEnv });
    broker = await connectTestBroker(config.kafka.brokers);
  }, 240_000);

  afterAll(async () => {
    await broker?.close();
    await shopCdc?.stop();
    await sportCdc?.stop();
    await shopDb?.end();
    if (sportDb) {
      await dropSlots(sportDb, [SPORT_SLOT]);
      await sportDb.query('DELETE FROM activities WHERE employee_id >= $1 AND employee_id < $2', [FIRST_EMPLOYEE, FIRST_EMPLOYEE + 100]);
      await sportDb.query('DELETE FROM employees WHERE employee_id >= $1 AND employee_id < $2', [FIRST_EMPLOYEE, FIRST_EMPLOYEE + 100]);
      await sportDb.end();
    }
    await shop?.close();
    const root = new pg.Client(pgConnection(base, 'admin', 'postgres'));
    await root.connect();
    await root.query(`DROP ROLE IF EXISTS ${SHOP_ROLE}`).catch(() => undefined);
    await root.end();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('after the snapshot: every shop and sport table equals its source', async () => {
    await bronzeCaughtUp();
    const run = await refresh(config, { logger, asOf: new Date('2026-07-15T00:00:00Z'), rulesFile });
    expect(run.status, JSON.stringify(run.results.filter((r) => r.status !== 'pass' && r.severity === 'error'))).toBe('success');
    const { shop: shopResults, sport: sportResults } = await compareAll();
    expect(shopResults.flatMap((r) => r.differences)).toEqual([]);
    expect(shopResults.flatMap((r) => r.accepted)).toEqual([]);
    expect(sportResults.flatMap((r) => r.differences)).toEqual([]);
    expect(shopResults.find((r) => r.table === 'catalog.all_types')!.rows).toBe(5);
  });

  it('after the mixed workload: equal again, but for the ADD COLUMN default on untouched rows', async () => {
    await shop.runWorkload();
    await sportDb.query(`UPDATE employees SET business_unit = 'R&D' WHERE employee_id = $1`, [FIRST_EMPLOYEE]);
    await sportDb.query('DELETE FROM employees WHERE employee_id = $1', [FIRST_EMPLOYEE + 1]);
    await bronzeCaughtUp();
    const run = await refresh(config, { logger, asOf: new Date('2026-07-15T00:00:00Z'), rulesFile });
    expect(run.status, JSON.stringify(run.results.filter((r) => r.status !== 'pass' && r.severity === 'error'))).toBe('success');
    const { shop: shopResults, sport: sportResults } = await compareAll();
    expect(shopResults.flatMap((r) => r.differences)).toEqual([]);
    expect(shopResults.flatMap((r) => r.accepted).map((l) => l.replace(/ tier: .*/, '')).sort()).toEqual([
      'sales.customers customer_id=7', 'sales.customers customer_id=8', 'sales.customers customer_id=9', 'sales.customers customer_id=60',
    ].sort());
    expect(sportResults.flatMap((r) => r.differences)).toEqual([]);
  });
});
