/**
 * Incremental snapshots on real PostgreSQL and Kafka (issue 16; services/cdc/README.md,
 * "Incremental snapshots"):
 * - `--where`: only the matching rows are sent, as op "r" with source.snapshot "incremental";
 * - a table added to CDC_TABLES (50,000 rows) while another table streams under a load: every row
 *   once as "r", the other table's stream without gap, duplicates only identical re-deliveries;
 * - a 100,000-row table re-snapshotted while writers update and delete random rows (some in
 *   transactions held open across chunks): afterwards the latest event per key equals the table
 *   row for row, in topic order and in LSN order (silver's), and no deleted row has an "r" after
 *   its delete;
 * - kill -9 of the service in the middle of a snapshot: the restart resumes after the last
 *   finished chunk, the result is still exact;
 * - the CLI's refusals: a second request for a running table, a table without a primary key, a
 *   predicate that is not one condition on the table;
 * - progress in `snapshot --status` and the metrics, `snapshot --stop`, and a new request afterwards.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, type Config } from '../common/config.ts';
import type { TableSnapshotState } from '../common/contracts/snapshot-state.ts';
import { createLogger } from '../common/logger.ts';
import { KafkaAdmin } from '../common/kafka/index.ts';
import { runLakehouse } from '../../scripts/lib/lakehouse/program.ts';
import { readSnapshotStates } from './snapshot-state-store.ts';
import { dedupe, replay, ReconnectingLoad, tableState } from './testing/delivery.ts';
import { grantKafkaAccess } from '../../tests/support/kafka.ts';
import { adminClient, CdcChild, cdcEnv, dropSlots, envelope, eventually, runId, startCdc, stopAllCdc, type Envelope } from './testing/harness.ts';
import { readTopic, testKafka, type KafkaTarget, type ReadRecord } from './testing/kafka-read.ts';

const RUN = runId();
const base = loadConfig(cdcEnv({}));
const quiet = createLogger('inc-test', 'silent');
let db: pg.Client;
let kafka: KafkaTarget;
const slots: string[] = [];
const children: CdcChild[] = [];

beforeAll(async () => {
  db = await adminClient(base);
  kafka = testKafka(base.kafka.brokers);
});

afterAll(async () => {
  await stopAllCdc();
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  await dropSlots(db, slots);
  await db.end();
});

/** Settings of one scenario: its own prefix, slot and publication. */
function scenarioEnv(name: string, tables: string, extra: Record<string, string> = {}): Record<string, string> {
  const slot = `i${name}_${RUN}`;
  slots.push(slot);
  return { KAFKA_TOPIC_PREFIX: `i${name}${RUN}`, CDC_SLOT_NAME: slot, CDC_PUBLICATION: `inc_${name}_pub`, CDC_TABLES: tables, ...extra };
}

/** Runs `lakehouse snapshot ...` in this process with the scenario's settings; returns its exit code. */
async function snapshotCli(env: Record<string, string>, ...args: string[]): Promise<number> {
  return runLakehouse(['snapshot', ...args], cdcEnv(env));
}

async function states(config: Config): Promise<Map<string, TableSnapshotState>> {
  const admin = KafkaAdmin.create(config, 'inc-test', quiet);
  try {
    const records = await readSnapshotStates(config, quiet, admin);
    return new Map([...records.values()].filter((r): r is TableSnapshotState => r.kind === 'table').map((r) => [r.table, r]));
  } finally {
    await admin.close();
  }
}

/** Waits until the table's latest snapshot is done. @throws when it failed or stopped. */
async function snapshotDone(config: Config, table: string, timeoutMs = 300_000): Promise<TableSnapshotState> {
  return eventually(`incremental snapshot of ${table} done`, async () => {
    const s = (await states(config)).get(table);
    if (s && (s.status === 'failed' || s.status === 'stopped' || s.status === 'superseded')) throw new Error(`snapshot of ${table} ${s.status}: ${s.reason}`);
    return s?.status === 'done' ? s : null;
  }, timeoutMs);
}

type Event = Envelope & { partition: number; offset: number; key: string };

