/**
 * Issue 16: after `ALTER TABLE ... ADD COLUMN ... DEFAULT` and an incremental snapshot of the
 * table (`npm run lakehouse -- snapshot --table ...`), silver equals the source for that table,
 * value for value and type for type (tests/support/silver-compare.ts reads both independently).
 *
 * Real CDC service, bronze writer and refresh on the test stack. Before the re-snapshot the
 * comparison must show the gap the snapshot closes (PostgreSQL fills the default into existing
 * rows without logging them, so silver has NULL for every row not changed since): that is what
 * makes the final "no difference" mean something.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../services/common/config.ts';
import { createLogger } from '../../services/common/logger.ts';
import { BronzeWriter } from '../../services/bronze-writer/writer.ts';
import { refresh } from '../../services/batch/refresh.ts';
import { adminClient, cdcEnv, confirmedFlushLsn, currentWalLsn, dropSlots, runId, startCdc, stopAllCdc, type InProcessCdc } from '../../services/cdc/testing/harness.ts';
import { runLakehouse } from '../../scripts/lib/lakehouse/program.ts';
import { connectTestBroker, waitUntil, type TestBroker } from '../support/debezium-events.ts';
import { compareSilver, type TableComparison } from '../support/silver-compare.ts';

const RUN = runId();
const PREFIX = `incsil${RUN}`;
const SLOT = `incsil_${RUN}`;
const TABLE = { schema: 'public', table: 'inc_silver_items', primaryKey: ['id'] };
const TOPIC = `${PREFIX}.public.inc_silver_items`;
const logger = createLogger('inc-silver-test', process.env.LOG_LEVEL ?? 'warn');
const cdcSettings = { KAFKA_TOPIC_PREFIX: PREFIX, CDC_SLOT_NAME: SLOT, CDC_PUBLICATION: 'inc_silver_pub', CDC_TABLES: 'public.inc_silver_items', CDC_SNAPSHOT_MODE: 'initial' };

let db: pg.Client;
let cdc: InProcessCdc;
let broker: TestBroker;
let config: Config;
let dir: string;

/** Waits until the slot confirmed the current WAL and the bronze writer stored every event of the topic; then refreshes. */
async function throughSilver(): Promise<void> {
  const target = await currentWalLsn(db);
  await waitUntil(`CDC slot ${SLOT} to confirm the WAL`, async () => ((await confirmedFlushLsn(db, SLOT)) ?? 0n) >= target, 60_000);
  const writer = new BronzeWriter({ config, logger });
  await writer.start();
  try {
    await broker.waitForGroupCaughtUp(config.bronze.consumerGroup, TOPIC, 120_000);
  } finally {
    await writer.stop();
  }
  const run = await refresh(config, { logger, asOf: new Date('2026-07-15T00:00:00Z') });
  expect(run.status, JSON.stringify(run.results.filter((r) => r.status !== 'pass' && r.severity === 'error'))).toBe('success');
}

async function compare(): Promise<TableComparison> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    await conn.run(`ATTACH '${config.batch.silverDb}' AS sdb (READ_ONLY); USE sdb`);
    return await compareSilver(db, conn, TABLE, `silver.${PREFIX}__public__inc_silver_items`);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

describe('incremental snapshot repairs silver after ADD COLUMN ... DEFAULT', () => {
  beforeAll(async () => {
    const base = loadConfig();
    db = await adminClient(base);
    await db.query(`DROP TABLE IF EXISTS inc_silver_items; DROP PUBLICATION IF EXISTS inc_silver_pub;
      CREATE TABLE inc_silver_items (id integer PRIMARY KEY, name text NOT NULL, qty integer NOT NULL, price numeric(10,2));
      INSERT INTO inc_silver_items SELECT g, 'item ' || g, g % 17, g * 1.25 FROM generate_series(1, 3000) g`);
    dir = await mkdtemp(path.join(tmpdir(), 'inc-silver-'));
    config = loadConfig({
      ...process.env,
      KAFKA_TOPIC_PREFIX: PREFIX,
      BRONZE_CONSUMER_GROUP: `${PREFIX}-bronze`,
      LAKE_URL: `s3://${base.s3.bucket}/${RUN}/`,
      BRONZE_MAX_AGE_S: '1',
      BATCH_STATE_DIR: path.join(dir, 'state'),
      BATCH_GOLD_DB: path.join(dir, 'gold.duckdb'),
      BATCH_THREADS: '2',
    });
    broker = await connectTestBroker(config.kafka.brokers);
    cdc = await startCdc(cdcSettings);
  }, 240_000);

  afterAll(async () => {
    await broker?.close();
    await stopAllCdc();
    if (db) {
      await dropSlots(db, [SLOT]);
      await db.query('DROP TABLE IF EXISTS inc_silver_items; DROP PUBLICATION IF EXISTS inc_silver_pub');
      await db.end();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('silver misses the default on untouched rows; after the re-snapshot it equals the source', async () => {
    await db.query('UPDATE inc_silver_items SET qty = qty + 1 WHERE id % 100 = 0');
    await db.query("ALTER TABLE inc_silver_items ADD COLUMN level text NOT NULL DEFAULT 'beginner'");
    // Changes after the ALTER carry the column; a delete and an insert too.
    await db.query("UPDATE inc_silver_items SET level = 'expert' WHERE id IN (7, 8)");
    await db.query('DELETE FROM inc_silver_items WHERE id = 9');
    await db.query("INSERT INTO inc_silver_items VALUES (3001, 'item 3001', 1, 1.00, 'advanced')");
    await throughSilver();
    const before = await compare();
    // The gap: every row not changed since the ALTER has NULL for level in silver.
    expect(before.differences.length, before.differences.slice(0, 3).join('\n')).toBe(3000 - 1 - 2);
    expect(before.differences.every((d) => / level: source "beginner" silver NULL$/.test(d)), before.differences.slice(0, 3).join('\n')).toBe(true);

    const code = await runLakehouse(['snapshot', '--table', 'public.inc_silver_items', '--chunk-rows', '500', '--follow'], cdcEnv(cdcSettings));
    expect(code).toBe(0);
    await throughSilver();
    const after = await compare();
    expect(after.differences).toEqual([]);
    expect(after.rows).toBe(3000);
    await cdc.stop();
  });
});
