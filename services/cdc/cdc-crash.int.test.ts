/**
 * Crash safety of the CDC service, run as a child process and killed with SIGKILL:
 * - in the middle of a 50,000-row load while streaming: after a restart every change is in the
 *   topic, and a duplicate is only an identical re-delivery (same LSN, same content);
 * - during the initial snapshot: the next start takes the snapshot again, and that snapshot is
 *   consistent with changes committed while it runs (no change missed or doubled).
 * Also: a bad configuration stops the service before it opens any connection.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, REPO_ROOT } from '../common/config.ts';
import { dedupe, replay, tableState as tableStateOf } from './testing/delivery.ts';
import { grantKafkaAccess } from '../../tests/support/kafka.ts';
import { adminClient, CdcChild, cdcEnv, confirmedFlushLsn, currentWalLsn, dropSlots, envelope, eventually, runId } from './testing/harness.ts';
import { readTopic, testKafka, waitForRecords, type KafkaTarget } from './testing/kafka-read.ts';

const RUN = runId();
const config = loadConfig(cdcEnv({}));
let db: pg.Client;
let kafka: KafkaTarget;
const slots: string[] = [];
const children: CdcChild[] = [];

beforeAll(async () => {
  db = await adminClient(config);
  kafka = testKafka(config.kafka.brokers);
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  await dropSlots(db, slots);
  await db.end();
});

/** The service as a child process, authenticated as the CDC principal once its namespace has its ACLs. */
async function spawnCdc(env: Record<string, string>): Promise<CdcChild> {
  await grantKafkaAccess(cdcEnv(env));
  const child = new CdcChild(env);
  children.push(child);
  return child;
}

const tableState = (table: string) => tableStateOf(db, table);

