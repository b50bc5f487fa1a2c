/**
 * The Slack notifier on the real stack (Kafka, PostgreSQL), with a local HTTP server playing
 * Slack and the real @slack/webhook client pointed at it. Change events are produced the way
 * docs/contracts/change-events.md describes them.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, type Config } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { connectTestBroker, envelope, type Row, type TestBroker } from '../../tests/support/debezium-events.ts';
import { startFakeSlack, type FakeSlack } from '../../tests/support/fake-slack.ts';
import { startService, stopService } from '../../scripts/lib/stack.ts';
import { watchSettlement } from '../../tests/support/settlement.ts';
import { startSlackNotifier, type RunningNotifier } from './notifier.ts';
import { DryRunSink, WebhookSink, type AnnouncementSink } from './sinks.ts';

const base = loadConfig();
const logger = createLogger('slack-notifier-test', process.env.LOG_LEVEL ?? 'warn');
const EMPLOYEES = [
  { employee_id: 950_001, first_name: 'Juliette', last_name: 'Mendes' },
  { employee_id: 950_002, first_name: 'Laurence', last_name: 'Attal' },
];
const UNKNOWN_EMPLOYEE = 950_999;

let broker: TestBroker;
let admin: pg.Client;
let slack: FakeSlack;
let running: RunningNotifier[] = [];
let run = 0;
// Activity ids unique per test run (the ledger persists between runs of a kept stack), and even,
// so each sport's first wording variant is used.
let nextActivityId = Date.now() * 100;

beforeAll(async () => {
  broker = await connectTestBroker(base.kafka.brokers);
  admin = new pg.Client(pgConnection(base, 'admin'));
  await admin.connect();
  for (const e of EMPLOYEES) {
    await admin.query(
      `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, commute_mode)
       VALUES ($1, $2, $3, '1990-01-01', 'Ventes', '2020-01-01', 42000, 'CDI', 25, '1 rue de test', '34000', 'Montpellier', 'Marche/running')
       ON CONFLICT (employee_id) DO NOTHING`,
      [e.employee_id, e.last_name, e.first_name],
    );
  }
  await admin.query('DELETE FROM employees WHERE employee_id = $1', [UNKNOWN_EMPLOYEE]);
});

afterEach(async () => {
  await Promise.all(running.map((n) => n.stop()));
  running = [];
  await slack?.close();
});

afterAll(async () => {
  await broker.close();
  // Leave the shared test database as found: other suites count employees.
  await admin.query('DELETE FROM employees WHERE employee_id = ANY($1)', [EMPLOYEES.map((e) => e.employee_id)]);
  await admin.end();
});

/** A fresh topic prefix, consumer group and fake Slack for one test. */
async function setUp(overrides: Partial<Config['slack']> = {}) {
  run += 1;
  slack = await startFakeSlack();
  const prefix = `slk${Date.now()}r${run}`;
  const config: Config = {
    ...base,
    kafka: { ...base.kafka, topicPrefix: prefix },
    slack: { ...base.slack, webhookUrl: slack.url, consumerGroup: `${prefix}-notifier`, ratePerSecond: 50, burst: 1, retryMinMs: 50, retryMaxMs: 400, timeoutMs: 2_000, ...overrides },
  };
  const topic = `${prefix}.public.activities`;
  await broker.createTopic(topic);
  return { config, topic };
}

async function start(config: Config, sink?: AnnouncementSink): Promise<RunningNotifier> {
  const notifier = await startSlackNotifier(config, { logger, sink });
  running.push(notifier);
  return notifier;
}

function activity(overrides: Row = {}): Row {
  nextActivityId += 2;
  // Ended just now: an activity that ended long before its commit is an import, not announced.
  // Start, end and elapsed agree (the product's validity rules check it).
  const elapsed = (overrides.elapsed_seconds as number | undefined) ?? 2760;
  const end = Date.now();
  return {
    activity_id: nextActivityId,
    employee_id: 950_001,
    sport_type: 'Runing',
    started_at: new Date(end - elapsed * 1000).toISOString(),
    ended_at: new Date(end).toISOString(),
    elapsed_seconds: elapsed,
    distance_m: 10_800,
    comment: null,
    source: 'simulator',
    created_at: '2024-05-02T07:46:01.000000Z',
    updated_at: '2024-05-02T07:46:01.000000Z',
    ...overrides,
  };
}