/** Every non-tombstone event of a topic with its position. */
async function events(topic: string): Promise<Event[]> {
  return (await readTopic(kafka, topic)).filter((r): r is ReadRecord & { value: string; key: string } => r.value !== null && r.key !== null)
    .map((r) => ({ ...envelope(r.value)!, partition: r.partition, offset: r.offset, key: r.key }));
}

const idOf = (e: Event) => Number(JSON.parse(e.key).id);

/**
 * Per id, the latest event in topic order (offset; a key has one partition) and in silver's order
 * (source.lsn, then offset).
 */
function latest(list: Event[]): { byOffset: Map<number, Event>; byLsn: Map<number, Event> } {
  const byOffset = new Map<number, Event>();
  const byLsn = new Map<number, Event>();
  for (const e of list) {
    const id = idOf(e);
    const o = byOffset.get(id);
    if (!o || e.offset > o.offset) byOffset.set(id, e);
    const l = byLsn.get(id);
    if (!l || e.source.lsn > l.source.lsn || (e.source.lsn === l.source.lsn && e.offset > l.offset)) byLsn.set(id, e);
  }
  return { byOffset, byLsn };
}

/** The (id, n) rows the latest events describe (deletes remove the row). */
function stateOf(latestEvents: Map<number, Event>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [id, e] of latestEvents) if (e.op !== 'd') out.set(id, e.after!.n as number);
  return out;
}

/** Writers that update and delete random rows of `table` (ids 1..rows) until stopped; some hold their transaction open a while. */
class RandomWriters {
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  updates = 0;
  deletes = 0;
  held = 0;

  constructor(private readonly config: Config, private readonly table: string, private readonly rows: number) {}