describe('crash safety (kill -9)', () => {
  it('kill -9 in the middle of a 50,000-row load: every change is in the topic, duplicates are identical re-deliveries', async () => {
    const prefix = `k${RUN}`;
    const slot = `k_${RUN}`;
    slots.push(slot);
    await db.query(`DROP TABLE IF EXISTS cdc_load; DROP PUBLICATION IF EXISTS cdc_load_pub;
      CREATE TABLE cdc_load (id integer PRIMARY KEY, n integer NOT NULL, payload text NOT NULL)`);
    const env = { KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_PUBLICATION: 'cdc_load_pub', CDC_TABLES: 'cdc_load' };
    const topic = `${prefix}.public.cdc_load`;

    const first = await spawnCdc(env);
    await first.waitStreaming();

    // 500 transactions of 100 inserts; every 10th also updates 50 earlier rows and deletes 5.
    const expectedOps = new Map<number, string[]>();
    const note = (id: number, op: string) => {
      if (!expectedOps.has(id)) expectedOps.set(id, []);
      expectedOps.get(id)!.push(op);
    };
    let recordsAtKill = -1;
    for (let tx = 0; tx < 500; tx++) {
      const from = tx * 100 + 1;
      await db.query('BEGIN');
      await db.query("INSERT INTO cdc_load SELECT g, 0, repeat('x', 40) || g FROM generate_series($1::int, $2::int) g", [from, from + 99]);
      for (let id = from; id <= from + 99; id++) note(id, 'c');
      if (tx % 10 === 9) {
        const updated = Array.from({ length: 50 }, (_, i) => (tx - 9) * 100 + 1 + i * 2);
        await db.query('UPDATE cdc_load SET n = n + 1 WHERE id = ANY($1::int[])', [updated]);
        updated.forEach((id) => note(id, 'u'));
        const deleted = Array.from({ length: 5 }, (_, i) => (tx - 9) * 100 + 2 + i * 2);
        await db.query('DELETE FROM cdc_load WHERE id = ANY($1::int[])', [deleted]);
        deleted.forEach((id) => note(id, 'd'));
      }
      await db.query('COMMIT');
      if (tx === 200) {
        // Killed while it streams: once some of the load is in the topic (a busy machine may not
        // have produced anything yet after 200 transactions, and a failed count reads as 0).
        await waitForRecords(kafka, topic, 1);
        first.kill('SIGKILL');
        expect((await first.exited).signal).toBe('SIGKILL');
        recordsAtKill = await waitForRecords(kafka, topic, 1);
      }
    }
    const expectedEvents = [...expectedOps.values()].reduce((n, ops) => n + ops.length, 0);
    expect(recordsAtKill).toBeGreaterThan(0);
    expect(recordsAtKill).toBeLessThan(expectedEvents);

    const second = await spawnCdc(env);
    await second.waitStreaming();
    // Done once the slot confirms the end of the load: the service confirms an LSN only when the
    // broker acknowledged every event up to it. (A count of records would be reached early by the
    // re-deliveries after the crash, and stop the service before the last events.)
    const loadEnd = await currentWalLsn(db);
    await eventually('the slot to confirm the whole load', async () => ((await confirmedFlushLsn(db, slot)) ?? 0n) >= loadEnd, 120_000);
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);

    const records = await readTopic(kafka, topic);
    const perKey = dedupe(records);
    const actualOps = new Map([...perKey].map(([key, events]) => [Number(JSON.parse(key).id), events.map((e) => e.op)]));
    expect(actualOps.size).toBe(50_000);
    for (const [id, ops] of expectedOps) expect(actualOps.get(id), `changes of id ${id}`).toEqual(ops);
    expect(replay(perKey)).toEqual(await tableState('cdc_load'));
    // Some events were re-delivered after the crash (or none, if the kill landed right after a confirmation).
    expect(records.filter((r) => r.value !== null).length).toBeGreaterThanOrEqual(expectedEvents);
    await db.query('DROP TABLE cdc_load; DROP PUBLICATION cdc_load_pub');
  });

  it('kill -9 during the initial snapshot: the snapshot is taken again, consistent with concurrent changes', async () => {
    const prefix = `p${RUN}`;
    const slot = `p_${RUN}`;
    slots.push(slot);
    await db.query(`DROP TABLE IF EXISTS cdc_snap; DROP PUBLICATION IF EXISTS cdc_snap_pub;
      CREATE TABLE cdc_snap (id integer PRIMARY KEY, n integer NOT NULL);
      INSERT INTO cdc_snap SELECT g, 0 FROM generate_series(1, 60000) g`);
    const env = {
      KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_PUBLICATION: 'cdc_snap_pub', CDC_TABLES: 'cdc_snap',
      CDC_SNAPSHOT_CHUNK_ROWS: '200', CDC_BATCH_MAX_EVENTS: '200',
    };
    const topic = `${prefix}.public.cdc_snap`;
    const first = await spawnCdc(env);
    await eventually('first snapshot events', async () => ((await waitForRecords(kafka, topic, 0).catch(() => 0)) > 500 ? true : null), 60_000);
    first.kill('SIGKILL');
    await first.exited;
    expect(first.output.join('')).not.toContain('initial snapshot done');
    const marker = await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`${slot}_snapshot_pending`]);
    expect(marker.rowCount).toBe(1);
    const atKill = await waitForRecords(kafka, topic, 0);

    const second = await spawnCdc(env);
    // Change rows while the second snapshot runs: updates, deletes and inserts in small transactions.
    await eventually('second snapshot under way', async () => ((await waitForRecords(kafka, topic, 0)) > atKill + 1000 ? true : null), 60_000);
    let nextId = 60_001;
    for (let i = 0; i < 150; i++) {
      await db.query('BEGIN');
      await db.query('UPDATE cdc_snap SET n = n + 1 WHERE id = ANY($1::int[])', [[1 + i * 397, 30_000 + i * 7, 59_999 - i * 11]]);
      await db.query('DELETE FROM cdc_snap WHERE id = $1', [2 + i * 389]);
      await db.query('INSERT INTO cdc_snap VALUES ($1, 0), ($2, 0)', [nextId, nextId + 1]);
      nextId += 2;
      await db.query('COMMIT');
    }
    await second.waitStreaming();
    const expectedRows = (await tableState('cdc_snap')).size;
    await db.query('UPDATE cdc_snap SET n = -1 WHERE id = 3'); // a last change, to know the stream caught up
    await eventually('last change delivered', async () => {
      const r = await readTopic(kafka, topic);
      return r.some((x) => x.value !== null && envelope(x.value)!.after?.id === 3 && envelope(x.value)!.after?.n === -1) ? true : null;
    }, 60_000);
    // Every partition, not only the last change's: the slot confirms only what the broker acknowledged.
    const end = await currentWalLsn(db);
    await eventually('the slot to confirm every change', async () => ((await confirmedFlushLsn(db, slot)) ?? 0n) >= end, 60_000);
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(second.output.join('')).toContain('the previous initial snapshot did not finish');
    expect((await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`${slot}_snapshot_pending`])).rowCount).toBe(0);

    const records = await readTopic(kafka, topic);
    const perKey = dedupe(records);
    // The second snapshot: op r events at the newest consistent point.
    const snapshotLsn = Math.max(...[...perKey.values()].flat().filter((e) => e.op === 'r').map((e) => e.source.lsn));
    for (const [key, events] of perKey) {
      const fromSecond = events.filter((e) => e.op !== 'r' || e.source.lsn === snapshotLsn);
      const reads = fromSecond.filter((e) => e.op === 'r').length;
      const creates = fromSecond.filter((e) => e.op === 'c').length;
      // A row is either in the snapshot or inserted after it, never both, never twice.
      expect(reads + creates, `row ${key}`).toBeLessThanOrEqual(1);
      for (const e of fromSecond.filter((x) => x.op !== 'r')) expect(e.source.lsn).toBeGreaterThan(snapshotLsn);
    }
    const state = replay(perKey);
    expect(state.size).toBe(expectedRows);
    expect(state).toEqual(await tableState('cdc_snap'));
    expect(records.filter((r) => r.value !== null && envelope(r.value)!.source.snapshot === 'last')).toHaveLength(1);
    await db.query('DROP TABLE cdc_snap; DROP PUBLICATION cdc_snap_pub');
  });
});

describe('configuration errors', () => {
  it('a bad configuration is reported, naming the variable, before any connection opens', () => {
    // An unreachable database and broker: a connection attempt would fail differently (and later).
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/cdc/main.ts')], {
      cwd: REPO_ROOT,
      env: { ...process.env, CDC_SLOT_NAME: 'Bad-Slot', CDC_TABLES: 'public.employees,bad table', POSTGRES_PORT: '1', KAFKA_BROKERS: '127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('CDC_SLOT_NAME: expected 1-46 lower-case letters');
    expect(result.stderr).toContain('CDC_TABLES: expected comma-separated [schema.]table names');
    expect(result.stderr).not.toMatch(/ECONNREFUSED|connect/i);
  });
});