const insert = (row: Row) => ({ key: { activity_id: row.activity_id }, value: envelope('activities', 'c', null, row) });

async function ledgerRow(target: string, activityId: unknown) {
  const r = await admin.query('SELECT status, reason, attempts FROM slack_announcements WHERE target = $1 AND activity_id = $2', [target, activityId]);
  return r.rows[0];
}

describe('slack notifier', () => {
  it('announces each insert once in French, and nothing for snapshot rows, updates, deletes and tombstones', async () => {
    const { config, topic } = await setUp();
    await start(config);
    const even = activity();
    const withComment = activity({ employee_id: 950_002, sport_type: 'Randonnée', distance_m: 10_000, elapsed_seconds: 3 * 3600, comment: 'Sortie découverte autour du Pic Saint-Loup' });
    const tennis = activity({ sport_type: 'Tennis', distance_m: null, elapsed_seconds: 65 * 60 });
    const snapshotRow = activity();
    await broker.send(topic, [
      { key: { activity_id: snapshotRow.activity_id }, value: envelope('activities', 'r', null, snapshotRow) },
      insert(even),
      { key: { activity_id: even.activity_id }, value: envelope('activities', 'u', even, { ...even, comment: 'modifié' }) },
      insert(withComment),
      { key: { activity_id: snapshotRow.activity_id }, value: envelope('activities', 'd', snapshotRow, null) },
      { key: { activity_id: snapshotRow.activity_id }, value: null },
      insert(tennis),
    ]);
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    expect(slack.violations).toEqual([]);
    expect(slack.accepted().map((r) => r.payload.text).sort()).toEqual(
      [
        'Bravo Juliette Mendes ! Tu viens de courir 10,8 km en 46 min ! Quelle énergie ! 🔥🏅',
        'Magnifique Laurence Attal ! Une randonnée de 10 km terminée ! 🏕\n« Sortie découverte autour du Pic Saint-Loup »',
        'Bien joué Juliette Mendes ! 1 h 05 de tennis ! 🎾',
      ].sort(),
    );
    const hike = slack.accepted().find((r) => String(r.payload.text).startsWith('Magnifique'));
    expect(hike?.payload.blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: 'Magnifique Laurence Attal ! Une randonnée de 10 km terminée ! 🏕' } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: '💬 « Sortie découverte autour du Pic Saint-Loup »' }] },
    ]);
    expect(JSON.stringify(slack.requests.map((r) => r.payload))).not.toMatch(/42000|rue de test|Montpellier|Ventes/);
    expect(await ledgerRow('slack', even.activity_id)).toEqual({ status: 'posted', reason: null, attempts: 1 });
    expect(await ledgerRow('slack', snapshotRow.activity_id)).toBeUndefined();
  });

  it('never announces an activity the batch would quarantine, and counts each by the rule it breaks (issue 14)', async () => {
    const { config, topic } = await setUp();
    const notifier = await start(config);
    const valid = activity();
    const rows = [
      activity({ distance_m: 50_000, elapsed_seconds: 1800 }), // "50 km de course à pied en 30 min"
      activity({ sport_type: 'Vélo', distance_m: 5_000, elapsed_seconds: 0 }), // "5 km à vélo en 0 s"
      activity({ started_at: new Date(Date.now() + 86_400_000).toISOString(), ended_at: new Date(Date.now() + 86_400_000 + 2_760_000).toISOString() }), // tomorrow
      activity({ sport_type: '' }),
      activity({ elapsed_seconds: 27_777 * 3600 }), // a 27,777-hour activity
      valid,
    ];
    await broker.send(topic, rows.map(insert));
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    expect(slack.accepted().map((r) => r.payload.text)).toEqual(['Bravo Juliette Mendes ! Tu viens de courir 10,8 km en 46 min ! Quelle énergie ! 🔥🏅']);
    expect(notifier.stats).toMatchObject({ posted: 1, deadLettered: 0, skipped: 5, notAnnounced: { impossible_speed: 2, future_date: 1, empty_sport: 1, implausible_duration: 1 } });
    for (const r of rows.slice(0, -1)) expect(await ledgerRow('slack', r.activity_id)).toBeUndefined();
  });

  it('paces posts to the configured rate', async () => {
    const { config, topic } = await setUp({ ratePerSecond: 4, burst: 1 });
    // When the notifier starts each post (its pacing decision), not when the fake Slack receives
    // it: arrival times carry the loaded machine's scheduling jitter (a 183 ms gap was seen).
    const starts: number[] = [];
    const sink = new (class extends WebhookSink {
      override post(...args: Parameters<WebhookSink['post']>) {
        starts.push(performance.now());
        return super.post(...args);
      }
    })(slack.url, config.slack.timeoutMs);
    await start(config, sink);
    await broker.send(topic, Array.from({ length: 5 }, () => insert(activity())));
    await slack.waitForAccepted(5);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    expect(gaps).toHaveLength(4);
    // 250 ms at 4/s, less the pacer's whole-millisecond clock and a timer firing up to 1 ms early;
    // load only makes gaps longer.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(246);
  });

  it('waits for Retry-After during a 429 burst and still posts each activity exactly once', async () => {
    const { config, topic } = await setUp();
    const notifier = await start(config);
    slack.script.push(...Array.from({ length: 3 }, () => ({ status: 429, body: 'rate_limited', headers: { 'retry-after': '1' } })));
    const rows = [activity(), activity()];
    await broker.send(topic, rows.map(insert));
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    expect(slack.requests.map((r) => r.status)).toEqual([429, 429, 429, 200, 200]);
    const gaps = slack.requests.slice(1, 4).map((r, i) => r.atMs - (slack.requests[i] as { atMs: number }).atMs);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(950);
    expect(slack.accepted()).toHaveLength(2);
    expect(notifier.stats.rateLimited).toBe(3);
    for (const row of rows) expect((await ledgerRow('slack', row.activity_id)).status).toBe('posted');
  });

  it('retries a 500, a timeout and a dropped connection with backoff, then posts once', async () => {
    const { config, topic } = await setUp({ timeoutMs: 300 });
    const notifier = await start(config);
    slack.script.push({ status: 500, body: 'internal_error' }, { status: 200, body: 'ok', delayMs: 1_000 }, { status: 0, hangUp: true });
    const row = activity();
    await broker.send(topic, [insert(row)]);
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    const texts = slack.requests.map((r) => r.payload.text);
    expect(texts).toHaveLength(4);
    expect(new Set(texts).size).toBe(1);
    expect(slack.accepted()).toHaveLength(1);
    expect(notifier.stats).toMatchObject({ posted: 1, retries: 3, deadLettered: 0 });
    const [first, second] = slack.requests;
    expect((second?.atMs ?? 0) - (first?.atMs ?? 0)).toBeGreaterThanOrEqual(45); // backoff starts at 50 ms
  });

  it('dead-letters an event Slack refuses permanently (400) with the reason, and goes on', async () => {
    const { config, topic } = await setUp();
    const notifier = await start(config);
    slack.script.push({ status: 400, body: 'invalid_blocks' });
    const refused = activity();
    const next = activity({ sport_type: 'Natation', distance_m: 1_500, elapsed_seconds: 40 * 60 });
    // Same partition -> processed in this order.
    await broker.send(topic, [{ ...insert(refused), partition: 0 }, { ...insert(next), partition: 0 }]);
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    expect(slack.requests.map((r) => r.status)).toEqual([400, 200]);
    expect(notifier.stats).toMatchObject({ posted: 1, deadLettered: 1, retries: 0 });
    const [dead] = await broker.readAll(`${topic}.dlq`, 1);
    expect(dead?.key).toBe(JSON.stringify({ activity_id: refused.activity_id }));
    expect(JSON.parse(dead?.value ?? '{}').after.activity_id).toBe(refused.activity_id);
    expect(dead?.headers).toMatchObject({
      'dlq.reason': 'slack_http_400',
      'dlq.detail': 'HTTP 400: invalid_blocks',
      'dlq.service': 'slack-notifier',
      'dlq.source.topic': topic,
    });
    expect(await ledgerRow('slack', refused.activity_id)).toEqual({ status: 'dead_lettered', reason: 'slack_http_400', attempts: 1 });
  });

  it('dead-letters an activity of an unknown employee and an undecodable message, without posting', async () => {
    const { config, topic } = await setUp();
    const notifier = await start(config);
    const orphan = activity({ employee_id: UNKNOWN_EMPLOYEE });
    await broker.send(topic, [insert(orphan), { key: { activity_id: 1 }, value: '{not json' }]);
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    expect(slack.requests).toEqual([]);
    expect(notifier.stats.deadLettered).toBe(2);
    const dead = await broker.readAll(`${topic}.dlq`, 2);
    expect(dead.map((d) => d.headers['dlq.reason']).sort()).toEqual(['invalid_json', 'unknown_employee']);
    expect(dead.find((d) => d.headers['dlq.reason'] === 'unknown_employee')?.headers['dlq.detail']).toBe(`employee ${UNKNOWN_EMPLOYEE} not found in employees`);
  });

  it('dead-letters a valid insert whose key is not JSON, is missing or disagrees with the row, and an empty value, without posting (issue 14)', async () => {
    const { config, topic } = await setUp();
    const notifier = await start(config);
    const [a, b, c, d] = [activity(), activity(), activity(), activity()];
    await broker.send(topic, [
      { ...insert(a), rawKey: `activity-${a.activity_id}`, partition: 0 },
      { ...insert(b), rawKey: null, partition: 0 },
      { ...insert(c), key: { activity_id: d.activity_id }, partition: 0 },
      { ...insert(d), value: '', partition: 0 },
      { ...insert(d), partition: 0 },
    ]);
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    expect(slack.accepted()).toHaveLength(1); // only the well-formed insert of d
    expect(notifier.stats).toMatchObject({ posted: 1, deadLettered: 4 });
    const dead = await broker.readAll(`${topic}.dlq`, 4);
    // The dead-letter topic is partitioned by key (a null key lands anywhere): compared by reason.
    const byReason = (x: [unknown, unknown], y: [unknown, unknown]) => String(x[1]).localeCompare(String(y[1]));
    expect(dead.map((m): [unknown, unknown] => [m.key, m.headers['dlq.reason']]).sort(byReason)).toEqual([
      [JSON.stringify({ activity_id: d.activity_id }), 'empty_value'],
      [`activity-${a.activity_id}`, 'invalid_key'],
      [JSON.stringify({ activity_id: d.activity_id }), 'key_mismatch'],
      [null, 'missing_key'],
    ]);
  });

  it('posts nothing twice after a restart and a replay of the group from offset zero', async () => {
    const { config, topic } = await setUp();
    const first = await start(config);
    const rows = Array.from({ length: 6 }, (_, i) => activity({ comment: `Sortie n° ${i}` }));
    await broker.send(topic, rows.map(insert));
    await slack.waitForAccepted(6);
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);
    await first.stop();

    // Replay: ops reset the group to the earliest offset and restart the service.
    await broker.resetToEarliest(config.slack.consumerGroup, topic);
    const second = await start(config);
    const fresh = activity({ sport_type: 'Vélo', distance_m: 25_300, elapsed_seconds: 62 * 60 });
    await broker.send(topic, [insert(fresh)]);
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    expect(slack.accepted()).toHaveLength(7);
    expect(new Set(slack.accepted().map((r) => r.payload.text)).size).toBe(7);
    expect(slack.accepted().at(-1)?.payload.text).toBe('Chapeau Juliette Mendes ! 25,3 km à vélo en 1 h 02 ! 🚴');
    expect(second.stats).toMatchObject({ posted: 1, alreadyAnnounced: 6 });
  });

  it('starts while the broker is down: waits for it instead of failing, then announces (issue 14)', async () => {
    const { config, topic } = await setUp();
    const row = activity({ comment: 'Démarrage sans broker' });
    await broker.send(topic, [insert(row)]);
    await stopService(base, 'kafka');
    const starting = watchSettlement(startSlackNotifier(config, { logger }), (n) => running.push(n));
    try {
      await new Promise((r) => setTimeout(r, 8_000));
      expect(starting.state, String(starting.error)).toBe('pending');
    } finally {
      await startService(base, 'kafka');
    }
    const notifier = await starting.result;
    expect(notifier, String(starting.error)).not.toBeNull();
    const [post] = await slack.waitForAccepted(1, 120_000);
    expect(post?.payload.text).toContain('« Démarrage sans broker »');
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic, 120_000);
    expect(notifier!.stats).toMatchObject({ posted: 1 });
  }, 300_000);

  it('a PostgreSQL restart between the post and its ledger write posts once: the ledger write is retried, not the post (issue 14)', async () => {
    // The Slack client waits long enough for PostgreSQL to stop before Slack answers 200.
    const { config, topic } = await setUp({ timeoutMs: 60_000 });
    const notifier = await start(config);
    const row = activity({ comment: 'Pendant le redémarrage' });
    admin.on('error', () => undefined); // the fast shutdown ends the test's own session too
    // Slack accepts the post; PostgreSQL is down (fast shutdown) by the time the notifier hears it.
    slack.script.push({ status: 200, body: 'ok', beforeAnswer: () => stopService(base, 'postgres') });
    await broker.send(topic, [insert(row)]);
    await slack.waitForAccepted(1, 120_000);
    await new Promise((r) => setTimeout(r, 3_000)); // the notifier retries its ledger write meanwhile
    await startService(base, 'postgres');
    admin = new pg.Client(pgConnection(base, 'admin'));
    await admin.connect();
    const next = activity({ sport_type: 'Vélo', distance_m: 25_300, elapsed_seconds: 62 * 60 });
    await broker.send(topic, [insert(next)]);
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    expect(slack.accepted().map((r) => r.payload.text)).toEqual([
      'Bravo Juliette Mendes ! Tu viens de courir 10,8 km en 46 min ! Quelle énergie ! 🔥🏅\n« Pendant le redémarrage »',
      'Chapeau Juliette Mendes ! 25,3 km à vélo en 1 h 02 ! 🚴',
    ]);
    expect(await ledgerRow('slack', row.activity_id)).toEqual({ status: 'posted', reason: null, attempts: 1 });
    expect(notifier.stats).toMatchObject({ posted: 2, ledgerWriteFailures: 1 });
  }, 300_000);

  it('runs in dry-run without a webhook URL: stdout line and JSONL record per message', async () => {
    const { config, topic } = await setUp({ webhookUrl: undefined });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'slack-dry-')), 'out.jsonl');
    const printed: string[] = [];
    const notifier = await start(config, new DryRunSink(file, (line) => printed.push(line)));
    expect(notifier.sink.target).toBe('dry-run');
    const row = activity({ comment: 'Nouveau record personnel' });
    await broker.send(topic, [insert(row)]);
    await broker.waitForGroupCaughtUp(config.slack.consumerGroup, topic);

    expect(printed).toEqual(['[slack dry-run] Bravo Juliette Mendes ! Tu viens de courir 10,8 km en 46 min ! Quelle énergie ! 🔥🏅 « Nouveau record personnel »']);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ activity_id: row.activity_id, employee_id: 950_001, text: expect.stringContaining('« Nouveau record personnel »') });
    expect(slack.requests).toEqual([]);
    expect((await ledgerRow('dry-run', row.activity_id)).status).toBe('posted');
  });
});