  start(): void {
    this.loops.push(this.loop(false), this.loop(false), this.loop(true));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private async loop(holding: boolean): Promise<void> {
    const c = new pg.Client(pgConnection(this.config, 'admin'));
    await c.connect();
    try {
      while (!this.stopping) {
        const pick = () => 1 + Math.floor(Math.random() * this.rows);
        await c.query('BEGIN');
        if (holding) {
          // Holds a row for longer than a chunk read: the chunk must leave it out and read it again.
          await c.query(`UPDATE ${this.table} SET n = n + 1000 WHERE id = $1`, [pick()]);
          await new Promise((r) => setTimeout(r, 150 + Math.random() * 300));
          this.held++;
        } else {
          await c.query(`UPDATE ${this.table} SET n = n + 1 WHERE id = ANY($1::int[])`, [[pick(), pick(), pick()]]);
          this.updates += 3;
          if (Math.random() < 0.3) {
            await c.query(`DELETE FROM ${this.table} WHERE id = $1`, [pick()]);
            this.deletes++;
          }
        }
        await c.query('COMMIT');
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await c.end();
    }
  }
}

/** Checks that the topic's latest event per key equals the table, in both orders, and that no "r" follows a delete of its key. */
async function expectExact(topic: string, table: string, marker: number): Promise<Event[]> {
  // A last change, so that everything before it is in the topic.
  await db.query(`UPDATE ${table} SET n = -7 WHERE id = $1`, [marker]);
  const list = await eventually(`the last change of ${table} in the topic`, async () => {
    const l = await events(topic);
    return l.some((e) => e.op === 'u' && idOf(e) === marker && e.after!.n === -7) ? l : null;
  }, 180_000);
  const rows = await tableState(db, table);
  const { byOffset, byLsn } = latest(list);
  expect(stateOf(byOffset), 'latest event per key in topic order = the table').toEqual(rows);
  expect(stateOf(byLsn), 'latest event per key in LSN order (silver) = the table').toEqual(rows);
  const deletedAt = new Map<number, number>();
  for (const e of list) if (e.op === 'd') deletedAt.set(idOf(e), e.offset);
  const lateReads = list.filter((e) => e.op === 'r' && deletedAt.has(idOf(e)) && e.offset > deletedAt.get(idOf(e))!);
  expect(lateReads.map(idOf), 'deleted rows with an "r" after their delete').toEqual([]);
  return list;
}

describe('incremental snapshots', () => {
  it('--where: only the matching rows are sent, as op "r" with source.snapshot "incremental"', async () => {
    await db.query(`DROP TABLE IF EXISTS inc_where; DROP PUBLICATION IF EXISTS inc_where_pub;
      CREATE TABLE inc_where (id integer PRIMARY KEY, n integer NOT NULL, grp text NOT NULL);
      INSERT INTO inc_where SELECT g, g, CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 1000) g`);
    const env = scenarioEnv('where', 'inc_where', { CDC_SNAPSHOT_MODE: 'never' });
    const cdc = await startCdc(env);
    const topic = `${env.KAFKA_TOPIC_PREFIX}.public.inc_where`;

    expect(await snapshotCli(env, '--table', 'public.inc_where', '--where', "grp = 'a' AND n > 0", '--chunk-rows', '100', '--follow')).toBe(0);
    const s = await snapshotDone(cdc.config, 'public.inc_where');
    expect(s).toMatchObject({ status: 'done', rows: 333, chunks: expect.any(Number), where: "grp = 'a' AND n > 0", chunkRows: 100 });
    const reads = (await events(topic)).filter((e) => e.op === 'r');
    expect(reads.map(idOf).sort((a, b) => a - b)).toEqual(Array.from({ length: 333 }, (_, i) => (i + 1) * 3));
    expect(new Set(reads.map((e) => e.source.snapshot))).toEqual(new Set(['incremental']));
    expect(reads.every((e) => e.before === null && e.after!.grp === 'a' && e.source.table === 'inc_where')).toBe(true);

    // Refusals: a predicate that is not one condition, an unknown column, a table not captured.
    expect(await snapshotCli(env, '--table', 'public.inc_where', '--where', "true; DELETE FROM inc_where")).toBe(1);
    expect(await snapshotCli(env, '--table', 'public.inc_where', '--where', 'nope = 1')).toBe(1);
    expect(await snapshotCli(env, '--table', 'public.inc_where', '--where', 'id) OR (true')).toBe(1);
    expect(await snapshotCli(env, '--table', 'public.activities')).toBe(1);
    expect(await snapshotCli(env, '--table', 'Bad-Name')).toBe(2);
    expect((await events(topic)).filter((e) => e.op === 'r')).toHaveLength(333);
    await cdc.stop();
  });

  it('progress in snapshot --status and the metrics; --stop stops it after its chunk; a new request then runs to the end', async () => {
    await db.query(`DROP TABLE IF EXISTS inc_stop; DROP PUBLICATION IF EXISTS inc_stop_pub;
      CREATE TABLE inc_stop (id integer PRIMARY KEY, n integer NOT NULL);
      INSERT INTO inc_stop SELECT g, g FROM generate_series(1, 50000) g; ANALYZE inc_stop`);
    const env = scenarioEnv('stop', 'inc_stop', { CDC_SNAPSHOT_MODE: 'never' });
    const cdc = await startCdc(env);
    expect(await snapshotCli(env, '--table', 'public.inc_stop', '--chunk-rows', '100')).toBe(0);
    await eventually('three chunks done', async () => ((await states(cdc.config)).get('public.inc_stop')?.chunks ?? 0) >= 3, 120_000);

    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => void lines.push(a.join(' '));
    try {
      expect(await snapshotCli(env, '--status', '--table', 'public.inc_stop')).toBe(0);
    } finally {
      console.log = log;
    }
    expect(lines.join('\n')).toMatch(/\[snapshot\] public\.inc_stop: running, \d+ chunks, [\d,]+ rows \(\d+ %\)/);
    const metrics = await cdc.service.metrics.registry.metrics();
    expect(metrics).toMatch(/cdc_incremental_snapshot_running\{table="public\.inc_stop"\} 1/);
    expect(Number(/cdc_incremental_snapshot_rows_total\{table="public\.inc_stop"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(300);

    expect(await snapshotCli(env, '--stop', '--table', 'public.inc_stop')).toBe(0);
    const stopped = (await states(cdc.config)).get('public.inc_stop')!;
    expect(stopped.status).toBe('stopped');
    expect(stopped.rows).toBeLessThan(50_000);
    expect(await cdc.service.metrics.registry.metrics()).toMatch(/cdc_incremental_snapshot_running\{table="public\.inc_stop"\} 0/);

    expect(await snapshotCli(env, '--table', 'public.inc_stop', '--chunk-rows', '5000', '--follow')).toBe(0);
    const done = await snapshotDone(cdc.config, 'public.inc_stop');
    expect(done).toMatchObject({ status: 'done', rows: 50_000 });
    expect(done.id).not.toBe(stopped.id);
    await cdc.stop();
  });

  it('a table without a primary key is refused with the reason', async () => {
    await db.query(`DROP TABLE IF EXISTS inc_keyless; DROP PUBLICATION IF EXISTS inc_keyless_pub;
      CREATE TABLE inc_keyless (a integer, b text); ALTER TABLE inc_keyless REPLICA IDENTITY FULL;
      INSERT INTO inc_keyless VALUES (1, 'x'), (1, 'x')`);
    const env = scenarioEnv('keyless', 'inc_keyless', { CDC_SNAPSHOT_MODE: 'never' });
    const cdc = await startCdc(env);
    const lines: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => void lines.push(a.join(' '));
    try {
      expect(await snapshotCli(env, '--table', 'inc_keyless')).toBe(1);
    } finally {
      console.error = error;
    }
    expect(lines.join('\n')).toContain('public.inc_keyless has no primary key');
    await cdc.stop();
  });

  it('adding a 50,000-row table to CDC_TABLES while another table streams: every row once as "r", the stream without gap', async () => {
    await db.query(`DROP TABLE IF EXISTS inc_stream, inc_added; DROP PUBLICATION IF EXISTS inc_add_pub;
      CREATE TABLE inc_stream (id integer PRIMARY KEY, n integer NOT NULL);
      CREATE TABLE inc_added (id integer PRIMARY KEY, n integer NOT NULL, payload text NOT NULL);
      INSERT INTO inc_added SELECT g, g % 97, repeat('p', 60) || g FROM generate_series(1, 50000) g`);
    const env = scenarioEnv('add', 'inc_stream');
    const first = await startCdc(env);
    const load = new ReconnectingLoad(first.config, 'inc_stream', 10);
    load.start();
    await load.waitFor(20);
    await first.stop();
    // The same slot, one table more: the service snapshots the added table while the stream goes on.
    const second = await startCdc({ ...env, CDC_TABLES: 'inc_stream,inc_added' });
    await load.waitFor(10);
    const s = await snapshotDone(second.config, 'public.inc_added');
    expect(s).toMatchObject({ trigger: 'table-added', status: 'done', rows: 50_000, supersededRows: 0 });
    await load.waitFor(10);
    await load.stop();

    const added = await events(`${env.KAFKA_TOPIC_PREFIX}.public.inc_added`);
    expect(added.every((e) => e.op === 'r' && e.source.snapshot === 'incremental')).toBe(true);
    const ids = added.map(idOf);
    expect(ids).toHaveLength(50_000);
    expect(new Set(ids).size).toBe(50_000);
    expect(added.find((e) => idOf(e) === 12_345)!.after).toEqual({ id: 12_345, n: 12_345 % 97, payload: `${'p'.repeat(60)}12345` });

    // The other table: every committed change in order, duplicates only identical re-deliveries.
    const streamTopic = `${env.KAFKA_TOPIC_PREFIX}.public.inc_stream`;
    const last = (await db.query<{ id: number }>('SELECT max(id) AS id FROM inc_stream')).rows[0]!.id;
    await db.query('UPDATE inc_stream SET n = -1 WHERE id = $1', [last]);
    load.expected.get(last)!.push('u');
    const records = await eventually('the last change of inc_stream', async () => {
      const r = await readTopic(kafka, streamTopic);
      return r.some((x) => x.value !== null && envelope(x.value)!.after?.id === last && envelope(x.value)!.after?.n === -1) ? r : null;
    }, 120_000);
    const perKey = dedupe(records);
    const actual = new Map([...perKey].map(([key, list]) => [Number(JSON.parse(key).id), list.map((e) => e.op)]));
    expect(actual.size).toBe(load.expected.size);
    for (const [id, ops] of load.expected) expect(actual.get(id), `changes of id ${id}`).toEqual(ops);
    expect(replay(perKey)).toEqual(await tableState(db, 'inc_stream'));
    await second.stop();
  });

  it('a 100,000-row table re-snapshotted under random updates and deletes: latest event per key = the table; a second request is refused meanwhile', async () => {
    await db.query(`DROP TABLE IF EXISTS inc_busy; DROP PUBLICATION IF EXISTS inc_busy_pub;
      CREATE TABLE inc_busy (id integer PRIMARY KEY, n integer NOT NULL);
      INSERT INTO inc_busy SELECT g, 0 FROM generate_series(1, 100000) g`);
    const env = scenarioEnv('busy', 'inc_busy', { CDC_SNAPSHOT_MODE: 'never' });
    const cdc = await startCdc(env);
    const writers = new RandomWriters(cdc.config, 'inc_busy', 100_000);
    writers.start();
    expect(await snapshotCli(env, '--table', 'public.inc_busy', '--chunk-rows', '2000')).toBe(0);
    expect(await snapshotCli(env, '--table', 'public.inc_busy'), 'a second request while one runs').toBe(1);
    const s = await snapshotDone(cdc.config, 'public.inc_busy');
    await writers.stop();
    expect(writers.held).toBeGreaterThan(0);
    expect(s.status).toBe('done');
    const list = await expectExact(`${env.KAFKA_TOPIC_PREFIX}.public.inc_busy`, 'inc_busy', 1 + Math.floor(Math.random() * 100_000));
    // Every row that existed throughout was read once, or left out for a newer streamed change.
    const reads = list.filter((e) => e.op === 'r');
    expect(reads.length + s.supersededRows).toBeGreaterThanOrEqual(100_000 - writers.deletes);
    await cdc.stop();
  });

  it('kill -9 in the middle of a snapshot: the restart resumes after the last finished chunk, still exact', async () => {
    await db.query(`DROP TABLE IF EXISTS inc_kill; DROP PUBLICATION IF EXISTS inc_kill_pub;
      CREATE TABLE inc_kill (id integer PRIMARY KEY, n integer NOT NULL);
      INSERT INTO inc_kill SELECT g, 0 FROM generate_series(1, 60000) g`);
    const env = scenarioEnv('kill', 'inc_kill', { CDC_SNAPSHOT_MODE: 'never' });
    // The child authenticates as the CDC principal: its ACLs for this namespace first.
    await grantKafkaAccess(cdcEnv(env));
    const first = new CdcChild(env);
    children.push(first);
    await first.waitStreaming();
    const config = loadConfig(cdcEnv(env));
    const writers = new RandomWriters(config, 'inc_kill', 60_000);
    writers.start();
    expect(await snapshotCli(env, '--table', 'public.inc_kill', '--chunk-rows', '500')).toBe(0);
    const before = await eventually('ten chunks done', async () => {
      const s = (await states(config)).get('public.inc_kill');
      return s && s.chunks >= 10 ? s : null;
    }, 180_000);
    first.kill('SIGKILL');
    await first.exited;
    expect(before.status).toBe('running');

    const second = new CdcChild(env);
    children.push(second);
    await second.waitStreaming();
    const s = await snapshotDone(config, 'public.inc_kill');
    await writers.stop();
    const resumed = second.output.join('').split('\n').filter((l) => l.includes('incremental snapshot resumed after the last finished chunk'));
    expect(resumed).toHaveLength(1);
    expect(JSON.parse(resumed[0]!).chunks).toBeGreaterThanOrEqual(10);
    expect(s.status).toBe('done');
    const list = await expectExact(`${env.KAFKA_TOPIC_PREFIX}.public.inc_kill`, 'inc_kill', 1 + Math.floor(Math.random() * 60_000));
    // Resumed, not started over: at most the chunks in flight at the kill are read twice.
    const reads = list.filter((e) => e.op === 'r');
    expect(reads.length).toBeLessThan(60_000 + 5 * 500);
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });
});
