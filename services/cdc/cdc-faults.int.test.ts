/**
 * The CDC service rides out server faults by itself (issue 14): run as a child process under a
 * steady transactional load,
 * - PostgreSQL restarted with a fast shutdown (every connection terminated, 57P01);
 * - the broker killed (SIGKILL) and started again after more than 10 s;
 * the service never exits, logs one warning per outage, answers 503 on /healthz (and
 * `cdc_healthy 0`) while it reconnects, and afterwards the topic holds every committed change in
 * commit order per key, a duplicate only as an identical re-delivery.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection } from '../common/config.ts';
import { startService, stopService } from '../../scripts/lib/stack.ts';
import { dedupe, ReconnectingLoad, replay, tableState } from './testing/delivery.ts';
import { grantKafkaAccess } from '../../tests/support/kafka.ts';
import { CdcChild, cdcEnv, dropSlots, envelope, eventually, runId } from './testing/harness.ts';
import { readTopic, testKafka, type KafkaTarget } from './testing/kafka-read.ts';

const RUN = runId();
const config = loadConfig(cdcEnv({}));
let kafka: KafkaTarget;
const slots: string[] = [];
const children: CdcChild[] = [];

/** A fresh admin connection for one use (the servers restart in these tests). */
async function withDb<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client(pgConnection(config, 'admin'));
  db.on('error', () => undefined);
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end().catch(() => undefined);
  }
}

beforeAll(() => {
  kafka = testKafka(config.kafka.brokers);
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  // Whatever happened, leave the servers running for the next test file.
  await startService(config, 'postgres');
  await startService(config, 'kafka');
  await withDb((db) => dropSlots(db, slots));
});

/** Polls the child's /healthz every 200 ms; keeps every distinct answer. */
class HealthWatch {
  readonly answers: { status: number; body: { status: string; state: string; outage?: { component: string } } }[] = [];
  private timer: NodeJS.Timeout;
  constructor(private readonly port: number) {
    this.timer = setInterval(() => void this.poll(), 200);
  }
  private async poll(): Promise<void> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}/healthz`);
      const body = (await res.json()) as HealthWatch['answers'][number]['body'];
      this.answers.push({ status: res.status, body });
    } catch {
      // the listener itself stays up; a refused poll would show as missing answers
    }
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

function metricsPort(child: CdcChild): number {
  const m = /"url":"http:\/\/[^"]+:(\d+)","msg":"metrics \(\/metrics\) and health \(\/healthz\) listening/.exec(child.output.join(''));
  if (!m) throw new Error(`no metrics port in the output:\n${child.output.join('')}`);
  return Number(m[1]);
}

/** Log lines of the child as objects. */
function logLines(child: CdcChild): { level: number; msg: string; component?: string }[] {
  return child.output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; component?: string });
}

async function scenario(name: string, fault: () => Promise<void>, component: 'postgres' | 'kafka'): Promise<void> {
  const prefix = `f${name}${RUN}`;
  const slot = `f${name}_${RUN}`;
  const table = `cdc_fault_${name}`;
  slots.push(slot);
  await withDb((db) => db.query(`DROP TABLE IF EXISTS ${table}; DROP PUBLICATION IF EXISTS ${table}_pub;
    CREATE TABLE ${table} (id integer PRIMARY KEY, n integer NOT NULL)`));
  const env = { KAFKA_TOPIC_PREFIX: prefix, CDC_SLOT_NAME: slot, CDC_PUBLICATION: `${table}_pub`, CDC_TABLES: table, CDC_RETRY_MAX_BACKOFF_S: '2' };
  // The child authenticates as the CDC principal: its ACLs for this namespace first.
  await grantKafkaAccess(cdcEnv(env));
  const child = new CdcChild(env);
  children.push(child);
  await child.waitStreaming();
  const health = new HealthWatch(metricsPort(child));
  const load = new ReconnectingLoad(config, table);
  load.start();
  await load.waitFor(30);

  await fault();

  await load.waitFor(60, 120_000);
  await load.stop();
  const topic = `${prefix}.public.${table}`;
  const expectedEvents = [...load.expected.values()].flat().length;
  const last = await withDb(async (db) => {
    await db.query(`UPDATE ${table} SET n = -1 WHERE id = (SELECT max(id) FROM ${table})`);
    return (await db.query<{ id: number }>(`SELECT max(id) AS id FROM ${table}`)).rows[0]!.id;
  });
  load.expected.get(last)!.push('u');
  const records = await eventually('the last change in the topic', async () => {
    const r = await readTopic(kafka, topic);
    return r.some((x) => x.value !== null && envelope(x.value)!.after?.id === last && envelope(x.value)!.after?.n === -1) ? r : null;
  }, 120_000);
  await eventually('healthy again', async () => (health.answers.at(-1)?.status === 200 ? true : null));
  health.stop();

  // Never exited, one warning for the outage, unhealthy while it lasted.
  expect(child.child.exitCode).toBeNull();
  const lines = logLines(child);
  // From the first "streaming changes" on (set-up warnings before it are the admin setup's).
  const warnings = lines.slice(lines.findIndex((l) => l.msg === 'streaming changes')).filter((l) => l.level >= 40);
  expect(warnings.map((l) => l.msg)).toEqual([`${component} unavailable: reconnecting with backoff (unhealthy until streaming again)`]);
  expect(lines.some((l) => l.msg === `${component} available again: streaming resumed`)).toBe(true);
  expect(health.answers.some((a) => a.status === 503 && a.body.state === 'recovering' && a.body.outage?.component === component)).toBe(true);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort(child)}/metrics`)).text();
  expect(metrics).toMatch(/^cdc_healthy 1$/m);
  expect(metrics).toContain(`cdc_outages_total{component="${component}"} 1`);

  // Every committed change, in commit order per key; duplicates only identical re-deliveries.
  const perKey = dedupe(records);
  const actual = new Map([...perKey].map(([key, events]) => [Number(JSON.parse(key).id), events.map((e) => e.op)]));
  expect(actual.size).toBe(load.expected.size);
  for (const [id, ops] of load.expected) expect(actual.get(id), `changes of id ${id}`).toEqual(ops);
  expect(replay(perKey)).toEqual(await withDb((db) => tableState(db, table)));
  expect(records.filter((r) => r.value !== null).length).toBeGreaterThanOrEqual(expectedEvents);

  child.kill('SIGTERM');
  expect((await child.exited).code).toBe(0);
  await withDb((db) => db.query(`DROP TABLE ${table}; DROP PUBLICATION ${table}_pub`));
}

describe('riding out server faults under load', () => {
  it('a PostgreSQL fast restart: one warning, unhealthy meanwhile, every change once in order afterwards, never exits', async () => {
    await scenario('pg', async () => {
      await stopService(config, 'postgres'); // fast shutdown: every backend and walsender terminated
      await new Promise((r) => setTimeout(r, 2_000));
      await startService(config, 'postgres');
    }, 'postgres');
  }, 300_000); // a loaded machine: restarts, catch-up and the checks take minutes

  it('the broker killed and restarted after 12 s: one warning, unhealthy meanwhile, every change in order afterwards, never exits', async () => {
    await scenario('kafka', async () => {
      await stopService(config, 'kafka', () => undefined, { signal: 'SIGKILL' });
      await new Promise((r) => setTimeout(r, 12_000));
      await startService(config, 'kafka');
    }, 'kafka');
  }, 300_000);
});
